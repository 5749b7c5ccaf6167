/*
 * internal.h - declarations shared by libscgi's source files; not installed.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef SCGI_INTERNAL_H
#define SCGI_INTERNAL_H

#include "scgi.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define SCGI__DEFAULT_MAX_HEADER_BYTES 65536
#define SCGI__DEFAULT_MAX_VARS 1024
#define SCGI__LIMIT_MAX_HEADER_BYTES (1u << 30)
#define SCGI__DEFAULT_TIMEOUT_MS 30000
#define SCGI__DEFAULT_SOCKET_MODE 0666
#define SCGI__DEFAULT_BACKLOG 511

/* Variables kept in the parser itself before the table goes to the heap:
 * enough for what nginx, Apache and lighttpd send to a plain request. */
#define SCGI__INLINE_VARS 48

/* ---- parser.c ---------------------------------------------------------- */

/* One variable, as offsets into the request bytes so that the caller's
 * buffer may move while the header block is still arriving. */
struct scgi__var {
  uint32_t name;
  uint32_t name_len;
  uint32_t value;
  uint32_t value_len;
};

enum scgi__parse_state {
  SCGI__PARSE_LENGTH, /* reading the netstring length digits */
  SCGI__PARSE_NAME,   /* inside a variable name */
  SCGI__PARSE_VALUE,  /* inside a variable value */
  SCGI__PARSE_COMMA,  /* header block read, ',' expected */
  SCGI__PARSE_DONE,
  SCGI__PARSE_ERROR
};

/* Private to parser.c; other files use the scgi_parser_* functions. Every
 * position is an offset into the request, never a pointer, because the
 * caller's buffer may move between two scgi_parse() calls. */
struct scgi_parser {
  size_t max_header_bytes;
  size_t max_vars;

  enum scgi__parse_state state;
  bool started;         /* scgi_parse() was called: the limits are frozen */
  bool seen_scgi;
  unsigned char value_kind; /* rule for the value being read (parser.c) */
  long result;          /* scgi_parse()'s return once DONE or ERROR */
  size_t error_offset;
  size_t block_len;     /* header block length announced by the netstring */
  size_t block_start;   /* offset of the first header block byte */
  size_t pos;           /* next byte to examine */
  size_t pair_start;    /* offset of the current variable's name */
  size_t value_start;   /* offset of the current variable's value */
  int64_t content_length;

  const char *base;     /* buffer of the last scgi_parse() call */
  struct scgi__var *vars; /* heap table, NULL while inline_vars suffices;
                           * kept across scgi_parser_reset() for reuse */
  size_t nvars;
  size_t vars_cap;      /* entries in the heap table */
  struct scgi__var inline_vars[SCGI__INLINE_VARS];
};

/* Sets up / releases a parser embedded in another object. */
void scgi__parser_init(scgi_parser *p);
void scgi__parser_cleanup(scgi_parser *p);

/* ---- io.c -------------------------------------------------------------- */

/* Waits until fd is ready for `events` (POLLIN / POLLOUT) or timeout_ms
 * passes (0: forever). Returns 0, SCGI_ETIMEDOUT or -errno. */
int scgi__wait(int fd, short events, unsigned timeout_ms);

/* Milliseconds on the monotonic clock. */
uint64_t scgi__now_ms(void);

/* Writes every byte of iov (modified in place) to a non-blocking socket,
 * without ever raising SIGPIPE. Returns 0, SCGI_ETIMEDOUT or -errno. */
int scgi__writev_all(int fd, struct iovec *iov, int iovcnt,
                     unsigned timeout_ms);

/* For the calls that cannot take MSG_NOSIGNAL (sendfile(2), write(2) to
 * a pipe): block SIGPIPE in this thread around them, then take back one the
 * call raised (`raised`: it failed with EPIPE) and restore the mask. A
 * SIGPIPE already pending before the block is left alone. */
struct scgi__sigpipe_guard {
  sigset_t old;
  bool was_pending;
};
void scgi__sigpipe_block(struct scgi__sigpipe_guard *g);
void scgi__sigpipe_restore(struct scgi__sigpipe_guard *g, bool raised);

/* An iovec for bytes that writev only reads: iov_base is not const, and a
 * plain cast would trip -Wcast-qual. */
static inline struct iovec scgi__iovec(const void *base, size_t len)
{
  struct iovec iov = {.iov_base = (void *)(uintptr_t)base, .iov_len = len};
  return iov;
}

/* ---- request.c / response.c ---------------------------------------------- */

/* Settings copied from the server into each request at accept time, so that
 * a request never needs its server again. */
struct scgi__conn_settings {
  size_t max_header_bytes;
  size_t max_vars;
  unsigned read_timeout_ms;
  unsigned write_timeout_ms;
  scgi_log_fn log;
  void *log_arg;
};

/* Room for the first read of a connection, kept inside the request; larger
 * header blocks move to the heap. */
#define SCGI__INLINE_INPUT 4096
/* Room for buffered response body bytes (allocated on first write). */
#define SCGI__OUTPUT_BUFFER 16384

struct scgi_request {
  int fd;
  struct scgi__conn_settings cfg;
  scgi_parser parser;

  /* Received bytes: header netstring, then possibly early body bytes. */
  char *in;
  size_t in_len;
  size_t in_cap;
  size_t in_pos;         /* next early body byte not yet given out */
  int64_t body_left;     /* body bytes not yet given to the caller */
  int read_error;        /* sticky scgi_read() error (SCGI_ETRUNCATED) */
  bool linger;           /* rejected: more input may follow, drain it first */
  bool linger_done;      /* ...drained already (or given up): just close */
  bool trailing;         /* bytes came after the body (ignored) */
  bool detached;         /* the caller took the connection: never touch fd */
  bool abort_armed;      /* TCP: SO_LINGER {1, 0} until a normal close */
  bool tcp;              /* TCP connection (TCP_NODELAY set when streaming) */
  bool nodelay;          /* ...TCP_NODELAY is set */
  bool wait_peer_close;  /* after a finish, wait for the peer's close */
  struct scgi__done_channel *done; /* handoff: report the end on it */
  uint64_t deadline_ms;  /* header block due by then (monotonic; 0: never) */
  uint32_t room_slot;    /* while in the waiting room (room.c) */

  /* Response. */
  int status;
  char reason[64];
  char *head;            /* header lines added so far, "Name: value\r\n"... */
  size_t head_len;
  size_t head_cap;
  char *out;             /* buffered body bytes */
  size_t out_len;
  int error;             /* first write error, sticky */
  int finish_result;
  bool headers_sent;
  bool finished;
  bool failed;
  bool has_content_type;
  bool has_content_length;
  FILE *stream;

  char peer[64];         /* peer address, for log lines */
  char inline_in[SCGI__INLINE_INPUT]; /* keep last: not zeroed by new */
};

/* Creates a request around a connected socket (made non-blocking), with
 * `prefix` (may be NULL/0) as bytes already read from it. Takes ownership of
 * fd, also on failure. Returns NULL when out of memory. */
scgi_request *scgi__request_new(int fd, const struct scgi__conn_settings *cfg,
                                const char *prefix, size_t prefix_len);
/* The same for a socket known to be non-blocking already (accept4()). */
scgi_request *scgi__request_new_nb(int fd,
                                   const struct scgi__conn_settings *cfg,
                                   const char *prefix, size_t prefix_len);

/* Reads what has arrived of the header block without waiting, and parses
 * it. Returns 0 once the block is complete, -EAGAIN when more is needed
 * (poll the fd for input), SCGI_ETIMEDOUT past deadline_ms (set at
 * creation from cfg.read_timeout_ms), or another error. */
int scgi__request_read_header(scgi_request *req);
/* Sends "Status: 400 Bad Request" with `reason` as body, best effort and
 * without waiting on a peer that does not read. */
void scgi__request_reject(scgi_request *req, const char *reason);

/* TCP connections only: makes the kernel reset the connection if this
 * process dies before the response is complete, so that the front server
 * sees an error, not a short response; a normal close disarms it. */
void scgi__request_arm_abort(scgi_request *req);

/* For a rejected request (scgi__request_reject()) whose remaining input
 * is discarded by the server's waiting room rather than by
 * scgi__request_destroy(), which would wait: shuts down our side and sets
 * deadline_ms to when to stop discarding. */
void scgi__request_linger_start(scgi_request *req);
/* Discards what input is there: -EAGAIN while more may come before the
 * deadline, 0 when done (peer closed, error, deadline or too much input);
 * scgi__request_destroy() then closes at once. */
int scgi__request_linger_read(scgi_request *req);

/* Closes the connection and frees the request without sending anything. */
void scgi__request_destroy(scgi_request *req);

/* Closes the connection so that the peer can still read what was sent: when
 * input may be left unread (body bytes, or anything after a reject), shuts
 * down the write side and discards input for at most drain_ms, since closing
 * with unread input makes the kernel send a RST that may destroy the
 * response in the peer's receive buffer. `finished` (a normal finish) on a
 * request with wait_peer_close: always shuts down and waits (discarding
 * input, at most drain_ms) for the peer to close, so that the peer can tell a finished application (EOF, our
 * end still open) from a dead one (socket fully closed). No-op when
 * already closed. */
void scgi__request_close(scgi_request *req, unsigned drain_ms, bool finished);

/* ---- accept.c: the handoff socket's "D" channel ------------------------ */

/* A descriptor of the handoff socket shared by its listener and the
 * requests it handed out, so that a request may outlive the listener
 * without a dup() per request. Freed (and closed) by the last unref. */
struct scgi__done_channel {
  atomic_uint refs;
  int fd;
};

/* Sends "D" (the handed-off connection is closed), then drops the
 * request's reference. */
void scgi__done_report(struct scgi__done_channel *ch);
void scgi__done_unref(struct scgi__done_channel *ch);

/* ---- listen.c ------------------------------------------------------------ */

/* One listener of a server: a listening stream socket, or the handoff socket
 * from scgiserver (see scgi_server_listen() in scgi.h for that convention).
 * Listeners are created while the server is configured, from one thread;
 * afterwards only `closed` changes, from whichever thread sees the EOF. */
struct scgi__listener {
  int fd;
  bool handoff;        /* AF_UNIX SOCK_SEQPACKET socket from scgiserver */
  _Atomic bool closed; /* handoff: scgiserver went away, stop polling it */
  _Atomic bool ended;  /* ...and the server has stopped watching it */
  bool wait_close;     /* requests get wait_peer_close (SCGI_WAIT_FOR_CLOSE) */
  /* handoff: created with the first message */
  struct scgi__done_channel *_Atomic done;
  char *path;          /* Unix socket file we created, or NULL */
  dev_t dev;           /* ...and its identity, so that only our own file */
  ino_t ino;           /*    gets unlinked */
};

/* What opening a listener needs from its server. */
struct scgi__listen_params {
  unsigned socket_mode;
  int backlog;
  const struct scgi__conn_settings *cfg; /* for log lines */
};

/* Opens the listener(s) that `address` names (NULL: the inherited ones) and
 * appends them to the array *list of *count listeners (reallocated). All or
 * nothing: on error nothing is appended and nothing given is touched.
 * Returns 0 or the error for scgi_server_listen(). */
int scgi__listen(const char *address, const struct scgi__listen_params *params,
                 struct scgi__listener **list, size_t *count);

/* Closes a listener, unlinking its Unix socket file if that is still ours. */
void scgi__listener_close(struct scgi__listener *l);

/* Takes the next connection from a listener that poll() reported readable,
 * as a new request whose header is not read yet (peer already set). Safe
 * to call from many threads at once on the same listener. Returns 0; -EAGAIN
 * when there was nothing to take after all (another thread won, a transient
 * network error, a dropped handoff message); SCGI_ESTOPPED when scgiserver
 * closed the handoff socket (`closed` is then set); -EMFILE, -ENFILE,
 * -ENOBUFS or -ENOMEM when the system is out of resources; SCGI_ENOMEM; or
 * another -errno. */
int scgi__listener_next(struct scgi__listener *l,
                        const struct scgi__conn_settings *cfg,
                        scgi_request **out);

/* ---- room.c -------------------------------------------------------------- */

/* The waiting room: accepted connections whose header block is incomplete,
 * registered one-shot in the server's epoll set under keys below
 * SCGI__ROOM_KEYS (other keys are the server's own). Thread-safe. */
#define SCGI__ROOM_KEYS ((uint64_t)1 << 63)

struct scgi__room_slot;
struct scgi__room {
  int epfd;                       /* the server's; not owned */
  pthread_mutex_t lock;
  struct scgi__room_slot *slots;
  uint32_t nslots, cap, free_head;
  uint32_t next_gen;
  atomic_size_t parked;           /* requests in the room */
  _Atomic uint64_t next_sweep_ms; /* when to look for expired ones */
};

/* Returns 0 or a negated errno. */
int scgi__room_init(struct scgi__room *r, int epfd);
/* Frees the requests still waiting (closing their connections). */
void scgi__room_cleanup(struct scgi__room *r);
/* Puts a request in the room; on error (returned) the caller keeps it. */
int scgi__room_park(struct scgi__room *r, scgi_request *req);
/* The request an epoll event's key names, now the caller's to read from,
 * or NULL when that event is stale (the request expired meanwhile). */
scgi_request *scgi__room_take(struct scgi__room *r, uint64_t key);
/* Puts a taken request back to wait for more input; on error (returned)
 * it has left the room and is the caller's. */
int scgi__room_repark(struct scgi__room *r, scgi_request *req);
/* A taken request leaves the room for good (its header is complete, or it
 * failed). */
void scgi__room_leave(struct scgi__room *r, scgi_request *req);
/* epoll_wait() timeout: -1 with nobody waiting, else until the next sweep. */
int scgi__room_timeout(struct scgi__room *r, uint64_t now);
/* If a sweep is due and no other thread does it, takes every request past
 * its deadline out of the room and calls expire() on each (which owns it). */
void scgi__room_sweep(struct scgi__room *r, uint64_t now,
                      void (*expire)(scgi_request *req, void *arg), void *arg);

/* ---- server.c ------------------------------------------------------------ */

/* Formats and sends one log line through cfg's log function. */
void scgi__log(const struct scgi__conn_settings *cfg, scgi_log_level level,
               const char *format, ...) SCGI_PRINTF(3, 4);

#endif /* SCGI_INTERNAL_H */
