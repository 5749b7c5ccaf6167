/*
 * relay.c - moving a front connection to its application.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The proxy relay is one poll(2) loop per connection on the front thread
 * that accepted it: two descriptors, one buffer per direction, each
 * direction reading only once its buffer is empty (so a slow reader holds
 * back its writer instead of growing memory).
 *
 * The bulk of the bytes goes through a pipe with splice(2) instead of the
 * buffer (no copy to and from user space): the request body once the
 * header bytes already read are written, and the response once its
 * header block has been read (the status and length come from those
 * bytes). The pipe is that direction's buffer: bytes are counted the same
 * way, when taken from one side and when given to the other. Where splice
 * is refused (EINVAL: a socket type without it) or no pipe can be had, the
 * direction stays on the buffer.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include "config.h"

#include "relay.h"

#include <scgi.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RELAY_BUF 16384
/* Response header bytes kept to read the status and length from. */
#define HEAD_MAX 4096
/* An answer of ours and the drain after it never hold a thread longer. */
#define ANSWER_MS 2000

static uint64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
  struct pollfd p = { .fd = fd, .events = events };
  int rc;

  while ((rc = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
    ;
  return rc < 0 ? -errno : rc == 0 ? -ETIMEDOUT : 0;
}

/* ---- pass -------------------------------------------------------------- */

int relay_pass(int handoff_fd, int conn_fd, const char *raw, size_t len,
               unsigned timeout_ms)
{
  union {
    char bytes[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  /* sendmsg takes a non-const iovec, but only reads it. */
  struct iovec iov = { .iov_base = (void *)(uintptr_t)raw, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control.bytes,
                        .msg_controllen = sizeof control.bytes };
  struct cmsghdr *cm;

  memset(&control, 0, sizeof control);
  cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &conn_fd, sizeof(int));
  for (;;) {
    if (sendmsg(handoff_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
      return 0;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    /* The worker's receive queue is full: it is alive but slow. */
    int rc = wait_fd(handoff_fd, POLLOUT, (int)timeout_ms);
    if (rc != 0)
      return rc;
  }
}

/* ---- answers of our own ------------------------------------------------ */

static const char *reason(int status)
{
  switch (status) {
  case 408:
    return "Request Timeout";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "Error";
  }
}

static const char *body_text(int status)
{
  switch (status) {
  case 408:
    return "408 Request Timeout: the request body stopped arriving.\n";
  case 502:
    return "502 Bad Gateway: the application is unavailable.\n";
  case 503:
    return "503 Service Unavailable: the application is busy, retry later.\n";
  case 504:
    return "504 Gateway Timeout: the application did not answer in time.\n";
  default:
    return "error\n";
  }
}

/* Writes all of buf within the deadline; -errno on failure. */
static int send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    uint64_t now = now_ms();
    int rc = now >= deadline ? -ETIMEDOUT
                             : wait_fd(fd, POLLOUT, (int)(deadline - now));
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Closing a socket with unread input makes the kernel send a reset, which
 * can destroy the answer before the front server reads it: say we are
 * done writing, read what is left until the peer closes (briefly), then
 * close. */
static void close_politely(int fd, uint64_t deadline)
{
  char sink[4096];

  shutdown(fd, SHUT_WR);
  for (;;) {
    ssize_t n = recv(fd, sink, sizeof sink, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN &&
                   errno != EWOULDBLOCK))
      break;
    uint64_t now = now_ms();
    if (n < 0 && errno == EAGAIN &&
        (now >= deadline || wait_fd(fd, POLLIN, (int)(deadline - now)) != 0))
      break;
  }
  close(fd);
}

void relay_answer(int fd, int status)
{
  const char *text = body_text(status);
  char head[256];
  uint64_t deadline = now_ms() + ANSWER_MS;
  int n = snprintf(head, sizeof head,
                   "Status: %d %s\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: %zu\r\n"
                   "%s\r\n",
                   status, reason(status), strlen(text),
                   status == 503 ? "Retry-After: 1\r\n" : "");

  if (send_all(fd, head, (size_t)n, deadline) == 0 &&
      send_all(fd, text, strlen(text), deadline) == 0)
    close_politely(fd, deadline);
  else
    close(fd);
}

void relay_reset(int fd)
{
  struct linger lg = { .l_onoff = 1, .l_linger = 0 };

  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

/* ---- response head ---------------------------------------------------- */

static int parse_code(const char *s, const char *end)
{
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  if (end - s < 3 || s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' ||
      s[2] < '0' || s[2] > '9')
    return 0;
  return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* A plain decimal; -1 when it is anything else. */
static int64_t parse_length(const char *s, const char *end)
{
  int64_t v = 0;

  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  if (s == end)
    return -1;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

void relay_response_head(const char *buf, size_t len, int *status,
                         int64_t *total)
{
  const char *p = buf, *end = buf + len;
  int64_t length = -1;
  int code = 200;

  *status = 0;
  *total = -1;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end;
    if (!eol)
      return; /* the block goes on beyond what we have */
    line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
    if (line_end == p) { /* the blank line ending the block */
      *status = code;
      /* A length too large to add to the head is as good as unknown. */
      if (length >= 0 && code >= 200 && code != 204 && code != 304 &&
          length <= INT64_MAX - (eol + 1 - buf))
        *total = (int64_t)(eol + 1 - buf) + length;
      return;
    }
    if (line_end - p >= 7 && strncasecmp(p, "status:", 7) == 0)
      code = parse_code(p + 7, line_end);
    else if (line_end - p >= 15 && strncasecmp(p, "content-length:", 15) == 0)
      length = parse_length(p + 15, line_end);
    p = eol + 1;
  }
}

/* ---- proxy ------------------------------------------------------------- */

/* One direction: bytes data[off..len) wait to be written; buf is where
 * new ones are read to (data points there too, except for the first bytes
 * of the request, written straight from the library's buffer). */
struct flow {
  char *buf;
  const char *data;
  size_t off, len;
  int pipe[2];   /* splice's buffer; -1 until made */
  size_t piped;  /* bytes in the pipe, still to write */
  int no_splice; /* refused, or no pipe: recv and send only */
};

struct proxy {
  int front, app;
  struct flow up, down;        /* front->app, app->front */
  uint64_t body_left;          /* body bytes still to read from the front */
  int up_closed;               /* the app takes no more body bytes */
  int app_eof;
  int app_hup;                 /* at EOF, the app's socket was fully closed */
  uint64_t sent_down;          /* bytes written to the front */
  int64_t expect;              /* announced response size; -1: unknown */
  int head_request;            /* HEAD: no body whatever the length */
  char *head;                  /* the response's first bytes, HEAD_MAX */
  size_t head_len;
  int head_done;               /* header block read, or too long to tell */
  int front_stalled;           /* timed out waiting for the front's body */
  const struct relay_job *job;
  struct relay_result *res;
};

static int pending(const struct flow *f)
{
  return f->off < f->len || f->piped > 0;
}

/* Spliced bytes are moved, not copied, where the kernel can. */
#define SPLICE_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
/* Asked of one splice into the pipe; it takes what fits. */
#define SPLICE_MAX ((size_t)1 << 20)

static void drop_pipe(struct flow *f)
{
  if (f->pipe[0] >= 0) {
    close(f->pipe[0]);
    close(f->pipe[1]);
  }
  f->pipe[0] = f->pipe[1] = -1;
  f->piped = 0;
}

/* Reads into the empty pipe of a flow: bytes, 0 at EOF, -EAGAIN, -errno,
 * or -EINVAL when splice cannot be used here (the flow then keeps to its
 * buffer and nothing was read). */
static ssize_t fill_pipe(int fd, struct flow *f, uint64_t max)
{
  ssize_t n;

  if (f->pipe[0] < 0 && pipe2(f->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
    f->pipe[0] = f->pipe[1] = -1;
    f->no_splice = 1;
    return -EINVAL;
  }
  do
    n = splice(fd, NULL, f->pipe[1], NULL,
               max < SPLICE_MAX ? (size_t)max : SPLICE_MAX, SPLICE_FLAGS);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EINVAL || errno == ENOSYS) {
      drop_pipe(f);
      f->no_splice = 1;
      return -EINVAL;
    }
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
  f->piped = (size_t)n;
  return n;
}

/* The header netstring's size: the library validated it, so the digits
 * and the ':' are there. */
static size_t netstring_size(const char *raw, size_t len)
{
  size_t n = 0, i = 0;

  while (i < len && raw[i] >= '0' && raw[i] <= '9')
    n = n * 10 + (size_t)(raw[i++] - '0');
  return i + 1 + n + 1;
}

/* Reads into an empty flow; returns bytes, 0 at EOF, -EAGAIN, -errno. */
static ssize_t fill(int fd, struct flow *f, uint64_t max, int may_splice)
{
  ssize_t n;

  if (may_splice && !f->no_splice && (n = fill_pipe(fd, f, max)) != -EINVAL)
    return n;
  do
    n = recv(fd, f->buf, max < RELAY_BUF ? (size_t)max : RELAY_BUF, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  f->data = f->buf;
  f->off = 0;
  f->len = (size_t)n;
  return n;
}

/* Writes what the flow holds until done or the peer is full: 0, or -errno
 * when the peer is gone. */
static int drain(int fd, struct flow *f, uint64_t *count)
{
  while (f->piped > 0) {
    ssize_t n = splice(f->pipe[0], NULL, fd, NULL, f->piped, SPLICE_FLAGS);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    f->piped -= (size_t)n;
    *count += (uint64_t)n;
  }
  while (f->off < f->len) {
    ssize_t n = send(fd, f->data + f->off, f->len - f->off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    f->off += (size_t)n;
    *count += (uint64_t)n;
  }
  return 0;
}

static enum relay_end app_failed(struct proxy *p, int err)
{
  p->res->err = err;
  return p->res->down == 0 ? RELAY_APP_EMPTY : RELAY_APP_CUT;
}

/* front->app: returns -1 to go on, or how the relay ends. */
static int step_up(struct proxy *p)
{
  if (pending(&p->up) && drain(p->app, &p->up, &p->res->up) != 0) {
    /* The app stopped reading (it may have answered early, e.g. 413):
     * drop the rest of the body and keep reading its response. */
    p->up_closed = 1;
    p->up.off = p->up.len = 0;
    drop_pipe(&p->up); /* the rest is read and dropped with recv */
    p->up.no_splice = 1;
  }
  if (!pending(&p->up) && p->body_left > 0) {
    ssize_t n = fill(p->front, &p->up, p->body_left, !p->up_closed);
    if (n == 0 || (n < 0 && n != -EAGAIN)) {
      p->res->err = n == 0 ? SCGI_ETRUNCATED : (int)n;
      return RELAY_FRONT_GONE; /* the front gave up before the body ended */
    }
    if (n > 0)
      p->body_left -= (uint64_t)n;
    if (p->up_closed)
      p->up.off = p->up.len; /* read and dropped */
  }
  return -1;
}

/* Collects the response's first bytes until its header block is whole
 * (or too long to bother), for its status and announced length. */
static void read_head(struct proxy *p, const char *buf, size_t n)
{
  size_t room = HEAD_MAX - p->head_len;

  memcpy(p->head + p->head_len, buf, n < room ? n : room);
  p->head_len += n < room ? n : room;
  relay_response_head(p->head, p->head_len, &p->res->status, &p->expect);
  if (p->res->status != 0 || p->head_len == HEAD_MAX) {
    p->head_done = 1;
    if (p->res->status == 0)
      p->res->status = 200; /* unknown: counted as a success */
  }
}

/* Over a Unix socket a dying app looks like one that finished: a response
 * is taken as complete only when its header block came whole and the
 * length it announced, if any, arrived.
 *
 * Telling a finished app from a dead one, when no length was announced
 * (own workers only, job->app_died): a libscgi application that finishes
 * shuts down its writing side and keeps its socket open until we close
 * ours (for at most 2 s), so its EOF comes without POLLHUP; a process that
 * dies has its socket closed by the kernel: EOF with POLLHUP. POLLHUP
 * alone is not proof (a program that closes without shutting down, or a
 * libscgi one whose 2 s ran out while the front was slow, looks the same),
 * so the supervisor is asked: if that worker process exited (or exits
 * within a moment), the response is taken as cut and the front connection
 * is reset; otherwise it is complete. */
static int response_complete(const struct proxy *p)
{
  if (!p->head_done)
    return 0;
  return p->expect < 0 || p->head_request ||
         p->res->down >= (uint64_t)p->expect;
}

/* app->front: returns -1 to go on, or how the relay ends. */
static int step_down(struct proxy *p)
{
  if (pending(&p->down)) {
    int rc = drain(p->front, &p->down, &p->sent_down);
    if (rc != 0) {
      p->res->err = rc;
      return RELAY_FRONT_GONE;
    }
  }
  if (!pending(&p->down) && !p->app_eof) {
    /* The header block is read through the buffer, to be looked at; a
     * response already whole only has its EOF left (no pipe for that). */
    int bulk = p->head_done &&
               !(p->expect >= 0 && p->res->down >= (uint64_t)p->expect);
    ssize_t n = fill(p->app, &p->down, bulk ? SPLICE_MAX : RELAY_BUF, bulk);
    if (n < 0 && n != -EAGAIN)
      return app_failed(p, (int)n);
    if (n == 0) {
      struct pollfd pf = { .fd = p->app, .events = POLLIN | POLLRDHUP };
      p->app_eof = 1;
      p->app_hup = poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP);
    }
    if (n > 0 && !p->head_done)
      read_head(p, p->down.buf, (size_t)n);
    if (n > 0)
      p->res->down += (uint64_t)n;
  }
  if (p->app_eof && !pending(&p->down)) {
    if (!response_complete(p))
      return app_failed(p, 0);
    if (p->app_hup && p->expect < 0 && !p->head_request &&
        p->job->app_died && p->job->app_died(p->job->ctx)) {
      p->res->app_died = 1;
      return app_failed(p, 0);
    }
    return RELAY_OK;
  }
  return -1;
}

/* Waits for either side; 0 on readiness, -ETIMEDOUT, -errno. Once the
 * body is in, the front is not watched: a front that shut down its
 * writing side (allowed by SCGI) looks like one that gave up, so a gone
 * front only shows when its response is written. */
static int wait_both(struct proxy *p, int timeout_ms)
{
  short fe = 0, ae = 0;
  int rc;

  if (!pending(&p->up) && p->body_left > 0)
    fe |= POLLIN;
  if (pending(&p->down))
    fe |= POLLOUT;
  if (pending(&p->up))
    ae |= POLLOUT;
  if (!pending(&p->down) && !p->app_eof)
    ae |= POLLIN;
  /* A descriptor with nothing wanted is left out: its POLLHUP would make
   * poll return at once, again and again. */
  struct pollfd fds[2] = {
      { .fd = fe ? p->front : -1, .events = fe },
      { .fd = ae ? p->app : -1, .events = ae },
  };
  while ((rc = poll(fds, 2, timeout_ms)) < 0 && errno == EINTR)
    ;
  if (rc < 0)
    return -errno;
  return rc == 0 ? -ETIMEDOUT : 0;
}

static int relay_loop(struct proxy *p, unsigned timeout_ms)
{
  for (;;) {
    uint64_t before = p->res->up + p->res->down + p->sent_down;
    uint64_t body = p->body_left;
    int end;

    if ((end = step_up(p)) >= 0 || (end = step_down(p)) >= 0)
      return end;
    if (before != p->res->up + p->res->down + p->sent_down ||
        body != p->body_left)
      continue; /* progress: try again before sleeping */
    int rc = wait_both(p, timeout_ms ? (int)timeout_ms : -1);
    if (rc == -ETIMEDOUT) {
      p->res->err = rc;
      /* Our write to the front waited: the front stopped reading. */
      if (pending(&p->down))
        return RELAY_FRONT_GONE;
      /* We waited for body bytes that the front owes, with none held back
       * from the app: the front stalled, not the app, which waits for
       * those bytes too. */
      if (p->body_left > 0 && !pending(&p->up)) {
        p->front_stalled = 1;
        return RELAY_FRONT_GONE;
      }
      return RELAY_TIMEOUT;
    }
    if (rc != 0) {
      p->res->err = rc;
      return RELAY_FRONT_GONE;
    }
  }
}

/* Closes both sides as the end requires. */
static void finish(struct proxy *p, enum relay_end end)
{
  close(p->app);
  p->res->end = end;
  if (end == RELAY_OK) {
    close_politely(p->front, now_ms() + ANSWER_MS);
  } else if (p->front_stalled && p->sent_down == 0) {
    /* The front stopped sending its body but may still read: say so. */
    p->res->status = 408;
    relay_answer(p->front, 408);
  } else if (end != RELAY_FRONT_GONE && p->sent_down == 0) {
    /* Nothing reached the front yet: a clean error response is still
     * possible (a partial response held back here is dropped). */
    p->res->end = end == RELAY_TIMEOUT ? RELAY_TIMEOUT : RELAY_APP_EMPTY;
    p->res->status = end == RELAY_TIMEOUT ? 504 : 502;
    relay_answer(p->front, p->res->status);
  } else {
    /* Cut mid-response, or the front is gone: never let a front server
     * take what it got for a whole response. */
    p->res->status = 0;
    relay_reset(p->front);
  }
}

void relay_proxy(int front_fd, int app_fd, const struct relay_job *job,
                 struct relay_result *out)
{
  struct proxy p = { .front = front_fd, .app = app_fd, .job = job,
                     .res = out,
                     .expect = -1, .head_request = job->head };
  const char *raw = job->raw;
  size_t raw_len = job->raw_len, head = netstring_size(raw, raw_len);
  char *bufs = malloc(2 * RELAY_BUF + HEAD_MAX);
  int end;

  memset(out, 0, sizeof *out);
  if (!bufs) {
    out->err = -ENOMEM;
    finish(&p, RELAY_APP_EMPTY); /* answers 502 */
    return;
  }
  p.up = (struct flow){ .buf = bufs, .data = raw, .off = 0, .len = raw_len,
                       .pipe = { -1, -1 } };
  p.down = (struct flow){ .buf = bufs + RELAY_BUF, .data = bufs + RELAY_BUF,
                          .pipe = { -1, -1 } };
  p.head = bufs + 2 * RELAY_BUF;
  p.body_left = job->content_length - (raw_len > head ? raw_len - head : 0);
  end = relay_loop(&p, job->timeout_ms);
  drop_pipe(&p.up);
  drop_pipe(&p.down);
  free(bufs);
  finish(&p, (enum relay_end)end);
}
