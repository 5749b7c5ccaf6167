/*
 * scgi.c - scgi: sends one request to an SCGI application and prints its
 * response, as `cgi-fcgi -bind -connect` does for FastCGI: to try an
 * application by hand or from a script, with no web server in front.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The request is one netstring of variables, CONTENT_LENGTH first as the
 * SCGI specification requires, then the body. The response is read to
 * end of file: a CGI header block, an empty line, the body.
 *
 * Sending and receiving share one poll() loop: an application may answer
 * (and stop reading) before the whole body is sent, to refuse it for
 * instance, and that answer must still be printed.
 *
 * Only libc: the program shares no code with libscgi, so that talking to
 * a libscgi application also checks the library against a second,
 * independent reading of the protocol.
 *
 * Exit status:
 *   0  the response status is 1xx, 2xx or 3xx;
 *   1  the response status is 4xx or 5xx;
 *   2  usage error: a bad option, address, path or variable, or a body
 *      (-d @FILE, -d @-) that cannot be read;
 *   3  the connection failed or timed out, the response is not a CGI
 *      response, or it could not be written to standard output (also:
 *      a -d @FILE that shrank while it was sent, out of memory).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define STATUS_OK 0         /* response status 1xx-3xx */
#define STATUS_HTTP_ERROR 1 /* response status 4xx-5xx */
#define STATUS_USAGE 2
#define STATUS_FAILED 3
#define GO_ON (-1) /* returned by the steps of main(): no exit yet */

#define DEFAULT_TIMEOUT_MS 30000
#define CHUNK 65536
/* A body of unknown length (a pipe) up to this size stays in memory;
 * a larger one goes to a temporary file. */
#define SPOOL_IN_MEMORY (1024 * 1024)
/* The response's header block must fit here (nginx allows 4 or 8 KiB by
 * default: this is plenty). */
#define MAX_RESPONSE_HEAD 65536

#define USAGE                                                                  \
  "usage: scgi [OPTIONS] ADDRESS [PATH[?QUERY]]\n"                             \
  "Sends one request to an SCGI application and prints the response body.\n"  \
  "  ADDRESS                HOST:PORT, [IPV6]:PORT or unix:/PATH\n"            \
  "  PATH                   request path, default \"/\"; a ?QUERY part becomes" \
  "\n"                                                                         \
  "                         QUERY_STRING\n"                                    \
  "  -X, --request METHOD   request method (default GET, or POST when -d is\n" \
  "                         given)\n"                                          \
  "  -d, --data DATA        request body, byte for byte; @FILE reads it from\n" \
  "                         FILE, @- from standard input\n"                    \
  "  -H, --var NAME=VALUE   add or replace an SCGI variable (repeatable),\n"   \
  "                         e.g. -H HTTP_HOST=example.org\n"                   \
  "  -i, --include          print the response's header block before its "    \
  "body\n"                                                                     \
  "  -v, --verbose          show the request bytes sent and the response "     \
  "status\n"                                                                   \
  "                         on standard error\n"                               \
  "  -t, --timeout MS       give up after MS milliseconds without progress\n"  \
  "                         (default 30000)\n"                                 \
  "  -h, --help             this help;  -V, --version  the version\n"          \
  "Exit status: 0 for a response status 1xx-3xx, 1 for 4xx-5xx, 2 for a "     \
  "usage\n"                                                                    \
  "error, 3 when the connection fails or times out, or the response is not "  \
  "a\n"                                                                        \
  "CGI response.\n"                                                            \
  "example: scgi -d 'a=1' unix:/run/app.sock '/form?x=y'\n"

/* ---------------------------------------------------------------- types */

struct options {
  const char *address;
  const char *uri;       /* PATH[?QUERY] as given */
  const char *method;    /* NULL: GET, or POST with a body */
  const char *data;      /* -d's argument; NULL: no body */
  const char **set;      /* the -H arguments, NAME=VALUE, in order */
  size_t nset;
  bool include, verbose;
  int timeout_ms;
};

/* Where to connect: a Unix socket, or every address a host name has. */
struct target {
  struct sockaddr_un sun;
  struct addrinfo *ai; /* NULL for a Unix socket */
};

/* The request body: in memory (data), or read from fd while it is sent. */
struct body {
  const char *name; /* for messages */
  const char *data;
  char *owned;      /* data, when it was read into memory here */
  int fd;           /* -1: the body is data */
  uint64_t length;
};

struct var {
  const char *name; /* name_len bytes, not NUL-terminated */
  size_t name_len;
  const char *value;
};

struct request {
  char length[24]; /* CONTENT_LENGTH's value */
  char *path;      /* DOCUMENT_URI: PATH without its ?QUERY */
  struct var *vars;
  size_t nvars;
  char *head;      /* the netstring of the variables */
  size_t head_len;
};

/* Writes bytes readably to standard error, each line after prefix. */
struct shower {
  const char *prefix;
  bool midline;
};

/* One request and its response, on one connection. */
struct exchange {
  const struct options *o;
  int fd;
  /* The request: head, then body (a file's through chunk). */
  const struct request *req;
  size_t head_off;
  const struct body *body;
  uint64_t body_off;
  char chunk[CHUNK];
  size_t chunk_len, chunk_off;
  bool sent; /* all of it, or the application stopped reading (cut) */
  bool cut;
  struct shower shown;
  /* The response: head until its empty line, then body through buf. */
  char head[MAX_RESPONSE_HEAD];
  size_t head_len, scan;
  char buf[CHUNK];
  bool in_body;
  int status;
  uint64_t received;
};

/* What the response's header block says about the status. */
struct head_info {
  int status;       /* -1: no Status header (nor HTTP status line) */
  const char *line; /* that header's line, for -v */
  size_t line_len;
  bool location;
};

/* ---------------------------------------------------------------- errors */

/* Prints "scgi: MESSAGE" as one line on standard error; returns status,
 * so that a failing step can `return fail(STATUS_..., ...)`. */
static int fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(int status, const char *fmt, ...)
{
  char text[1024];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  fprintf(stderr, "scgi: %s\n", text);
  return status;
}

/* ---------------------------------------------------------------- time and I/O */

static int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll() on one descriptor for at most timeout_ms (-1: no limit). A
 * signal does not shorten the wait: it goes on for the time left.
 * Returns revents, 0 on timeout, -1 on error (errno set). */
static int wait_fd(int fd, short events, int timeout_ms)
{
  struct pollfd p = {.fd = fd, .events = events};
  int64_t deadline = now_ms() + timeout_ms;
  int left = timeout_ms, n;

  while ((n = poll(&p, 1, left)) < 0 && errno == EINTR) {
    if (timeout_ms >= 0) {
      int64_t rest = deadline - now_ms();
      left = rest > 0 ? (int)rest : 0;
    }
  }
  return n > 0 ? p.revents : n;
}

/* read() that survives signals, and a non-blocking descriptor handed
 * down by the caller (it waits instead of failing with EAGAIN). */
static ssize_t read_some(int fd, char *buf, size_t n)
{
  for (;;) {
    ssize_t got = read(fd, buf, n);
    if (got >= 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
      return got;
    if (errno != EINTR && wait_fd(fd, POLLIN, -1) < 0)
      return -1;
  }
}

/* write() until all is written: pipes take partial writes, and standard
 * output may be a non-blocking descriptor. Returns 0 or -1 (errno). */
static int write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w >= 0) {
      p += w;
      n -= (size_t)w;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (wait_fd(fd, POLLOUT, -1) < 0)
        return -1;
    } else if (errno != EINTR) {
      return -1;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- -v */

/* One byte as it is shown: printable ASCII as is, NUL, tab, LF, CR and
 * backslash as \0 \t \n \r \\, anything else as \xHH. Returns the count
 * of characters put in out (at most 4). */
static size_t escape(unsigned char c, char *out)
{
  static const char hex[] = "0123456789abcdef";
  const char *named = c == '\0'   ? "\\0"
                      : c == '\t' ? "\\t"
                      : c == '\n' ? "\\n"
                      : c == '\r' ? "\\r"
                      : c == '\\' ? "\\\\"
                                  : NULL;

  if (named) {
    memcpy(out, named, 2);
    return 2;
  }
  if (c >= 0x20 && c < 0x7f) {
    out[0] = (char)c;
    return 1;
  }
  out[0] = '\\';
  out[1] = 'x';
  out[2] = hex[c >> 4];
  out[3] = hex[c & 15];
  return 4;
}

/* Shows bytes escaped, so that the exact bytes can be read back and none
 * of them can drive the terminal. A shown \n also ends the line, so that
 * a text body stays readable. */
static void show(struct shower *s, const char *p, size_t n)
{
  char out[4096];
  size_t len = 0, plen = strlen(s->prefix);

  for (size_t i = 0; i < n; i++) {
    if (len + plen + 5 > sizeof out) {
      fwrite(out, 1, len, stderr);
      len = 0;
    }
    if (!s->midline) {
      memcpy(out + len, s->prefix, plen);
      len += plen;
      s->midline = true;
    }
    len += escape((unsigned char)p[i], out + len);
    if (p[i] == '\n') {
      out[len++] = '\n';
      s->midline = false;
    }
  }
  fwrite(out, 1, len, stderr);
}

static void show_end(struct shower *s)
{
  if (s->midline)
    fputc('\n', stderr);
  s->midline = false;
}

/* ---------------------------------------------------------------- options */

static const struct option long_options[] = {
  {"request", required_argument, NULL, 'X'},
  {"data", required_argument, NULL, 'd'},
  {"var", required_argument, NULL, 'H'},
  {"include", no_argument, NULL, 'i'},
  {"verbose", no_argument, NULL, 'v'},
  {"timeout", required_argument, NULL, 't'},
  {"help", no_argument, NULL, 'h'},
  {"version", no_argument, NULL, 'V'},
  {NULL, 0, NULL, 0},
};

static bool name_is(const char *name, size_t len, const char *want)
{
  return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* -H NAME=VALUE. An argument cannot hold a NUL and the name ends at the
 * first '=', so a non-empty name is all there is to check, besides the
 * two variables that only the request itself can tell right. */
static int add_var(const char *arg, struct options *o)
{
  const char *eq = strchr(arg, '=');

  if (!eq)
    return fail(STATUS_USAGE, "-H '%s': expected NAME=VALUE", arg);
  if (eq == arg)
    return fail(STATUS_USAGE, "-H '%s': empty variable name", arg);
  if (name_is(arg, (size_t)(eq - arg), "CONTENT_LENGTH"))
    return fail(STATUS_USAGE,
                "-H CONTENT_LENGTH: set from the body's length (give -d)");
  if (name_is(arg, (size_t)(eq - arg), "SCGI"))
    return fail(STATUS_USAGE, "-H SCGI: always 1, it cannot be changed");
  o->set[o->nset++] = arg;
  return GO_ON;
}

/* Milliseconds: decimal digits only, 1 to INT_MAX (what poll() takes). */
static int set_timeout(const char *arg, struct options *o)
{
  long long v = 0;
  const char *p = arg;

  for (; *p >= '0' && *p <= '9' && v <= INT_MAX; p++)
    v = v * 10 + (*p - '0');
  if (p == arg || *p || v < 1 || v > INT_MAX)
    return fail(STATUS_USAGE,
                "-t '%s': expected milliseconds, from 1 to %d", arg, INT_MAX);
  o->timeout_ms = (int)v;
  return GO_ON;
}

static int bad_option(int opt, char **argv)
{
  if (opt == ':')
    return fail(STATUS_USAGE, "option %s needs a value (see scgi --help)",
                argv[optind - 1]);
  /* getopt_long() names a short option in optopt; a long one only by its
   * place in argv. */
  if (optopt)
    return fail(STATUS_USAGE, "unknown option -%c (see scgi --help)", optopt);
  return fail(STATUS_USAGE, "unknown option %s (see scgi --help)",
              argv[optind - 1]);
}

static int take_option(int opt, char **argv, struct options *o)
{
  switch (opt) {
  case 'X':
    if (!*optarg)
      return fail(STATUS_USAGE, "-X: empty method");
    o->method = optarg;
    return GO_ON;
  case 'd':
    /* Joining several as curl does would hide a mistake more often than
     * it would help: a body is given once. */
    if (o->data)
      return fail(STATUS_USAGE, "-d given twice: give the body once");
    o->data = optarg;
    return GO_ON;
  case 'H':
    return add_var(optarg, o);
  case 'i':
    o->include = true;
    return GO_ON;
  case 'v':
    o->verbose = true;
    return GO_ON;
  case 't':
    return set_timeout(optarg, o);
  case 'h':
    fputs(USAGE, stdout);
    return STATUS_OK;
  case 'V':
    puts("scgi (libscgi) " PACKAGE_VERSION);
    return STATUS_OK;
  default:
    return bad_option(opt, argv);
  }
}

static int take_operands(int n, char **args, struct options *o)
{
  if (n < 1)
    return fail(STATUS_USAGE, "no ADDRESS given (see scgi --help)");
  if (n > 2)
    return fail(STATUS_USAGE, "too many arguments, from '%s' on", args[2]);
  o->address = args[0];
  o->uri = n == 2 ? args[1] : "/";
  if (o->uri[0] != '/')
    return fail(STATUS_USAGE, "PATH '%s' does not start with '/'", o->uri);
  return GO_ON;
}

/* o->set must have room for argc entries. Returns GO_ON or an exit
 * status (STATUS_OK after --help or --version). */
static int parse_options(int argc, char **argv, struct options *o)
{
  int opt, rc;

  opterr = 0; /* our own one-line messages */
  while ((opt = getopt_long(argc, argv, ":X:d:H:ivt:hV", long_options,
                            NULL)) != -1) {
    if ((rc = take_option(opt, argv, o)) != GO_ON)
      return rc;
  }
  return take_operands(argc - optind, argv + optind, o);
}

/* ---------------------------------------------------------------- address */

static bool valid_port(const char *s)
{
  unsigned v = 0;

  if (*s < '1' || *s > '9')
    return false;
  for (; *s >= '0' && *s <= '9' && v <= 65535; s++)
    v = v * 10 + (unsigned)(*s - '0');
  return !*s && v <= 65535;
}

static int parse_unix(const char *text, struct target *t)
{
  const char *path = text + 5;
  size_t n = strlen(path);

  if (n == 0 || n >= sizeof t->sun.sun_path)
    return fail(STATUS_USAGE, "address '%s': %s", text,
                n ? "socket path too long" : "no socket path after unix:");
  t->sun.sun_family = AF_UNIX;
  memcpy(t->sun.sun_path, path, n + 1);
  return GO_ON;
}

/* Splits HOST:PORT or [IPV6]:PORT. Returns the port, or NULL when the
 * text is neither. A bare IPv6 address would be ambiguous: refused. */
static const char *split_host_port(const char *text, char *host, size_t size)
{
  const char *start = text, *end, *port;

  if (text[0] == '[') {
    start = text + 1;
    end = strchr(start, ']');
    if (!end || end[1] != ':')
      return NULL;
    port = end + 2;
  } else {
    end = strrchr(text, ':');
    if (!end || memchr(text, ':', (size_t)(end - text)))
      return NULL;
    port = end + 1;
  }
  if (end == start || (size_t)(end - start) >= size || !valid_port(port))
    return NULL;
  memcpy(host, start, (size_t)(end - start));
  host[end - start] = '\0';
  return port;
}

/* A host name that does not resolve is a failure to connect (status 3);
 * a text in brackets that is no IPv6 address is a usage error. */
static int resolve(const char *text, const char *host, const char *port,
                   struct target *t)
{
  bool v6 = text[0] == '[';
  struct addrinfo hints = {
    .ai_family = v6 ? AF_INET6 : AF_UNSPEC,
    .ai_socktype = SOCK_STREAM,
    .ai_flags = AI_NUMERICSERV | (v6 ? AI_NUMERICHOST : 0),
  };
  int rc = getaddrinfo(host, port, &hints, &t->ai);

  if (rc == 0)
    return GO_ON;
  t->ai = NULL;
  if (v6)
    return fail(STATUS_USAGE, "address '%s': '%s' is not an IPv6 address",
                text, host);
  return fail(STATUS_FAILED, "address '%s': %s", text,
              rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
}

static int parse_address(const char *text, struct target *t)
{
  char host[256];
  const char *port;

  if (strncmp(text, "unix:", 5) == 0)
    return parse_unix(text, t);
  if (!(port = split_host_port(text, host, sizeof host)))
    return fail(STATUS_USAGE,
                "address '%s': expected HOST:PORT, [IPV6]:PORT or unix:/PATH",
                text);
  return resolve(text, host, port, t);
}

/* ---------------------------------------------------------------- body */

/* An unlinked file in $TMPDIR (or /tmp): it vanishes with its
 * descriptor, whatever way the program ends. */
static int make_temp(void)
{
  const char *dir = getenv("TMPDIR");
  char path[4096];
  int fd;

  if (!dir || !*dir)
    dir = "/tmp";
  if ((size_t)snprintf(path, sizeof path, "%s/scgi-body.XXXXXX", dir) >=
      sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if ((fd = mkstemp(path)) >= 0)
    unlink(path);
  return fd;
}

/* Moves a body that outgrew memory to a temporary file: the `kept` bytes
 * of mem, then the rest of `in`. Frees mem. */
static int spill(int in, char *mem, size_t kept, struct body *b)
{
  int tmp = make_temp();
  uint64_t total = kept;
  ssize_t got = 0;
  const char *what = "temporary file";

  if (tmp >= 0 && write_all(tmp, mem, kept) == 0) {
    while ((got = read_some(in, mem, SPOOL_IN_MEMORY)) > 0 &&
           write_all(tmp, mem, (size_t)got) == 0)
      total += (uint64_t)got;
    if (got < 0)
      what = b->name;
  }
  if (tmp < 0 || got != 0 || lseek(tmp, 0, SEEK_SET) != 0) {
    int rc = fail(STATUS_USAGE, "-d @%s: %s: %s", b->name, what,
                  strerror(errno));
    if (tmp >= 0)
      close(tmp);
    free(mem);
    return rc;
  }
  free(mem);
  b->fd = tmp;
  b->length = total;
  return GO_ON;
}

/* A body of unknown length (a pipe, a terminal) is read to its end first,
 * since CONTENT_LENGTH comes before it: up to SPOOL_IN_MEMORY bytes in
 * memory, anything larger in an unlinked temporary file, so that a large
 * body never sits in memory. */
static int spool(int in, struct body *b)
{
  char *mem = malloc(SPOOL_IN_MEMORY);
  size_t kept = 0;
  ssize_t got = 1;

  if (!mem)
    return fail(STATUS_FAILED, "out of memory");
  while (kept < SPOOL_IN_MEMORY &&
         (got = read_some(in, mem + kept, SPOOL_IN_MEMORY - kept)) > 0)
    kept += (size_t)got;
  if (got < 0) {
    int rc = fail(STATUS_USAGE, "-d @%s: %s", b->name, strerror(errno));
    free(mem);
    return rc;
  }
  if (got > 0)
    return spill(in, mem, kept, b);
  b->data = b->owned = mem;
  b->length = kept;
  return GO_ON;
}

/* A regular file is sent straight from disk, its size known; anything
 * else (a FIFO, /dev/stdin, a process substitution) is spooled. */
static int open_body_file(struct body *b)
{
  struct stat st;
  int fd = open(b->name, O_RDONLY | O_CLOEXEC), rc;

  if (fd < 0)
    return fail(STATUS_USAGE, "-d @%s: %s", b->name, strerror(errno));
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    if (fstat(fd, &st) == 0)
      errno = EISDIR;
    rc = fail(STATUS_USAGE, "-d @%s: %s", b->name, strerror(errno));
    close(fd);
    return rc;
  }
  if (S_ISREG(st.st_mode)) {
    b->fd = fd;
    b->length = (uint64_t)st.st_size;
    return GO_ON;
  }
  rc = spool(fd, b);
  close(fd);
  return rc;
}

/* -d DATA (taken byte for byte, like curl's --data-binary), -d @FILE or
 * -d @-. */
static int open_body(const char *arg, struct body *b)
{
  if (!arg)
    return GO_ON;
  if (arg[0] != '@') {
    b->data = arg;
    b->length = strlen(arg);
    return GO_ON;
  }
  b->name = arg + 1;
  if (strcmp(b->name, "-") == 0)
    return spool(STDIN_FILENO, b);
  return open_body_file(b);
}

static void close_body(struct body *b)
{
  if (b->fd >= 0)
    close(b->fd);
  free(b->owned);
}

/* ---------------------------------------------------------------- request */

/* Sets a variable: a new value in place for a name already there (so the
 * order stays that of a web server), else one more at the end. */
static void put_var(struct request *r, const char *name, size_t name_len,
                    const char *value)
{
  for (size_t i = 0; i < r->nvars; i++) {
    if (r->vars[i].name_len == name_len &&
        memcmp(r->vars[i].name, name, name_len) == 0) {
      r->vars[i].value = value;
      return;
    }
  }
  r->vars[r->nvars++] = (struct var){name, name_len, value};
}

static void put_default(struct request *r, const char *name, const char *value)
{
  put_var(r, name, strlen(name), value);
}

/* Variables put_defaults() sets at most. */
#define NDEFAULTS 15

/* What a web server would send for this request, as nginx's scgi_params
 * do, with the peer's and the server's addresses made up. */
static void put_defaults(struct request *r, const struct options *o,
                         const char *query)
{
  bool body = o->data != NULL;

  put_default(r, "CONTENT_LENGTH", r->length);
  put_default(r, "SCGI", "1");
  put_default(r, "REQUEST_METHOD",
              o->method ? o->method : body ? "POST" : "GET");
  put_default(r, "REQUEST_URI", o->uri);
  put_default(r, "DOCUMENT_URI", r->path);
  put_default(r, "QUERY_STRING", query);
  put_default(r, "SCRIPT_NAME", "");
  put_default(r, "SERVER_PROTOCOL", "HTTP/1.1");
  put_default(r, "SERVER_SOFTWARE", "scgi/" PACKAGE_VERSION);
  put_default(r, "SERVER_NAME", "localhost");
  put_default(r, "SERVER_PORT", "80");
  put_default(r, "REMOTE_ADDR", "127.0.0.1");
  put_default(r, "REMOTE_PORT", "0");
  put_default(r, "HTTP_HOST", "localhost");
  if (body) /* as curl -d sends it */
    put_default(r, "CONTENT_TYPE", "application/x-www-form-urlencoded");
}

/* "LENGTH:NAME\0VALUE\0...," into r->head. */
static int make_netstring(struct request *r)
{
  size_t payload = 0, n;
  char prefix[24], *p;

  for (size_t i = 0; i < r->nvars; i++)
    payload += r->vars[i].name_len + strlen(r->vars[i].value) + 2;
  n = (size_t)snprintf(prefix, sizeof prefix, "%zu:", payload);
  if (!(p = r->head = malloc(n + payload + 1)))
    return fail(STATUS_FAILED, "out of memory");
  memcpy(p, prefix, n);
  p += n;
  for (size_t i = 0; i < r->nvars; i++) {
    size_t vlen = strlen(r->vars[i].value) + 1;
    memcpy(p, r->vars[i].name, r->vars[i].name_len);
    p += r->vars[i].name_len;
    *p++ = '\0';
    memcpy(p, r->vars[i].value, vlen);
    p += vlen;
  }
  *p++ = ',';
  r->head_len = (size_t)(p - r->head);
  return GO_ON;
}

/* The variables in the order sent: CONTENT_LENGTH first, SCGI=1, the
 * defaults (each replaced by a -H of the same name), then the other -H
 * ones in the order given. */
static int build_request(const struct options *o, const struct body *b,
                         struct request *r)
{
  const char *query = strchr(o->uri, '?');
  size_t path_len = query ? (size_t)(query - o->uri) : strlen(o->uri);

  snprintf(r->length, sizeof r->length, "%" PRIu64, b->length);
  r->vars = malloc((NDEFAULTS + o->nset) * sizeof *r->vars);
  r->path = malloc(path_len + 1);
  if (!r->vars || !r->path)
    return fail(STATUS_FAILED, "out of memory");
  memcpy(r->path, o->uri, path_len);
  r->path[path_len] = '\0';
  put_defaults(r, o, query ? query + 1 : "");
  for (size_t i = 0; i < o->nset; i++) {
    const char *eq = strchr(o->set[i], '=');
    put_var(r, o->set[i], (size_t)(eq - o->set[i]), eq + 1);
  }
  return make_netstring(r);
}

static void free_request(struct request *r)
{
  free(r->vars);
  free(r->path);
  free(r->head);
}

/* ---------------------------------------------------------------- connect */

/* connect(); a Unix listener whose backlog is full refuses at once with
 * EAGAIN instead of queueing the connection, so that is retried every
 * 10 ms until the timeout. Returns 0 or an errno value. */
static int start_connect(int fd, const struct sockaddr *sa, socklen_t len,
                         int timeout_ms)
{
  int64_t deadline = now_ms() + timeout_ms;

  while (connect(fd, sa, len) < 0) {
    if (errno != EAGAIN)
      return errno;
    if (now_ms() >= deadline)
      return ETIMEDOUT;
    poll(NULL, 0, 10);
  }
  return 0;
}

static int finish_connect(int fd, int timeout_ms)
{
  int err = 0, ready = wait_fd(fd, POLLOUT, timeout_ms);
  socklen_t len = sizeof err;

  if (ready < 0)
    return errno;
  if (ready == 0)
    return ETIMEDOUT;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
    return errno;
  return err;
}

/* A connected non-blocking socket, or -1 with errno set (ETIMEDOUT when
 * nothing happened for timeout_ms). */
static int connect_to(const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
  int err;

  if (fd < 0)
    return -1;
  err = start_connect(fd, sa, len, timeout_ms);
  /* After EINTR, too, the connection goes on in the background. */
  if (err == EINPROGRESS || err == EINTR)
    err = finish_connect(fd, timeout_ms);
  if (err) {
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

/* Tries each address of the target in turn (a name may have an IPv6 and
 * an IPv4 one, and the application listen on one only). */
static int open_connection(const struct target *t, const struct options *o,
                           int *fd)
{
  const struct addrinfo *ai = t->ai;

  if (!ai)
    *fd = connect_to((const struct sockaddr *)&t->sun, sizeof t->sun,
                     o->timeout_ms);
  for (; ai && (*fd = connect_to(ai->ai_addr, ai->ai_addrlen,
                                 o->timeout_ms)) < 0;
       ai = ai->ai_next)
    ;
  if (*fd >= 0)
    return GO_ON;
  if (errno == ETIMEDOUT)
    return fail(STATUS_FAILED, "%s: connect: no answer within %d ms",
                o->address, o->timeout_ms);
  return fail(STATUS_FAILED, "%s: connect: %s", o->address, strerror(errno));
}

/* ---------------------------------------------------------------- sending */

static bool all_sent(const struct exchange *x)
{
  return x->head_off == x->req->head_len && x->body_off == x->body->length;
}

/* Reads the next piece of a body file. The file was measured before the
 * request went out: if it shrank meanwhile, the promised CONTENT_LENGTH
 * cannot be kept and the request has to be given up. */
static int refill(struct exchange *x)
{
  uint64_t left = x->body->length - x->body_off;
  ssize_t got = read_some(x->body->fd, x->chunk,
                          left < sizeof x->chunk ? (size_t)left
                                                 : sizeof x->chunk);

  if (got <= 0)
    return fail(STATUS_FAILED, "-d @%s: %s", x->body->name,
                got < 0 ? strerror(errno) : "file shrank while being sent");
  x->chunk_off = 0;
  x->chunk_len = (size_t)got;
  return GO_ON;
}

/* The next bytes to send: rest of the head, then of the body. */
static int next_bytes(struct exchange *x, const char **p, size_t *n)
{
  uint64_t left = x->body->length - x->body_off;
  int rc;

  if (x->head_off < x->req->head_len) {
    *p = x->req->head + x->head_off;
    *n = x->req->head_len - x->head_off;
  } else if (x->body->fd < 0) {
    *p = x->body->data + x->body_off;
    *n = left < CHUNK ? (size_t)left : CHUNK;
  } else {
    if (x->chunk_off == x->chunk_len && (rc = refill(x)) != GO_ON)
      return rc;
    *p = x->chunk + x->chunk_off;
    *n = x->chunk_len - x->chunk_off;
  }
  return GO_ON;
}

static void advance(struct exchange *x, size_t n)
{
  if (x->head_off < x->req->head_len) {
    x->head_off += n;
    if (x->o->verbose && x->head_off == x->req->head_len)
      show_end(&x->shown); /* the body on lines of its own */
    return;
  }
  x->body_off += n;
  if (x->body->fd >= 0)
    x->chunk_off += n;
}

/* Sends what the socket takes now. An application that stops reading
 * (EPIPE, ECONNRESET) may well have answered: the loop goes on reading. */
static int send_some(struct exchange *x)
{
  const char *p;
  size_t n;
  ssize_t sent;
  int rc = next_bytes(x, &p, &n);

  if (rc != GO_ON)
    return rc;
  sent = send(x->fd, p, n, MSG_NOSIGNAL);
  if (sent < 0) {
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
      return GO_ON;
    if (errno != EPIPE && errno != ECONNRESET)
      return fail(STATUS_FAILED, "%s: send: %s", x->o->address,
                  strerror(errno));
    x->sent = x->cut = true;
  } else {
    if (x->o->verbose)
      show(&x->shown, p, (size_t)sent);
    advance(x, (size_t)sent);
    x->sent = all_sent(x);
  }
  if (x->sent && x->o->verbose)
    show_end(&x->shown);
  return GO_ON;
}

/* ---------------------------------------------------------------- receiving */

static int put_out(const char *p, size_t n)
{
  if (write_all(STDOUT_FILENO, p, n) != 0)
    return fail(STATUS_FAILED, "standard output: %s", strerror(errno));
  return GO_ON;
}

/* Looks for the empty line ending the header block, lines ending in LF
 * or CRLF, from *line (the start of the first line not yet seen whole:
 * each byte is looked at once however the block arrives). Returns the
 * offset just past that empty line, or 0 while it has not come. */
static size_t find_head_end(const char *buf, size_t len, size_t *line)
{
  const char *nl;

  while ((nl = memchr(buf + *line, '\n', len - *line))) {
    size_t n = (size_t)(nl - (buf + *line));
    if (n == 0 || (n == 1 && buf[*line] == '\r'))
      return (size_t)(nl - buf) + 1;
    *line = (size_t)(nl - buf) + 1;
  }
  return 0;
}

/* "NNN" or "NNN reason", after optional blanks: the status (100-599), or
 * -1 when the text is not that. */
static int parse_status(const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  if (end - p < 3 || p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
      p[2] < '0' || p[2] > '9')
    return -1;
  if (end - p > 3 && p[3] != ' ' && p[3] != '\t')
    return -1;
  return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

static int set_status(struct head_info *h, const char *line, size_t len,
                      const char *value, unsigned lineno, const char *address)
{
  if (h->status >= 0)
    return fail(STATUS_FAILED, "%s: response gives its status twice (line %u)",
                address, lineno);
  if ((h->status = parse_status(value, line + len)) < 0)
    return fail(STATUS_FAILED,
                "%s: malformed status on response line %u (expected "
                "'Status: NNN reason')",
                address, lineno);
  h->line = line;
  h->line_len = len;
  return GO_ON;
}

/* One line of the header block, without its line end. Besides CGI's
 * "Status: NNN reason", a first line "HTTP/1.x NNN reason" (a non-parsed
 * header script's) gives the status, as nginx accepts too. */
static int header_line(struct head_info *h, const char *line, size_t len,
                       unsigned lineno, const char *address)
{
  const char *colon = memchr(line, ':', len), *space;
  size_t name_len = colon ? (size_t)(colon - line) : 0;

  if (lineno == 1 && len > 5 && memcmp(line, "HTTP/", 5) == 0 &&
      (space = memchr(line, ' ', len)))
    return set_status(h, line, len, space, lineno, address);
  if (name_len == 0)
    return fail(STATUS_FAILED,
                "%s: response line %u is not a 'Name: value' header (not a "
                "CGI response)",
                address, lineno);
  if (name_len == 6 && strncasecmp(line, "Status", 6) == 0)
    return set_status(h, line, len, colon + 1, lineno, address);
  if (name_len == 8 && strncasecmp(line, "Location", 8) == 0)
    h->location = true;
  return GO_ON;
}

static void show_status(const struct head_info *h, int status)
{
  struct shower s = {.prefix = "< "};

  if (h->line)
    show(&s, h->line, h->line_len);
  else if (status == 302)
    fputs("< Status: 302 Found (from the Location header)", stderr);
  else
    fputs("< Status: 200 OK (no Status header)", stderr);
  s.midline = true;
  show_end(&s);
}

/* The status that the header block head[0..end) gives: its Status
 * header, else 302 with a Location header, else 200 (RFC 3875, 6.3). */
static int parse_head(struct exchange *x, size_t end)
{
  struct head_info h = {.status = -1};
  const char *p = x->head, *stop = x->head + end, *nl;
  unsigned lineno = 0;
  int rc;

  for (; (nl = memchr(p, '\n', (size_t)(stop - p))); p = nl + 1) {
    size_t len = (size_t)(nl - p);
    if (len > 0 && p[len - 1] == '\r')
      len--;
    if (len == 0)
      break; /* the empty line */
    if ((rc = header_line(&h, p, len, ++lineno, x->o->address)) != GO_ON)
      return rc;
  }
  x->status = h.status >= 0 ? h.status : h.location ? 302 : 200;
  if (x->o->verbose)
    show_status(&h, x->status);
  return GO_ON;
}

/* Once the header block is whole: checked, printed with -i, and the
 * bytes after it are the start of the body. */
static int head_arrived(struct exchange *x)
{
  size_t end = find_head_end(x->head, x->head_len, &x->scan);
  int rc;

  if (end == 0 && x->head_len == sizeof x->head)
    return fail(STATUS_FAILED,
                "%s: response header block longer than %d bytes",
                x->o->address, MAX_RESPONSE_HEAD);
  if (end == 0)
    return GO_ON;
  if ((rc = parse_head(x, end)) != GO_ON)
    return rc;
  x->in_body = true;
  if (x->o->include && (rc = put_out(x->head, end)) != GO_ON)
    return rc;
  return put_out(x->head + end, x->head_len - end);
}

/* A reset after the header block, while the request was not all taken,
 * is how a socket closed with unread bytes in it ends (the application
 * answered without reading the whole body): the response ends there. */
static bool reset_is_end(const struct exchange *x)
{
  return errno == ECONNRESET && x->in_body && (!x->sent || x->cut);
}

/* recv() failed with errno: nothing to worry about, or the end. */
static int receive_failed(const struct exchange *x)
{
  if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
    return GO_ON;
  if (errno != ECONNRESET)
    return fail(STATUS_FAILED, "%s: receive: %s", x->o->address,
                strerror(errno));
  if (x->received == 0)
    return fail(STATUS_FAILED,
                "%s: connection reset by the application, no answer",
                x->o->address);
  return fail(STATUS_FAILED,
              "%s: connection reset by the application after %" PRIu64
              " response bytes (the response may be incomplete)",
              x->o->address, x->received);
}

/* Reads what the socket has: the header block into head, then the body
 * straight through to standard output. */
static int receive_some(struct exchange *x, bool *eof)
{
  char *dst = x->in_body ? x->buf : x->head + x->head_len;
  size_t room = x->in_body ? sizeof x->buf : sizeof x->head - x->head_len;
  ssize_t got = recv(x->fd, dst, room, 0);

  if (got < 0 && reset_is_end(x)) {
    x->cut = true;
    got = 0;
  }
  if (got == 0) {
    *eof = true;
    return GO_ON;
  }
  if (got < 0)
    return receive_failed(x);
  x->received += (uint64_t)got;
  if (x->in_body)
    return put_out(dst, (size_t)got);
  x->head_len += (size_t)got;
  return head_arrived(x);
}

/* ---------------------------------------------------------------- exchange */

static int timed_out(const struct exchange *x)
{
  return fail(STATUS_FAILED, "%s: timed out %s (no progress for %d ms)",
              x->o->address,
              !x->sent        ? "sending the request"
              : x->received   ? "reading the response"
                              : "waiting for the response",
              x->o->timeout_ms);
}

/* The exit status that the complete response calls for. */
static int finish(const struct exchange *x)
{
  if (!x->in_body && x->head_len == 0)
    return fail(STATUS_FAILED,
                "%s: the application closed the connection without answering",
                x->o->address);
  if (!x->in_body)
    return fail(STATUS_FAILED,
                "%s: response ended inside its header block (%zu bytes, no "
                "empty line)",
                x->o->address, x->head_len);
  if (x->cut || !x->sent)
    fail(0,
         "warning: the application ended the connection before reading "
         "the whole request (%" PRIu64 " of %" PRIu64 " body bytes sent)",
         x->body_off, x->body->length);
  return x->status < 400 ? STATUS_OK : STATUS_HTTP_ERROR;
}

static int exchange_loop(struct exchange *x)
{
  bool eof = false;
  int rc = GO_ON;

  while (rc == GO_ON && !eof) {
    int ready = wait_fd(x->fd, x->sent ? POLLIN : POLLIN | POLLOUT,
                        x->o->timeout_ms);
    if (ready < 0)
      return fail(STATUS_FAILED, "poll: %s", strerror(errno));
    if (ready == 0)
      return timed_out(x);
    /* Reading first: the answer matters more than the rest of a request
     * the application may not want. */
    if (ready & (POLLIN | POLLHUP | POLLERR))
      rc = receive_some(x, &eof);
    if (rc == GO_ON && !eof && !x->sent &&
        (ready & (POLLOUT | POLLHUP | POLLERR)))
      rc = send_some(x);
  }
  return rc != GO_ON ? rc : finish(x);
}

static int run(const struct options *o, const struct target *t,
               const struct body *b, const struct request *r)
{
  struct exchange *x = calloc(1, sizeof *x);
  int rc;

  if (!x)
    return fail(STATUS_FAILED, "out of memory");
  x->o = o;
  x->req = r;
  x->body = b;
  x->fd = -1;
  x->shown.prefix = "> ";
  if ((rc = open_connection(t, o, &x->fd)) == GO_ON)
    rc = exchange_loop(x);
  if (x->fd >= 0)
    close(x->fd);
  free(x);
  return rc;
}

int main(int argc, char **argv)
{
  struct options o = {.timeout_ms = DEFAULT_TIMEOUT_MS};
  struct target t = {.ai = NULL};
  struct body b = {.fd = -1};
  struct request r = {.vars = NULL};
  struct sigaction ignore = {.sa_handler = SIG_IGN};
  int rc = GO_ON;

  /* A reader of standard output that goes away is an error to report,
   * not a reason to die silently. */
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, NULL);
  if (!(o.set = calloc((size_t)argc, sizeof *o.set)))
    rc = fail(STATUS_FAILED, "out of memory");
  if (rc == GO_ON)
    rc = parse_options(argc, argv, &o);
  if (rc == GO_ON)
    rc = parse_address(o.address, &t);
  if (rc == GO_ON)
    rc = open_body(o.data, &b);
  if (rc == GO_ON)
    rc = build_request(&o, &b, &r);
  if (rc == GO_ON)
    rc = run(&o, &t, &b, &r);
  free_request(&r);
  close_body(&b);
  if (t.ai)
    freeaddrinfo(t.ai);
  free(o.set);
  return rc;
}
