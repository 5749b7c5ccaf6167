/*
 * slowpeer.c - a slow, lying or demanding SCGI client, for the fault and
 * load tests of scgiserver (tests/faults.sh).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * usage: slowpeer loris ADDRESS [-n N] [-i MS] [-d MS] [-r]
 *        slowpeer load ADDRESS [-c CONC] [-d MS] [-g MS] [-u URI] [-T MS]
 *        slowpeer request ADDRESS [-u URI] [-l LENGTH] [-s SENT] [-M]
 *                 [-b BYTES_PER_S] [-a keep|shut|close] [-R MAX] [-x]
 *                 [-o FILE] [-T MS]
 *
 * ADDRESS is unix:/PATH, HOST:PORT or [IPV6]:PORT. Every mode prints one
 * summary line of KEY=VALUE words on standard output (and a few reasons
 * for failures on standard error), and every wait is bounded.
 *
 * loris: N connections (default 300), each sending one byte of a header
 *   block every -i MS (default 1000; the connections take turns, evenly
 *   spread), for -d MS (default 5000). The block announces 60000 bytes, so
 *   it never completes: only the server's header timeout ends it. A
 *   connection the server closes is counted (with its answer, if any) and,
 *   with -r, opened again. Summary: opened, connect failures, most held at
 *   once, bytes sent, connections the server closed, how many of those got
 *   a "Status: 400" first, resets, still open at the end, and when the
 *   first and the last close came.
 *
 * load: CONC clients (default 1), each sending GET requests for -u URI
 *   (default /) one after the other, -g MS apart (default 0), until -d MS
 *   (default 5000) have passed or SIGTERM/SIGINT comes. A request is good
 *   when its answer begins with "Status: 200" and ends with a close within
 *   -T MS (default 5000). Summary: requests, good ones, failures by kind
 *   (connect, timeout, status, io), and the latency (connect to close):
 *   mean, 99th percentile and maximum. Exit status 0 when every request
 *   was good and there was one at least.
 *
 * request: one request for -u URI (default /) announcing CONTENT_LENGTH
 *   -l LENGTH (default 0) and sending -s SENT body bytes (default LENGTH:
 *   fewer or more makes the header lie). The body is a fixed pseudo-random
 *   pattern; with -M it is the content of one file part ("file",
 *   "data.bin") of a multipart/form-data body (CONTENT_LENGTH is then that
 *   of the whole body, -s is not allowed). -b limits the body to that many
 *   bytes per second. Once everything is sent (-a): keep (default) the
 *   connection open and read the answer; shut down the writing side, then
 *   read the answer; or close it at once. The answer is read until the
 *   server closes, or until -R MAX bytes came (then we close, with a reset
 *   with -x), within -T MS (default 30000) in all. It goes to -o FILE when
 *   given. Summary: the status of the answer (none without one), body
 *   bytes sent and announced, the CRC-32 of the content sent, answer
 *   bytes, how it ended (eof, reset, closed by us, timeout), the time of
 *   its first byte after the last byte sent, and the total time. A line
 *   "slowpeer: body started" goes to standard error once the first body
 *   byte is sent (for a caller that waits for the upload to be under way).
 *
 * Links with libc only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../bench/address.h"

#define USAGE                                                                  \
  "usage: slowpeer loris ADDRESS [-n N] [-i MS] [-d MS] [-r]\n"                \
  "       slowpeer load ADDRESS [-c CONC] [-d MS] [-g MS] [-u URI] [-T MS]\n"  \
  "       slowpeer request ADDRESS [-u URI] [-l LENGTH] [-s SENT] [-M]\n"      \
  "                [-b BYTES_PER_S] [-a keep|shut|close] [-R MAX] [-x]\n"      \
  "                [-o FILE] [-T MS]\n"                                        \
  "  ADDRESS is unix:/PATH, HOST:PORT or [IPV6]:PORT\n"

#define PATTERN_SIZE 65536
#define IO_CHUNK 65536
#define BOUNDARY "slowpeer-boundary-7f3a9c2e5b1d4086"

static struct sockaddr_storage addr;
static socklen_t addr_len;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
  stop_signal = sig;
}

static int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
  fprintf(stderr, "slowpeer: %s\n", what);
  exit(2);
}

static long number(const char *s, long min, long max)
{
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) {
    fprintf(stderr, "slowpeer: bad number '%s'\n%s", s, USAGE);
    exit(2);
  }
  return v;
}

/* A new non-blocking connection: 0 connected, 1 in progress, 2 to retry
 * (a full Unix listener), -errno. */
static int connect_nb(int *fd)
{
  *fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (*fd < 0)
    return -errno;
  if (connect(*fd, (struct sockaddr *)&addr, addr_len) == 0)
    return 0;
  int err = errno;
  if (err == EINPROGRESS)
    return 1;
  close(*fd);
  *fd = -1;
  return err == EAGAIN ? 2 : -err;
}

static int connect_result(int fd)
{
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    err = errno;
  return -err;
}

static void close_reset(int fd)
{
  struct linger lg = {.l_onoff = 1, .l_linger = 0};

  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

/* ---- CRC-32 (the one of zlib and examples/form), 8 bytes at a time ----- */

static uint32_t crc_tab[8][256];

static void crc_init(void)
{
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_tab[0][n] = c;
  }
  for (uint32_t n = 0; n < 256; n++)
    for (int k = 1; k < 8; k++)
      crc_tab[k][n] = (crc_tab[k - 1][n] >> 8) ^
                      crc_tab[0][crc_tab[k - 1][n] & 0xff];
}

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t len)
{
  crc = ~crc;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  while (len >= 8) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    a ^= crc;
    crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
          crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^
          crc_tab[3][b & 0xff] ^ crc_tab[2][(b >> 8) & 0xff] ^
          crc_tab[1][(b >> 16) & 0xff] ^ crc_tab[0][b >> 24];
    p += 8;
    len -= 8;
  }
#endif
  while (len--)
    crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* ---- request headers --------------------------------------------------- */

struct buf {
  char *data;
  size_t len, cap;
};

static void buf_add(struct buf *b, const void *bytes, size_t n)
{
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    if (!(b->data = realloc(b->data, cap)))
      die("out of memory");
    b->cap = cap;
  }
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
}

static void var(struct buf *b, const char *name, const char *value)
{
  buf_add(b, name, strlen(name) + 1);
  buf_add(b, value, strlen(value) + 1);
}

/* The netstring of a request as nginx's scgi_params would send it. */
static void build_header(struct buf *out, const char *method, const char *uri,
                         uint64_t length, const char *content_type)
{
  struct buf h = {0};
  char num[32], path[1024];
  const char *q = strchr(uri, '?');
  size_t plen = q ? (size_t)(q - uri) : strlen(uri);

  if (plen >= sizeof path)
    die("URI too long");
  memcpy(path, uri, plen);
  path[plen] = '\0';
  snprintf(num, sizeof num, "%" PRIu64, length);
  var(&h, "CONTENT_LENGTH", num);
  var(&h, "SCGI", "1");
  var(&h, "REQUEST_METHOD", method);
  var(&h, "REQUEST_URI", uri);
  var(&h, "QUERY_STRING", q ? q + 1 : "");
  var(&h, "CONTENT_TYPE", content_type ? content_type : "");
  var(&h, "DOCUMENT_URI", path);
  var(&h, "SERVER_PROTOCOL", "HTTP/1.1");
  var(&h, "REMOTE_ADDR", "127.0.0.1");
  var(&h, "REMOTE_PORT", "40000");
  var(&h, "SERVER_NAME", "localhost");
  var(&h, "SERVER_PORT", "80");
  var(&h, "HTTP_HOST", "localhost");
  var(&h, "HTTP_USER_AGENT", "slowpeer");
  snprintf(num, sizeof num, "%zu:", h.len);
  buf_add(out, num, strlen(num));
  buf_add(out, h.data, h.len);
  buf_add(out, ",", 1);
  free(h.data);
}

/* The status of a CGI answer from its first bytes: NNN, or 0. */
static int answer_status(const char *head, size_t len)
{
  if (len >= 11 && strncmp(head, "Status: ", 8) == 0 && head[8] >= '1' &&
      head[8] <= '9' && head[9] >= '0' && head[9] <= '9' && head[10] >= '0' &&
      head[10] <= '9')
    return (head[8] - '0') * 100 + (head[9] - '0') * 10 + (head[10] - '0');
  return 0;
}

/* ---- loris ------------------------------------------------------------- */

/* The start of a header block that announces 60000 bytes; past it, the
 * value of X_PAD goes on for ever. */
static const char loris_bytes[] =
  "60000:CONTENT_LENGTH\0" "0\0" "SCGI\0" "1\0" "REQUEST_METHOD\0" "GET\0"
  "REQUEST_URI\0" "/loris\0" "X_PAD\0";

enum lstate { L_IDLE, L_CONNECTING, L_OPEN, L_DONE };

struct lconn {
  enum lstate state;
  int fd;
  size_t sent;
  int64_t next_ms;   /* next byte (or, idle, next connect) */
  char head[16];
  size_t head_len;
};

static int loris(int argc, char **argv)
{
  long n = 300, interval = 1000, duration = 5000;
  int reopen = 0, opt;

  while ((opt = getopt(argc, argv, "n:i:d:r")) != -1) {
    switch (opt) {
    case 'n': n = number(optarg, 1, 1000000); break;
    case 'i': interval = number(optarg, 1, 3600000); break;
    case 'd': duration = number(optarg, 1, 3600000); break;
    case 'r': reopen = 1; break;
    default: fputs(USAGE, stderr); return 2;
    }
  }
  struct lconn *c = calloc((size_t)n, sizeof *c);
  struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
  long *idx = calloc((size_t)n, sizeof *idx);
  if (!c || !pfd || !idx)
    die("out of memory");

  int64_t t0 = now_ms(), end = t0 + duration, first_close = -1, last_close = -1;
  long opened = 0, failed = 0, held = 0, held_max = 0, closed = 0, ans400 = 0;
  long ans_other = 0, resets = 0, reported = 0;
  unsigned long long bytes = 0;

  for (long i = 0; i < n; i++) {
    c[i].fd = -1;
    c[i].state = L_IDLE;
    c[i].next_ms = t0; /* connect at once, send in turn */
  }
  while (!stop_signal) {
    int64_t t = now_ms(), wake = end;
    nfds_t np = 0;

    if (t >= end)
      break;
    for (long i = 0; i < n; i++) {
      struct lconn *k = &c[i];
      if (k->state == L_IDLE && t >= k->next_ms) {
        int rc = connect_nb(&k->fd);
        if (rc == 2) {
          k->next_ms = t + 10;
        } else if (rc < 0) {
          failed++;
          if (reported++ < 3)
            fprintf(stderr, "slowpeer: connect: %s\n", strerror(-rc));
          k->state = reopen ? L_IDLE : L_DONE;
          k->next_ms = t + interval;
        } else {
          k->state = rc == 0 ? L_OPEN : L_CONNECTING;
          k->sent = 0;
          k->head_len = 0;
          /* Spread the bytes of all connections over the interval. */
          k->next_ms = t + (interval * i) / n;
          if (rc == 0) {
            opened++;
            if (++held > held_max)
              held_max = held;
          }
        }
      }
      if (k->state == L_OPEN && t >= k->next_ms) {
        char byte = k->sent < sizeof loris_bytes - 1 ? loris_bytes[k->sent]
                                                     : 'a';
        ssize_t w = send(k->fd, &byte, 1, MSG_NOSIGNAL);
        if (w == 1) {
          k->sent++;
          bytes++;
        }
        k->next_ms += interval;
        if (k->next_ms <= t)
          k->next_ms = t + interval;
      }
      if (k->state == L_IDLE && k->next_ms < wake)
        wake = k->next_ms;
      if (k->state == L_OPEN && k->next_ms < wake)
        wake = k->next_ms;
      if (k->state == L_OPEN || k->state == L_CONNECTING) {
        pfd[np].fd = k->fd;
        pfd[np].events = k->state == L_OPEN ? POLLIN : POLLOUT;
        idx[np++] = i;
      }
    }
    int ms = wake > t ? (int)(wake - t) : 0;
    int ready = poll(pfd, np, ms);
    if (ready < 0 && errno != EINTR)
      die("poll failed");
    for (nfds_t j = 0; ready > 0 && j < np; j++) {
      struct lconn *k = &c[idx[j]];
      if (!pfd[j].revents)
        continue;
      if (k->state == L_CONNECTING) {
        int rc = connect_result(k->fd);
        if (rc < 0) {
          failed++;
          close(k->fd);
          k->fd = -1;
          k->state = reopen ? L_IDLE : L_DONE;
          k->next_ms = now_ms() + interval;
        } else {
          k->state = L_OPEN;
          opened++;
          if (++held > held_max)
            held_max = held;
        }
        continue;
      }
      char rbuf[4096];
      ssize_t r;
      int reset = 0;
      while ((r = recv(k->fd, rbuf, sizeof rbuf, 0)) > 0) {
        size_t room = sizeof k->head - k->head_len;
        size_t take = (size_t)r < room ? (size_t)r : room;
        memcpy(k->head + k->head_len, rbuf, take);
        k->head_len += take;
      }
      if (r < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (r < 0)
        reset = 1;
      /* Closed by the server (EOF or reset). */
      int64_t at = now_ms() - t0;
      if (first_close < 0)
        first_close = at;
      last_close = at;
      closed++;
      resets += reset;
      if (answer_status(k->head, k->head_len) == 400)
        ans400++;
      else if (k->head_len > 0)
        ans_other++;
      close(k->fd);
      k->fd = -1;
      held--;
      k->state = reopen ? L_IDLE : L_DONE;
      k->next_ms = now_ms();
    }
  }
  long open_end = 0;
  for (long i = 0; i < n; i++) {
    if (c[i].fd >= 0) {
      open_end += c[i].state == L_OPEN;
      close(c[i].fd);
    }
  }
  printf("opened=%ld connect_failed=%ld held_max=%ld bytes=%llu "
         "closed_by_server=%ld answered_400=%ld answered_other=%ld "
         "resets=%ld open_at_end=%ld first_close_ms=%" PRId64
         " last_close_ms=%" PRId64 " ms=%" PRId64 "\n",
         opened, failed, held_max, bytes, closed, ans400, ans_other, resets,
         open_end, first_close, last_close, now_ms() - t0);
  free(c);
  free(pfd);
  free(idx);
  return 0;
}

/* ---- load -------------------------------------------------------------- */

enum cstate { C_WAIT, C_CONNECTING, C_WRITING, C_READING };

struct client {
  enum cstate state;
  int fd;
  size_t sent;
  char head[16];
  size_t head_len;
  int64_t started, deadline, next_ms;
};

struct lat {
  int64_t *v;
  size_t n, cap;
};

static void lat_add(struct lat *l, int64_t ms)
{
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 1024;
    if (!(l->v = realloc(l->v, l->cap * sizeof *l->v)))
      die("out of memory");
  }
  l->v[l->n++] = ms;
}

static int cmp_i64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static long f_connect, f_timeout, f_status, f_io, n_good, n_req, f_reported;

static void client_end(struct client *k, long *failure, const char *why,
                       int err, struct lat *lat, long gap)
{
  int64_t t = now_ms();

  if (k->fd >= 0)
    close(k->fd);
  k->fd = -1;
  n_req++;
  if (failure) {
    (*failure)++;
    if (f_reported++ < 5)
      fprintf(stderr, "slowpeer: load: %s%s%s\n", why, err ? ": " : "",
              err ? strerror(err) : "");
  } else {
    n_good++;
    lat_add(lat, t - k->started);
  }
  k->state = C_WAIT;
  k->next_ms = t + gap;
}

static int load(int argc, char **argv)
{
  long conc = 1, duration = 5000, gap = 0, timeout = 5000;
  const char *uri = "/";
  int opt;

  while ((opt = getopt(argc, argv, "c:d:g:u:T:")) != -1) {
    switch (opt) {
    case 'c': conc = number(optarg, 1, 10000); break;
    case 'd': duration = number(optarg, 1, 3600000); break;
    case 'g': gap = number(optarg, 0, 3600000); break;
    case 'u': uri = optarg; break;
    case 'T': timeout = number(optarg, 1, 3600000); break;
    default: fputs(USAGE, stderr); return 2;
    }
  }
  struct buf req = {0};
  build_header(&req, "GET", uri, 0, NULL);
  struct client *c = calloc((size_t)conc, sizeof *c);
  struct pollfd *pfd = calloc((size_t)conc, sizeof *pfd);
  long *idx = calloc((size_t)conc, sizeof *idx);
  struct lat lat = {0};
  if (!c || !pfd || !idx)
    die("out of memory");

  int64_t t0 = now_ms(), end = t0 + duration;
  for (long i = 0; i < conc; i++) {
    c[i].fd = -1;
    c[i].state = C_WAIT;
    c[i].next_ms = t0;
  }
  for (;;) {
    int64_t t = now_ms(), wake = t + 1000;
    nfds_t np = 0;
    int busy = 0;

    for (long i = 0; i < conc; i++) {
      struct client *k = &c[i];
      if (k->state != C_WAIT && t >= k->deadline)
        client_end(k, &f_timeout, "timed out", 0, &lat, gap);
      if (k->state == C_WAIT && t >= k->next_ms && t < end && !stop_signal) {
        int rc = connect_nb(&k->fd);
        k->started = t;
        k->deadline = t + timeout;
        k->sent = k->head_len = 0;
        if (rc == 2) {
          k->next_ms = t + 5; /* full Unix backlog: again soon */
          k->fd = -1;
        } else if (rc < 0) {
          client_end(k, &f_connect, "connect", -rc, &lat, gap);
        } else {
          k->state = rc == 0 ? C_WRITING : C_CONNECTING;
        }
      }
      if (k->state == C_WAIT) {
        if (t < end && !stop_signal && k->next_ms < wake)
          wake = k->next_ms;
        continue;
      }
      busy = 1;
      if (k->deadline < wake)
        wake = k->deadline;
      pfd[np].fd = k->fd;
      pfd[np].events = k->state == C_READING ? POLLIN : POLLOUT;
      idx[np++] = i;
    }
    if (!busy && (t >= end || stop_signal))
      break;
    int ready = poll(pfd, np, wake > t ? (int)(wake - t) : 0);
    if (ready < 0 && errno != EINTR)
      die("poll failed");
    for (nfds_t j = 0; ready > 0 && j < np; j++) {
      struct client *k = &c[idx[j]];
      if (!pfd[j].revents)
        continue;
      if (k->state == C_CONNECTING) {
        int rc = connect_result(k->fd);
        if (rc < 0) {
          client_end(k, &f_connect, "connect", -rc, &lat, gap);
          continue;
        }
        k->state = C_WRITING;
      }
      if (k->state == C_WRITING) {
        ssize_t w = send(k->fd, req.data + k->sent, req.len - k->sent,
                         MSG_NOSIGNAL);
        if (w > 0)
          k->sent += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
          k->sent = req.len; /* closed early: read what it answered */
        if (k->sent == req.len)
          k->state = C_READING;
        continue;
      }
      char rbuf[16384];
      ssize_t r;
      while ((r = recv(k->fd, rbuf, sizeof rbuf, 0)) > 0) {
        size_t room = sizeof k->head - k->head_len;
        size_t take = (size_t)r < room ? (size_t)r : room;
        memcpy(k->head + k->head_len, rbuf, take);
        k->head_len += take;
      }
      if (r < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (r < 0) {
        client_end(k, &f_io, "read", errno, &lat, gap);
      } else if (answer_status(k->head, k->head_len) == 200) {
        client_end(k, NULL, NULL, 0, &lat, gap);
      } else {
        char why[64];
        size_t m = 0;
        while (m < k->head_len && k->head[m] >= 0x20 && k->head[m] < 0x7f)
          m++;
        snprintf(why, sizeof why, "answer not 200: \"%.*s\"", (int)m,
                 k->head);
        client_end(k, &f_status, why, 0, &lat, gap);
      }
    }
  }
  int64_t sum = 0, max = 0, p99 = 0;
  if (lat.n) {
    qsort(lat.v, lat.n, sizeof *lat.v, cmp_i64);
    for (size_t i = 0; i < lat.n; i++)
      sum += lat.v[i];
    max = lat.v[lat.n - 1];
    p99 = lat.v[(lat.n * 99) / 100 < lat.n ? (lat.n * 99) / 100 : lat.n - 1];
  }
  printf("requests=%ld good=%ld failed=%ld connect=%ld timeout=%ld "
         "status=%ld io=%ld mean_ms=%.1f p99_ms=%" PRId64 " max_ms=%" PRId64
         " ms=%" PRId64 "\n",
         n_req, n_good, n_req - n_good, f_connect, f_timeout, f_status, f_io,
         lat.n ? (double)sum / (double)lat.n : 0.0, p99, max, now_ms() - t0);
  free(lat.v);
  free(req.data);
  free(c);
  free(pfd);
  free(idx);
  return n_req > 0 && n_good == n_req ? 0 : 1;
}

/* ---- request ----------------------------------------------------------- */

static unsigned char pattern[PATTERN_SIZE];

static void make_pattern(void)
{
  uint32_t x = 2463534242u;

  for (size_t i = 0; i < sizeof pattern; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    pattern[i] = (unsigned char)(x >> 24);
  }
}

/* The bytes of a request: header, pre, content (the pattern), post. */
struct stream {
  const char *head, *pre, *post;
  uint64_t head_len, pre_len, content, post_len;
  uint64_t content_at; /* offset of the content in the stream */
};

/* Copies n bytes of the stream from offset off into dst. */
static void stream_bytes(const struct stream *s, uint64_t off,
                         unsigned char *dst, size_t n)
{
  while (n > 0) {
    size_t k;
    if (off < s->head_len) {
      k = s->head_len - off < n ? (size_t)(s->head_len - off) : n;
      memcpy(dst, s->head + off, k);
    } else if (off < s->content_at) {
      uint64_t o = off - s->head_len;
      k = s->pre_len - o < n ? (size_t)(s->pre_len - o) : n;
      memcpy(dst, s->pre + o, k);
    } else if (off < s->content_at + s->content) {
      uint64_t o = off - s->content_at;
      size_t at = (size_t)(o % PATTERN_SIZE);
      k = PATTERN_SIZE - at < n ? PATTERN_SIZE - at : n;
      if (s->content - o < k)
        k = (size_t)(s->content - o);
      memcpy(dst, pattern + at, k);
    } else {
      uint64_t o = off - s->content_at - s->content;
      k = s->post_len - o < n ? (size_t)(s->post_len - o) : n;
      memcpy(dst, s->post + o, k);
    }
    dst += k;
    off += k;
    n -= k;
  }
}

static int request(int argc, char **argv)
{
  const char *uri = "/", *out_path = NULL, *after = "keep";
  long long length = 0, sent_arg = -1, rate = 0, read_max = -1;
  long timeout = 30000;
  int multipart = 0, reset = 0, opt;

  while ((opt = getopt(argc, argv, "u:l:s:Mb:a:R:xo:T:")) != -1) {
    switch (opt) {
    case 'u': uri = optarg; break;
    case 'l': length = number(optarg, 0, LONG_MAX); break;
    case 's': sent_arg = number(optarg, 0, LONG_MAX); break;
    case 'M': multipart = 1; break;
    case 'b': rate = number(optarg, 1, LONG_MAX); break;
    case 'a': after = optarg; break;
    case 'R': read_max = number(optarg, 0, LONG_MAX); break;
    case 'x': reset = 1; break;
    case 'o': out_path = optarg; break;
    case 'T': timeout = number(optarg, 1, 3600000); break;
    default: fputs(USAGE, stderr); return 2;
    }
  }
  if (strcmp(after, "keep") && strcmp(after, "shut") && strcmp(after, "close"))
    die("-a takes keep, shut or close");
  if (multipart && sent_arg >= 0)
    die("-s cannot go with -M");

  /* What is sent: the header, then pre, the content, post. */
  static const char pre[] =
    "--" BOUNDARY "\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"data.bin\"\r\n"
    "Content-Type: application/octet-stream\r\n\r\n";
  static const char post[] = "\r\n--" BOUNDARY "--\r\n";
  uint64_t content = multipart ? (uint64_t)length
                     : sent_arg >= 0 ? (uint64_t)sent_arg : (uint64_t)length;
  uint64_t pre_len = multipart ? sizeof pre - 1 : 0;
  uint64_t post_len = multipart ? sizeof post - 1 : 0;
  uint64_t announced = multipart ? pre_len + content + post_len
                                 : (uint64_t)length;
  struct buf head = {0};
  build_header(&head, announced || multipart ? "POST" : "GET", uri, announced,
               multipart ? "multipart/form-data; boundary=" BOUNDARY
               : announced ? "application/octet-stream" : NULL);
  uint64_t body_total = pre_len + content + post_len;
  uint64_t total = head.len + body_total;
  struct stream st = {.head = head.data, .pre = pre, .post = post,
                      .head_len = head.len, .pre_len = pre_len,
                      .content = content, .post_len = post_len,
                      .content_at = head.len + pre_len};

  FILE *out = NULL;
  if (out_path && !(out = fopen(out_path, "wb")))
    die("cannot open the output file");

  int fd, rc = connect_nb(&fd);
  int64_t t0 = now_ms(), deadline = t0 + timeout, last_sent_ms = -1;
  int64_t first_byte_ms = -1;
  if (rc == 2)
    rc = -EAGAIN;
  if (rc < 0) {
    printf("status=none sent=0 length=%" PRIu64 " crc=00000000 got=0 "
           "end=connect-%s first_ms=-1 total_ms=0\n", announced,
           strerror(-rc));
    return 1;
  }
  int connected = rc == 0, writing = 1, reading = 1, said_started = 0;
  uint64_t off = 0; /* stream bytes sent */
  uint64_t got = 0;
  uint32_t crc = 0;
  char rhead[16];
  size_t rhead_len = 0;
  const char *end = NULL, *send_error = "none";
  static unsigned char chunk[IO_CHUNK];

  static char rbuf[IO_CHUNK];

  while (!end) {
    int64_t t = now_ms();
    if (t >= deadline) {
      end = "timeout";
      break;
    }
    int want_out = !connected || (writing && off < total);
    int64_t wake = deadline;
    if (connected && want_out && rate > 0 && off >= head.len) {
      /* Body bytes allowed so far at this rate. */
      uint64_t allowed = (uint64_t)((t - t0) * rate / 1000) + 1;
      if (off - head.len >= allowed) {
        want_out = 0;
        wake = t + 10 < deadline ? t + 10 : deadline;
      }
    }
    struct pollfd p = {.fd = fd,
                       .events = (short)((want_out ? POLLOUT : 0) |
                                         (connected && reading ? POLLIN : 0))};
    int ready = poll(&p, 1, wake > t ? (int)(wake - t) : 0);
    if (ready < 0 && errno != EINTR)
      die("poll failed");
    if (ready <= 0)
      continue;
    if (!connected) {
      if ((rc = connect_result(fd)) < 0) {
        printf("status=none sent=0 length=%" PRIu64 " crc=00000000 got=0 "
               "end=connect-%s first_ms=-1 total_ms=%" PRId64 "\n",
               announced, strerror(-rc), now_ms() - t0);
        close(fd);
        return 1;
      }
      connected = 1;
      continue;
    }
    if ((p.revents & POLLOUT) && writing && off < total) {
      /* The next piece, up to IO_CHUNK bytes: the header goes out with
       * the first body bytes, as a client that sends all at once does. */
      uint64_t limit = total;
      if (rate > 0) {
        uint64_t allowed = (uint64_t)((t - t0) * rate / 1000) + 1;
        if (head.len + allowed < limit)
          limit = head.len + allowed;
      }
      size_t n = limit - off < IO_CHUNK ? (size_t)(limit - off) : IO_CHUNK;
      stream_bytes(&st, off, chunk, n);
      const void *data = chunk;
      ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
      if (w > 0) {
        /* The CRC covers the content: the part of these bytes in it. */
        uint64_t lo = off > st.content_at ? off : st.content_at;
        uint64_t hi = off + (uint64_t)w < st.content_at + content
                        ? off + (uint64_t)w : st.content_at + content;
        if (lo < hi)
          crc = crc_update(crc, chunk + (lo - off), (size_t)(hi - lo));
        off += (uint64_t)w;
        if (!said_started && off > head.len) {
          said_started = 1;
          fputs("slowpeer: body started\n", stderr);
          fflush(stderr);
        }
        if (off == total) {
          last_sent_ms = now_ms();
          if (!strcmp(after, "shut")) {
            shutdown(fd, SHUT_WR);
          } else if (!strcmp(after, "close")) {
            reset ? close_reset(fd) : (void)close(fd);
            fd = -1;
            end = "closed";
          }
        }
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        /* The server stopped reading (it answered early, or closed). */
        send_error = errno == EPIPE ? "EPIPE"
                     : errno == ECONNRESET ? "ECONNRESET" : "other";
        writing = 0;
        last_sent_ms = now_ms();
      }
    }
    if (!end && (p.revents & (POLLIN | POLLHUP | POLLERR)) && reading) {
      ssize_t r = recv(fd, rbuf, sizeof rbuf, 0);
      if (r > 0) {
        if (first_byte_ms < 0)
          first_byte_ms = now_ms();
        size_t take = rhead_len < sizeof rhead
                        ? ((size_t)r < sizeof rhead - rhead_len
                             ? (size_t)r : sizeof rhead - rhead_len)
                        : 0;
        memcpy(rhead + rhead_len, rbuf, take);
        rhead_len += take;
        if (out)
          fwrite(rbuf, 1, (size_t)r, out);
        got += (uint64_t)r;
        if (read_max >= 0 && got >= (uint64_t)read_max) {
          reset ? close_reset(fd) : (void)close(fd);
          fd = -1;
          end = "closed";
        }
      } else if (r == 0) {
        end = "eof";
      } else if (errno != EAGAIN && errno != EINTR) {
        end = errno == ECONNRESET ? "reset" : "error";
      }
    } else if (!end && (p.revents & (POLLHUP | POLLERR)) && !reading) {
      end = "hangup";
    }
  }
  if (fd >= 0)
    close(fd);
  if (out)
    fclose(out);
  int status = answer_status(rhead, rhead_len);
  char code[16];
  snprintf(code, sizeof code, "%d", status);
  uint64_t body_sent = off > head.len ? off - head.len : 0;
  int64_t from = last_sent_ms >= 0 ? last_sent_ms : t0;
  printf("status=%s sent=%" PRIu64 " length=%" PRIu64 " crc=%08" PRIx32
         " got=%" PRIu64 " end=%s send_error=%s first_ms=%" PRId64
         " total_ms=%" PRId64 "\n",
         status ? code : "none", multipart ? (body_sent > pre_len
                                              ? (body_sent - pre_len > content
                                                   ? content
                                                   : body_sent - pre_len)
                                              : 0)
                                         : body_sent,
         multipart ? content : announced, crc, got, end, send_error,
         first_byte_ms >= 0 ? first_byte_ms - from : -1, now_ms() - t0);
  free(head.data);
  return 0;
}

int main(int argc, char **argv)
{
  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */

  if (argc < 3) {
    fputs(USAGE, stderr);
    return 2;
  }
  if (parse_address(argv[2], &addr, &addr_len) < 0)
    die("bad address (unix:/PATH, HOST:PORT or [IPV6]:PORT)");
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  crc_init();
  make_pattern();
  /* getopt() from the word after the address. */
  argv[2] = argv[1];
  argc -= 2;
  argv += 2;
  if (!strcmp(argv[0], "loris"))
    return loris(argc, argv);
  if (!strcmp(argv[0], "load"))
    return load(argc, argv);
  if (!strcmp(argv[0], "request"))
    return request(argc, argv);
  fputs(USAGE, stderr);
  return 2;
}
