/*
 * conf.h - scgiserver's settings: command line and config file.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Config file format (scgiserver -c FILE):
 *
 *     # global keys first: the long option names
 *     listen = 127.0.0.1:4000
 *     threads = 8
 *
 *     [app blog]
 *     exec = /srv/blog/app --db "/srv/blog/my data.db"
 *     workers = 4
 *     route = /blog
 *
 *     [app legacy]
 *     connect = unix:/run/legacy.sock
 *     connect = 10.0.0.2:4000
 *     route = /old
 *
 *     [app admin]
 *     exec = /srv/admin/app
 *     listen = 127.0.0.1:4001
 *
 *     [app scripts]
 *     cgi = /srv/cgi-bin
 *     route = /cgi-bin
 *
 * `key = value` lines, `#` comments and blank lines. App keys: exec (split
 * on spaces, double quotes group), workers, handoff, concurrency,
 * max-requests, app-timeout (proxy, connect and cgi apps), connect
 * (repeatable; instead of exec), cgi (a directory of CGI programs, run
 * one process per request, instead of exec: workers is then the most
 * programs running at once, app-timeout the longest run), route (repeatable; a path prefix matched at a '/' boundary; the
 * only app may omit it, it then gets "/"), listen (repeatable; a front
 * listener of the app's own: every request arriving there goes to it,
 * whatever the path; an app with one needs no route). An address may be
 * listened on once only, globally or by one app. The global listeners
 * route by path prefix among the apps with routes; with no global listen,
 * the inherited listener is used only when no app has a listen of its own.
 * Command-line options override the file's global keys (--listen replaces
 * the global listen lines, not the apps' own). A PROGRAM after `--`,
 * --connect or --cgi defines one more app named "default" with route
 * "/". Global keys pidfile, user and
 * group take a value like their options; daemon takes yes or no.
 * status-path (global only) names the path scgiserver answers itself with
 * its counters, before any routing (see dispatch.h). access-log (global
 * only) names the file of one line per request (see access.h).
 *
 * Ownership: a struct conf owns every string and array it points to;
 * conf_free() releases them all.
 */
#ifndef SCGISERVER_CONF_H
#define SCGISERVER_CONF_H

#include <stddef.h>

#include "addr.h"
#include "workers.h"

/* A number not given (yet): replaced by its default in conf_load(). */
#define CONF_UNSET ((unsigned)-1)

struct app_conf {
  char *name;
  char **argv;            /* exec: program and arguments, NULL-terminated;
                             NULL for a connect app */
  struct addr *connect;   /* connect app: its addresses; NULL for exec */
  size_t nconnect;
  char *cgi_dir;          /* cgi app: the real path of its directory of
                             programs; NULL otherwise */
  char **routes;          /* path prefixes, each starting with '/' */
  size_t nroutes;
  char **listen;          /* front addresses of its own: every request
                             arriving there is this app's, whatever the
                             path */
  size_t nlisten;
  unsigned workers, concurrency, max_requests, app_timeout_ms;
  int handoff;            /* enum handoff_mode; -1 until resolved */
  unsigned line;          /* of its [app] header; 0 on the command line */
};

struct conf {
  char **listen;          /* front addresses; none: the inherited one */
  size_t nlisten;
  struct app_conf *apps;
  size_t napps;
  /* Global settings; also the defaults of the apps' own. */
  unsigned workers, threads, queue, queue_timeout_ms, header_timeout_ms,
      app_timeout_ms, max_requests, max_header_bytes, concurrency,
      drain_timeout_ms;
  int handoff;            /* enum handoff_mode; -1 until resolved */
  char *runtime_dir;      /* NULL: a private temporary directory */
  char *status_path;      /* the status page's path (starts with '/'), or
                             NULL: none */
  char *access_log;       /* access-log FILE, or NULL: none (read at
                             startup only, reopened at SIGUSR1) */
  int log_syslog;         /* 1: syslog, 0: stderr; -1 until resolved */
  char *config_file;      /* -c FILE, or NULL */
  char *pidfile;          /* -p FILE, or NULL */
  int daemonize;          /* -d: 1; -1 until resolved */
  char *user, *group;     /* -u, -g: names, or NULL */
  /* Only while parsing: the command line's own app (PROGRAM or connect). */
  char **cli_argv;
  struct addr *cli_connect;
  size_t cli_nconnect;
  char *cli_cgi;
};

enum conf_result {
  CONF_OK = 0,   /* run the server */
  CONF_HELP,     /* print conf_usage() and exit 0 */
  CONF_VERSION,  /* print the version and exit 0 */
  CONF_ERROR     /* print "scgiserver: " err and exit 2 */
};

/* Parses the command line, then the config file it names, fills in the
 * defaults (ncpu: the online CPU count) and checks the whole. *out is
 * always initialized: free it with conf_free() whatever the result. On
 * CONF_ERROR, err holds one line without the "scgiserver: " prefix. */
enum conf_result conf_load(int argc, char **argv, unsigned ncpu,
                           struct conf *out, char *err, size_t errsize);

/* Frees everything a conf owns (not the struct itself). */
void conf_free(struct conf *c);

/* The --help text. */
extern const char conf_usage[];

#endif /* SCGISERVER_CONF_H */
