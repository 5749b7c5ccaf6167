/*
 * log.h - scgiserver's log: standard error (default) or syslog.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef SCGISERVER_LOG_H
#define SCGISERVER_LOG_H

#include <scgi.h>

/* Sends later lines to syslog (ident "scgiserver", facility daemon) when
 * `use_syslog`, else to standard error as "scgiserver: LEVEL: message". */
void log_init(int use_syslog);

/* One line; thread-safe; never raises SIGPIPE. */
void log_msg(scgi_log_level level, const char *format, ...)
    SCGI_PRINTF(2, 3);

/* libscgi's log callback, forwarding to log_msg(). */
void log_from_library(void *arg, scgi_log_level level, const char *message);

#endif /* SCGISERVER_LOG_H */
