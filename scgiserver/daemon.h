/*
 * daemon.h - scgiserver's operations: -d (background), -p (pidfile),
 * -u/-g (privileges dropped after binding).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * main() calls, in this order: daemon_prepare() before binding,
 * daemon_start() after binding and before any thread or worker exists
 * (fork() keeps only the calling thread), daemon_ready() once the workers
 * are started (or startup failed), and daemon_end() on its one cleanup
 * path. These settings are read at startup only: a reload keeps them.
 */
#ifndef SCGISERVER_DAEMON_H
#define SCGISERVER_DAEMON_H

#include <sys/types.h>

#include "conf.h"

struct daemon {
  char *pidfile;   /* absolute path of the pidfile we created, or NULL */
  int pidfd;       /* that file, open for writing (see daemon_end); -1 */
  int ready_fd;    /* -d: pipe to the parent waiting for our status; -1 */
  int daemonize;   /* -d */
  int log_syslog;
  int drop;        /* switch to uid (if has_uid) and gid */
  int has_uid;
  uid_t uid;
  gid_t gid;
  char *user;      /* for initgroups(); NULL with -g alone */
};

/* Initializes *d (always: daemon_end() it whatever the result), resolves
 * -u and -g and checks the settings. Returns 0, or an exit status (2:
 * unknown user or group, or a relative path with -d; 1: -u/-g when not
 * root). */
int daemon_prepare(const struct conf *c, struct daemon *d);

/* Creates the pidfile (a stale one is replaced; one naming a live process
 * is an error), forks with -d (the parent waits for daemon_ready() and
 * exits: this returns in the daemon only), writes the pid and drops
 * privileges. Returns 0 or an exit status. */
int daemon_start(struct daemon *d);

/* -d: tells the waiting parent to exit with status rc (0: serving). Does
 * nothing without -d or when already called. */
void daemon_ready(struct daemon *d, int rc);

/* Removes the pidfile and frees what *d holds. After -u, the pidfile's
 * directory may not let us remove it: it is then emptied instead, which
 * the next start treats as stale. */
void daemon_end(struct daemon *d);

#endif /* SCGISERVER_DAEMON_H */
