/*
 * log.c - scgiserver's log: standard error (default) or syslog.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each stderr line is formatted first and written with one write(2), so
 * that lines from several threads never interleave (a write of a few
 * hundred bytes to a pipe or terminal is atomic), with no lock.
 */
#include "config.h"

#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* Set once by log_init(), before any thread starts: read-only afterwards. */
static int log_to_syslog;

void log_init(int use_syslog)
{
  log_to_syslog = use_syslog;
  if (use_syslog)
    openlog("scgiserver", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

static const char *level_name(scgi_log_level level)
{
  switch (level) {
  case SCGI_LOG_ERROR:
    return "error";
  case SCGI_LOG_WARNING:
    return "warning";
  default:
    return "info";
  }
}

static int syslog_priority(scgi_log_level level)
{
  switch (level) {
  case SCGI_LOG_ERROR:
    return LOG_ERR;
  case SCGI_LOG_WARNING:
    return LOG_WARNING;
  default:
    return LOG_INFO;
  }
}

/* One line, cut (with "...") rather than split when too long. */
static void write_stderr(scgi_log_level level, const char *message)
{
  char line[1024];
  int n = snprintf(line, sizeof line - 1, "scgiserver: %s: %s",
                   level_name(level), message);

  if (n < 0)
    return;
  if ((size_t)n >= sizeof line - 1) {
    n = (int)sizeof line - 2;
    memcpy(line + n - 3, "...", 3);
  }
  line[n++] = '\n';
  /* stderr may be a pipe whose reader went away: never raise SIGPIPE
   * (the daemon ignores it anyway) and never loop on a failed write. */
  ssize_t w;
  do
    w = write(STDERR_FILENO, line, (size_t)n);
  while (w < 0 && errno == EINTR);
}

static void log_line(scgi_log_level level, const char *message)
{
  int saved = errno; /* callers may log between a failure and its errno */

  if (log_to_syslog)
    syslog(syslog_priority(level), "%s", message);
  else
    write_stderr(level, message);
  errno = saved;
}

void log_msg(scgi_log_level level, const char *format, ...)
{
  char message[1024];
  va_list ap;

  va_start(ap, format);
  vsnprintf(message, sizeof message, format, ap);
  va_end(ap);
  log_line(level, message);
}

void log_from_library(void *arg, scgi_log_level level, const char *message)
{
  (void)arg;
  log_line(level, message);
}
