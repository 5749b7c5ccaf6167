/*
 * dispatch.h - what a front thread does with each request: route it to an
 * app, then hand the connection to a worker or relay it.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef SCGISERVER_DISPATCH_H
#define SCGISERVER_DISPATCH_H

#include <scgi.h>

#include "conf.h"

struct dispatch;

/* Starts the workers of every exec app (proxy apps get a runtime
 * directory: conf->runtime_dir, or a private one made here and removed by
 * dispatch_free()). `conf` must outlive the dispatch. Returns 0 or -1
 * (logged); *out is then NULL. */
int dispatch_start(const struct conf *conf, struct dispatch **out);

/* Reload: starts the workers of every app of `conf` (taken: heap
 * allocated, conf_load()ed, freed by the dispatch) and swaps them in for
 * new requests; the previous apps stop in the background once the
 * requests that picked them are done (their workers get up to drain_ms),
 * then are freed. Logs "reloaded: N apps" and the changed settings that
 * need a restart (listen, the apps' own listen, threads, header limits,
 * log, access-log). Returns 0, or -1
 * (logged) with the running apps untouched. Main thread only, between
 * dispatch_start() and dispatch_stop(). */
int dispatch_reload(struct dispatch *d, struct conf *conf, unsigned drain_ms);

/* What a front server's requests go to: the shared listeners (listen
 * NULL: routed by path prefix) or one app's own listener (listen: its
 * address; the request goes to the app of the current config that lists
 * it, whatever the path). */
struct dispatch_front {
  struct dispatch *d;
  const char *listen;
};

/* The scgi_serve() handler; arg is a struct dispatch_front. A request
 * whose path (route_path()) is the current config's status_path, on any
 * listener, is answered here before routing: the counters as "key: value"
 * lines (text/plain), or as a JSON object for the query string "json";
 * Cache-Control: no-store; counted itself as a 2xx and in flight. With
 * an access log (access.h), every request gets its line once done. */
int dispatch_handle(scgi_request *req, void *arg);

/* Stops every app's workers, waiting up to the current configuration's
 * drain-timeout (the last reload's) for busy ones, and waits for the apps
 * retired by reloads to be stopped. */
void dispatch_stop(struct dispatch *d);

/* Logs the request counters. */
void dispatch_log_stats(struct dispatch *d);

/* Frees a stopped dispatch and removes its private directories. NULL
 * allowed. */
void dispatch_free(struct dispatch *d);

#endif /* SCGISERVER_DISPATCH_H */
