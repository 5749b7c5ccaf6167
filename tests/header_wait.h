/*
 * header_wait.h - for unit tests of the request object: reads a header
 * block the way the server's epoll loop does, waiting for input whenever
 * the library asks for more.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef TESTS_HEADER_WAIT_H
#define TESTS_HEADER_WAIT_H

#include <errno.h>
#include <poll.h>

#include "../src/internal.h"

/* scgi__request_read_header() until it stops asking for more input; the
 * request's own deadline still applies (checked on every turn). */
static inline int read_header_waiting(scgi_request *req)
{
  int rc;

  while ((rc = scgi__request_read_header(req)) == -EAGAIN) {
    struct pollfd pfd = {.fd = req->fd, .events = POLLIN};
    (void)poll(&pfd, 1, 20);
  }
  return rc;
}

#endif /* TESTS_HEADER_WAIT_H */
