/*
 * dispatch.c - what a front thread does with each request.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The library has already read and checked the header block when the
 * handler runs. Answers that need no app (404, 503, 502 before anything
 * was detached) go through the library's response functions; once the
 * connection is detached, relay.c writes raw bytes.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "config.h"

#include "dispatch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "relay.h"
#include "route.h"
#include "workers.h"

#define CONNECT_TIMEOUT_MS 5000u
#define HANDOFF_SEND_MS 1000u  /* a worker's queue full this long: 502 */
#define STOP_TIMEOUT_MS 5000u  /* SIGTERM to SIGKILL for workers */

/* Request counters: handed off (status unknown to us), then by status
 * class, then connections reset mid-response. */
enum { COUNT_PASSED, COUNT_1XX, COUNT_5XX = 5, COUNT_RESET, COUNT_N };

struct app_rt {
  const struct app_conf *conf;
  struct worker_set *ws;  /* exec apps */
  char *dir;              /* proxy exec apps: their socket directory */
  atomic_uint next;       /* connect apps: round robin position */
};

struct dispatch {
  const struct conf *conf;
  struct app_rt *apps;    /* conf->napps of them, in conf's order */
  char *base_dir;         /* the private runtime directory we made */
  atomic_ullong counts[COUNT_N];
};

/* ---- counters and answers ---------------------------------------------- */

static void count(struct dispatch *d, int status)
{
  int i = status == 0 ? COUNT_RESET : status / 100;

  if (status < 0)
    i = COUNT_PASSED;
  else if (status != 0 && (i < 1 || i > 5))
    i = COUNT_5XX;
  atomic_fetch_add_explicit(&d->counts[i], 1, memory_order_relaxed);
}

/* An answer of our own, while the library still holds the connection. */
static int reply(struct dispatch *d, scgi_request *req, int status,
                 const char *text)
{
  count(d, status);
  if (scgi_status(req, status, NULL) != 0)
    return 0;
  if (status == 503)
    (void)scgi_header(req, "Retry-After", "1");
  (void)scgi_write(req, text, strlen(text));
  return 0;
}

static const char *uri(const scgi_request *req)
{
  const char *u = scgi_request_uri(req);
  return u ? u : "(no REQUEST_URI)";
}

static int not_found(struct dispatch *d, scgi_request *req)
{
  log_msg(SCGI_LOG_INFO, "404: no route for %s", uri(req));
  return reply(d, req, 404, "404 Not Found: no application serves this "
                            "path.\n");
}

/* workers_acquire() failed: the queue is full, no worker came free in
 * time, or none is alive. */
static int refuse(struct dispatch *d, struct app_rt *a, scgi_request *req,
                  int rc)
{
  const char *name = a->conf->name;

  if (rc == -EAGAIN || rc == -ETIMEDOUT) {
    log_msg(SCGI_LOG_WARNING, "app %s: 503 for %s: %s", name, uri(req),
            rc == -EAGAIN ? "queue full" : "no worker free in time");
    return reply(d, req, 503, "503 Service Unavailable: the application is "
                              "busy, retry later.\n");
  }
  log_msg(SCGI_LOG_WARNING, "app %s: 502 for %s: %s", name, uri(req),
          rc == -ESRCH ? "no worker alive" : scgi_strerror(rc));
  return reply(d, req, 502, "502 Bad Gateway: the application is "
                            "unavailable.\n");
}

/* ---- proxy ------------------------------------------------------------- */

static unsigned connect_timeout(const struct app_rt *a)
{
  unsigned t = a->conf->app_timeout_ms;
  return t != 0 && t < CONNECT_TIMEOUT_MS ? t : CONNECT_TIMEOUT_MS;
}

static void log_relay(const struct app_rt *a, const char *who,
                      const scgi_request *req, const struct relay_result *r)
{
  const char *name = a->conf->name;
  const char *why = r->err ? scgi_strerror(r->err) : "closed by the app";

  switch (r->end) {
  case RELAY_OK:
    break;
  case RELAY_FRONT_GONE:
    log_msg(SCGI_LOG_INFO, "app %s (%s): front connection for %s ended "
            "early: %s", name, who, uri(req), why);
    break;
  case RELAY_APP_EMPTY:
    log_msg(SCGI_LOG_WARNING, "app %s (%s): 502 for %s: the app closed "
            "without a response (%s)", name, who, uri(req), why);
    break;
  case RELAY_APP_CUT:
    log_msg(SCGI_LOG_WARNING, "app %s (%s): the app failed after %llu "
            "response bytes for %s (%s): front connection reset", name, who,
            (unsigned long long)r->down, uri(req), why);
    break;
  case RELAY_TIMEOUT:
    log_msg(SCGI_LOG_WARNING, "app %s (%s): %s for %s: the app was silent "
            "for %u ms", name, who, r->status ? "504" : "connection reset",
            uri(req), a->conf->app_timeout_ms);
    break;
  }
}

/* Relays a request to a connected app socket (taken and closed); returns
 * whether the app misbehaved. */
static int proxy(struct dispatch *d, struct app_rt *a, scgi_request *req,
                 int app_fd, const char *who)
{
  const char *method = scgi_request_method(req);
  struct relay_job job = {
      .content_length = (uint64_t)scgi_request_content_length(req),
      .timeout_ms = a->conf->app_timeout_ms,
      .head = method && strcmp(method, "HEAD") == 0,
  };
  struct relay_result r;
  int fd;

  job.raw = scgi_request_raw(req, &job.raw_len);
  fd = scgi_request_detach(req);

  if (fd < 0) { /* cannot happen: nothing was written yet */
    close(app_fd);
    log_msg(SCGI_LOG_ERROR, "app %s: cannot detach: %s", a->conf->name,
            scgi_strerror(fd));
    return 0;
  }
  relay_proxy(fd, app_fd, &job, &r);
  log_relay(a, who, req, &r);
  count(d, r.status);
  return r.end == RELAY_APP_EMPTY || r.end == RELAY_APP_CUT ||
         r.end == RELAY_TIMEOUT;
}

static int serve_worker_proxy(struct dispatch *d, struct app_rt *a,
                              scgi_request *req)
{
  struct worker_ref ref;
  char who[64];
  int rc = workers_acquire(a->ws, d->conf->queue_timeout_ms, &ref), fd;

  if (rc != 0)
    return refuse(d, a, req, rc);
  snprintf(who, sizeof who, "worker %u.%u", ref.id, ref.generation);
  fd = addr_connect_unix(ref.socket_path, connect_timeout(a));
  if (fd < 0) {
    log_msg(SCGI_LOG_WARNING, "app %s (%s): 502 for %s: cannot connect to "
            "%s: %s", a->conf->name, who, uri(req), ref.socket_path,
            strerror(-fd));
    workers_release(a->ws, &ref, true);
    return reply(d, req, 502, "502 Bad Gateway: the application is "
                              "unavailable.\n");
  }
  workers_release(a->ws, &ref, proxy(d, a, req, fd, who));
  return 0;
}

/* Round robin over the addresses; an address that refuses sends the
 * request on to the next one. */
static int serve_connect(struct dispatch *d, struct app_rt *a,
                         scgi_request *req)
{
  size_t n = a->conf->nconnect;
  size_t start = atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed);
  const struct addr *target = NULL;
  int fd = -1;

  for (size_t k = 0; k < n && fd < 0; k++) {
    target = &a->conf->connect[(start + k) % n];
    fd = addr_connect(target, connect_timeout(a));
    if (fd < 0)
      log_msg(SCGI_LOG_WARNING, "app %s: cannot connect to %s: %s%s",
              a->conf->name, target->text, strerror(-fd),
              k + 1 < n ? "; trying the next address" : "");
  }
  if (fd < 0) {
    log_msg(SCGI_LOG_WARNING, "app %s: 502 for %s: no address reachable",
            a->conf->name, uri(req));
    return reply(d, req, 502, "502 Bad Gateway: the application is "
                              "unreachable.\n");
  }
  (void)proxy(d, a, req, fd, target->text);
  return 0;
}

/* ---- pass -------------------------------------------------------------- */

static int serve_pass(struct dispatch *d, struct app_rt *a,
                      scgi_request *req)
{
  struct worker_ref ref;
  size_t len;
  const char *raw;
  int rc = workers_acquire(a->ws, d->conf->queue_timeout_ms, &ref), fd;

  if (rc != 0)
    return refuse(d, a, req, rc);
  raw = scgi_request_raw(req, &len);
  if ((fd = scgi_request_detach(req)) < 0) { /* cannot happen */
    workers_release(a->ws, &ref, false);
    log_msg(SCGI_LOG_ERROR, "app %s: cannot detach: %s", a->conf->name,
            scgi_strerror(fd));
    return 0;
  }
  rc = relay_pass(ref.handoff_fd, fd, raw, len, HANDOFF_SEND_MS);
  if (rc == 0) {
    workers_handed_off(a->ws, &ref);
    close(fd); /* the worker has its own copy now */
    count(d, -1);
    return 0;
  }
  log_msg(SCGI_LOG_WARNING, "app %s (worker %u.%u): 502 for %s: handoff "
          "failed: %s", a->conf->name, ref.id, ref.generation, uri(req),
          strerror(-rc));
  workers_release(a->ws, &ref, true);
  relay_answer(fd, 502);
  count(d, 502);
  return 0;
}

int dispatch_handle(scgi_request *req, void *arg)
{
  struct dispatch *d = arg;
  size_t len;
  const char *path = route_path(scgi_request_get(req, "SCRIPT_NAME"),
                                scgi_request_get(req, "DOCUMENT_URI"),
                                scgi_request_uri(req), &len);
  long i = route_match(d->conf, path, len);
  struct app_rt *a;

  if (i < 0)
    return not_found(d, req);
  a = &d->apps[i];
  if (a->conf->nconnect)
    return serve_connect(d, a, req);
  if (a->conf->handoff == HANDOFF_PASS)
    return serve_pass(d, a, req);
  return serve_worker_proxy(d, a, req);
}

/* ---- runtime directories ----------------------------------------------- */

/* Removes a directory we made and what the workers left in it. */
static void remove_dir(const char *path)
{
  DIR *dir = opendir(path);
  struct dirent *e;

  if (!dir)
    return;
  while ((e = readdir(dir)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      (void)unlinkat(dirfd(dir), e->d_name, 0);
  closedir(dir);
  if (rmdir(path) != 0)
    log_msg(SCGI_LOG_WARNING, "cannot remove %s: %s", path, strerror(errno));
}

/* $RUNTIME_DIRECTORY (systemd; the first one when it lists several) or
 * /tmp, then a private directory in it. */
static int make_base_dir(struct dispatch *d)
{
  const char *env = getenv("RUNTIME_DIRECTORY");
  char path[256];
  int n;

  if (!env || *env == '\0')
    env = "/tmp";
  n = snprintf(path, sizeof path, "%.*s/scgiserver.XXXXXX",
               (int)strcspn(env, ":"), env);
  if (n < 0 || (size_t)n >= sizeof path || !mkdtemp(path)) {
    log_msg(SCGI_LOG_ERROR, "cannot make a runtime directory in %s: %s", env,
            n > 0 && (size_t)n < sizeof path ? strerror(errno)
                                             : "path too long");
    return -1;
  }
  if ((d->base_dir = strdup(path)) == NULL) {
    rmdir(path);
    return -1;
  }
  return 0;
}

/* A proxy app's sockets go in a directory of its own, so that apps never
 * collide whatever names workers.c gives its sockets. */
static int make_app_dir(struct dispatch *d, struct app_rt *a)
{
  const char *base = d->conf->runtime_dir;
  size_t size;

  if (!base) {
    if (!d->base_dir && make_base_dir(d) != 0)
      return -1;
    base = d->base_dir;
  }
  size = strlen(base) + strlen(a->conf->name) + 2;
  if ((a->dir = malloc(size)) == NULL)
    return -1;
  snprintf(a->dir, size, "%s/%s", base, a->conf->name);
  if (mkdir(a->dir, 0700) != 0) {
    log_msg(SCGI_LOG_ERROR, "app %s: cannot make %s: %s", a->conf->name,
            a->dir, strerror(errno));
    free(a->dir);
    a->dir = NULL;
    return -1;
  }
  return 0;
}

/* ---- starting and stopping --------------------------------------------- */

static int start_app(struct dispatch *d, struct app_rt *a)
{
  const struct app_conf *c = a->conf;
  struct worker_spec spec = {
      .name = c->name, .argv = c->argv, .count = c->workers,
      .mode = (enum handoff_mode)c->handoff, .concurrency = c->concurrency,
      .max_requests = c->max_requests, .queue = d->conf->queue,
      .stop_timeout_ms = STOP_TIMEOUT_MS,
  };
  int rc;

  if (!c->argv)
    return 0; /* a connect app: nothing to start */
  if (c->handoff == HANDOFF_PASS && d->conf->max_header_bytes > 65536)
    log_msg(SCGI_LOG_WARNING, "app %s: max-header-bytes %u is above libscgi's "
            "default: its workers must set SCGI_OPT_MAX_HEADER_BYTES as high, "
            "or they drop larger handoffs", c->name, d->conf->max_header_bytes);
  if (c->handoff == HANDOFF_PROXY && make_app_dir(d, a) != 0)
    return -1;
  spec.runtime_dir = a->dir;
  if ((rc = workers_start(&spec, &a->ws)) != 0) {
    log_msg(SCGI_LOG_ERROR, "app %s: cannot start workers: %s", c->name,
            strerror(-rc));
    return -1;
  }
  log_msg(SCGI_LOG_INFO, "app %s: %u worker%s of %s (handoff %s)", c->name,
          c->workers, c->workers == 1 ? "" : "s", c->argv[0],
          c->handoff == HANDOFF_PASS ? "pass" : "proxy");
  return 0;
}

int dispatch_start(const struct conf *conf, struct dispatch **out)
{
  struct dispatch *d = calloc(1, sizeof *d);

  *out = NULL;
  if (!d || (d->apps = calloc(conf->napps, sizeof *d->apps)) == NULL) {
    free(d);
    log_msg(SCGI_LOG_ERROR, "out of memory");
    return -1;
  }
  d->conf = conf;
  for (size_t i = 0; i < conf->napps; i++)
    d->apps[i].conf = &conf->apps[i];
  for (size_t i = 0; i < conf->napps; i++) {
    if (start_app(d, &d->apps[i]) != 0) {
      dispatch_stop(d, 0);
      dispatch_free(d);
      return -1;
    }
  }
  *out = d;
  return 0;
}

void dispatch_stop(struct dispatch *d, unsigned drain_ms)
{
  for (size_t i = 0; d && i < d->conf->napps; i++)
    if (d->apps[i].ws)
      workers_stop(d->apps[i].ws, drain_ms);
}

void dispatch_log_stats(struct dispatch *d)
{
  unsigned long long c[COUNT_N];

  for (int i = 0; i < COUNT_N; i++)
    c[i] = atomic_load(&d->counts[i]);
  log_msg(SCGI_LOG_INFO, "requests: %llu handed off, %llu 1xx, %llu 2xx, "
          "%llu 3xx, %llu 4xx, %llu 5xx, %llu reset mid-response",
          c[COUNT_PASSED], c[1], c[2], c[3], c[4], c[5], c[COUNT_RESET]);
}

void dispatch_free(struct dispatch *d)
{
  if (!d)
    return;
  for (size_t i = 0; i < d->conf->napps; i++) {
    workers_free(d->apps[i].ws);
    if (d->apps[i].dir)
      remove_dir(d->apps[i].dir);
    free(d->apps[i].dir);
  }
  if (d->base_dir)
    remove_dir(d->base_dir);
  free(d->base_dir);
  free(d->apps);
  free(d);
}
