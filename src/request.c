/*
 * request.c - a request: its header block, its variables and its body.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A rejected peer gets this long to read the 400, and then to stop sending,
 * so that a client that neither reads nor closes costs little. */
#define REJECT_WRITE_TIMEOUT_MS 150
#define REJECT_LINGER_MS 200
/* Most input discarded before closing; beyond it a RST is the lesser evil. */
#define DRAIN_MAX_BYTES ((uint64_t)64 << 20)

/* ---- creation ---------------------------------------------------------- */

static void set_nonblocking(int fd)
{
  int flags = fcntl(fd, F_GETFL);

  /* Timeouts rely on it; fcntl only fails on a bad fd, which every later
   * call then reports. */
  if (flags >= 0 && !(flags & O_NONBLOCK))
    (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Bytes the front server already sent before we got the connection (the
 * handoff from scgiserver passes them along with the fd). */
static int store_prefix(scgi_request *req, const char *prefix, size_t len)
{
  if (len > req->in_cap) {
    char *heap = malloc(len);
    if (!heap)
      return SCGI_ENOMEM;
    req->in = heap;
    req->in_cap = len;
  }
  memcpy(req->in, prefix, len);
  req->in_len = len;
  return 0;
}

scgi_request *scgi__request_new(int fd, const struct scgi__conn_settings *cfg,
                                const char *prefix, size_t prefix_len)
{
  set_nonblocking(fd);
  return scgi__request_new_nb(fd, cfg, prefix, prefix_len);
}

scgi_request *scgi__request_new_nb(int fd,
                                   const struct scgi__conn_settings *cfg,
                                   const char *prefix, size_t prefix_len)
{
  scgi_request *req = malloc(sizeof *req);

  if (!req) {
    close(fd);
    return NULL;
  }
  /* inline_in is last and large: zero only what precedes it. */
  memset(req, 0, offsetof(struct scgi_request, inline_in));
  req->fd = fd;
  req->cfg = *cfg;
  req->status = 200;
  req->in = req->inline_in;
  req->in_cap = sizeof req->inline_in;
  scgi__parser_init(&req->parser);
  /* Out-of-range limits (0 = unset) keep the parser's defaults. */
  (void)scgi_parser_set(&req->parser, SCGI_OPT_MAX_HEADER_BYTES,
                        cfg->max_header_bytes);
  (void)scgi_parser_set(&req->parser, SCGI_OPT_MAX_VARS, cfg->max_vars);
  if (prefix_len > 0 && store_prefix(req, prefix, prefix_len) != 0) {
    scgi__request_destroy(req);
    return NULL;
  }
  if (cfg->read_timeout_ms != 0)
    req->deadline_ms = scgi__now_ms() + cfg->read_timeout_ms;
  return req;
}

/* ---- header block ------------------------------------------------------ */

/* The longest request prefix the parser can still need: the netstring
 * length digits, ':', the largest block it accepts, ','. */
static size_t input_limit(const scgi_request *req)
{
  size_t max = req->parser.max_header_bytes, digits = 1;

  for (size_t v = max; v >= 10; v /= 10)
    digits++;
  return max + digits + 2;
}

/* Doubles the input buffer once it is full. The parser keeps offsets, so
 * the bytes may move. */
static int grow_input(scgi_request *req)
{
  size_t limit = input_limit(req), cap;
  char *p;

  if (req->in_cap >= limit)
    return SCGI_ETOOBIG; /* the parser should have decided by now */
  cap = req->in_cap > SIZE_MAX / 2 ? SIZE_MAX : req->in_cap * 2;
  if (cap > limit)
    cap = limit;
  if (req->in == req->inline_in) {
    if ((p = malloc(cap)) != NULL)
      memcpy(p, req->in, req->in_len);
  } else {
    p = realloc(req->in, cap);
  }
  if (!p)
    return SCGI_ENOMEM;
  req->in = p;
  req->in_cap = cap;
  return 0;
}

/* Receives what is there into the input buffer: 0 when some bytes came,
 * -EAGAIN when none are there yet. */
static int recv_header(scgi_request *req)
{
  for (;;) {
    ssize_t n = recv(req->fd, req->in + req->in_len,
                     req->in_cap - req->in_len, 0);
    if (n > 0) {
      req->in_len += (size_t)n;
      return 0;
    }
    if (n == 0)
      return SCGI_ETRUNCATED;
    if (errno == EINTR)
      continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

/* The header block is in: what follows it, up to CONTENT_LENGTH, is the
 * start of the body; anything after that is ignored (SCGI has one request
 * per connection), and logged: the peer's CONTENT_LENGTH is wrong. */
static void start_body(scgi_request *req, size_t header_size)
{
  int64_t length = scgi_parser_content_length(&req->parser);
  size_t early = req->in_len - header_size;

  req->in_pos = header_size;
  req->body_left = length;
  if ((uint64_t)early > (uint64_t)length) {
    req->in_len = header_size + (size_t)length;
    req->trailing = true;
    scgi__log(&req->cfg, SCGI_LOG_INFO,
              "request from %s: more bytes than its CONTENT_LENGTH (%lld) "
              "sent; the rest is ignored",
              req->peer, (long long)length);
  }
}

int scgi__request_read_header(scgi_request *req)
{
  long r;

  /* Parse first: the prefix may already hold the whole block. */
  while ((r = scgi_parse(&req->parser, req->in, req->in_len)) == 0) {
    int rc = req->in_len < req->in_cap ? 0 : grow_input(req);
    if (rc == 0)
      rc = recv_header(req);
    /* One deadline for the whole block: a client trickling a byte at a
     * time must not hold the connection longer than one that sends
     * nothing. */
    if (rc == -EAGAIN && req->deadline_ms != 0 &&
        scgi__now_ms() >= req->deadline_ms)
      rc = SCGI_ETIMEDOUT;
    if (rc != 0)
      return rc;
  }
  if (r < 0)
    return (int)r;
  if (req->in_pos == 0)
    start_body(req, (size_t)r);
  return 0;
}

/* ---- rejecting and closing --------------------------------------------- */

void scgi__request_reject(scgi_request *req, const char *reason)
{
  static const char head[] = "Status: 400 Bad Request\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "\r\n";
  struct iovec iov[3];

  if (req->fd < 0)
    return;
  if (!reason)
    reason = "Bad Request";
  iov[0] = scgi__iovec(head, sizeof head - 1);
  iov[1] = scgi__iovec(reason, strlen(reason));
  iov[2] = scgi__iovec("\n", 1);
  /* Best effort: a peer that does not read is not worth waiting for. */
  (void)scgi__writev_all(req->fd, iov, 3, REJECT_WRITE_TIMEOUT_MS);
  /* The rest of an oversized or malformed request may still be coming. */
  req->linger = true;
}

/* Body bytes the peer owes that are still in the socket, not in `in`. */
static uint64_t unread_body(const scgi_request *req)
{
  uint64_t buffered = req->in_len - req->in_pos;

  if (req->body_left <= 0 || (uint64_t)req->body_left <= buffered)
    return 0;
  return (uint64_t)req->body_left - buffered;
}

static void discard_loop(int fd, char *buf, size_t cap, uint64_t max_bytes,
                         uint64_t deadline)
{
  uint64_t got = 0;

  while (got < max_bytes) {
    ssize_t n = recv(fd, buf, cap, 0);
    uint64_t now = scgi__now_ms();
    /* Checked on every turn: a peer that keeps the socket full must not
     * stretch the budget either. */
    if (now >= deadline)
      return;
    if (n > 0) {
      got += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
      return;
    if (scgi__wait(fd, POLLIN, (unsigned)(deadline - now)) != 0)
      return;
  }
}

/* Receive size when discarding more than a few KiB: fewer system calls. */
#define DISCARD_CHUNK 65536

static void discard_input(int fd, uint64_t max_bytes, unsigned budget_ms)
{
  uint64_t deadline = scgi__now_ms() + budget_ms;
  char small[4096], *heap = NULL, *buf = small;
  size_t cap = sizeof small;

  if (max_bytes > sizeof small && (heap = malloc(DISCARD_CHUNK)) != NULL) {
    buf = heap;
    cap = DISCARD_CHUNK;
  }
  discard_loop(fd, buf, cap, max_bytes, deadline);
  free(heap);
}


void scgi__request_arm_abort(scgi_request *req)
{
  struct linger lin = {.l_onoff = 1, .l_linger = 0};

  if (setsockopt(req->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin) == 0)
    req->abort_armed = true;
}

static void disarm_abort(scgi_request *req)
{
  struct linger lin = {.l_onoff = 0, .l_linger = 0};

  if (req->abort_armed)
    (void)setsockopt(req->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  req->abort_armed = false;
}

void scgi__request_close(scgi_request *req, unsigned drain_ms, bool finished)
{
  uint64_t drain = req->linger_done ? 0
                   : req->linger    ? DRAIN_MAX_BYTES
                                    : unread_body(req);

  if (req->fd < 0)
    return;
  disarm_abort(req);
  /* When asked (SCGI_WAIT_FOR_CLOSE: scgiserver relaying over a Unix
   * socket), wait after a normal finish for the peer's close even when no
   * input is owed: it is what tells a finished application from a dead one
   * there, where both give the peer an EOF. The peer of a finished one
   * sees its EOF while our end is still open (poll: no POLLHUP); that of a
   * dead one finds the socket fully closed (POLLHUP). */
  if (finished && req->wait_peer_close)
    drain = DRAIN_MAX_BYTES;
  if (drain_ms > 0 && drain > 0) {
    /* Our FIN tells the peer the response is complete; it then closes,
     * which ends the draining early. */
    shutdown(req->fd, SHUT_WR);
    discard_input(req->fd, drain, drain_ms);
  } else if (finished && req->trailing) {
    /* The peer sent bytes after its request: more of them left unread
     * would turn our close into a reset, which can destroy the response
     * before the peer reads it. */
    discard_input(req->fd, DRAIN_MAX_BYTES, 0);
  }
  close(req->fd);
  req->fd = -1;
}

void scgi__request_linger_start(scgi_request *req)
{
  disarm_abort(req);
  shutdown(req->fd, SHUT_WR);
  req->deadline_ms = scgi__now_ms() + REJECT_LINGER_MS;
}

int scgi__request_linger_read(scgi_request *req)
{
  char buf[4096];

  for (uint64_t got = 0; got < DRAIN_MAX_BYTES;) {
    ssize_t n = recv(req->fd, buf, sizeof buf, 0);
    if (n > 0) {
      got += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
        scgi__now_ms() < req->deadline_ms)
      return -EAGAIN;
    break;
  }
  req->linger_done = true;
  return 0;
}

/* Tells scgiserver, after a handed-off connection was closed, that this
 * process can take another one (see the handoff convention in accept.c). */
static void report_done(scgi_request *req)
{
  if (req->done == NULL)
    return;
  scgi__done_report(req->done);
  req->done = NULL;
}

void scgi__request_destroy(scgi_request *req)
{
  if (!req)
    return;
  /* A stream flushing on fclose() must find the response closed. */
  req->finished = true;
  if (req->stream)
    fclose(req->stream);
  scgi__request_close(req, REJECT_LINGER_MS, false);
  report_done(req);
  if (req->in != req->inline_in)
    free(req->in);
  free(req->head);
  free(req->out);
  scgi__parser_cleanup(&req->parser);
  free(req);
}

void scgi_request_free(scgi_request *req)
{
  if (!req)
    return;
  if (!req->finished)
    (void)scgi_finish(req);
  scgi__request_destroy(req);
}

/* ---- getters ----------------------------------------------------------- */

const char *scgi_request_raw(const scgi_request *req, size_t *len)
{
  if (len)
    *len = req ? req->in_len : 0;
  return req ? req->in : NULL;
}

int scgi_request_detach(scgi_request *req)
{
  int fd;

  if (!req || req->fd < 0 || req->headers_sent || req->finished)
    return SCGI_ESTATE;
  disarm_abort(req);
  fd = req->fd;
  req->fd = -1;
  req->detached = true;
  req->finished = true;
  req->finish_result = SCGI_ESTATE;
  return fd;
}

const char *scgi_request_get(const scgi_request *req, const char *name)
{
  return scgi_parser_get(&req->parser, name);
}

size_t scgi_request_count(const scgi_request *req)
{
  return scgi_parser_count(&req->parser);
}

int scgi_request_var(const scgi_request *req, size_t index, const char **name,
                     const char **value, size_t *value_len)
{
  return scgi_parser_var(&req->parser, index, name, value, value_len);
}

const char *scgi_request_method(const scgi_request *req)
{
  return scgi_parser_get(&req->parser, "REQUEST_METHOD");
}

const char *scgi_request_uri(const scgi_request *req)
{
  return scgi_parser_get(&req->parser, "REQUEST_URI");
}

const char *scgi_request_query_string(const scgi_request *req)
{
  return scgi_parser_get(&req->parser, "QUERY_STRING");
}

const char *scgi_request_content_type(const scgi_request *req)
{
  return scgi_parser_get(&req->parser, "CONTENT_TYPE");
}

int64_t scgi_request_content_length(const scgi_request *req)
{
  int64_t length = scgi_parser_content_length(&req->parser);

  return length < 0 ? 0 : length;
}

int scgi_request_fd(const scgi_request *req)
{
  return req->fd;
}

int64_t scgi_request_body_left(const scgi_request *req)
{
  return req->body_left;
}

/* ---- body -------------------------------------------------------------- */

/* Body bytes that came in with the header block. */
static ssize_t read_early(scgi_request *req, void *buf, size_t size)
{
  size_t n = req->in_len - req->in_pos;

  if (n > size)
    n = size;
  memcpy(buf, req->in + req->in_pos, n);
  req->in_pos += n;
  req->body_left -= (int64_t)n;
  return (ssize_t)n;
}

static ssize_t read_socket(scgi_request *req, void *buf, size_t size)
{
  for (;;) {
    ssize_t n = recv(req->fd, buf, size, 0);
    if (n > 0) {
      req->body_left -= n;
      return n;
    }
    if (n == 0)
      return req->read_error = SCGI_ETRUNCATED;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    int rc = scgi__wait(req->fd, POLLIN, req->cfg.read_timeout_ms);
    if (rc != 0)
      return rc;
  }
}

ssize_t scgi_read(scgi_request *req, void *buf, size_t size)
{
  if (req->read_error)
    return req->read_error;
  /* Closed by scgi_finish() or scgi_fail(): even buffered bytes are no
   * longer part of a live request. */
  if (req->fd < 0)
    return SCGI_ESTATE;
  if (size == 0 || req->body_left <= 0)
    return 0;
  if ((uint64_t)size > (uint64_t)req->body_left)
    size = (size_t)req->body_left;
  if (size > SSIZE_MAX)
    size = SSIZE_MAX;
  if (req->in_pos < req->in_len)
    return read_early(req, buf, size);
  return read_socket(req, buf, size);
}
