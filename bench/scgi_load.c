/*
 * scgi_load.c - sends one SCGI request many times and counts the answers.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Usage: scgi_load [-n N] [-c CONC] [-T SECONDS] [-f REQUEST_FILE] ADDRESS
 *
 * Sends the bytes of REQUEST_FILE (default: a small GET netstring like the
 * ones nginx sends) N times, each over a fresh connection to ADDRESS
 * (HOST:PORT, [IPV6]:PORT or unix:/PATH), reads each answer to EOF and
 * counts it as a failure unless it begins with "Status: 200". CONC
 * connections are open at once (one event loop on poll(); with -c 1 the
 * requests go one after the other). A request that has not finished after
 * -T seconds (default 10) fails as a timeout, so a stuck server never stalls
 * the run. It prints, one "key value" pair a line:
 *
 *   requests N        requests made
 *   failures F        of which failed, then why: connect, timeout, status, io
 *   seconds S         from the first connect to the last answer
 *   requests/s R      answers "Status: 200" per second
 *
 * Used by bench/callgrind.sh (to drive a server under valgrind) and for
 * load without a front server. Links with libc only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "address.h"

#define USAGE                                                                  \
  "usage: scgi_load [-n N] [-c CONC] [-T SECONDS] [-f REQUEST_FILE] ADDRESS\n" \
  "  -n N             requests, each on a new connection (default 1000)\n"     \
  "  -c CONC          connections at once (default 1: one after the other)\n"  \
  "  -T SECONDS       longest time for one request (default 10)\n"             \
  "  -f REQUEST_FILE  the request's bytes (default: a small GET)\n"            \
  "  ADDRESS          HOST:PORT, [IPV6]:PORT or unix:/PATH\n"

/* The variables of a GET as nginx sends them with Debian's scgi_params. */
static const char *const default_vars[][2] = {
  {"CONTENT_LENGTH", "0"},
  {"REQUEST_METHOD", "GET"},
  {"REQUEST_URI", "/"},
  {"QUERY_STRING", ""},
  {"CONTENT_TYPE", ""},
  {"DOCUMENT_URI", "/"},
  {"DOCUMENT_ROOT", "/srv/www"},
  {"SCGI", "1"},
  {"SERVER_PROTOCOL", "HTTP/1.1"},
  {"REQUEST_SCHEME", "http"},
  {"REMOTE_ADDR", "127.0.0.1"},
  {"REMOTE_PORT", "40000"},
  {"SERVER_PORT", "80"},
  {"SERVER_NAME", "localhost"},
  {"HTTP_HOST", "127.0.0.1"},
  {"HTTP_USER_AGENT", "scgi_load"},
  {"HTTP_ACCEPT", "*/*"},
};

enum state { FREE, RETRY, CONNECTING, WRITING, READING };

struct slot {
  enum state state;
  int fd;
  size_t sent;      /* request bytes written */
  char head[16];    /* the answer's first bytes */
  size_t head_len;
  double deadline;  /* the request fails as a timeout after it */
  double retry_at;  /* RETRY: when to try connect() again */
};

static struct sockaddr_storage addr;
static socklen_t addr_len;
static char *request;
static size_t request_len;
static double timeout_s = 10;

static long n_done, n_ok, f_connect, f_timeout, f_status, f_io;
static int reported; /* failures described on stderr so far */

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
  fprintf(stderr, "scgi_load: %s\n", what);
  exit(2);
}

static void build_default_request(void)
{
  size_t n = sizeof default_vars / sizeof default_vars[0], hlen = 0, off;
  char prefix[24];

  for (size_t i = 0; i < n; i++)
    hlen += strlen(default_vars[i][0]) + strlen(default_vars[i][1]) + 2;
  off = (size_t)snprintf(prefix, sizeof prefix, "%zu:", hlen);
  request_len = off + hlen + 1;
  if (!(request = malloc(request_len)))
    die("out of memory");
  memcpy(request, prefix, off);
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < 2; k++) {
      size_t len = strlen(default_vars[i][k]) + 1;
      memcpy(request + off, default_vars[i][k], len);
      off += len;
    }
  request[off] = ',';
}

static void read_request(const char *path)
{
  FILE *f = fopen(path, "rb");
  size_t cap = 4096, n;

  if (!f) {
    perror(path);
    exit(2);
  }
  if (!(request = malloc(cap)))
    die("out of memory");
  while ((n = fread(request + request_len, 1, cap - request_len, f)) > 0) {
    request_len += n;
    if (request_len == cap && !(request = realloc(request, cap *= 2)))
      die("out of memory");
  }
  if (ferror(f) || request_len == 0)
    die("cannot read the request file, or it is empty");
  fclose(f);
}

/* Ends a request: `failure` points to the counter to bump, or is NULL. */
static void finish(struct slot *s, long *failure, const char *why, int err)
{
  if (s->fd >= 0)
    close(s->fd);
  s->fd = -1;
  s->state = FREE;
  n_done++;
  if (!failure) {
    n_ok++;
    return;
  }
  (*failure)++;
  if (reported < 3) {
    reported++;
    if (err)
      fprintf(stderr, "scgi_load: %s: %s\n", why, strerror(err));
    else
      fprintf(stderr, "scgi_load: %s\n", why);
  }
}

/* Opens a connection for slot `s` (again, after a RETRY). */
static void start(struct slot *s, double t)
{
  s->sent = 0;
  s->head_len = 0;
  if (s->state == FREE)
    s->deadline = t + timeout_s;
  s->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 0);
  if (s->fd < 0) {
    finish(s, &f_connect, "socket", errno);
    return;
  }
  if (addr.ss_family != AF_UNIX) {
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (connect(s->fd, (struct sockaddr *)&addr, addr_len) == 0) {
    s->state = WRITING;
  } else if (errno == EINPROGRESS) {
    s->state = CONNECTING;
  } else if (errno == EAGAIN) {
    /* A Unix listener with a full backlog: nothing to poll, try again. */
    close(s->fd);
    s->fd = -1;
    s->state = RETRY;
    s->retry_at = t + 0.001;
  } else {
    finish(s, &f_connect, "connect", errno);
  }
}

static void on_writable(struct slot *s)
{
  while (s->sent < request_len) {
    ssize_t n = send(s->fd, request + s->sent, request_len - s->sent,
                     MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN)
        return;
      /* The server closed early: read whatever it answered. */
      break;
    }
    s->sent += (size_t)n;
  }
  s->state = READING;
}

static void on_readable(struct slot *s)
{
  static char buf[65536];

  for (;;) {
    ssize_t n = read(s->fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        finish(s, &f_io, "read", errno);
      return;
    }
    if (n == 0)
      break;
    if (s->head_len < sizeof s->head) {
      size_t k = sizeof s->head - s->head_len;
      if (k > (size_t)n)
        k = (size_t)n;
      memcpy(s->head + s->head_len, buf, k);
      s->head_len += k;
    }
  }
  if (s->head_len >= 11 && memcmp(s->head, "Status: 200", 11) == 0) {
    finish(s, NULL, NULL, 0);
  } else {
    char why[64];
    size_t k = 0;
    while (k < s->head_len && s->head[k] >= 0x20 && s->head[k] < 0x7f)
      k++;
    snprintf(why, sizeof why, "answer not 200: \"%.*s\"", (int)k, s->head);
    finish(s, &f_status, why, 0);
  }
}

static void on_connected(struct slot *s)
{
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    err = errno;
  if (err) {
    finish(s, &f_connect, "connect", err);
    return;
  }
  s->state = WRITING;
  on_writable(s);
}

int main(int argc, char **argv)
{
  long n = 1000, conc = 1, started = 0;
  const char *file = NULL;
  int opt;

  while ((opt = getopt(argc, argv, "n:c:T:f:h")) != -1) {
    switch (opt) {
    case 'n': n = atol(optarg); break;
    case 'c': conc = atol(optarg); break;
    case 'T': timeout_s = atof(optarg); break;
    case 'f': file = optarg; break;
    default: fputs(USAGE, opt == 'h' ? stdout : stderr); return opt != 'h';
    }
  }
  if (optind != argc - 1 || n < 1 || conc < 1 || timeout_s <= 0) {
    fputs(USAGE, stderr);
    return 2;
  }
  if (parse_address(argv[optind], &addr, &addr_len) < 0)
    die("bad address (HOST:PORT, [IPV6]:PORT or unix:/PATH)");
  if (file)
    read_request(file);
  else
    build_default_request();
  if (conc > n)
    conc = n;
  signal(SIGPIPE, SIG_IGN);

  struct slot *slots = calloc((size_t)conc, sizeof *slots);
  struct pollfd *pfd = calloc((size_t)conc, sizeof *pfd);
  int *which = calloc((size_t)conc, sizeof *which);
  if (!slots || !pfd || !which)
    die("out of memory");
  for (long i = 0; i < conc; i++)
    slots[i].fd = -1;

  double t0 = now();
  while (n_done < n) {
    double t = now(), next = t + 1;
    nfds_t np = 0;

    for (long i = 0; i < conc; i++) {
      struct slot *s = &slots[i];
      if (s->state != FREE && t >= s->deadline)
        finish(s, &f_timeout, "timed out", 0);
      if (s->state == RETRY && t >= s->retry_at)
        start(s, t);
      /* A request that fails at once (refused) frees the slot again. */
      while (s->state == FREE && started < n) {
        started++;
        start(s, t);
      }
      if (s->state == WRITING)
        on_writable(s);
      if (s->state == FREE)
        continue;
      if (s->deadline < next)
        next = s->deadline;
      if (s->state == RETRY) {
        if (s->retry_at < next)
          next = s->retry_at;
        continue;
      }
      pfd[np].fd = s->fd;
      pfd[np].events = s->state == READING ? POLLIN : POLLOUT;
      which[np++] = (int)i;
    }
    if (n_done >= n)
      break;

    int ms = (int)((next - t) * 1000) + 1;
    int ready = poll(pfd, np, ms);
    if (ready < 0) {
      if (errno == EINTR)
        continue;
      die("poll failed");
    }
    for (nfds_t k = 0; k < np && ready > 0; k++) {
      struct slot *s = &slots[which[k]];
      if (!pfd[k].revents)
        continue;
      ready--;
      if (s->state == CONNECTING)
        on_connected(s);
      else if (s->state == WRITING)
        on_writable(s);
      else if (s->state == READING)
        on_readable(s);
    }
  }
  double secs = now() - t0;

  printf("requests %ld\n", n);
  printf("failures %ld (connect %ld, timeout %ld, status %ld, io %ld)\n",
         n - n_ok, f_connect, f_timeout, f_status, f_io);
  printf("seconds %.4f\n", secs);
  printf("requests/s %.1f\n", secs > 0 ? (double)n_ok / secs : 0.0);
  free(slots);
  free(pfd);
  free(which);
  free(request);
  return n_ok == n ? 0 : 1;
}
