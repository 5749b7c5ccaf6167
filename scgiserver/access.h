/*
 * access.h - scgiserver's access log (access-log): one line per front
 * request, reopened at SIGUSR1 for logrotate.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Line format (common log format, then scgiserver's own fields):
 *
 *   REMOTE_ADDR - - [28/Nov/2026:05:10:00 +0000] "METHOD URI PROTOCOL"
 *   STATUS BYTES DURATION_MS app=NAME worker=ID.GEN[ handoff=pass]
 *
 * on one line. Fields from the request keep the printable ASCII bytes
 * but for '"', '\\' and space, which, like every other byte, are written
 * \xHH; a missing or empty field is "-".
 */
#ifndef SCGISERVER_ACCESS_H
#define SCGISERVER_ACCESS_H

#include <stdbool.h>
#include <time.h>

#include <scgi.h>

/* Opens `path` (made absolute: the daemon may chdir to "/") for
 * appending, creating it mode 0640. Call once, before any front thread
 * and before privileges are dropped. Returns 0 or -errno (not logged). */
int access_open(const char *path);

/* Opens the path again and swaps the new file in for the next lines; the
 * old one is closed once no line is being written to it. On failure
 * (logged) the old file stays in use. Main thread only. Returns 0 or -1. */
int access_reopen(void);

/* Whether an access log is open (access_open() succeeded). */
bool access_enabled(void);

/* Closes the log (after the front threads have stopped). */
void access_close(void);

/* What is known of a request when it is done. */
struct access_rec {
  struct timespec start;  /* CLOCK_MONOTONIC, when routing began */
  const char *app;        /* the app's name, or NULL: none */
  int status;             /* the status answered or relayed; <= 0:
                             unknown ("-") */
  long long bytes;        /* response bytes, or -1: unknown ("-") */
  bool has_worker;
  unsigned worker_id, worker_gen;
  bool passed;            /* handed off (pass): the worker answers */
};

/* Writes the request's line with one write(2), so that lines of several
 * threads never interleave. Does nothing without an access log. */
void access_write(const scgi_request *req, const struct access_rec *r);

#endif /* SCGISERVER_ACCESS_H */
