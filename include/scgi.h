/*
 * scgi.h - libscgi, a strict and fast SCGI application library.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

/**
 * @file scgi.h
 * @brief The whole public interface of libscgi.
 *
 * libscgi serves SCGI requests from a front web server (nginx `scgi_pass`,
 * Apache `mod_proxy_scgi`, lighttpd `mod_scgi`) inside a C program, from
 * many threads, without forking.
 *
 * @section lifecycle Lifecycle of a request
 *
 * 1. **listen**: scgi_server_new(), then scgi_server_listen() once per
 *    address (`127.0.0.1:4000`, `[::1]:4000`, `unix:/run/app.sock`,
 *    `fd:3`), or with a NULL address to use the listener inherited from
 *    systemd (`LISTEN_FDS`) or from scgiserver (`SCGI_HANDOFF_FD`).
 * 2. **accept**: scgi_accept() blocks until a well-formed request has
 *    arrived; malformed ones are answered `400 Bad Request`, logged and
 *    closed without ever reaching the caller. scgi_serve() runs that loop
 *    on N threads and calls a handler for each request.
 * 3. **read**: look variables up with scgi_request_get() and the typed
 *    helpers; read the body with scgi_read(), which stops at
 *    `CONTENT_LENGTH` bytes.
 * 4. **respond**: scgi_status(), scgi_header(), then scgi_write(),
 *    scgi_printf(), scgi_sendfile() or stdio through scgi_stream().
 *    Headers go out with the first flush of the body. Read the whole
 *    body before the first flush (the first 16 KiB of output are
 *    buffered): nginx stops sending the request body once the response
 *    has begun, so an application that answers while still reading a
 *    large body waits for bytes that never come.
 * 5. **finish**: scgi_request_free() completes the response (a request
 *    that wrote nothing still gets a valid empty `200 OK`), closes the
 *    connection and frees the request. scgi_fail() instead answers
 *    `500`, or, when headers already went out, resets a TCP connection so
 *    that the front server never mistakes a cut response for a whole one
 *    (a Unix socket cannot be reset: send `Content-Length` when the length
 *    is known, so that the front server can tell). A TCP connection is
 *    also reset by the kernel if the process dies before the request is
 *    finished: accepted TCP connections carry `SO_LINGER` {1, 0} until
 *    their normal close.
 *
 * The standalone parser (scgi_parser_new(), scgi_parse()) needs no socket:
 * event loops and proxies feed it bytes as they arrive.
 *
 * @section threads Thread safety
 *
 * - A scgi_server is configured from one thread, before the first
 *   scgi_accept(). After that, scgi_accept() may be called from any number
 *   of threads at once, and scgi_server_stop() from any thread or from a
 *   signal handler.
 * - A scgi_request belongs to one thread at a time. Its read-only
 *   functions (scgi_request_get() and the other `scgi_request_*` getters)
 *   never write, not even into the received bytes, so several threads may
 *   call them on the same request at once as long as none of them reads
 *   the body, responds or frees it.
 * - The library has no global mutable state and installs no signal
 *   handler. It never raises `SIGPIPE`: a vanished peer is an error code.
 *
 * @section errors Errors
 *
 * Functions return 0 (or a count) on success and a negative code on
 * failure: either one of the ::scgi_error codes below, or a negated
 * `errno` value (`-ETIMEDOUT`, `-ECONNRESET`, ...) for system errors.
 * scgi_strerror() describes both.
 *
 * @section ownership Ownership
 *
 * Objects returned by a `*_new` function or by scgi_accept() belong to the
 * caller, who frees them with the matching `*_free` function. Strings
 * returned by getters are borrowed: they point into the received bytes
 * and stay valid until the object they came from is freed or reset.
 */
#ifndef SCGI_H
#define SCGI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a declaration as part of the exported ABI. */
#if defined(SCGI_BUILDING) && defined(__GNUC__)
#define SCGI_API __attribute__((visibility("default")))
#else
#define SCGI_API
#endif

#if defined(__GNUC__)
/** Lets the compiler check printf-style arguments. */
#define SCGI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define SCGI_PRINTF(fmt, args)
#endif

/** The library version as a string, `"MAJOR.MINOR.PATCH"`. */
#define SCGI_VERSION "0.1.0"

/**
 * The library's own error codes, with their descriptions.
 *
 * They are all below -1000, so that they never collide with a negated
 * `errno` value.
 */
#define SCGI_ERROR_MAP(X)                                                      \
  X(ENOMEM, -1001, "out of memory")                                            \
  X(EINVAL, -1002, "invalid argument")                                         \
  X(ESTATE, -1003, "not allowed in the current state")                         \
  X(ELENDIGIT, -1010, "netstring length must start with a decimal digit")     \
  X(ELENZERO, -1011, "netstring length has a leading zero")                    \
  X(ECOLON, -1012, "netstring length must be digits followed by ':'")          \
  X(ETOOBIG, -1013, "header block is larger than the configured limit")        \
  X(ECOMMA, -1014, "netstring must end with ',' after the header block")       \
  X(EEMPTYNAME, -1015, "variable with an empty name")                          \
  X(EUNTERMINATED, -1016,                                                      \
    "variable name or value not NUL-terminated inside the header block")       \
  X(ECLFIRST, -1017, "CONTENT_LENGTH is missing or not the first variable")    \
  X(ECLVALUE, -1018, "CONTENT_LENGTH is not a plain decimal number that fits") \
  X(ECLDUP, -1019, "CONTENT_LENGTH appears more than once")                    \
  X(ENOSCGI, -1020,                                                            \
    "no SCGI variable: the front server must send SCGI=1 "                     \
    "(nginx: add 'include scgi_params;' next to scgi_pass)")                   \
  X(ESCGIVALUE, -1021, "SCGI variable is not 1")                               \
  X(ESCGIDUP, -1022, "SCGI appears more than once")                            \
  X(ETOOMANY, -1023, "more variables than the configured limit")               \
  X(ETRUNCATED, -1030,                                                         \
    "connection closed before the end of the request")                         \
  X(ETIMEDOUT, -1031, "timed out")                                             \
  X(EHEADER, -1032,                                                            \
    "invalid response header (empty name, or CR, LF, NUL or ':' where "        \
    "not allowed)")                                                            \
  X(ESTOPPED, -1040, "the server is stopping")                                 \
  X(EADDRESS, -1041,                                                           \
    "malformed address (use HOST:PORT, [IPV6]:PORT, unix:/PATH or fd:N)")      \
  X(ENOLISTENER, -1042,                                                        \
    "no address given and no inherited listener "                              \
    "(LISTEN_FDS or SCGI_HANDOFF_FD)")                                         \
  X(EADDRINUSE, -1043, "address in use by a running server")                   \
  X(ENOTSOCKET, -1044, "path exists and is not a socket")                     \
  X(EPERCENT, -1050, "malformed percent escape ('%' not followed by two hex " \
                     "digits)")                                                \
  X(ENUL, -1051, "decoded text contains a NUL byte")                           \
  X(E2BIG, -1052, "output buffer too small")                                   \
  X(EBODYSIZE, -1053, "request body larger than the configured limit")         \
  X(ECONTENTTYPE, -1054, "request body has another CONTENT_TYPE")              \
  X(ENOBOUNDARY, -1055,                                                        \
    "multipart CONTENT_TYPE without a valid boundary parameter")               \
  X(EMULTIPART, -1056, "malformed multipart body")                             \
  X(EPARTHEADER, -1057,                                                        \
    "multipart part headers larger than the configured limit")                 \
  X(ETOOMANYPARTS, -1058, "more multipart parts than the configured limit")    \
  X(EPARTSEND, -1059, "multipart body ends before its final boundary")         \
  X(EFILENAME, -1060,                                                          \
    "unsafe file name (empty, '.', '..', or a control character)")

/** Error codes; see ::SCGI_ERROR_MAP for their meaning. */
typedef enum scgi_error {
#define SCGI__ERROR_ENUM(name, code, text) SCGI_##name = (code),
  SCGI_ERROR_MAP(SCGI__ERROR_ENUM)
#undef SCGI__ERROR_ENUM
} scgi_error;

/**
 * Describes an error code.
 *
 * @param code a ::scgi_error code, a negated `errno` value, or 0.
 * @return a static string ("success" for 0, "unknown error" for a value
 *         that is neither), never NULL; thread-safe.
 */
SCGI_API const char *scgi_strerror(int code);

/**
 * Settings of a parser or a server, set with scgi_parser_set() or
 * scgi_server_set().
 */
typedef enum scgi_option {
  /** Largest accepted header block, in bytes (default 65536). A netstring
   *  announcing more is refused as soon as its length digits are read. */
  SCGI_OPT_MAX_HEADER_BYTES = 1,
  /** Largest accepted number of variables (default 1024). */
  SCGI_OPT_MAX_VARS = 2,
  /** Milliseconds allowed for the whole header block to arrive, and for
   *  each wait for body bytes (default 30000; 0 waits forever). */
  SCGI_OPT_READ_TIMEOUT_MS = 3,
  /** Milliseconds a write may wait for the peer to accept more bytes
   *  (default 30000; 0 waits forever). */
  SCGI_OPT_WRITE_TIMEOUT_MS = 4,
  /** Permission bits given to Unix socket files created by
   *  scgi_server_listen() (default 0666, so that a front server running
   *  as another user can connect; restrict access with the directory). */
  SCGI_OPT_SOCKET_MODE = 5,
  /** listen(2) backlog of listeners created afterwards (default 511). */
  SCGI_OPT_BACKLOG = 6,
  /** Multipart parser: largest header block of one part, in bytes, its
   *  CRLFs and closing empty line included (default 16384). */
  SCGI_OPT_MAX_PART_HEADER_BYTES = 7,
  /** Multipart parser: most parts in one body (default 1000). */
  SCGI_OPT_MAX_PARTS = 8
} scgi_option;

/* ---------------------------------------------------------------------- */
/** @name Parser
 *  An incremental, zero-copy parser of the SCGI header netstring. It
 *  allocates nothing per variable (the first 48 are kept inside the
 *  parser, more in one table that doubles, bounded by ::SCGI_OPT_MAX_VARS)
 *  and never reads outside `buf[0..len)`. Its getters never write, not
 *  even into `buf`, so several threads may call them at once on a parser
 *  that is complete.
 *  @{ */

/** An SCGI header parser (opaque). */
typedef struct scgi_parser scgi_parser;

/**
 * Creates a parser with the default limits.
 *
 * @return a new parser, to free with scgi_parser_free(); NULL when out of
 *         memory.
 */
SCGI_API scgi_parser *scgi_parser_new(void);

/**
 * Frees a parser. NULL is allowed.
 *
 * @param p the parser.
 */
SCGI_API void scgi_parser_free(scgi_parser *p);

/**
 * Sets a limit of the parser: ::SCGI_OPT_MAX_HEADER_BYTES or
 * ::SCGI_OPT_MAX_VARS. Only allowed before the first scgi_parse() (even
 * one with no byte) or right after scgi_parser_reset().
 *
 * @param p the parser.
 * @param option the limit to set.
 * @param value its new value, at least 1 (header bytes: at most 1 GiB).
 * @return 0, ::SCGI_EINVAL for another option or an out-of-range value,
 *         or ::SCGI_ESTATE once parsing has begun.
 */
SCGI_API int scgi_parser_set(scgi_parser *p, scgi_option option, size_t value);

/**
 * Forgets the request being parsed, keeping the limits (and a variable
 * table that grew, for reuse), so that the parser can be used for the next
 * request. NULL is allowed.
 *
 * @param p the parser.
 */
SCGI_API void scgi_parser_reset(scgi_parser *p);

/**
 * Parses the bytes received so far.
 *
 * Call it each time more bytes arrive, always with the whole request so
 * far: the same first bytes, `len` growing. The buffer may move between
 * calls (the parser keeps offsets, not pointers), but its first `len`
 * bytes must not change. Work already done is not repeated: feeding a
 * request one byte at a time costs no more than feeding it whole.
 *
 * An error is reported as soon as the bytes received decide it, with the
 * same code and offset however the request was split: a netstring length
 * over ::SCGI_OPT_MAX_HEADER_BYTES at the digit that crosses it (nothing
 * is waited for or allocated for the claimed size), a first name other
 * than `CONTENT_LENGTH` at its NUL, a `CONTENT_LENGTH` of `-1` at the `-`,
 * a missing `SCGI` at the end of the block, before its `,` arrives.
 *
 * Once complete, the variables point into `buf`, which must then stay in
 * place and unchanged for as long as they are used; a later call with
 * another copy holding at least the header netstring makes the getters
 * point into that copy. Bytes after the header netstring are the start of
 * the body; the parser does not look at them.
 *
 * @param p the parser.
 * @param buf the bytes received so far.
 * @param len their count.
 * @return the size of the header netstring (so `buf + return` is the first
 *         body byte) when the header block is complete and valid; 0 when
 *         more bytes are needed; a negative ::scgi_error code when the
 *         bytes can never form a valid request (see
 *         scgi_parser_error_offset()). After completion or an error, later
 *         calls return the same result until scgi_parser_reset().
 *         Two errors leave the parser as it was, so that a call with the
 *         same bytes can be retried: ::SCGI_ENOMEM when the variable table
 *         cannot grow, and ::SCGI_EINVAL when `p` is NULL, `buf` is NULL
 *         with `len` > 0, or `len` is smaller than in an earlier call.
 */
SCGI_API long scgi_parse(scgi_parser *p, const char *buf, size_t len);

/**
 * Tells where the error returned by scgi_parse() was found.
 *
 * The offset is that of the offending byte: the bad length digit or
 * character, the first byte of a name that is empty, misplaced, repeated
 * or one too many, the byte of a `CONTENT_LENGTH` or `SCGI` value that
 * breaks its rule (the leading zero of `01`, the NUL of an empty value),
 * or the byte found where `,` is expected. For a name or value cut by the
 * end of the block, and for a block without `SCGI`, it is the end of the
 * block (where `,` is expected), a byte that may not have arrived yet.
 *
 * @param p the parser.
 * @return the offset of the offending byte in the request, or 0 when the
 *         parser has no error.
 */
SCGI_API size_t scgi_parser_error_offset(const scgi_parser *p);

/**
 * Looks a variable up in a completely parsed header block.
 *
 * When a name appears more than once (nginx forwards repeated request
 * headers as repeated variables, e.g. two `HTTP_COOKIE`), the **first**
 * occurrence is returned; scgi_parser_var() shows all of them. The
 * variables are scanned in wire order, comparing lengths first.
 *
 * @param p a parser whose scgi_parse() returned a positive value.
 * @param name the exact, case-sensitive, NUL-terminated name.
 * @return the NUL-terminated value (borrowed, pointing into the buffer
 *         last given to scgi_parse()), or NULL when absent or when the
 *         header block is not complete.
 */
SCGI_API const char *scgi_parser_get(const scgi_parser *p, const char *name);

/**
 * Counts the variables of a completely parsed header block.
 *
 * @param p the parser.
 * @return the count, duplicates included; 0 before completion.
 */
SCGI_API size_t scgi_parser_count(const scgi_parser *p);

/**
 * Gets a variable by position, in wire order.
 *
 * @param p a parser whose scgi_parse() returned a positive value.
 * @param index 0 to scgi_parser_count() - 1.
 * @param name receives the NUL-terminated name (borrowed); may be NULL.
 * @param value receives the NUL-terminated value (borrowed); may be NULL.
 * @param value_len receives the value's length; may be NULL.
 * @return 0, or ::SCGI_EINVAL when `index` is out of range.
 */
SCGI_API int scgi_parser_var(const scgi_parser *p, size_t index,
                             const char **name, const char **value,
                             size_t *value_len);

/**
 * Gets the body length announced by `CONTENT_LENGTH`.
 *
 * @param p a parser whose scgi_parse() returned a positive value.
 * @return the length (at most INT64_MAX), or -1 before completion.
 */
SCGI_API int64_t scgi_parser_content_length(const scgi_parser *p);

/** @} */

/* ---------------------------------------------------------------------- */
/** @name Server and listeners
 *  @{ */

/** A set of listeners and the settings of the connections accepted on
 *  them (opaque). */
typedef struct scgi_server scgi_server;

/** One request: its variables, its body and its response (opaque). */
typedef struct scgi_request scgi_request;

/** Severity of a log message. */
typedef enum scgi_log_level {
  SCGI_LOG_ERROR = 3,   /**< the server cannot do what it should */
  SCGI_LOG_WARNING = 4, /**< a request or peer misbehaved */
  SCGI_LOG_INFO = 6     /**< noteworthy events */
} scgi_log_level;

/**
 * Receives the library's log messages.
 *
 * It may be called from any thread that calls into the library, at the
 * same time from several; it must be thread-safe.
 *
 * @param arg the pointer given to scgi_server_set_log().
 * @param level the message's severity.
 * @param message one line, without a trailing newline (borrowed, valid
 *        during the call).
 */
typedef void (*scgi_log_fn)(void *arg, scgi_log_level level,
                            const char *message);

/**
 * Creates a server with no listener and the default settings.
 *
 * @return a new server, to free with scgi_server_free(); NULL when out of
 *         memory.
 */
SCGI_API scgi_server *scgi_server_new(void);

/**
 * Closes the server's listeners (removing the Unix socket files it
 * created) and frees it. No thread may still be in scgi_accept() or
 * scgi_serve(). Requests already accepted stay valid; connections whose
 * header block was still arriving are closed. NULL is allowed.
 *
 * @param srv the server.
 */
SCGI_API void scgi_server_free(scgi_server *srv);

/**
 * Changes a setting; see ::scgi_option. Settings apply to connections
 * accepted afterwards (and, for ::SCGI_OPT_SOCKET_MODE and
 * ::SCGI_OPT_BACKLOG, to listeners created afterwards). Like the rest of
 * the configuration, only while no thread is in scgi_accept().
 *
 * Ranges: header bytes 1 to 1 GiB; variables at least 1; timeouts 0
 * (forever) to `INT_MAX` ms; socket mode 0 to 0777; backlog 1 to
 * `INT_MAX` (the kernel may lower it).
 *
 * @param srv the server.
 * @param option the setting.
 * @param value its new value.
 * @return 0, or ::SCGI_EINVAL for an unknown option or a value out of
 *         range.
 */
SCGI_API int scgi_server_set(scgi_server *srv, scgi_option option,
                             size_t value);

/**
 * Sends log messages to `fn` instead of standard error (the default,
 * one line per message prefixed with `libscgi: `).
 *
 * @param srv the server.
 * @param fn the log function, or NULL to discard messages.
 * @param arg passed to `fn` unchanged.
 */
SCGI_API void scgi_server_set_log(scgi_server *srv, scgi_log_fn fn, void *arg);

/**
 * Adds a listener. Call it once per address, before the first
 * scgi_accept().
 *
 * Addresses:
 * - `HOST:PORT`: an IPv4 address or a host name resolved to its first
 *   IPv4 address (`127.0.0.1:4000`, `localhost:4000`); `*:PORT` listens
 *   on every IPv4 address. PORT is a plain decimal from 1 to 65535 (no
 *   sign, no leading zero);
 * - `[IPV6]:PORT`: a numeric IPv6 address (`[::1]:4000`, `[::]:4000`),
 *   IPv6 only (`IPV6_V6ONLY`): add `*:PORT` too for IPv4;
 * - `unix:/PATH`: a Unix socket file (absolute or relative path, shorter
 *   than `sun_path`), created with ::SCGI_OPT_SOCKET_MODE. A stale file
 *   left by a dead server (connecting to it is refused) is replaced; a
 *   socket with a live server behind it gives ::SCGI_EADDRINUSE, and
 *   anything that is not a socket (a symbolic link included)
 *   ::SCGI_ENOTSOCKET, and neither is touched. scgi_server_free() removes
 *   the file if it is still the one this call created;
 * - `fd:N`: an already listening stream socket with descriptor N, which
 *   the server then owns: it is made non-blocking and close-on-exec, and
 *   closed by scgi_server_free();
 * - NULL: the inherited listeners, owned by the server like `fd:N`:
 *   - systemd socket activation: when `LISTEN_PID` is this process,
 *     descriptors 3 to 3 + `LISTEN_FDS` - 1, each of which must be a
 *     listening stream socket. The environment is not changed. With
 *     `SCGI_WAIT_FOR_CLOSE=1` also set (scgiserver sets it for the
 *     workers it relays to), a request that finished normally on a Unix
 *     socket keeps the connection open, its write side shut down, until
 *     the peer closes it (at most 2 s), so that the peer can tell a
 *     finished response (EOF while our end is open) from a dead process
 *     (a fully closed socket);
 *   - the scgiserver handoff: `SCGI_HANDOFF_FD=N` names an inherited
 *     `AF_UNIX` `SOCK_SEQPACKET` socket connected to scgiserver, which
 *     sends one message per connection it hands over. Each message carries
 *     exactly one descriptor in an `SCM_RIGHTS` control message, the
 *     connection to the front server, and as payload the bytes scgiserver
 *     already read from it, in order: 0 bytes up to
 *     ::SCGI_OPT_MAX_HEADER_BYTES + 32 (the receiving application's
 *     setting), enough for any header netstring it accepts. The request is
 *     that payload followed by what is still to be read from the
 *     descriptor. A message with no descriptor or with too large a payload
 *     is dropped (and its connection closed), with a log line. Once a
 *     handed-off request is freed and its connection closed, the
 *     application sends a one-byte message (`D`) back on the socket, so
 *     that scgiserver knows it can take another connection. Closing the
 *     handoff socket tells the application that scgiserver went away: the
 *     listener stops, and once no listener is left scgi_accept() returns
 *     ::SCGI_ESTOPPED.
 *
 * @param srv the server.
 * @param address the address, or NULL.
 * @return 0; ::SCGI_EADDRESS for a malformed address or a host name that
 *         does not resolve; ::SCGI_ENOLISTENER when `address` is NULL and
 *         nothing was inherited; ::SCGI_EADDRINUSE when another socket has
 *         the address; ::SCGI_ENOTSOCKET (see `unix:`); for `fd:N` and
 *         inherited descriptors, `-ENOTSOCK` or `-EBADF` when one is not a
 *         socket, ::SCGI_EINVAL when it is not listening (or, for
 *         `SCGI_HANDOFF_FD`, not a `SOCK_SEQPACKET` Unix socket), when it
 *         is already one of this server's listeners, or when the variables
 *         are malformed (logged); ::SCGI_ENOMEM; or a negated errno value
 *         from socket(2), bind(2), chmod(2) or listen(2). On error nothing
 *         is added and a descriptor given is left open.
 */
SCGI_API int scgi_server_listen(scgi_server *srv, const char *address);

/**
 * Waits for the next well-formed request on any of the listeners.
 *
 * Safe to call from many threads at once. A connection whose request is
 * malformed, too large or too slow (::SCGI_OPT_READ_TIMEOUT_MS for the
 * whole header block) is answered `Status: 400 Bad Request` with the
 * reason as body, logged with the reason (and the offending byte's
 * offset) and closed; one that the peer closes or resets before the
 * header block is complete is logged and closed. The wait then goes on.
 * A connection whose header block has not fully arrived does not hold a
 * thread: it waits in the server's epoll set (a few KiB each), and
 * whichever calling thread is free goes on reading it when more bytes
 * come, so slow or silent clients cannot take every thread. After a 400
 * the rest of the peer's input is discarded there too, for 200 ms.
 * Running out of file descriptors is logged (at most once every 10
 * seconds) and waited out, retrying every 100 ms, never spun on. Each
 * connection, or each handoff message, goes to exactly one of the waiting
 * threads; TCP listeners use `TCP_DEFER_ACCEPT`, so that a connection is
 * usually taken with its header block already there.
 *
 * @param srv a server with at least one listener.
 * @param out receives the request, to free with scgi_request_free(); NULL
 *        on error.
 * @return 0; ::SCGI_ESTOPPED once scgi_server_stop() was called, or once
 *         every listener is a handoff socket that scgiserver closed;
 *         ::SCGI_ENOLISTENER when the server has no listener;
 *         ::SCGI_ENOMEM; or a negated errno value from epoll_wait(2), accept(2)
 *         or recvmsg(2) for an error that is not about one connection
 *         (`-EBADF` when a listener was closed behind the server's back),
 *         logged.
 */
SCGI_API int scgi_accept(scgi_server *srv, scgi_request **out);

/**
 * Handles one request in scgi_serve().
 *
 * The handler reads the request and writes the response; it must not free
 * the request, which scgi_serve() does when the handler returns.
 *
 * @param req the request (borrowed for the duration of the call).
 * @param arg the pointer given to scgi_serve().
 * @return 0 on success; a negative value makes scgi_serve() call
 *         scgi_fail() on the request.
 */
typedef int (*scgi_handler)(scgi_request *req, void *arg);

/**
 * Serves requests on `threads` threads until scgi_server_stop() is called,
 * then lets every handler in progress finish and returns.
 *
 * Each thread loops on scgi_accept(), the handler and scgi_request_free().
 * Errors of scgi_accept() other than a stop are logged there and retried
 * after 100 ms. When only some of the threads can be started, it serves
 * with those (and logs it). The handler runs on threads created here,
 * with the calling thread's signal mask.
 *
 * @param srv a server with at least one listener.
 * @param threads the number of threads to run handlers on; 0 means one per
 *        online CPU.
 * @param handler called once per well-formed request.
 * @param arg passed to `handler` unchanged.
 * @return 0 after a stop (or after scgiserver closed the last handoff
 *         socket); ::SCGI_ENOLISTENER; ::SCGI_ENOMEM; or a negated errno
 *         value when no thread could be started.
 */
SCGI_API int scgi_serve(scgi_server *srv, unsigned threads,
                        scgi_handler handler, void *arg);

/**
 * Asks every scgi_accept() and scgi_serve() on this server to stop: they
 * accept no new connection and return ::SCGI_ESTOPPED or 0. Requests
 * already accepted are not affected, nor is a header block being read when
 * the stop comes: that request is still returned and handled. The stop is
 * final: later calls of scgi_accept() return ::SCGI_ESTOPPED at once.
 *
 * Async-signal-safe (an atomic flag and one write(2) to a pipe; errno is
 * preserved): may be called from a signal handler, and any number of
 * times.
 *
 * @param srv the server.
 */
SCGI_API void scgi_server_stop(scgi_server *srv);

/** @} */

/* ---------------------------------------------------------------------- */
/** @name Request
 *  Read-only getters; see @ref threads.
 *  @{ */

/**
 * Looks a variable up. With duplicates, the first occurrence wins (see
 * scgi_parser_get()).
 *
 * @param req the request.
 * @param name the exact, case-sensitive name, e.g. `"HTTP_HOST"`.
 * @return the NUL-terminated value (borrowed, valid until the request is
 *         freed), or NULL when absent.
 */
SCGI_API const char *scgi_request_get(const scgi_request *req,
                                      const char *name);

/**
 * Counts the request's variables, duplicates included.
 *
 * @param req the request.
 * @return the count.
 */
SCGI_API size_t scgi_request_count(const scgi_request *req);

/**
 * Gets a variable by position, in wire order (see scgi_parser_var()).
 *
 * @param req the request.
 * @param index 0 to scgi_request_count() - 1.
 * @param name receives the name (borrowed); may be NULL.
 * @param value receives the value (borrowed); may be NULL.
 * @param value_len receives the value's length; may be NULL.
 * @return 0, or ::SCGI_EINVAL when `index` is out of range.
 */
SCGI_API int scgi_request_var(const scgi_request *req, size_t index,
                              const char **name, const char **value,
                              size_t *value_len);

/**
 * Gets `REQUEST_METHOD`.
 *
 * @param req the request.
 * @return the method (borrowed), or NULL when absent.
 */
SCGI_API const char *scgi_request_method(const scgi_request *req);

/**
 * Gets `REQUEST_URI`, the path and query as the client sent them.
 *
 * @param req the request.
 * @return the URI (borrowed), or NULL when absent.
 */
SCGI_API const char *scgi_request_uri(const scgi_request *req);

/**
 * Gets `QUERY_STRING`, still percent-encoded.
 *
 * @param req the request.
 * @return the query string (borrowed), or NULL when absent.
 */
SCGI_API const char *scgi_request_query_string(const scgi_request *req);

/**
 * Gets `CONTENT_TYPE`.
 *
 * @param req the request.
 * @return the content type (borrowed), or NULL when absent.
 */
SCGI_API const char *scgi_request_content_type(const scgi_request *req);

/**
 * Gets the body length announced by `CONTENT_LENGTH`.
 *
 * @param req the request.
 * @return the length in bytes (0 to INT64_MAX).
 */
SCGI_API int64_t scgi_request_content_length(const scgi_request *req);

/**
 * Gets the bytes received so far: the header netstring, then any body
 * bytes that arrived with it and were not read yet by scgi_read() (never
 * more than `CONTENT_LENGTH` of them). For relays that pass a request on
 * unchanged, with scgi_request_detach().
 *
 * @param req the request.
 * @param len receives the number of bytes; may be NULL.
 * @return the bytes (borrowed, valid until the request is freed).
 */
SCGI_API const char *scgi_request_raw(const scgi_request *req, size_t *len);

/**
 * Takes the connection away from the request, for a relay that passes it
 * on (with the bytes of scgi_request_raw()). The request then sends
 * nothing and closes nothing: scgi_request_free() only frees it, its
 * getters keep working, and its response functions return ::SCGI_ESTATE.
 *
 * @param req a request whose response has not started.
 * @return the connected socket (non-blocking, close-on-exec), now owned by
 *         the caller; ::SCGI_ESTATE when the response has started or the
 *         connection was already taken or closed.
 */
SCGI_API int scgi_request_detach(scgi_request *req);

/**
 * Gets the connection's socket, e.g. to poll it. Reading or writing it
 * directly bypasses the library's body accounting and output buffer.
 *
 * @param req the request.
 * @return the descriptor (owned by the request, non-blocking), or -1 once
 *         scgi_finish() or scgi_fail() closed it.
 */
SCGI_API int scgi_request_fd(const scgi_request *req);

/**
 * Reads body bytes, never more than `CONTENT_LENGTH` in all. Bytes that
 * arrived together with the header block come first; bytes after the
 * body are ignored. Blocks until at least one byte is there.
 *
 * @param req the request.
 * @param buf where to put the bytes.
 * @param size room in `buf`.
 * @return the number of bytes read (at least 1 when `size` > 0 and the
 *         body is not over); 0 at the end of the body or when `size` is 0;
 *         ::SCGI_ETRUNCATED when the peer closed before the whole body
 *         arrived (and on every later call); ::SCGI_ETIMEDOUT after
 *         ::SCGI_OPT_READ_TIMEOUT_MS without a byte (the read may be
 *         tried again); ::SCGI_ESTATE once scgi_finish() or scgi_fail()
 *         closed the connection; or a negated errno value.
 */
SCGI_API ssize_t scgi_read(scgi_request *req, void *buf, size_t size);

/**
 * Counts the body bytes not read yet.
 *
 * @param req the request.
 * @return the count, 0 once scgi_read() has returned the whole body.
 */
SCGI_API int64_t scgi_request_body_left(const scgi_request *req);

/** @} */

/* ---------------------------------------------------------------------- */
/** @name Response
 *  CGI-style: `Status:` line, header lines, blank line, body. Headers are
 *  held back until the first flush, so they can be set until then.
 *  @{ */

/**
 * Sets the response status (default 200), sent as `Status: CODE REASON`.
 *
 * @param req the request.
 * @param code a status code from 100 to 999.
 * @param reason the reason phrase, or NULL or "" for the standard one
 *        (`"OK"`, `"Not Found"`, ..., `"Unknown"` for codes without one).
 *        Copied.
 * @return 0; ::SCGI_EINVAL for a code out of range or a reason of 64
 *         bytes or more; ::SCGI_EHEADER for a CR or LF in `reason`;
 *         ::SCGI_ESTATE when headers were already sent, or after
 *         scgi_finish() or scgi_fail().
 */
SCGI_API int scgi_status(scgi_request *req, int code, const char *reason);

/**
 * Adds a response header line `NAME: VALUE`. Several lines with the same
 * name are kept in order.
 *
 * If no `Content-Type` header is added (names compare case-insensitively),
 * the response gets `Content-Type: text/plain; charset=utf-8`. If the
 * whole body is still buffered when the response finishes, a
 * `Content-Length` header is added unless one was set, except for 1xx,
 * 204 and 304 responses, which have no body.
 *
 * @param req the request.
 * @param name the header name: an HTTP token, so not empty, and no CR,
 *        LF, ':', space, control characters or other separators such as
 *        `(`, `/` or `@`; not `Status` (use scgi_status()). Copied.
 * @param value the value: no CR or LF. Copied.
 * @return 0; ::SCGI_EHEADER for a forbidden character or a `Status`
 *         header (nothing is added);
 *         ::SCGI_EINVAL when `name` or `value` is NULL; ::SCGI_ESTATE when
 *         headers were already sent, or after scgi_finish() or
 *         scgi_fail(); ::SCGI_ENOMEM.
 */
SCGI_API int scgi_header(scgi_request *req, const char *name,
                         const char *value);

/**
 * Adds a response header whose value is given as bytes with a length, so
 * that an embedded NUL can be detected and refused.
 *
 * @param req the request.
 * @param name as for scgi_header().
 * @param value the value's bytes: no CR, LF or NUL.
 * @param value_len their count.
 * @return as scgi_header().
 */
SCGI_API int scgi_header_n(scgi_request *req, const char *name,
                           const char *value, size_t value_len);

/**
 * Appends body bytes to the response. They are copied into a 16 KiB
 * buffer; bytes that do not fit go out at once with the headers (when
 * still pending) and the buffered bytes, in one `writev`. Buffered bytes
 * are also sent at scgi_flush() and at the end.
 *
 * @param req the request.
 * @param data the bytes.
 * @param size their count.
 * @return 0; ::SCGI_ETIMEDOUT when the peer accepted nothing for
 *         ::SCGI_OPT_WRITE_TIMEOUT_MS; ::SCGI_ESTATE after scgi_fail() or
 *         scgi_finish(); ::SCGI_ENOMEM; or a negated errno value (`-EPIPE`,
 *         `-ECONNRESET`) when the peer is gone. After an error, later
 *         writes, flushes and scgi_finish() fail the same way.
 */
SCGI_API int scgi_write(scgi_request *req, const void *data, size_t size);

/**
 * Appends formatted text to the response, like printf(3).
 *
 * @param req the request.
 * @param format the format.
 * @return as scgi_write().
 */
SCGI_API int scgi_printf(scgi_request *req, const char *format, ...)
    SCGI_PRINTF(2, 3);

/**
 * Appends formatted text to the response, like vprintf(3).
 *
 * @param req the request.
 * @param format the format.
 * @param ap the arguments.
 * @return as scgi_write().
 */
SCGI_API int scgi_vprintf(scgi_request *req, const char *format, va_list ap)
    SCGI_PRINTF(2, 0);

/**
 * Sends part of a file as body bytes with sendfile(2), after what was
 * buffered before (the headers and buffered bytes are flushed first, so
 * no `Content-Length` is added: set one to let the front server check the
 * length). sendfile(2) cannot suppress `SIGPIPE`, so the calling thread
 * blocks it during the call and takes back one it raised. Files that
 * sendfile(2) cannot read are copied with pread(2).
 *
 * @param req the request.
 * @param fd an open file (not closed by the call; its offset is unchanged).
 * @param offset where to start in the file.
 * @param count how many bytes to send.
 * @return 0; ::SCGI_EINVAL for a negative offset; ::SCGI_ETRUNCATED when
 *         the file ended before `count` bytes (the connection is then
 *         reset, see scgi_fail()); otherwise as scgi_write().
 */
SCGI_API int scgi_sendfile(scgi_request *req, int fd, off_t offset,
                           size_t count);

/**
 * Sends the headers, if not sent yet, and the buffered body bytes.
 *
 * @param req the request.
 * @return as scgi_write().
 */
SCGI_API int scgi_flush(scgi_request *req);

/**
 * Gives a stdio stream that writes to the response body, for CGI code
 * written around `printf`. The stream is unbuffered: its bytes go straight
 * into the same buffer as scgi_write() and keep their order with it (also
 * if the caller makes it buffered with setvbuf(3): it is flushed before
 * every other write). A write error shows as ferror(3), with `errno` set
 * from the negated errno code, or to `EIO`.
 *
 * @param req the request.
 * @return the stream, owned by the request: flushed by scgi_finish(),
 *         closed by scgi_request_free(), never by the caller (writes after
 *         scgi_finish() fail); the same stream on every call; NULL when
 *         out of memory.
 */
SCGI_API FILE *scgi_stream(scgi_request *req);

/**
 * Completes the response and closes the connection: sends the headers if
 * they were never sent (a request that wrote nothing gets
 * `Status: 200 OK` with an empty body), then the buffered bytes. Calling
 * it again does nothing and returns the first result.
 *
 * The close is polite: it shuts down the sending side, then reads and
 * discards whatever still comes (unread body bytes included) until the
 * peer closes its side, for at most 2 seconds and 64 MiB, and only then
 * closes. Closing a socket with unread input would make the kernel reset
 * the connection, which can destroy the response before the front server
 * reads it; and keeping the socket until the peer's close lets a relay
 * such as scgiserver tell a finished response (end of data, socket still
 * open) from a process that died (socket gone). nginx and scgiserver
 * close as soon as they see the end of the response. After a write error
 * the connection is reset instead, so that a cut response is never taken
 * for a whole one.
 *
 * @param req the request (still to be freed with scgi_request_free()).
 * @return 0 when the whole response was handed to the kernel; otherwise
 *         the error that stopped it (::SCGI_ESTATE after scgi_fail()).
 */
SCGI_API int scgi_finish(scgi_request *req);

/**
 * Ends the request as failed. If nothing was sent yet, the buffered
 * response is dropped and `Status: 500 Internal Server Error` is sent
 * instead; if headers were already sent, the connection is reset, so that
 * the front server sees an error instead of a short response it would
 * take for complete. Later writes return ::SCGI_ESTATE. Does nothing after
 * scgi_finish().
 *
 * Unix sockets have no reset: over one, the front server sees a normal
 * end of the connection. A response whose length is known should then set
 * `Content-Length`, so that a cut one is detected.
 *
 * @param req the request (still to be freed with scgi_request_free()).
 */
SCGI_API void scgi_fail(scgi_request *req);

/**
 * Finishes the request if needed (see scgi_finish()), closes its
 * connection and frees it. NULL is allowed.
 *
 * @param req the request.
 */
SCGI_API void scgi_request_free(scgi_request *req);

/** @} */

/* ---------------------------------------------------------------------- */
/** @name Forms: percent-decoding, query strings, urlencoded bodies, cookies
 *  A ::scgi_form is a decoded list of name/value pairs, in the order they
 *  came. It owns copies of its strings, so it outlives the request it was
 *  made from, and it is read-only once made: safe to read from several
 *  threads at once.
 *  @{ */

/** scgi_decode() flag: `+` stands for a space, as in form data. */
#define SCGI_DECODE_PLUS 1u
/** scgi_decode() flag: refuse a NUL in the output (`%00`, or a raw NUL
 *  byte in the input) with ::SCGI_ENUL, so that the result is a C string
 *  that no NUL silently cuts short. */
#define SCGI_DECODE_NO_NUL 2u

/**
 * Decodes `%XX` escapes (hex digits in either case).
 *
 * The decoded bytes are never more than `len`, so `dst` may be `src`
 * itself (decoding in place; no other overlap is allowed). A NUL is stored
 * after them when `dst_size` leaves room for it. Decoded bytes may contain
 * NUL (from `%00`) unless ::SCGI_DECODE_NO_NUL is given: use the returned
 * length, not strlen(). Any other byte, UTF-8 or not, passes unchanged;
 * `%` must always start an escape (`100%` is refused, not kept).
 * Thread-safe; no allocation.
 *
 * @param dst where to write the decoded bytes; may be NULL when
 *        `dst_size` is 0.
 * @param dst_size room in `dst`.
 * @param src the encoded bytes; never read past `src + len` (a trailing
 *        `%` or `%4` is ::SCGI_EPERCENT); may be NULL when `len` is 0.
 * @param len their count.
 * @param flags ::SCGI_DECODE_PLUS, ::SCGI_DECODE_NO_NUL, or both (ORed),
 *        or 0.
 * @return the number of decoded bytes; ::SCGI_EPERCENT when a `%` is not
 *         followed by two hex digits; ::SCGI_ENUL; ::SCGI_E2BIG when
 *         `dst_size` is too small for the decoded bytes (the NUL does not
 *         count); ::SCGI_EINVAL for a NULL pointer with a non-zero size.
 *         On error the contents of `dst` are unspecified.
 */
SCGI_API ssize_t scgi_decode(char *dst, size_t dst_size, const char *src,
                             size_t len, unsigned flags);

/** Decoded name/value pairs of a query string, form body or cookies
 *  (opaque). */
typedef struct scgi_form scgi_form;

/**
 * Parses `application/x-www-form-urlencoded` data: `&`-separated
 * `name=value` pairs, `+` for a space, `%XX` escapes (as the WHATWG URL
 * standard, except that escapes are strict). Empty pieces (`a=1&&b=2`)
 * are skipped; a piece without `=` is a name with an empty value; the
 * first `=` splits, so `a=b=c` is `a` = `b=c` and `=x` has the empty
 * name. Escapes are strict: a malformed one, or a NUL (`%00` or a raw
 * NUL byte), refuses the whole input. Names and values are the decoded
 * bytes, not checked to be UTF-8. Linear in `len`; one allocation.
 *
 * @param data the encoded text; need not be NUL-terminated; may be NULL
 *        when `len` is 0.
 * @param len its length.
 * @param out receives the form, to free with scgi_form_free(); NULL on
 *        error.
 * @return 0; ::SCGI_EPERCENT; ::SCGI_ENUL; ::SCGI_ENOMEM; ::SCGI_EINVAL
 *         when `out` is NULL, or `data` is NULL with `len` > 0.
 */
SCGI_API int scgi_form_parse(const char *data, size_t len, scgi_form **out);

/**
 * Parses the request's `QUERY_STRING` as with scgi_form_parse(). An absent
 * or empty query string gives an empty form (not NULL). Only reads the
 * request, like its getters.
 *
 * @param req the request.
 * @param out receives the form, to free with scgi_form_free().
 * @return as scgi_form_parse().
 */
SCGI_API int scgi_form_query(const scgi_request *req, scgi_form **out);

/**
 * Reads the whole request body and parses it as with scgi_form_parse().
 * `CONTENT_TYPE` must be `application/x-www-form-urlencoded`, in any
 * case, with optional spaces and parameters (`; charset=UTF-8`). The
 * body is read into one buffer of `CONTENT_LENGTH` bytes, freed before
 * returning. The type, a `CONTENT_LENGTH` over `max_bytes` and a body
 * already partly read are refused before a byte is read; after any other
 * error the body is partly or wholly consumed.
 *
 * @param req the request, whose body has not been read yet.
 * @param max_bytes the largest body accepted; 0 means 1 MiB.
 * @param out receives the form, to free with scgi_form_free(); NULL on
 *        error.
 * @return 0; ::SCGI_ECONTENTTYPE; ::SCGI_EBODYSIZE; ::SCGI_ESTATE when
 *         scgi_read() already took body bytes; an error of scgi_read()
 *         (::SCGI_ETRUNCATED when the body ends early); or as
 *         scgi_form_parse().
 */
SCGI_API int scgi_form_body(scgi_request *req, size_t max_bytes,
                            scgi_form **out);

/**
 * Collects the cookies of every `HTTP_COOKIE` variable (nginx forwards
 * each `Cookie:` header line as its own variable), in order. Pairs are
 * separated by `;`; the first `=` splits name from value, and spaces and
 * tabs around either are dropped; a value in double quotes loses them;
 * values are not percent-decoded (cookies have no standard encoding).
 * Pieces without `=` or with an empty name are skipped, not refused, so
 * that one odd cookie does not hide the others. A name sent twice (two
 * paths, or two header lines) gives two pairs: scgi_form_get() returns
 * the first. Only reads the request, like its getters.
 *
 * @param req the request.
 * @param out receives the cookies as a form, to free with scgi_form_free();
 *        NULL on error.
 * @return 0; ::SCGI_ENOMEM; ::SCGI_EINVAL when an argument is NULL.
 */
SCGI_API int scgi_form_cookies(const scgi_request *req, scgi_form **out);

/**
 * Counts the pairs of a form, repeated names included.
 *
 * @param form the form; NULL counts as empty.
 * @return the count.
 */
SCGI_API size_t scgi_form_count(const scgi_form *form);

/**
 * Gets a pair by position, in the order the pairs came.
 *
 * @param form the form.
 * @param index 0 to scgi_form_count() - 1.
 * @param name receives the decoded name (borrowed from the form,
 *        NUL-terminated, valid until scgi_form_free()); may be NULL.
 * @param value receives the decoded value (borrowed, NUL-terminated);
 *        may be NULL.
 * @param value_len receives the value's length in bytes; may be NULL.
 * @return 0, or ::SCGI_EINVAL when `index` is out of range.
 */
SCGI_API int scgi_form_field(const scgi_form *form, size_t index,
                             const char **name, const char **value,
                             size_t *value_len);

/**
 * Looks up the first value of a field. Each call scans the pairs in order:
 * for many lookups in a large form, walk it once with scgi_form_field().
 *
 * @param form the form; NULL finds nothing.
 * @param name the decoded name, compared byte for byte (case matters).
 * @return the decoded value (borrowed, valid until scgi_form_free()), or
 *         NULL when there is no such field.
 */
SCGI_API const char *scgi_form_get(const scgi_form *form, const char *name);

/**
 * Walks through every value of a repeated field (checkboxes, multiple
 * selections), in order.
 *
 * @param form the form.
 * @param name the decoded name, compared as by scgi_form_get().
 * @param cursor set it to 0 before the first call; it is advanced past
 *        the pair found, so that `*cursor - 1` is then that pair's index
 *        for scgi_form_field().
 * @return the next value (borrowed, valid until scgi_form_free()), or
 *         NULL when there is no more.
 */
SCGI_API const char *scgi_form_next(const scgi_form *form, const char *name,
                                    size_t *cursor);

/**
 * Frees a form. NULL is allowed.
 *
 * @param form the form.
 */
SCGI_API void scgi_form_free(scgi_form *form);

/** @} */

/* ---------------------------------------------------------------------- */
/** @name Multipart: streaming multipart/form-data
 *  The parser hands each part's bytes to a callback as they arrive, so its
 *  memory use does not depend on the size of the upload: one allocation
 *  for the parser, and one buffer for a part's header lines, which grows
 *  up to twice ::SCGI_OPT_MAX_PART_HEADER_BYTES and is reused for every
 *  part. It can read a request body itself (scgi_multipart_read()) or be
 *  fed by the caller (scgi_multipart_feed(), for event loops).
 *
 *  The parser is strict where being lenient would let two programs read
 *  the same body differently: a boundary followed by anything but
 *  optional spaces and CRLF or `--`, header lines that are folded, end in
 *  a bare LF or hold a NUL, a repeated `Content-Disposition` or
 *  `Content-Type`, a repeated `name` or `filename` parameter are all
 *  refused with ::SCGI_EMULTIPART.
 *
 *  The parser limits parts and header sizes, not the size of the body:
 *  check `CONTENT_LENGTH` (scgi_request_content_length()) first, and count
 *  the bytes a part's callback accepts.
 *  @{ */

/** A streaming `multipart/form-data` parser (opaque). */
typedef struct scgi_multipart scgi_multipart;

/** The headers of one part (opaque); valid from its ::SCGI_PART_BEGIN to
 *  its ::SCGI_PART_END event. */
typedef struct scgi_part scgi_part;

/** What a ::scgi_part_fn call reports. */
typedef enum scgi_part_event {
  SCGI_PART_BEGIN = 1, /**< a part's headers were read */
  SCGI_PART_DATA = 2,  /**< some of the part's content */
  SCGI_PART_END = 3    /**< the part's content is complete */
} scgi_part_event;

/**
 * Receives the parts of a multipart body.
 *
 * For each part, in order: one ::SCGI_PART_BEGIN, any number of
 * ::SCGI_PART_DATA (none for an empty part; chunk sizes depend on how the
 * bytes arrived), one ::SCGI_PART_END. A part's content is handed over
 * from the fed buffer itself, in one call per feed when it can be; only
 * the bytes at the end of a feed that may begin a boundary (fewer than
 * the boundary plus 4) are held back, and come in a call of their own
 * once the next feed shows that they were content.
 *
 * The callback must not feed, end or free the parser that called it.
 *
 * @param arg the pointer given to scgi_multipart_new().
 * @param event what happened.
 * @param part the current part's headers (borrowed).
 * @param data for ::SCGI_PART_DATA, the bytes (borrowed, valid during the
 *        call); NULL otherwise.
 * @param len the number of bytes in `data`; 0 otherwise.
 * @return 0 to go on; a negative value stops the parser, and
 *         scgi_multipart_feed(), scgi_multipart_end() or
 *         scgi_multipart_read() return it.
 */
typedef int (*scgi_part_fn)(void *arg, scgi_part_event event,
                            const scgi_part *part, const char *data,
                            size_t len);

/**
 * Creates a parser for a body of the given content type.
 *
 * @param content_type the request's `CONTENT_TYPE`, e.g.
 *        `multipart/form-data; boundary=----x`: the type in any case,
 *        spaces allowed around `;` and `=`, other parameters ignored. The
 *        one `boundary` parameter may be quoted (with backslash escapes);
 *        it must have 1 to 70 characters among letters, digits and
 *        `'()+_,-./:=?` and space, and not end with a space (RFC 2046).
 * @param fn the callback.
 * @param arg passed to `fn` unchanged.
 * @param out receives the parser, to free with scgi_multipart_free(); set
 *        to NULL on error.
 * @return 0; ::SCGI_ECONTENTTYPE when the type is not
 *         `multipart/form-data` (or `content_type` is NULL);
 *         ::SCGI_ENOBOUNDARY when the boundary is missing, repeated or
 *         invalid; ::SCGI_EINVAL when `fn` or `out` is NULL;
 *         ::SCGI_ENOMEM.
 */
SCGI_API int scgi_multipart_new(const char *content_type, scgi_part_fn fn,
                                void *arg, scgi_multipart **out);

/**
 * Sets a limit: ::SCGI_OPT_MAX_PART_HEADER_BYTES or ::SCGI_OPT_MAX_PARTS,
 * before the first scgi_multipart_feed() (even one with no bytes).
 *
 * The header limit counts every byte of a part's header block: its lines
 * with their CRLFs and the empty line that ends them. A block that
 * crosses it is refused as soon as the byte that crosses it arrives.
 *
 * @param mp the parser.
 * @param option the limit.
 * @param value its new value, at least 1 (header bytes: at most 1 GiB).
 * @return 0; ::SCGI_EINVAL for another option or a value out of range;
 *         ::SCGI_ESTATE once feeding has begun.
 */
SCGI_API int scgi_multipart_set(scgi_multipart *mp, scgi_option option,
                                size_t value);

/**
 * Feeds the next bytes of the body, in any pieces, down to one byte at a
 * time. Bytes before the first boundary (preamble) and after the final one
 * (epilogue) are ignored.
 *
 * @param mp the parser.
 * @param data the bytes (not kept after the call).
 * @param len their count.
 * @return 0; ::SCGI_EMULTIPART (with a part header not `Name: value`,
 *         folded, without a `form-data` disposition with a non-empty
 *         name, or a boundary not followed by CRLF or `--`; see above);
 *         ::SCGI_EPARTHEADER; ::SCGI_ETOOMANYPARTS; ::SCGI_ENOMEM when
 *         the header buffer cannot grow; or the callback's negative value.
 *         Errors are sticky: every later call returns the same one and
 *         calls nothing. ::SCGI_EINVAL (not sticky) when `mp` is NULL, or
 *         `data` is NULL with `len` > 0.
 */
SCGI_API int scgi_multipart_feed(scgi_multipart *mp, const char *data,
                                 size_t len);

/**
 * Tells the parser that the body is over.
 *
 * @param mp the parser.
 * @return 0 when the final boundary was seen; ::SCGI_EPARTSEND when it was
 *         not (a part in progress gets no ::SCGI_PART_END); or a sticky
 *         error of scgi_multipart_feed().
 */
SCGI_API int scgi_multipart_end(scgi_multipart *mp);

/**
 * Reads the rest of a request's body through the parser, 64 KiB at a time
 * (in a buffer on the heap), then calls scgi_multipart_end(). The
 * epilogue is read too, so that the whole body is consumed before the
 * response; reading stops at the first error.
 *
 * @param mp a parser made from the request's `CONTENT_TYPE`.
 * @param req the request.
 * @return as scgi_multipart_end(), or an error of scgi_read() (then
 *         sticky in the parser); ::SCGI_ENOMEM; ::SCGI_EINVAL.
 */
SCGI_API int scgi_multipart_read(scgi_multipart *mp, scgi_request *req);

/**
 * Frees a parser. NULL is allowed.
 *
 * @param mp the parser.
 */
SCGI_API void scgi_multipart_free(scgi_multipart *mp);

/**
 * Gets the `name` parameter of a part's `Content-Disposition: form-data`,
 * with the escapes browsers use decoded (see scgi_part_filename()).
 *
 * @param part the part.
 * @return the field name (borrowed), never NULL nor empty (a part without
 *         one is refused).
 */
SCGI_API const char *scgi_part_name(const scgi_part *part);

/**
 * Gets the `filename` parameter of a part's `Content-Disposition`, with
 * the escapes browsers use (`%22`, `%0D`, `%0A`, in either case) decoded;
 * every other `%` stays as it is, as browsers send it unescaped (so a
 * file really named `a%22.txt` reads as `a".txt`: the HTML standard's
 * encoding cannot tell them apart). Inside quotes, `"` is a quote (older
 * clients); any other backslash is kept, as in a Windows path. The
 * `filename*` parameter is ignored (RFC 7578 forbids it). It comes from
 * the client: never use it as a path; see scgi_filename_safe().
 *
 * @param part the part.
 * @return the file name (borrowed), or NULL for a part that is not a file;
 *         "" for a file field that was left empty (browsers still send
 *         the part, with no content).
 */
SCGI_API const char *scgi_part_filename(const scgi_part *part);

/**
 * Gets a part's `Content-Type` header.
 *
 * @param part the part.
 * @return the value (borrowed), or NULL when absent (`text/plain` is then
 *         meant).
 */
SCGI_API const char *scgi_part_content_type(const scgi_part *part);

/**
 * Looks up any header of a part, by name, without regard to case.
 *
 * @param part the part.
 * @param name the header name, e.g. `"Content-Transfer-Encoding"`.
 * @return the value without surrounding spaces and tabs (borrowed), the
 *         first one when the header is repeated; NULL when absent or when
 *         `name` is NULL.
 */
SCGI_API const char *scgi_part_header(const scgi_part *part,
                                      const char *name);

/**
 * Makes a client-supplied file name safe to use as the last component of a
 * path: keeps what follows the last `/` or `\` (browsers on Windows have
 * sent whole paths), and refuses an empty result, `.`, `..`, NUL and
 * control characters.
 *
 * Bytes from 0x80 up (UTF-8) are kept as they are. Control characters in
 * the directories dropped do not matter.
 *
 * @param filename the name, e.g. from scgi_part_filename(); NULL gives
 *        ::SCGI_EFILENAME. Never read past its NUL.
 * @param out where to write the safe name, NUL-terminated; may be
 *        `filename` itself. Set to "" on error (when `size` > 0).
 * @param size room in `out`, the NUL included.
 * @return the length of the safe name; ::SCGI_EFILENAME; ::SCGI_E2BIG when
 *         `out` is too small; ::SCGI_EINVAL when `out` is NULL and `size`
 *         is not 0.
 */
SCGI_API ssize_t scgi_filename_safe(const char *filename, char *out,
                                    size_t size);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* SCGI_H */
