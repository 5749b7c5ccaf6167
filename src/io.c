/*
 * io.c - waiting and writing on non-blocking sockets.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

uint64_t scgi__now_ms(void)
{
  struct timespec ts;

  /* Monotonic: a wall clock step must neither fire nor extend a timeout. */
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* poll() takes an int, and our 0 means "forever". Longer waits are cut into
 * INT_MAX-ms slices by the caller's loop. */
static int poll_timeout(uint64_t ms)
{
  if (ms == 0)
    return -1;
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

int scgi__wait(int fd, short events, unsigned timeout_ms)
{
  struct pollfd pfd = {.fd = fd, .events = events};
  uint64_t deadline = scgi__now_ms() + timeout_ms;
  uint64_t left = timeout_ms;

  for (;;) {
    int n = poll(&pfd, 1, poll_timeout(left));
    if (n > 0)
      /* POLLERR and POLLHUP count as ready: the next recv() or send()
       * reports what happened, with its own errno. */
      return (pfd.revents & POLLNVAL) ? -EBADF : 0;
    if (n < 0 && errno != EINTR)
      return -errno;
    if (timeout_ms != 0) {
      /* Interrupted or slice over: wait only for what is left, so that
       * signals cannot stretch the timeout. */
      uint64_t now = scgi__now_ms();
      if (now >= deadline)
        return SCGI_ETIMEDOUT;
      left = deadline - now;
    }
  }
}

/* Drops the first n bytes of the vector, and any empty entries. */
static void iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
  while (*iovcnt > 0 && n >= (*iov)->iov_len) {
    n -= (*iov)->iov_len;
    (*iov)++;
    (*iovcnt)--;
  }
  if (*iovcnt > 0) {
    (*iov)->iov_base = (char *)(*iov)->iov_base + n;
    (*iov)->iov_len -= n;
  }
}

int scgi__writev_all(int fd, struct iovec *iov, int iovcnt,
                     unsigned timeout_ms)
{
  iov_advance(&iov, &iovcnt, 0);
  while (iovcnt > 0) {
    /* sendmsg() rather than writev(): only it takes MSG_NOSIGNAL, which
     * turns a vanished peer into EPIPE instead of a process-wide SIGPIPE. */
    struct msghdr msg = {.msg_iov = iov,
                         .msg_iovlen = (size_t)(iovcnt < IOV_MAX ? iovcnt
                                                                 : IOV_MAX)};
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n >= 0) {
      iov_advance(&iov, &iovcnt, (size_t)n);
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    int rc = scgi__wait(fd, POLLOUT, timeout_ms);
    if (rc != 0)
      return rc;
  }
  return 0;
}

void scgi__sigpipe_block(struct scgi__sigpipe_guard *g)
{
  sigset_t set, pending;

  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  sigemptyset(&pending);
  (void)sigpending(&pending);
  g->was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

void scgi__sigpipe_restore(struct scgi__sigpipe_guard *g, bool raised)
{
  static const struct timespec zero = {0, 0};
  sigset_t set;
  int saved = errno;

  /* A SIGPIPE pending before us belongs to someone else: leave it. */
  if (raised && !g->was_pending) {
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
  errno = saved;
}
