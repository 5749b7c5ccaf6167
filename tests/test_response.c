/*
 * test_response.c - the response over real sockets: exact bytes, buffering,
 * header validation, sendfile, the stdio stream, failures, vanished peers
 * and the polite close.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "../src/internal.h"
#include "header_wait.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define CT "Content-Type: text/plain; charset=utf-8\r\n"

/* ---- helpers ----------------------------------------------------------- */

/* A connected TCP pair over loopback: RST only exists there. */
static void tcp_pair(int sv[2])
{
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  int l = socket(AF_INET, SOCK_STREAM, 0);

  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(l, 1) != 0 || getsockname(l, (struct sockaddr *)&a, &len) != 0)
    abort();
  sv[1] = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(sv[1], (struct sockaddr *)&a, sizeof a) != 0)
    abort();
  sv[0] = accept(l, NULL, NULL);
  if (sv[0] < 0)
    abort();
  close(l);
}

/* Sends everything, from a thread when the other side is not reading. */
struct sender {
  pthread_t thread;
  int fd;
  const char *data;
  size_t len;
  int err;
};

static void *sender_main(void *arg)
{
  struct sender *s = arg;

  for (size_t off = 0; off < s->len;) {
    ssize_t n = send(s->fd, s->data + off, s->len - off, MSG_NOSIGNAL);
    if (n < 0) {
      s->err = errno;
      break;
    }
    off += (size_t)n;
  }
  return NULL;
}

/* The netstring of a GET or POST with `body_len` bytes of body. */
static char *request_bytes(size_t body_len, size_t *len)
{
  char block[128], *buf;
  int b = snprintf(block, sizeof block, "CONTENT_LENGTH%c%zu%cSCGI%c1%c"
                   "REQUEST_METHOD%c%s%c", 0, body_len, 0, 0, 0, 0,
                   body_len ? "POST" : "GET", 0);
  size_t cap = (size_t)b + 32 + body_len;
  int h;

  buf = malloc(cap);
  h = snprintf(buf, cap, "%d:", b);
  memcpy(buf + h, block, (size_t)b);
  buf[h + b] = ',';
  for (size_t i = 0; i < body_len; i++)
    buf[(size_t)h + (size_t)b + 1 + i] = (char)('a' + i % 26);
  *len = (size_t)h + (size_t)b + 1 + body_len;
  return buf;
}

struct conn {
  scgi_request *req;
  int peer;
  struct sender sender; /* the request bytes, sent from a thread */
  char *wire;
};

/* A request whose header is read, over a socketpair or loopback TCP. */
static void conn_open(struct conn *c, bool tcp, size_t body_len,
                      unsigned timeout_ms)
{
  struct scgi__conn_settings cfg = {
      .max_header_bytes = SCGI__DEFAULT_MAX_HEADER_BYTES,
      .max_vars = SCGI__DEFAULT_MAX_VARS,
      .read_timeout_ms = timeout_ms,
      .write_timeout_ms = timeout_ms,
  };
  int sv[2];
  size_t len;

  if (tcp)
    tcp_pair(sv);
  else if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    abort();
  c->peer = sv[1];
  c->wire = request_bytes(body_len, &len);
  c->sender = (struct sender){.fd = sv[1], .data = c->wire, .len = len};
  pthread_create(&c->sender.thread, NULL, sender_main, &c->sender);
  c->req = scgi__request_new(sv[0], &cfg, NULL, 0);
  if (!c->req || read_header_waiting(c->req) != 0)
    abort();
}

static void conn_close(struct conn *c)
{
  scgi_request_free(c->req);
  pthread_join(c->sender.thread, NULL);
  close(c->peer);
  free(c->wire);
}

/* Reads the response until EOF or an error, in a thread. */
struct reader {
  pthread_t thread;
  int fd;
  char *buf;
  size_t len, cap;
  int err; /* errno of the read that failed, 0 for a clean EOF */
};

static void *reader_main(void *arg)
{
  struct reader *r = arg;

  for (;;) {
    if (r->cap - r->len < 65536) {
      r->cap = r->cap * 2 + 65536;
      r->buf = realloc(r->buf, r->cap + 1);
    }
    ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      r->err = n < 0 ? errno : 0;
      /* Done, like a front server: the library waits for this after a
       * normal finish. */
      shutdown(r->fd, SHUT_WR);
      break;
    }
    r->len += (size_t)n;
  }
  r->buf[r->len] = '\0';
  return NULL;
}

static void reader_start(struct reader *r, int fd)
{
  *r = (struct reader){.fd = fd};
  pthread_create(&r->thread, NULL, reader_main, r);
}

static void reader_join(struct reader *r) { pthread_join(r->thread, NULL); }

/* Finishes the request and returns everything the peer received. */
static void finish_and_read(struct conn *c, struct reader *r)
{
  reader_start(r, c->peer);
  TAP_EQ(scgi_finish(c->req), 0, "finish returns 0");
  reader_join(r);
}

static bool sigpipe_is_default(void)
{
  struct sigaction sa;

  sigaction(SIGPIPE, NULL, &sa);
  return sa.sa_handler == SIG_DFL;
}

static bool sigpipe_pending(void)
{
  sigset_t set;

  sigpending(&set);
  return sigismember(&set, SIGPIPE) == 1;
}

/* ---- exact bytes ------------------------------------------------------- */

static void test_default_response(void)
{
  struct conn c;
  struct reader r;

  conn_open(&c, false, 0, 2000);
  finish_and_read(&c, &r);
  TAP_STREQ(r.buf, "Status: 200 OK\r\n" CT "Content-Length: 0\r\n\r\n",
            "nothing written: default 200 with an empty body");
  TAP_EQ(r.err, 0, "default response: clean EOF");
  TAP_EQ(scgi_finish(c.req), 0, "finish again: the first result");
  TAP_EQ(scgi_write(c.req, "x", 1), SCGI_ESTATE, "write after finish");
  TAP_EQ(scgi_request_fd(c.req), -1, "finish closed the socket");
  conn_close(&c);
  free(r.buf);
}

static void test_free_finishes(void)
{
  struct conn c;
  struct reader r;

  conn_open(&c, false, 0, 2000);
  scgi_write(c.req, "bye", 3);
  reader_start(&r, c.peer);
  scgi_request_free(c.req); /* without scgi_finish() */
  c.req = NULL;
  reader_join(&r);
  conn_close(&c);
  TAP_STREQ(r.buf, "Status: 200 OK\r\n" CT "Content-Length: 3\r\n\r\nbye",
            "scgi_request_free() finishes the response");
  free(r.buf);
}

static void test_status_headers_body(void)
{
  struct conn c;
  struct reader r;

  conn_open(&c, false, 0, 2000);
  TAP_EQ(scgi_status(c.req, 404, NULL), 0, "status 404");
  TAP_EQ(scgi_header(c.req, "X-A", "1"), 0, "header X-A");
  TAP_EQ(scgi_header(c.req, "content-type", "text/html"), 0,
         "header content-type (any case)");
  TAP_EQ(scgi_header(c.req, "X-A", ""), 0, "repeated header, empty value");
  TAP_EQ(scgi_write(c.req, "hello", 5), 0, "write");
  finish_and_read(&c, &r);
  TAP_STREQ(r.buf,
            "Status: 404 Not Found\r\nX-A: 1\r\ncontent-type: text/html\r\n"
            "X-A: \r\nContent-Length: 5\r\n\r\nhello",
            "status, headers, body, Content-Length added");
  conn_close(&c);
  free(r.buf);

  conn_open(&c, false, 0, 2000);
  TAP_EQ(scgi_status(c.req, 99, NULL), SCGI_EINVAL, "status 99: EINVAL");
  TAP_EQ(scgi_status(c.req, 1000, NULL), SCGI_EINVAL, "status 1000: EINVAL");
  TAP_EQ(scgi_status(c.req, 200, "O\r\nX-Evil: 1"), SCGI_EHEADER,
         "CR/LF in reason: EHEADER");
  TAP_EQ(scgi_status(c.req, 200,
                     "a reason phrase that is far too long to be kept in the "
                     "request's reason field"),
         SCGI_EINVAL, "overlong reason: EINVAL");
  TAP_EQ(scgi_status(c.req, 599, NULL), 0, "unknown code");
  TAP_EQ(scgi_header(c.req, "Content-Length", "3"), 0, "own Content-Length");
  TAP_EQ(scgi_printf(c.req, "%s", "abc"), 0, "printf");
  finish_and_read(&c, &r);
  TAP_STREQ(r.buf, "Status: 599 Unknown\r\nContent-Length: 3\r\n" CT "\r\nabc",
            "unknown code: 'Unknown'; caller's Content-Length kept alone");
  conn_close(&c);
  free(r.buf);

  conn_open(&c, false, 0, 2000);
  TAP_EQ(scgi_status(c.req, 204, "Nothing Here"), 0, "204 custom reason");
  finish_and_read(&c, &r);
  TAP_STREQ(r.buf, "Status: 204 Nothing Here\r\n" CT "\r\n",
            "204: no Content-Length");
  conn_close(&c);
  free(r.buf);
}

static void test_large_body(void)
{
  enum { MANY = 5000, PIECE = 1000, HUGE = 3 << 20 };
  static const char head[] = "Status: 200 OK\r\n" CT "\r\n";
  char piece[PIECE];
  char *huge = malloc(HUGE);
  struct conn c;
  struct reader r;
  bool ok = true;
  int rc = 0;

  conn_open(&c, false, 0, 5000);
  reader_start(&r, c.peer);
  for (int i = 0; i < MANY && rc == 0; i++) {
    memset(piece, 'a' + i % 26, sizeof piece);
    rc = scgi_write(c.req, piece, sizeof piece);
  }
  for (size_t i = 0; i < HUGE; i++)
    huge[i] = (char)(i % 251);
  TAP_EQ(rc, 0, "5000 writes of 1000 bytes");
  TAP_EQ(scgi_write(c.req, huge, HUGE), 0, "one 3 MiB write");
  TAP_EQ(scgi_finish(c.req), 0, "large body: finish");
  reader_join(&r);
  TAP_EQ(r.len, sizeof head - 1 + MANY * PIECE + HUGE, "large body: length");
  TAP_OK(memcmp(r.buf, head, sizeof head - 1) == 0,
         "large body: head without Content-Length");
  for (size_t i = 0; ok && i < (size_t)MANY * PIECE; i++)
    ok = r.buf[sizeof head - 1 + i] == 'a' + (char)(i / PIECE % 26);
  ok = ok && memcmp(r.buf + sizeof head - 1 + MANY * PIECE, huge, HUGE) == 0;
  TAP_OK(ok, "large body: every byte in order");
  conn_close(&c);
  free(r.buf);
  free(huge);
}

static void test_printf(void)
{
  enum { BIG = 40000 };
  char *big = malloc(BIG + 1), *want = malloc(BIG + 20000);
  char fill[SCGI__OUTPUT_BUFFER - 10];
  struct conn c;
  struct reader r;
  size_t n;

  memset(big, 'B', BIG);
  big[BIG] = '\0';
  memset(fill, 'f', sizeof fill);
  conn_open(&c, false, 0, 2000);
  reader_start(&r, c.peer);
  TAP_EQ(scgi_printf(c.req, "%d-%s;", 42, "x"), 0, "short printf");
  TAP_EQ(scgi_printf(c.req, "[%s]", big), 0, "printf larger than the buffer");
  TAP_EQ(scgi_write(c.req, fill, sizeof fill), 0, "nearly fill the buffer");
  TAP_EQ(scgi_printf(c.req, "%050d", 7), 0, "printf that needs a flush");
  TAP_EQ(scgi_finish(c.req), 0, "printf: finish");
  reader_join(&r);
  n = (size_t)snprintf(want, BIG + 20000, "Status: 200 OK\r\n" CT "\r\n"
                       "42-x;[%s]", big);
  memcpy(want + n, fill, sizeof fill);
  n += sizeof fill;
  n += (size_t)snprintf(want + n, 64, "%050d", 7);
  TAP_EQ(r.len, n, "printf: response length");
  TAP_OK(r.len == n && memcmp(r.buf, want, n) == 0, "printf: exact bytes");
  conn_close(&c);
  free(r.buf);
  free(big);
  free(want);
}

static void test_header_injection(void)
{
  struct conn c;
  struct reader r;

  conn_open(&c, false, 0, 2000);
  TAP_EQ(scgi_header(c.req, "X-A", "a\r\nSet-Cookie: x"), SCGI_EHEADER,
         "CR LF in value: EHEADER");
  TAP_EQ(scgi_header(c.req, "X-A", "a\nb"), SCGI_EHEADER, "LF in value");
  TAP_EQ(scgi_header(c.req, "X-A", "a\rb"), SCGI_EHEADER, "CR in value");
  TAP_EQ(scgi_header_n(c.req, "X-A", "a\0b", 3), SCGI_EHEADER,
         "NUL in value (scgi_header_n)");
  TAP_EQ(scgi_header(c.req, "X:A", "v"), SCGI_EHEADER, "':' in name");
  TAP_EQ(scgi_header(c.req, "", "v"), SCGI_EHEADER, "empty name");
  TAP_EQ(scgi_header(c.req, "X A", "v"), SCGI_EHEADER, "space in name");
  TAP_EQ(scgi_header(c.req, "X\r\nB", "v"), SCGI_EHEADER, "CR LF in name");
  TAP_EQ(scgi_header(c.req, "X\001", "v"), SCGI_EHEADER, "control in name");
  TAP_EQ(scgi_header(c.req, "X\177", "v"), SCGI_EHEADER, "DEL in name");
  TAP_EQ(scgi_header(c.req, "Content-Type", "a\nb"), SCGI_EHEADER,
         "refused Content-Type");
  TAP_EQ(scgi_header(c.req, "status", "302 Found"), SCGI_EHEADER,
         "Status header refused (scgi_status sets it)");
  TAP_EQ(scgi_header_n(c.req, "X-Ok", "tab\there", 8), 0, "tab in value ok");
  finish_and_read(&c, &r);
  TAP_STREQ(r.buf,
            "Status: 200 OK\r\nX-Ok: tab\there\r\n" CT
            "Content-Length: 0\r\n\r\n",
            "refused headers added nothing (default Content-Type kept)");
  conn_close(&c);
  free(r.buf);
}

static void test_state_after_headers(void)
{
  struct conn c;
  struct reader r;

  conn_open(&c, false, 0, 2000);
  TAP_EQ(scgi_write(c.req, "ab", 2), 0, "write before flush");
  TAP_EQ(scgi_flush(c.req), 0, "flush");
  TAP_EQ(scgi_header(c.req, "X-Late", "1"), SCGI_ESTATE,
         "header after headers went out: ESTATE");
  TAP_EQ(scgi_status(c.req, 404, NULL), SCGI_ESTATE,
         "status after headers went out: ESTATE");
  TAP_EQ(scgi_write(c.req, "cd", 2), 0, "write after flush");
  finish_and_read(&c, &r);
  TAP_STREQ(r.buf, "Status: 200 OK\r\n" CT "\r\nabcd",
            "flushed early: no Content-Length, body whole");
  conn_close(&c);
  free(r.buf);
}

/* ---- sendfile and the stream ------------------------------------------- */

static int temp_file(size_t size)
{
  char path[] = "/tmp/test_response.XXXXXX";
  int fd = mkstemp(path);
  char buf[4096];

  if (fd < 0)
    abort();
  unlink(path);
  for (size_t off = 0; off < size;) {
    size_t n = size - off < sizeof buf ? size - off : sizeof buf;
    for (size_t i = 0; i < n; i++)
      buf[i] = (char)('A' + (off + i) % 23);
    if (write(fd, buf, n) != (ssize_t)n)
      abort();
    off += n;
  }
  return fd;
}

static void test_sendfile(void)
{
  enum { SIZE = 300000, OFF = 10, COUNT = 250000 };
  static const char head[] = "Status: 200 OK\r\n" CT "\r\npre:";
  int fd = temp_file(SIZE);
  struct conn c;
  struct reader r;
  bool ok;

  conn_open(&c, false, 0, 5000);
  reader_start(&r, c.peer);
  TAP_EQ(scgi_write(c.req, "pre:", 4), 0, "buffered bytes before the file");
  TAP_EQ(scgi_sendfile(c.req, fd, OFF, COUNT), 0, "sendfile");
  TAP_EQ(scgi_write(c.req, ":post", 5), 0, "bytes after the file");
  TAP_EQ(scgi_finish(c.req), 0, "sendfile: finish");
  reader_join(&r);
  TAP_EQ(r.len, sizeof head - 1 + COUNT + 5, "sendfile: response length");
  ok = r.len == sizeof head - 1 + COUNT + 5 &&
       memcmp(r.buf, head, sizeof head - 1) == 0 &&
       memcmp(r.buf + sizeof head - 1 + COUNT, ":post", 5) == 0;
  for (size_t i = 0; ok && i < COUNT; i++)
    ok = r.buf[sizeof head - 1 + i] == (char)('A' + (OFF + i) % 23);
  TAP_OK(ok, "sendfile: file bytes in order between the writes");
  conn_close(&c);
  free(r.buf);

  /* A file shorter than promised: the response must not look whole. */
  conn_open(&c, true, 0, 2000);
  reader_start(&r, c.peer);
  TAP_EQ(scgi_sendfile(c.req, fd, SIZE - 100, 1000), SCGI_ETRUNCATED,
         "file ends early: ETRUNCATED");
  TAP_EQ(scgi_write(c.req, "x", 1), SCGI_ETRUNCATED,
         "after a truncated sendfile, writes fail the same way");
  TAP_EQ(scgi_finish(c.req), SCGI_ETRUNCATED, "finish reports it too");
  reader_join(&r);
  TAP_EQ(r.err, ECONNRESET, "file ends early: the peer sees a reset");
  conn_close(&c);
  free(r.buf);
  close(fd);
}

static void test_stream(void)
{
  struct conn c;
  struct reader r;
  FILE *f;

  conn_open(&c, false, 0, 2000);
  f = scgi_stream(c.req);
  TAP_OK(f != NULL, "stream");
  TAP_OK(scgi_stream(c.req) == f, "the same stream on every call");
  fprintf(f, "1");
  scgi_write(c.req, "2", 1);
  fputs("3", f);
  scgi_printf(c.req, "%d", 4);
  fputc('5', f);
  fwrite("6", 1, 1, f);
  scgi_write(c.req, "7", 1);
  finish_and_read(&c, &r);
  TAP_STREQ(r.buf, "Status: 200 OK\r\n" CT "Content-Length: 7\r\n\r\n1234567",
            "stream and scgi_write interleaved keep their order");
  TAP_OK(fputs("late", f) == EOF || fflush(f) == EOF,
         "stream writes after finish fail");
  conn_close(&c); /* closes the stream */
  free(r.buf);

  /* A caller that makes the stream buffered still gets the right order. */
  static char vbuf[BUFSIZ];
  conn_open(&c, false, 0, 2000);
  f = scgi_stream(c.req);
  setvbuf(f, vbuf, _IOFBF, sizeof vbuf);
  fputs("a", f);
  scgi_write(c.req, "b", 1);
  fputs("c", f);
  finish_and_read(&c, &r);
  TAP_STREQ(r.buf, "Status: 200 OK\r\n" CT "Content-Length: 3\r\n\r\nabc",
            "buffered stream: order kept");
  conn_close(&c);
  free(r.buf);
}

/* ---- failures ---------------------------------------------------------- */

static void test_fail_before_headers(void)
{
  struct conn c;
  struct reader r;

  conn_open(&c, false, 0, 2000);
  scgi_status(c.req, 201, NULL);
  scgi_header(c.req, "X-Dropped", "1");
  scgi_header(c.req, "Content-Type", "text/html");
  scgi_write(c.req, "half a page", 11);
  reader_start(&r, c.peer);
  scgi_fail(c.req);
  reader_join(&r);
  TAP_STREQ(r.buf,
            "Status: 500 Internal Server Error\r\n" CT
            "Content-Length: 22\r\n\r\nInternal Server Error\n",
            "fail before headers: a clean 500 instead");
  TAP_EQ(r.err, 0, "fail before headers: clean EOF");
  TAP_EQ(scgi_write(c.req, "x", 1), SCGI_ESTATE, "write after fail: ESTATE");
  TAP_EQ(scgi_flush(c.req), SCGI_ESTATE, "flush after fail: ESTATE");
  TAP_EQ(scgi_header(c.req, "X", "1"), SCGI_ESTATE, "header after fail");
  conn_close(&c);
  free(r.buf);
}

static void test_fail_after_headers(void)
{
  struct conn c;
  struct reader r;

  conn_open(&c, true, 0, 2000);
  reader_start(&r, c.peer);
  TAP_EQ(scgi_write(c.req, "partial", 7), 0, "fail after headers: write");
  TAP_EQ(scgi_flush(c.req), 0, "fail after headers: flush");
  usleep(20000); /* let the bytes arrive before the reset */
  scgi_fail(c.req);
  reader_join(&r);
  TAP_EQ(r.err, ECONNRESET, "fail after headers: the peer sees a reset");
  TAP_EQ(scgi_printf(c.req, "x"), SCGI_ESTATE, "printf after fail: ESTATE");
  conn_close(&c);
  free(r.buf);
}

static void test_peer_gone(void)
{
  enum { SIZE = 1 << 20 };
  char *big = calloc(1, SIZE);
  struct conn c;
  int rc, fd = temp_file(100000);
  char sink[4096];

  TAP_OK(sigpipe_is_default(), "SIGPIPE at its default disposition");
  conn_open(&c, false, 0, 2000);
  close(c.peer);
  c.peer = -1;
  rc = scgi_write(c.req, big, SIZE);
  TAP_OK(rc == -EPIPE || rc == -ECONNRESET,
         "write to a closed peer: %d (%s)", rc, scgi_strerror(rc));
  TAP_EQ(scgi_write(c.req, "x", 1), rc, "the error is sticky");
  TAP_EQ(scgi_finish(c.req), rc, "finish returns it too");
  conn_close(&c);

  /* sendfile(2) itself, after the headers went out while the peer lived. */
  conn_open(&c, false, 0, 2000);
  TAP_EQ(scgi_flush(c.req), 0, "sendfile to a vanished peer: headers out");
  while (recv(c.peer, sink, sizeof sink, MSG_DONTWAIT) > 0)
    ;
  close(c.peer);
  c.peer = -1;
  rc = scgi_sendfile(c.req, fd, 0, 100000);
  TAP_EQ(rc, -EPIPE, "sendfile to a closed peer: -EPIPE");
  TAP_OK(!sigpipe_pending(), "no SIGPIPE left pending");
  conn_close(&c);

  /* A SIGPIPE that was already pending is not ours to take. */
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  raise(SIGPIPE);
  conn_open(&c, false, 0, 2000);
  scgi_flush(c.req);
  while (recv(c.peer, sink, sizeof sink, MSG_DONTWAIT) > 0)
    ;
  close(c.peer);
  c.peer = -1;
  TAP_EQ(scgi_sendfile(c.req, fd, 0, 100000), -EPIPE,
         "sendfile with a SIGPIPE already pending: -EPIPE");
  TAP_OK(sigpipe_pending(), "the earlier SIGPIPE is still pending");
  static const struct timespec zero = {0, 0};
  sigtimedwait(&set, NULL, &zero);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  conn_close(&c);

  TAP_OK(sigpipe_is_default(), "still alive, SIGPIPE still default");
  close(fd);
  free(big);
}

static void test_write_timeout(void)
{
  enum { SIZE = 16 << 20 };
  char *big = calloc(1, SIZE);
  struct conn c;
  uint64_t start, took;
  int rc;

  conn_open(&c, true, 0, 200);
  start = scgi__now_ms();
  rc = scgi_write(c.req, big, SIZE); /* the peer never reads */
  took = scgi__now_ms() - start;
  TAP_EQ(rc, SCGI_ETIMEDOUT, "peer that does not read: ETIMEDOUT");
  TAP_OK(took >= 190 && took < 2000, "write timeout after ~200 ms (%llu)",
         (unsigned long long)took);
  TAP_EQ(scgi_finish(c.req), SCGI_ETIMEDOUT, "finish: the write error");
  conn_close(&c);
  free(big);
}

/* ---- the polite close -------------------------------------------------- */

/* The peer sends a big body the handler never reads, and only then reads
 * the response; closing with those bytes unread would reset the
 * connection and could destroy the response before the peer reads it. */
static void test_drain_unread_body(bool tcp)
{
  enum { BODY = 4 << 20 };
  struct conn c;
  struct reader r;
  uint64_t start, took;

  conn_open(&c, tcp, BODY, 5000);
  TAP_EQ(scgi_request_body_left(c.req), BODY, "unread body: announced");
  TAP_EQ(scgi_printf(c.req, "ok"), 0, "unread body: respond");
  start = scgi__now_ms();
  TAP_EQ(scgi_finish(c.req), 0, "unread body: finish");
  took = scgi__now_ms() - start;
  pthread_join(c.sender.thread, NULL); /* the whole body went through */
  reader_start(&r, c.peer);
  reader_join(&r);
  TAP_EQ(c.sender.err, 0, "unread body: the peer could send it all");
  TAP_STREQ(r.buf, "Status: 200 OK\r\n" CT "Content-Length: 2\r\n\r\nok",
            tcp ? "unread body (TCP): full response, no reset"
                : "unread body (Unix): full response, no reset");
  TAP_EQ(r.err, 0, "unread body: clean EOF, not ECONNRESET");
  TAP_OK(took < 2100, "unread body: drain bounded (%llu ms)",
         (unsigned long long)took);
  scgi_request_free(c.req);
  close(c.peer);
  free(c.wire);
  free(r.buf);
}

/* After a normal finish over a Unix socket, with SCGI_WAIT_FOR_CLOSE=1
 * (which gives accepted requests wait_peer_close), the library keeps its
 * end open until the peer closes: EOF without POLLHUP, which is how
 * scgiserver tells a finished worker from a dead one. */
static void *finish_main(void *arg)
{
  scgi_request *req = arg;

  return (void *)(intptr_t)scgi_finish(req);
}

static void test_finish_waits_for_peer(void)
{
  struct conn c;
  struct pollfd pf;
  size_t got = 0;
  int n_ready;
  pthread_t t;
  void *rc;
  uint64_t start;

  conn_open(&c, false, 0, 5000);
  c.req->wait_peer_close = true;
  TAP_EQ(scgi_printf(c.req, "ok"), 0, "finish waits: respond");
  pthread_create(&t, NULL, finish_main, c.req);
  /* reader_main() without its closing shutdown: read to EOF here. */
  for (char buf[256];;) {
    ssize_t n = recv(c.peer, buf, sizeof buf, 0);
    if (n > 0)
      got += (size_t)n;
    else if (!(n < 0 && errno == EINTR))
      break;
  }
  pf = (struct pollfd){.fd = c.peer, .events = POLLIN | POLLRDHUP};
  TAP_OK(got > 0, "finish waits: the peer got the response and EOF");
  n_ready = poll(&pf, 1, 50);
  TAP_OK(n_ready == 1 && !(pf.revents & POLLHUP),
         "finish waits: EOF without POLLHUP (revents 0x%x)", pf.revents);
  start = scgi__now_ms();
  shutdown(c.peer, SHUT_WR);
  pthread_join(t, &rc);
  TAP_EQ((int)(intptr_t)rc, 0, "finish waits: finish returns 0");
  TAP_OK(scgi__now_ms() - start < 500,
         "finish waits: ends as soon as the peer is done (%llu ms)",
         (unsigned long long)(scgi__now_ms() - start));
  pf = (struct pollfd){.fd = c.peer, .events = POLLIN | POLLRDHUP};
  TAP_OK(poll(&pf, 1, 1000) == 1 && (pf.revents & POLLHUP),
         "finish waits: then its end is closed (POLLHUP)");
  conn_close(&c);
}

/* Without it, a finish closes at once: no thread waits on the peer. */
static void test_finish_closes_at_once(void)
{
  struct conn c;
  struct pollfd pf;
  char buf[256];
  size_t got = 0;

  conn_open(&c, false, 0, 5000);
  TAP_EQ(scgi_printf(c.req, "ok"), 0, "finish closes: respond");
  TAP_EQ(scgi_finish(c.req), 0, "finish closes: returns 0 with the peer silent");
  pf = (struct pollfd){.fd = c.peer, .events = POLLIN | POLLRDHUP};
  TAP_OK(poll(&pf, 1, 1000) == 1 && (pf.revents & POLLHUP),
         "finish closes: the peer finds the socket closed (POLLHUP)");
  for (ssize_t n; (n = recv(c.peer, buf, sizeof buf, 0)) > 0;)
    got += (size_t)n;
  TAP_OK(got > 0, "finish closes: the response is still there to read");
  conn_close(&c);
}

int main(void)
{
  test_default_response();
  test_free_finishes();
  test_status_headers_body();
  test_large_body();
  test_printf();
  test_header_injection();
  test_state_after_headers();
  test_sendfile();
  test_stream();
  test_fail_before_headers();
  test_fail_after_headers();
  test_peer_gone();
  test_write_timeout();
  test_drain_unread_body(true);
  test_drain_unread_body(false);
  test_finish_waits_for_peer();
  test_finish_closes_at_once();
  return tap_done();
}
