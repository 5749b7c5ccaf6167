/*
 * test_request.c - reading a request over real sockets: the header block
 * in pieces and in one go, deadlines, the body and its accounting.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "../src/internal.h"
#include "header_wait.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------- */

/* A request under construction: "len:" header block "," body. */
struct wire {
  char *buf;
  size_t len, cap;
  char block[1 << 17];
  size_t block_len;
};

static void block_add(struct wire *w, const char *name, const char *value)
{
  size_t n = strlen(name) + 1, v = strlen(value) + 1;

  if (w->block_len + n + v > sizeof w->block)
    abort();
  memcpy(w->block + w->block_len, name, n);
  memcpy(w->block + w->block_len + n, value, v);
  w->block_len += n + v;
}

static void append(struct wire *w, const void *data, size_t len)
{
  if (w->len + len > w->cap) {
    w->cap = (w->len + len) * 2;
    w->buf = realloc(w->buf, w->cap);
    if (!w->buf)
      abort();
  }
  memcpy(w->buf + w->len, data, len);
  w->len += len;
}

/* Wraps the header block into its netstring, then appends `body`. */
static size_t wire_finish(struct wire *w, const void *body, size_t body_len)
{
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%zu:", w->block_len);

  append(w, digits, (size_t)n);
  append(w, w->block, w->block_len);
  append(w, ",", 1);
  append(w, body, body_len);
  return (size_t)n + w->block_len + 1;
}

static struct wire *wire_new(const char *content_length)
{
  struct wire *w = calloc(1, sizeof *w);

  if (!w)
    abort();
  block_add(w, "CONTENT_LENGTH", content_length);
  block_add(w, "SCGI", "1");
  return w;
}

static void wire_free(struct wire *w)
{
  free(w->buf);
  free(w);
}

/* A thread writing bytes to the peer end, `chunk` at a time, with a pause
 * between chunks, then optionally shutting its write side down. */
struct writer {
  pthread_t thread;
  int fd;
  const char *data;
  size_t len, chunk;
  unsigned pause_us;
  bool shut;
};

static void *writer_main(void *arg)
{
  struct writer *w = arg;

  for (size_t off = 0; off < w->len;) {
    size_t n = w->len - off < w->chunk ? w->len - off : w->chunk;
    ssize_t k = send(w->fd, w->data + off, n, MSG_NOSIGNAL);
    if (k < 0)
      break;
    off += (size_t)k;
    if (w->pause_us)
      usleep(w->pause_us);
  }
  if (w->shut)
    shutdown(w->fd, SHUT_WR);
  return NULL;
}

static void writer_start(struct writer *w, int fd, const void *data,
                         size_t len, size_t chunk, unsigned pause_us,
                         bool shut)
{
  w->fd = fd;
  w->data = data;
  w->len = len;
  w->chunk = chunk;
  w->pause_us = pause_us;
  w->shut = shut;
  if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
    abort();
}

static void writer_join(struct writer *w) { pthread_join(w->thread, NULL); }

static struct scgi__conn_settings settings(unsigned timeout_ms)
{
  struct scgi__conn_settings cfg = {
      .max_header_bytes = SCGI__DEFAULT_MAX_HEADER_BYTES,
      .max_vars = SCGI__DEFAULT_MAX_VARS,
      .read_timeout_ms = timeout_ms,
      .write_timeout_ms = timeout_ms,
      .log = NULL, /* scgi__log() discards messages without a log function */
  };
  return cfg;
}

/* A request on one end of a fresh socketpair; the other end in *peer. */
static scgi_request *open_request(int *peer, unsigned timeout_ms)
{
  struct scgi__conn_settings cfg = settings(timeout_ms);
  int sv[2];

  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    abort();
  *peer = sv[1];
  return scgi__request_new(sv[0], &cfg, NULL, 0);
}

static void send_all(int fd, const void *data, size_t len)
{
  struct writer w;

  writer_start(&w, fd, data, len, len, 0, false);
  writer_join(&w);
}

static uint64_t elapsed_since(uint64_t start) { return scgi__now_ms() - start; }

/* Reads the whole body with reads of at most `step` bytes. */
static ssize_t read_body(scgi_request *req, char *buf, size_t cap,
                         size_t step, int *reads)
{
  size_t got = 0;
  ssize_t n;

  *reads = 0;
  while (got < cap) {
    n = scgi_read(req, buf + got, cap - got < step ? cap - got : step);
    if (n <= 0)
      return n < 0 ? n : (ssize_t)got;
    got += (size_t)n;
    (*reads)++;
  }
  return (ssize_t)got;
}

/* ---- the header block -------------------------------------------------- */

static void test_small_pieces(void)
{
  struct wire *w = wire_new("0");
  struct writer wr;
  int peer;
  scgi_request *req = open_request(&peer, 5000);

  block_add(w, "REQUEST_METHOD", "GET");
  block_add(w, "REQUEST_URI", "/a/b?c=d");
  block_add(w, "QUERY_STRING", "c=d");
  block_add(w, "HTTP_HOST", "example.org");
  wire_finish(w, "", 0);
  writer_start(&wr, peer, w->buf, w->len, 3, 1000, false);
  TAP_EQ(read_header_waiting(req), 0, "header in 3-byte pieces: read");
  writer_join(&wr);
  TAP_STREQ(scgi_request_method(req), "GET", "pieces: method");
  TAP_STREQ(scgi_request_get(req, "HTTP_HOST"), "example.org",
            "pieces: last variable");
  TAP_EQ(scgi_request_count(req), 6, "pieces: variable count");
  TAP_EQ(scgi_request_body_left(req), 0, "pieces: no body");
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
}

static void test_large_header(void)
{
  struct wire *w = wire_new("0");
  char *big = malloc(30001);
  int peer;
  scgi_request *req = open_request(&peer, 5000);

  memset(big, 'x', 30000);
  big[30000] = '\0';
  big[0] = 'A';
  big[29999] = 'Z';
  block_add(w, "REQUEST_METHOD", "POST");
  block_add(w, "HTTP_X_BIG", big);
  block_add(w, "HTTP_X_AFTER", "after");
  wire_finish(w, "", 0);
  send_all(peer, w->buf, w->len);
  TAP_EQ(read_header_waiting(req), 0, "30 KB header: read");
  TAP_OK(req->in != req->inline_in && req->in_cap >= w->len,
         "30 KB header: input moved to the heap (cap %zu)", req->in_cap);
  TAP_STREQ(scgi_request_get(req, "HTTP_X_BIG"), big,
            "30 KB header: value intact");
  TAP_STREQ(scgi_request_get(req, "HTTP_X_AFTER"), "after",
            "30 KB header: variable after the big one");
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
  free(big);
}

static void test_header_limit(void)
{
  struct scgi__conn_settings cfg = settings(2000);
  struct wire *w = wire_new("0");
  char *big = malloc(9001);
  int sv[2];
  scgi_request *req;

  memset(big, 'y', 9000);
  big[9000] = '\0';
  block_add(w, "HTTP_X_BIG", big);
  wire_finish(w, "", 0);
  cfg.max_header_bytes = 5000;
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  req = scgi__request_new(sv[0], &cfg, NULL, 0);
  send_all(sv[1], w->buf, w->len);
  TAP_EQ(read_header_waiting(req), SCGI_ETOOBIG,
         "header above max_header_bytes: ETOOBIG");
  TAP_OK(req->in_cap <= 5000 + 4 + 2,
         "input buffer stays within the parser's limit (%zu)", req->in_cap);
  scgi__request_destroy(req);
  close(sv[1]);
  wire_free(w);

  /* Just below the limit: the buffer grows to what the parser allows. */
  w = wire_new("0");
  big[5950] = '\0';
  block_add(w, "HTTP_X_BIG", big);
  wire_finish(w, "", 0);
  cfg.max_header_bytes = 6000;
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  req = scgi__request_new(sv[0], &cfg, NULL, 0);
  send_all(sv[1], w->buf, w->len);
  TAP_EQ(read_header_waiting(req), 0, "header just below the limit");
  TAP_EQ(req->in_cap, 6000 + 4 + 2,
         "input buffer grew to the parser's limit, not beyond");
  scgi__request_destroy(req);
  close(sv[1]);
  wire_free(w);
  free(big);
}

static void test_prefix(void)
{
  struct scgi__conn_settings cfg = settings(2000);
  struct wire *w = wire_new("6");
  char body[7] = {0};
  int sv[2];
  scgi_request *req;
  char *pad = malloc(6001);

  memset(pad, 'p', 6000);
  pad[6000] = '\0';
  block_add(w, "HTTP_X_PAD", pad);
  wire_finish(w, "abcdef", 6);
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  /* Everything was already read by someone else (scgiserver's handoff). */
  req = scgi__request_new(sv[0], &cfg, w->buf, w->len);
  TAP_EQ(read_header_waiting(req), 0,
         "prefix larger than the inline buffer: parsed without recv");
  TAP_EQ(scgi_read(req, body, sizeof body), 6, "prefix: body from prefix");
  TAP_STREQ(body, "abcdef", "prefix: body bytes");
  scgi__request_destroy(req);
  close(sv[1]);
  wire_free(w);
  free(pad);
}

static void test_truncated_header(void)
{
  static const char part[] = "100:CONTENT_LENGTH\0" "0\0SCGI";
  int peer;
  scgi_request *req = open_request(&peer, 2000);

  send_all(peer, part, sizeof part - 1);
  shutdown(peer, SHUT_WR);
  TAP_EQ(read_header_waiting(req), SCGI_ETRUNCATED,
         "EOF inside the header block: ETRUNCATED");
  scgi__request_destroy(req);
  close(peer);
}

static void test_silent_peer(void)
{
  int peer;
  scgi_request *req = open_request(&peer, 200);
  uint64_t start = scgi__now_ms(), took;

  TAP_EQ(read_header_waiting(req), SCGI_ETIMEDOUT,
         "silent peer: ETIMEDOUT");
  took = elapsed_since(start);
  TAP_OK(took >= 190 && took < 3000, "silent peer: after ~200 ms (%llu)",
         (unsigned long long)took);
  scgi__request_destroy(req);
  close(peer);
}

static void test_slowloris(void)
{
  struct wire *w = wire_new("0");
  struct writer wr;
  int peer;
  scgi_request *req = open_request(&peer, 300);
  uint64_t start = scgi__now_ms(), took;

  block_add(w, "HTTP_USER_AGENT", "slow");
  wire_finish(w, "", 0);
  /* One byte every 50 ms: each wait is short, the whole block is not. */
  writer_start(&wr, peer, w->buf, w->len, 1, 50000, false);
  TAP_EQ(read_header_waiting(req), SCGI_ETIMEDOUT,
         "slowloris: cut off by the whole-header deadline");
  took = elapsed_since(start);
  /* The header needs ~2.3 s at this pace: well after the deadline. */
  TAP_OK(took >= 290 && took < 3000, "slowloris: after ~300 ms (%llu)",
         (unsigned long long)took);
  scgi__request_destroy(req); /* the writer then fails with EPIPE */
  writer_join(&wr);
  close(peer);
  wire_free(w);
}

static void test_reject(void)
{
  static const char want[] = "Status: 400 Bad Request\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "\r\n"
                             "malformed\n";
  char got[256];
  ssize_t n;
  int peer;
  scgi_request *req = open_request(&peer, 2000);

  send_all(peer, "12x", 3);
  TAP_EQ(read_header_waiting(req), SCGI_ECOLON,
         "malformed length: parser error");
  scgi__request_reject(req, "malformed");
  shutdown(peer, SHUT_WR); /* lets the lingering close end at once */
  scgi__request_destroy(req);
  n = recv(peer, got, sizeof got - 1, MSG_WAITALL);
  got[n > 0 ? n : 0] = '\0';
  TAP_STREQ(got, want, "reject: exact 400 response");
  close(peer);
}

/* ---- variables --------------------------------------------------------- */

static void test_duplicates_and_getters(void)
{
  struct wire *w = wire_new("0");
  const char *name, *value;
  size_t len, seen = 0;
  int peer;
  scgi_request *req = open_request(&peer, 2000);

  block_add(w, "REQUEST_METHOD", "PUT");
  block_add(w, "REQUEST_URI", "/x?y=1");
  block_add(w, "QUERY_STRING", "y=1");
  block_add(w, "CONTENT_TYPE", "");
  block_add(w, "HTTP_COOKIE", "a=1");
  block_add(w, "HTTP_COOKIE", "b=2");
  wire_finish(w, "", 0);
  send_all(peer, w->buf, w->len);
  TAP_EQ(read_header_waiting(req), 0, "duplicates: read");
  char *before = malloc(req->in_len);
  memcpy(before, req->in, req->in_len);
  TAP_STREQ(scgi_request_get(req, "HTTP_COOKIE"), "a=1",
            "duplicate name: the first one wins");
  for (size_t i = 0; i < scgi_request_count(req); i++) {
    scgi_request_var(req, i, &name, &value, &len);
    if (strcmp(name, "HTTP_COOKIE") == 0)
      seen |= (strcmp(value, "a=1") == 0 ? 1u : 0u) |
              (strcmp(value, "b=2") == 0 && len == 3 ? 2u : 0u);
  }
  TAP_EQ(seen, 3, "duplicate name: iteration shows both");
  TAP_EQ(scgi_request_var(req, scgi_request_count(req), &name, NULL, NULL),
         SCGI_EINVAL, "var out of range: EINVAL");
  TAP_STREQ(scgi_request_method(req), "PUT", "method");
  TAP_STREQ(scgi_request_uri(req), "/x?y=1", "uri");
  TAP_STREQ(scgi_request_query_string(req), "y=1", "query string");
  TAP_STREQ(scgi_request_content_type(req), "", "empty content type");
  TAP_EQ(scgi_request_content_length(req), 0, "content length 0");
  TAP_EQ(scgi_request_fd(req), req->fd, "fd");
  TAP_STREQ(scgi_request_get(req, "cookie"), NULL, "case-sensitive lookup");
  TAP_OK(memcmp(before, req->in, req->in_len) == 0,
         "getters left the received bytes untouched");
  free(before);
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
}

static void test_absent(void)
{
  struct wire *w = wire_new("0");
  int peer;
  scgi_request *req = open_request(&peer, 2000);

  wire_finish(w, "", 0);
  send_all(peer, w->buf, w->len);
  TAP_EQ(read_header_waiting(req), 0, "minimal request: read");
  TAP_STREQ(scgi_request_method(req), NULL, "absent method: NULL");
  TAP_STREQ(scgi_request_uri(req), NULL, "absent uri: NULL");
  TAP_STREQ(scgi_request_query_string(req), NULL, "absent query: NULL");
  TAP_STREQ(scgi_request_content_type(req), NULL, "absent type: NULL");
  TAP_STREQ(scgi_request_get(req, "HTTP_HOST"), NULL, "absent name: NULL");
  TAP_EQ(scgi_request_count(req), 2, "minimal request: 2 variables");
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
}

/* ---- the body ---------------------------------------------------------- */

static void test_body_early_and_late(void)
{
  struct wire *w = wire_new("26");
  static const char body[] = "abcdefghijklmnopqrstuvwxyz";
  char got[64] = {0};
  struct writer wr;
  int peer, reads;
  size_t head;
  scgi_request *req = open_request(&peer, 2000);

  block_add(w, "REQUEST_METHOD", "POST");
  head = wire_finish(w, body, 26);
  send_all(peer, w->buf, head + 10); /* header + 10 early body bytes */
  TAP_EQ(read_header_waiting(req), 0, "early body: header read");
  TAP_EQ(scgi_request_content_length(req), 26, "early body: content length");
  TAP_EQ(scgi_request_body_left(req), 26, "early body: body_left before");
  TAP_EQ(scgi_read(req, got, 4), 4, "early body: first read from buffer");
  TAP_EQ(scgi_request_body_left(req), 22, "early body: body_left after 4");
  writer_start(&wr, peer, w->buf + head + 10, 16, 16, 0, false);
  TAP_EQ(read_body(req, got + 4, sizeof got - 4, 64, &reads), 22,
         "early + late: the rest");
  writer_join(&wr);
  TAP_STREQ(got, body, "early + late: bytes in order");
  TAP_EQ(scgi_request_body_left(req), 0, "body_left 0 at the end");
  TAP_EQ(scgi_read(req, got, sizeof got), 0, "read at the end: 0");
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
}

static void test_body_many_reads(void)
{
  enum { SIZE = 1 << 20 };
  struct wire *w = wire_new("1048576");
  char *body = malloc(SIZE), *got = malloc(SIZE + 16);
  struct writer wr;
  int peer, reads;
  scgi_request *req = open_request(&peer, 5000);

  for (size_t i = 0; i < SIZE; i++)
    body[i] = (char)(i * 7 + i / 251);
  wire_finish(w, body, SIZE);
  writer_start(&wr, peer, w->buf, w->len, 65536, 0, false);
  TAP_EQ(read_header_waiting(req), 0, "1 MiB body: header read");
  TAP_EQ(read_body(req, got, SIZE + 16, 777, &reads), SIZE,
         "1 MiB body: every byte, no more");
  TAP_OK(memcmp(got, body, SIZE) == 0, "1 MiB body: intact");
  TAP_OK(reads > 1000, "1 MiB body: across many reads (%d)", reads);
  writer_join(&wr);
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
  free(body);
  free(got);
}

/* Once scgi_finish() closed the connection, scgi_read() says so
 * (SCGI_ESTATE, as documented) even for body bytes still buffered. */
static void test_read_after_finish(void)
{
  struct wire *w = wire_new("26");
  char got[64] = {0};
  int peer;
  size_t head;
  scgi_request *req = open_request(&peer, 2000);

  head = wire_finish(w, "abcdefghijklmnopqrstuvwxyz", 26);
  send_all(peer, w->buf, head + 10); /* header + 10 early body bytes */
  shutdown(peer, SHUT_WR); /* so that the polite close does not wait */
  TAP_EQ(read_header_waiting(req), 0, "read after finish: header read");
  TAP_EQ(scgi_read(req, got, 4), 4, "read after finish: 4 bytes before");
  TAP_EQ(scgi_finish(req), 0, "read after finish: finish");
  TAP_EQ(scgi_request_fd(req), -1, "read after finish: fd closed");
  TAP_EQ(scgi_read(req, got, sizeof got), SCGI_ESTATE,
         "read after finish: ESTATE, not the buffered bytes");
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
}

static void test_after_body_ignored(void)
{
  struct wire *w = wire_new("5");
  char got[64] = {0};
  int peer;
  scgi_request *req = open_request(&peer, 2000);

  wire_finish(w, "helloGARBAGE", 12);
  send_all(peer, w->buf, w->len);
  TAP_EQ(read_header_waiting(req), 0, "trailing bytes: header read");
  TAP_EQ(scgi_read(req, got, sizeof got), 5, "trailing bytes: body only");
  TAP_STREQ(got, "hello", "trailing bytes: the body");
  TAP_EQ(scgi_read(req, got, sizeof got), 0, "trailing bytes: then 0");
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
}

static void test_after_body_in_socket(void)
{
  struct wire *w = wire_new("5");
  char got[64] = {0};
  size_t head;
  int peer;
  scgi_request *req = open_request(&peer, 2000);

  head = wire_finish(w, "helloGARBAGE", 12);
  send_all(peer, w->buf, head);
  TAP_EQ(read_header_waiting(req), 0, "late trailing: header read");
  send_all(peer, w->buf + head, 12);
  TAP_EQ(scgi_read(req, got, sizeof got), 5, "late trailing: stops at 5");
  TAP_STREQ(got, "hello", "late trailing: the body");
  TAP_EQ(scgi_read(req, got, sizeof got), 0, "late trailing: then 0");
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
}

static void test_truncated_body(void)
{
  struct wire *w = wire_new("10");
  char got[64];
  int peer;
  scgi_request *req = open_request(&peer, 2000);

  wire_finish(w, "abcd", 4);
  send_all(peer, w->buf, w->len);
  shutdown(peer, SHUT_WR);
  TAP_EQ(read_header_waiting(req), 0, "short body: header read");
  TAP_EQ(scgi_read(req, got, sizeof got), 4, "short body: what came");
  TAP_EQ(scgi_read(req, got, sizeof got), SCGI_ETRUNCATED,
         "short body: EOF is ETRUNCATED");
  TAP_EQ(scgi_read(req, got, sizeof got), SCGI_ETRUNCATED,
         "short body: ETRUNCATED is sticky");
  TAP_EQ(scgi_request_body_left(req), 6, "short body: 6 bytes missing");
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
}

static void test_body_timeout(void)
{
  struct wire *w = wire_new("10");
  char got[64];
  int peer;
  uint64_t start, took;
  scgi_request *req = open_request(&peer, 200);

  wire_finish(w, "", 0);
  send_all(peer, w->buf, w->len);
  TAP_EQ(read_header_waiting(req), 0, "body timeout: header read");
  start = scgi__now_ms();
  TAP_EQ(scgi_read(req, got, sizeof got), SCGI_ETIMEDOUT,
         "silent body: ETIMEDOUT");
  took = elapsed_since(start);
  TAP_OK(took >= 190 && took < 3000, "silent body: after ~200 ms (%llu)",
         (unsigned long long)took);
  send_all(peer, "0123456789", 10);
  TAP_EQ(scgi_read(req, got, sizeof got), 10,
         "a timeout is not sticky: later bytes are read");
  scgi__request_destroy(req);
  close(peer);
  wire_free(w);
}

static void test_nonblocking(void)
{
  int peer;
  scgi_request *req = open_request(&peer, 2000);

  TAP_OK(fcntl(scgi_request_fd(req), F_GETFL) & O_NONBLOCK,
         "request socket made non-blocking");
  scgi__request_destroy(req);
  close(peer);
}

static void test_raw_and_detach(void)
{
  struct wire *w = wire_new("26");
  char got[64] = {0};
  const char *raw;
  size_t head, raw_len;
  int peer, fd;
  scgi_request *req = open_request(&peer, 2000);

  head = wire_finish(w, "abcdefghijklmnopqrstuvwxyz", 26);
  send_all(peer, w->buf, head + 10); /* header + 10 early body bytes */
  TAP_EQ(read_header_waiting(req), 0, "detach: header read");
  raw = scgi_request_raw(req, &raw_len);
  TAP_EQ(raw_len, head + 10, "raw: header netstring + early body bytes");
  TAP_OK(raw && memcmp(raw, w->buf, head + 10) == 0, "raw: the bytes as sent");
  fd = scgi_request_detach(req);
  TAP_OK(fd >= 0, "detach returns the socket");
  TAP_EQ(scgi_request_detach(req), SCGI_ESTATE, "second detach: ESTATE");
  TAP_EQ(scgi_write(req, "x", 1), SCGI_ESTATE, "write after detach: ESTATE");
  TAP_EQ(scgi_finish(req), SCGI_ESTATE, "finish after detach: ESTATE");
  TAP_STREQ(scgi_request_get(req, "CONTENT_LENGTH"), "26",
            "getters still work after detach");
  scgi_request_free(req);
  /* The request sent nothing and closed nothing: the socket still works. */
  send_all(fd, "pong", 4);
  shutdown(fd, SHUT_WR);
  TAP_EQ(recv(peer, got, sizeof got, MSG_WAITALL), 4,
         "after free, the detached socket is open and nothing else was sent");
  TAP_STREQ(got, "pong", "only the caller's bytes arrived");
  close(fd);
  close(peer);
  wire_free(w);
}

int main(void)
{
  test_nonblocking();
  test_small_pieces();
  test_large_header();
  test_header_limit();
  test_prefix();
  test_truncated_header();
  test_silent_peer();
  test_slowloris();
  test_reject();
  test_duplicates_and_getters();
  test_absent();
  test_body_early_and_late();
  test_body_many_reads();
  test_read_after_finish();
  test_raw_and_detach();
  test_after_body_ignored();
  test_after_body_in_socket();
  test_truncated_body();
  test_body_timeout();
  return tap_done();
}
