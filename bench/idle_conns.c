/*
 * idle_conns.c - opens many connections to a server and holds them idle.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Usage: idle_conns [-t SECONDS] N ADDRESS [PARTIAL_BYTES]
 *
 * Opens N connections to ADDRESS (HOST:PORT, [IPV6]:PORT or unix:/PATH),
 * all at once, without blocking. On each one that connects it writes the
 * first PARTIAL_BYTES bytes (default 0) of an SCGI GET request, e.g. "37"
 * or "370:CONTENT_LENGTH": an unfinished header block, as from a slow
 * client, so that the server counts it as a started request. Then it says
 * on stdout
 *
 *   held H of N (failed F, connecting C) after S s
 *
 * when all N have connected or failed, or after -t SECONDS (default 30):
 * against a full accept queue the kernel drops SYNs and the client retries
 * them for minutes. The C connections still in progress stay in progress,
 * and those that connect later are counted (and get their bytes too).
 *
 * It holds the connections until SIGTERM or SIGINT, or until EOF on stdin
 * when stdin is a pipe, FIFO, socket or terminal (so `</dev/null` does not
 * end it at once). Meanwhile it watches for connections the server
 * closes (EOF or reset) or answers. At the end it says
 *
 *   released after S s: the server closed X of H (Y with an answer) ...
 *
 * RLIMIT_NOFILE is raised first: the soft limit to the hard one, and when
 * run as root the hard one too, to N plus a margin. Links with libc only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "address.h"

#define USAGE                                                                  \
  "usage: idle_conns [-t SECONDS] N ADDRESS [PARTIAL_BYTES]\n"                 \
  "  -t SECONDS     longest wait for the connects (default 30)\n"             \
  "  N              connections to open and hold\n"                           \
  "  ADDRESS        HOST:PORT, [IPV6]:PORT or unix:/PATH\n"                   \
  "  PARTIAL_BYTES  bytes of an unfinished request to write on each\n"        \
  "Holds them until SIGTERM, SIGINT or EOF on stdin.\n"

/* A whole GET header block: its first bytes are an unfinished one. */
static const char request[] =
  "70:CONTENT_LENGTH\0" "0\0" "REQUEST_METHOD\0" "GET\0" "REQUEST_URI\0" "/\0"
  "SCGI\0" "1\0" "HTTP_HOST\0" "127.0.0.1\0" ",";

enum state { RETRY, CONNECTING, HELD, CLOSED, FAILED };

struct conn {
  int fd;
  enum state state;
  int answered; /* the server wrote something on it */
};

static struct sockaddr_storage addr;
static socklen_t addr_len;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
  stop_signal = sig;
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Soft limit to the hard one; as root, both to at least `want`. */
static void raise_nofile(rlim_t want)
{
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want && geteuid() == 0) {
    struct rlimit more = {want, want};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0)
      return;
  }
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
    fprintf(stderr, "idle_conns: open files limited to %llu\n",
            (unsigned long long)rl.rlim_cur);
}

static int reported;

static void fail(struct conn *c, const char *why, int err)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->state = FAILED;
  if (reported++ < 3)
    fprintf(stderr, "idle_conns: %s: %s\n", why, strerror(err));
}

/* The connection is up: writes the unfinished request. */
static void hold(struct conn *c, size_t partial)
{
  c->state = HELD;
  if (partial > 0 && send(c->fd, request, partial, MSG_NOSIGNAL) < 0)
    fail(c, "send", errno);
}

static void start(struct conn *c, size_t partial)
{
  c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 0);
  if (c->fd < 0) {
    fail(c, "socket", errno);
    return;
  }
  if (connect(c->fd, (struct sockaddr *)&addr, addr_len) == 0) {
    hold(c, partial);
  } else if (errno == EINPROGRESS) {
    c->state = CONNECTING;
  } else if (errno == EAGAIN) {
    /* A Unix listener with a full backlog: nothing to poll, retry. */
    close(c->fd);
    c->fd = -1;
    c->state = RETRY;
  } else {
    fail(c, "connect", errno);
  }
}

static void on_connect_done(struct conn *c, size_t partial)
{
  int err = 0;
  socklen_t len = sizeof err;

  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    err = errno;
  if (err)
    fail(c, "connect", err);
  else
    hold(c, partial);
}

/* Something came from a held connection: an answer, EOF or a reset.
 * True when the server closed it. */
static int on_readable(struct conn *c)
{
  char buf[4096];
  ssize_t n;

  while ((n = read(c->fd, buf, sizeof buf)) > 0)
    c->answered = 1;
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  close(c->fd);
  c->fd = -1;
  c->state = CLOSED;
  return 1;
}

static int watch_stdin(void)
{
  struct stat st;

  if (isatty(0))
    return 1;
  return fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

int main(int argc, char **argv)
{
  double wait_s = 30;
  int opt;

  while ((opt = getopt(argc, argv, "t:h")) != -1) {
    if (opt == 't') {
      wait_s = atof(optarg);
    } else {
      fputs(USAGE, opt == 'h' ? stdout : stderr);
      return opt != 'h';
    }
  }
  if (argc - optind < 2 || argc - optind > 3) {
    fputs(USAGE, stderr);
    return 2;
  }
  long n = atol(argv[optind]);
  long partial_arg = argc - optind == 3 ? atol(argv[optind + 2]) : 0;
  if (n < 1 || partial_arg < 0 || (size_t)partial_arg >= sizeof request - 1) {
    fprintf(stderr, "idle_conns: N must be positive and PARTIAL_BYTES below "
                    "%zu (an unfinished request)\n", sizeof request - 1);
    return 2;
  }
  size_t partial = (size_t)partial_arg;
  if (parse_address(argv[optind + 1], &addr, &addr_len) < 0) {
    fputs("idle_conns: bad address (HOST:PORT, [IPV6]:PORT or unix:/PATH)\n",
          stderr);
    return 2;
  }

  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  raise_nofile((rlim_t)n + 64);

  struct conn *conns = calloc((size_t)n, sizeof *conns);
  struct pollfd *pfd = calloc((size_t)n + 1, sizeof *pfd);
  long *index = calloc((size_t)n + 1, sizeof *index);
  if (!conns || !pfd || !index) {
    fputs("idle_conns: out of memory\n", stderr);
    return 2;
  }

  double t0 = now(), held_at = 0;
  for (long i = 0; i < n; i++)
    start(&conns[i], partial);

  int stdin_open = watch_stdin(), announced = 0, eof = 0;
  long held = 0, failed = 0, connecting = 0, closed = 0, answers = 0;
  long late = 0, failed_late = 0;
  double first_close = 0, last_close = 0;

  while (!stop_signal && !eof) {
    double t = now();
    int retry = 0;
    nfds_t np = 0;

    held = failed = connecting = 0;
    for (long i = 0; i < n; i++) {
      struct conn *c = &conns[i];
      if (c->state == RETRY) {
        start(c, partial); /* again, about every 10 ms */
        if (announced && c->state != RETRY)
          c->state == HELD ? late++ : failed_late++;
      }
      switch (c->state) {
      case RETRY: retry = 1; connecting++; continue;
      case FAILED: failed++; continue;
      case CLOSED: held++; continue;
      case CONNECTING: connecting++; break;
      case HELD: held++; break;
      }
      pfd[np].fd = c->fd;
      pfd[np].events = c->state == HELD ? POLLIN : POLLOUT;
      index[np++] = i;
    }
    if (!announced && (connecting == 0 || t - t0 >= wait_s)) {
      announced = 1;
      held_at = t;
      printf("held %ld of %ld (failed %ld, connecting %ld) after %.2f s\n",
             held - closed, n, failed, connecting, t - t0);
      fflush(stdout);
    }
    if (stdin_open) {
      pfd[np].fd = 0;
      pfd[np].events = POLLIN;
      index[np++] = -1;
    }

    int ms = retry ? 10 : announced ? 1000 : 50;
    int ready = poll(pfd, np, ms);
    if (ready < 0) {
      if (errno == EINTR)
        continue;
      perror("idle_conns: poll");
      return 2;
    }
    for (nfds_t k = 0; k < np && ready > 0; k++) {
      if (!pfd[k].revents)
        continue;
      ready--;
      if (index[k] < 0) {
        char buf[256];
        ssize_t r = read(0, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
          eof = 1;
        continue;
      }
      struct conn *c = &conns[index[k]];
      if (c->state == CONNECTING) {
        on_connect_done(c, partial);
        if (announced)
          c->state == HELD ? late++ : failed_late++;
      } else if (on_readable(c)) {
        double at = now() - t0;
        if (closed++ == 0)
          first_close = at;
        last_close = at;
      }
    }
  }
  held = failed = connecting = 0;
  for (long i = 0; i < n; i++) {
    held += conns[i].state == HELD || conns[i].state == CLOSED;
    failed += conns[i].state == FAILED;
    connecting += conns[i].state == CONNECTING || conns[i].state == RETRY;
    answers += conns[i].answered;
  }
  if (!announced)
    printf("held %ld of %ld (failed %ld, connecting %ld) after %.2f s\n",
           held - closed, n, failed, connecting, now() - t0);
  printf("released after %.1f s of holding: the server closed %ld of %ld "
         "(%ld with an answer)",
         now() - (announced ? held_at : t0), closed, held, answers);
  if (closed > 0)
    printf(", the first %.1f s and the last %.1f s after the connects began",
           first_close, last_close);
  printf("; %ld connected late, %ld failed late, %ld still connecting\n",
         late, failed_late, connecting);
  for (long i = 0; i < n; i++)
    if (conns[i].fd >= 0)
      close(conns[i].fd);
  free(conns);
  free(pfd);
  free(index);
  return 0;
}
