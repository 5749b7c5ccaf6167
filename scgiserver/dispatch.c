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
 *
 * Reload (SIGHUP) builds a whole new app table (a new config, new worker
 * sets) and swaps it in for new requests, tinyproxy-style: a front thread
 * takes a reference on the current table for the length of one request,
 * so an old table lives until its last request is through. A retire
 * thread per old table then waits for that, stops its workers (they
 * finish what was handed to them within the drain timeout) and frees it.
 *
 * The status page (status-path) is answered here, before routing, from
 * counters kept by the front threads: per process in the dispatch (request
 * outcomes, requests in flight), per app in the table (requests routed,
 * the 502/503/504 answers made for it; they start again at zero with the
 * new table of a reload), and the worker sets' own (workers_stats()).
 *
 * The access log (access.c) gets one line per request from
 * dispatch_handle() once the request is done; what the answer paths learn
 * on the way (status, bytes, app, worker) goes into the record of the
 * request the front thread is handling (`this_rec`).
 */
#define _GNU_SOURCE /* mkdtemp */
#include "config.h"

#include "dispatch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "addr.h"
#include "cgi.h"
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

/* An app's error answers, by cause: 503 when the queue is full or no
 * worker came free in time; 502 when the app could not be reached or gave
 * no response; 504 when it was silent past app-timeout. */
enum { ERR_QUEUE_FULL, ERR_QUEUE_TIMEOUT, ERR_502, ERR_504, ERR_N };

struct app_rt {
  const struct app_conf *conf;
  struct worker_set *ws;  /* exec apps */
  struct cgi_app *cgi;    /* cgi apps */
  char *dir;              /* proxy exec apps: their socket directory */
  atomic_uint next;       /* connect apps: round robin position */
  unsigned queue_timeout_ms;
  atomic_ullong requests; /* routed to this app */
  atomic_ullong errors[ERR_N];
};

/* One generation of apps: a config and the workers started from it. */
struct table {
  const struct conf *conf;
  struct conf *owned;     /* conf again when the table owns it (reloads);
                             NULL for dispatch_start()'s */
  struct app_rt *apps;    /* conf->napps of them, in conf's order */
  unsigned gen;           /* 0 for dispatch_start()'s, then 1, 2... */
  atomic_uint refs;       /* front threads using it */
};

/* An old table being retired by a thread of its own. */
struct retiree {
  struct dispatch *d;
  struct table *t;        /* freed by the thread */
  unsigned drain_ms;
  pthread_t thread;
  atomic_bool done;       /* the thread has finished: join it */
  struct retiree *next;
};

struct dispatch {
  /* `current_lock` guards `current`: read-locked by every request to take
   * a reference (no system call while no reload writes), write-locked to
   * swap it. A reference is only ever taken on the current table, so once
   * a table is swapped out its count only goes down; the put that drops a
   * retired table's count to zero broadcasts `idle` under `lock`, under
   * which the retire thread checks the count. */
  pthread_rwlock_t current_lock;
  pthread_mutex_t lock;
  pthread_cond_t idle;
  struct table *current;
  atomic_uint current_gen;  /* current->gen: a put on a table of another
                               generation (retired) that drops its count to
                               zero broadcasts `idle` */
  struct retiree *retiring; /* the main thread's only (reload, stop) */
  unsigned gens;            /* tables built so far */
  char *base_dir;           /* the private runtime directory we made */
  atomic_ullong counts[COUNT_N];
  atomic_uint in_flight;    /* requests in dispatch_handle() now */
  time_t started;           /* dispatch_start(): wall clock... */
  struct timespec started_mono; /* ...and monotonic, for the uptime */
};

/* ---- counters and answers ---------------------------------------------- */

/* The access-log record of the request this front thread is in, or NULL
 * (no access log). Set by dispatch_handle(): a front thread runs the
 * handler for one request at a time, so no other thread ever sees it. */
static _Thread_local struct access_rec *this_rec;

/* Counts a request's outcome: status, -1 handed off, 0 reset (for the
 * access log, the last two have no status). */
static void count(struct dispatch *d, int status)
{
  int i = status == 0 ? COUNT_RESET : status / 100;

  if (this_rec)
    this_rec->status = status;
  if (status < 0)
    i = COUNT_PASSED;
  else if (status != 0 && (i < 1 || i > 5))
    i = COUNT_5XX;
  atomic_fetch_add_explicit(&d->counts[i], 1, memory_order_relaxed);
}

/* For the access log: response bytes, and the worker serving. */
static void note_bytes(long long bytes)
{
  if (this_rec)
    this_rec->bytes = bytes;
}

static void note_worker(const struct worker_ref *ref)
{
  if (this_rec) {
    this_rec->has_worker = true;
    this_rec->worker_id = ref->id;
    this_rec->worker_gen = ref->generation;
  }
}

static void app_error(struct app_rt *a, int cause)
{
  atomic_fetch_add_explicit(&a->errors[cause], 1, memory_order_relaxed);
}

/* An answer of our own, while the library still holds the connection. */
static int reply(struct dispatch *d, scgi_request *req, int status,
                 const char *text)
{
  count(d, status);
  note_bytes((long long)strlen(text));
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
    app_error(a, rc == -EAGAIN ? ERR_QUEUE_FULL : ERR_QUEUE_TIMEOUT);
    log_msg(SCGI_LOG_WARNING, "app %s: 503 for %s: %s", name, uri(req),
            rc == -EAGAIN ? "queue full" : "no worker free in time");
    return reply(d, req, 503, "503 Service Unavailable: the application is "
                              "busy, retry later.\n");
  }
  app_error(a, ERR_502);
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
    if (r->status == 408) {
      log_msg(SCGI_LOG_WARNING, "app %s (%s): 408 for %s: the front sent "
              "no body bytes for %u ms", name, who, uri(req),
              a->conf->app_timeout_ms);
      break;
    }
    log_msg(SCGI_LOG_INFO, "app %s (%s): front connection for %s ended "
            "early: %s", name, who, uri(req), why);
    break;
  case RELAY_APP_EMPTY:
    log_msg(SCGI_LOG_WARNING, "app %s (%s): 502 for %s: the app closed "
            "without a response (%s)", name, who, uri(req), why);
    break;
  case RELAY_APP_CUT:
    if (r->app_died) {
      log_msg(SCGI_LOG_WARNING, "app %s (%s): the app died after %llu "
              "response bytes for %s (no Content-Length): front connection "
              "reset", name, who, (unsigned long long)r->down, uri(req));
      break;
    }
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
                 int app_fd, const char *who, int (*app_died)(void *),
                 void *ctx)
{
  const char *method = scgi_request_method(req);
  struct relay_job job = {
      .content_length = (uint64_t)scgi_request_content_length(req),
      .timeout_ms = a->conf->app_timeout_ms,
      .head = method && strcmp(method, "HEAD") == 0,
      .app_died = app_died,
      .ctx = ctx,
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
  /* A 408, 502 or 504 written by relay.c itself: its size is not
   * counted. */
  note_bytes(r.end == RELAY_APP_EMPTY || r.status == 408 ||
                     (r.end == RELAY_TIMEOUT && r.status == 504)
                 ? -1 : (long long)r.down);
  if (r.end == RELAY_APP_EMPTY && r.status == 502)
    app_error(a, ERR_502);
  else if (r.end == RELAY_TIMEOUT && r.status == 504)
    app_error(a, ERR_504);
  return r.end == RELAY_APP_EMPTY || r.end == RELAY_APP_CUT ||
         r.end == RELAY_TIMEOUT;
}

/* How long a worker that closed its socket like a dying process gets to
 * be seen exiting (see relay.c): a live one costs this delay once. */
#define EXIT_CONFIRM_MS 200

struct worker_check {
  struct worker_set *ws;
  const struct worker_ref *ref;
  char *who;
  size_t who_size;
};

/* relay_job.app_died for an own worker: asks its supervisor. */
static int worker_died(void *ctx)
{
  struct worker_check *c = ctx;
  pid_t pid = 0;

  if (!workers_exited(c->ws, c->ref, EXIT_CONFIRM_MS, &pid))
    return 0;
  snprintf(c->who, c->who_size, "worker %u.%u, pid %ld", c->ref->id,
           c->ref->generation, (long)pid);
  return 1;
}

static int serve_worker_proxy(struct dispatch *d, struct app_rt *a,
                              scgi_request *req)
{
  struct worker_ref ref;
  char who[64];
  struct worker_check check = { .ws = a->ws, .ref = &ref, .who = who,
                                .who_size = sizeof who };
  int rc = workers_acquire(a->ws, a->queue_timeout_ms, &ref), fd;

  if (rc != 0)
    return refuse(d, a, req, rc);
  note_worker(&ref);
  snprintf(who, sizeof who, "worker %u.%u", ref.id, ref.generation);
  fd = addr_connect_unix(ref.socket_path, connect_timeout(a));
  if (fd < 0) {
    log_msg(SCGI_LOG_WARNING, "app %s (%s): 502 for %s: cannot connect to "
            "%s: %s", a->conf->name, who, uri(req), ref.socket_path,
            strerror(-fd));
    workers_release(a->ws, &ref, true);
    app_error(a, ERR_502);
    return reply(d, req, 502, "502 Bad Gateway: the application is "
                              "unavailable.\n");
  }
  workers_release(a->ws, &ref,
                  proxy(d, a, req, fd, who, worker_died, &check));
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
    app_error(a, ERR_502);
    return reply(d, req, 502, "502 Bad Gateway: the application is "
                              "unreachable.\n");
  }
  (void)proxy(d, a, req, fd, target->text, NULL, NULL);
  return 0;
}

/* ---- pass -------------------------------------------------------------- */

static int serve_pass(struct dispatch *d, struct app_rt *a,
                      scgi_request *req)
{
  struct worker_ref ref;
  size_t len;
  const char *raw;
  int rc = workers_acquire(a->ws, a->queue_timeout_ms, &ref), fd;

  if (rc != 0)
    return refuse(d, a, req, rc);
  note_worker(&ref);
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
    if (this_rec)
      this_rec->passed = true;
    return 0;
  }
  log_msg(SCGI_LOG_WARNING, "app %s (worker %u.%u): 502 for %s: handoff "
          "failed: %s", a->conf->name, ref.id, ref.generation, uri(req),
          strerror(-rc));
  workers_release(a->ws, &ref, true);
  relay_answer(fd, 502);
  count(d, 502);
  app_error(a, ERR_502);
  return 0;
}

/* ---- cgi --------------------------------------------------------------- */

static int serve_cgi(struct dispatch *d, struct app_rt *a, scgi_request *req)
{
  struct cgi_result r;
  int rc = cgi_acquire(a->cgi, a->queue_timeout_ms);

  if (rc != 0)
    return refuse(d, a, req, rc);
  cgi_serve(a->cgi, req, &r);
  cgi_release(a->cgi);
  count(d, r.status);
  note_bytes(r.bytes);
  if (r.end == CGI_FAILED && r.status == 502)
    app_error(a, ERR_502);
  else if (r.end == CGI_TIMED_OUT)
    app_error(a, ERR_504);
  return 0;
}

/* ---- status page ------------------------------------------------------- */

struct counter {
  const char *name;
  unsigned long long value;
};

#define NCOUNTERS(arr) (sizeof arr / sizeof arr[0])

/* s as a JSON string: quotes, backslashes and control bytes escaped, the
 * other bytes as they are. */
static void json_string(FILE *f, const char *s)
{
  putc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(f, "\\u%04x", *p);
    else
      putc(*p, f);
  }
  putc('"', f);
}

/* json: "NAME":VALUE,... (no braces); text: one "PREFIXNAME: VALUE" line
 * each, or with `pairs` " NAME=VALUE" on the current line. */
static void put_counters(FILE *f, bool json, const char *prefix, bool pairs,
                         const struct counter *c, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (json)
      fprintf(f, "%s\"%s\":%llu", i ? "," : "", c[i].name, c[i].value);
    else if (pairs)
      fprintf(f, " %s=%llu", c[i].name, c[i].value);
    else
      fprintf(f, "%s%s: %llu\n", prefix, c[i].name, c[i].value);
  }
}

static const char *app_mode(const struct app_rt *a)
{
  if (a->conf->cgi_dir)
    return "cgi";
  if (a->conf->nconnect)
    return "connect";
  return a->conf->handoff == HANDOFF_PASS ? "pass" : "proxy";
}

/* One app: text "app NAME: mode=M key=value...", or a JSON object. Worker
 * counters only for exec apps. */
static void put_app(FILE *f, bool json, struct app_rt *a)
{
  struct worker_stats st = { 0 };
  unsigned long long e[ERR_N];

  for (int i = 0; i < ERR_N; i++)
    e[i] = atomic_load_explicit(&a->errors[i], memory_order_relaxed);
  if (a->ws)
    workers_stats(a->ws, &st);
  else if (a->cgi)
    cgi_stats(a->cgi, &st);
  const struct counter routed[] = {
      { "requests", atomic_load_explicit(&a->requests,
                                         memory_order_relaxed) },
  };
  const struct counter workers[] = {
      { "workers", a->conf->workers }, { "alive", st.alive },
      { "busy", st.busy }, { "waiting", st.waiting },
      { "served", st.served }, { "restarts", st.restarts },
      { "crashes", st.crashes }, { "recycles", st.recycles },
  };
  const struct counter errors[] = {
      { "503_queue_full", e[ERR_QUEUE_FULL] },
      { "503_timeout", e[ERR_QUEUE_TIMEOUT] },
      { "502", e[ERR_502] }, { "504", e[ERR_504] },
  };
  size_t nw = a->ws || a->cgi ? NCOUNTERS(workers) : 0;

  if (json) {
    fputs("{\"name\":", f);
    json_string(f, a->conf->name);
    fprintf(f, ",\"mode\":\"%s\",", app_mode(a));
    put_counters(f, true, NULL, true, routed, NCOUNTERS(routed));
    if (nw) {
      putc(',', f);
      put_counters(f, true, NULL, true, workers, nw);
    }
    fputs(",\"errors\":{", f);
    put_counters(f, true, NULL, true, errors, NCOUNTERS(errors));
    fputs("}}", f);
    return;
  }
  fprintf(f, "app %s: mode=%s", a->conf->name, app_mode(a));
  put_counters(f, false, NULL, true, routed, NCOUNTERS(routed));
  put_counters(f, false, NULL, true, workers, nw);
  put_counters(f, false, NULL, true, errors, NCOUNTERS(errors));
  putc('\n', f);
}

/* The whole page (the table's apps, in config order). */
static void put_status(FILE *f, bool json, struct dispatch *d,
                       struct table *t)
{
  unsigned long long c[COUNT_N], total = 0;
  struct timespec now;

  for (int i = 0; i < COUNT_N; i++)
    total += c[i] = atomic_load_explicit(&d->counts[i],
                                         memory_order_relaxed);
  clock_gettime(CLOCK_MONOTONIC, &now);
  const struct counter top[] = {
      { "pid", (unsigned long long)getpid() },
      { "start_time", (unsigned long long)d->started },
      { "uptime", (unsigned long long)(now.tv_sec - d->started_mono.tv_sec) },
      { "generation", t->gen },
      { "in_flight", atomic_load(&d->in_flight) },
  };
  const struct counter requests[] = {
      { "total", total }, { "handed_off", c[COUNT_PASSED] },
      { "1xx", c[1] }, { "2xx", c[2] }, { "3xx", c[3] }, { "4xx", c[4] },
      { "5xx", c[5] }, { "reset", c[COUNT_RESET] },
  };

  if (json) {
    fputs("{\"version\":", f);
    json_string(f, SCGI_VERSION);
    putc(',', f);
    put_counters(f, true, NULL, false, top, NCOUNTERS(top));
    fputs(",\"requests\":{", f);
    put_counters(f, true, NULL, false, requests, NCOUNTERS(requests));
    fputs("},\"apps\":[", f);
    for (size_t i = 0; i < t->conf->napps; i++) {
      if (i)
        putc(',', f);
      put_app(f, true, &t->apps[i]);
    }
    fputs("]}\n", f);
    return;
  }
  fputs("version: " SCGI_VERSION "\n", f);
  put_counters(f, false, "", false, top, NCOUNTERS(top));
  put_counters(f, false, "requests_", false, requests, NCOUNTERS(requests));
  for (size_t i = 0; i < t->conf->napps; i++)
    put_app(f, false, &t->apps[i]);
}

/* The answer to status-path: text, or JSON for the query "json". */
static int status_page(struct dispatch *d, struct table *t,
                       scgi_request *req)
{
  const char *query = scgi_request_query_string(req);
  bool json = query && strcmp(query, "json") == 0;
  char *body = NULL, length[32];
  size_t size = 0;
  FILE *f;

  /* Counted first, so that the page includes itself. */
  count(d, 200);
  if ((f = open_memstream(&body, &size)) == NULL) {
    log_msg(SCGI_LOG_ERROR, "status page: %s", strerror(errno));
    scgi_fail(req);
    return 0;
  }
  put_status(f, json, d, t);
  if (fclose(f) != 0) {
    log_msg(SCGI_LOG_ERROR, "status page: %s", strerror(errno));
    free(body);
    scgi_fail(req);
    return 0;
  }
  snprintf(length, sizeof length, "%zu", size);
  if (scgi_status(req, 200, NULL) == 0 &&
      scgi_header(req, "Content-Type", json ? "application/json"
                                            : "text/plain; charset=utf-8")
          == 0 &&
      scgi_header(req, "Cache-Control", "no-store") == 0 &&
      scgi_header(req, "Content-Length", length) == 0) {
    note_bytes((long long)size);
    (void)scgi_write(req, body, size);
  } else {
    scgi_fail(req);
  }
  free(body);
  return 0;
}

static struct table *table_get(struct dispatch *d)
{
  struct table *t;

  pthread_rwlock_rdlock(&d->current_lock);
  t = d->current;
  atomic_fetch_add(&t->refs, 1);
  pthread_rwlock_unlock(&d->current_lock);
  return t;
}

static void table_put(struct dispatch *d, struct table *t)
{
  /* Read first: once its count is zero a retired table may be freed. */
  unsigned gen = t->gen;

  /* The count drops before current_gen is read, and dispatch_reload()
   * stores current_gen before it reads the count (sequentially consistent
   * atomics): one of the two sees the other's change and broadcasts. */
  if (atomic_fetch_sub(&t->refs, 1) == 1 &&
      atomic_load(&d->current_gen) != gen) {
    pthread_mutex_lock(&d->lock);
    pthread_cond_broadcast(&d->idle);
    pthread_mutex_unlock(&d->lock);
  }
}

static int handle(struct dispatch *d, struct table *t, const char *listen,
                  scgi_request *req)
{
  const char *status = t->conf->status_path, *path = NULL;
  size_t len = 0;
  long i;
  struct app_rt *a;

  /* The status page comes before any routing, on every listener. */
  if (!listen || status)
    path = route_path(scgi_request_get(req, "SCRIPT_NAME"),
                      scgi_request_get(req, "DOCUMENT_URI"),
                      scgi_request_uri(req), &len);
  if (status && path && len == strlen(status) &&
      memcmp(path, status, len) == 0)
    return status_page(d, t, req);
  if (listen) {
    /* An app's own listener; a reload may have dropped that app. */
    if ((i = route_listener(t->conf, listen)) < 0) {
      log_msg(SCGI_LOG_INFO, "404: no app listens on %s any more (%s)",
              listen, uri(req));
      return reply(d, req, 404, "404 Not Found: no application serves "
                                "this listener.\n");
    }
  } else if ((i = route_match(t->conf, path, len)) < 0) {
    return not_found(d, req);
  }
  a = &t->apps[i];
  atomic_fetch_add_explicit(&a->requests, 1, memory_order_relaxed);
  if (this_rec)
    this_rec->app = a->conf->name; /* lives as long as the table */
  if (a->conf->nconnect)
    return serve_connect(d, a, req);
  if (a->conf->cgi_dir)
    return serve_cgi(d, a, req);
  if (a->conf->handoff == HANDOFF_PASS)
    return serve_pass(d, a, req);
  return serve_worker_proxy(d, a, req);
}

int dispatch_handle(scgi_request *req, void *arg)
{
  const struct dispatch_front *f = arg;
  struct dispatch *d = f->d;
  struct access_rec rec = { .status = 0, .bytes = -1 };
  struct table *t;
  int rc;

  atomic_fetch_add_explicit(&d->in_flight, 1, memory_order_relaxed);
  if (access_enabled()) {
    clock_gettime(CLOCK_MONOTONIC, &rec.start);
    this_rec = &rec;
  }
  t = table_get(d);
  rc = handle(d, t, f->listen, req);
  this_rec = NULL;
  if (access_enabled())
    access_write(req, &rec); /* before the put: rec.app is the table's */
  table_put(d, t);
  atomic_fetch_sub_explicit(&d->in_flight, 1, memory_order_relaxed);
  return rc;
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

/* Whether an app directory that exists already was left by a scgiserver
 * that could not clean up (killed): ours, a real directory, and no socket
 * in it answers. A live scgiserver's workers answer on theirs. */
static bool left_behind(const char *path)
{
  struct stat st;
  struct dirent *e;
  DIR *dir;
  bool stale = true;

  if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_uid != geteuid() || (dir = opendir(path)) == NULL)
    return false;
  while (stale && (e = readdir(dir)) != NULL) {
    char sock[PATH_MAX];
    int fd;
    if (snprintf(sock, sizeof sock, "%s/%s", path, e->d_name) >=
            (int)sizeof sock ||
        lstat(sock, &st) != 0 || !S_ISSOCK(st.st_mode))
      continue;
    if ((fd = addr_connect_unix(sock, 100)) >= 0) {
      close(fd);
      stale = false;
    }
  }
  closedir(dir);
  return stale;
}

/* A proxy app's sockets go in a directory of its own, so that apps never
 * collide whatever names workers.c gives its sockets. */
static int make_app_dir(struct dispatch *d, struct table *t,
                        struct app_rt *a)
{
  const char *base = t->conf->runtime_dir;
  size_t size;
  int rc;

  if (!base) {
    if (!d->base_dir && make_base_dir(d) != 0)
      return -1;
    base = d->base_dir;
  }
  /* Reloads add "@GEN": both generations run side by side a moment. */
  size = strlen(base) + strlen(a->conf->name) + 16;
  if ((a->dir = malloc(size)) == NULL)
    return -1;
  if (t->gen == 0)
    snprintf(a->dir, size, "%s/%s", base, a->conf->name);
  else
    snprintf(a->dir, size, "%s/%s@%u", base, a->conf->name, t->gen);
  rc = mkdir(a->dir, 0700);
  if (rc != 0 && errno == EEXIST && left_behind(a->dir)) {
    log_msg(SCGI_LOG_WARNING, "app %s: removing %s, left by a scgiserver "
            "that did not stop cleanly", a->conf->name, a->dir);
    remove_dir(a->dir);
    rc = mkdir(a->dir, 0700);
  }
  if (rc != 0) {
    log_msg(SCGI_LOG_ERROR, "app %s: cannot make %s: %s", a->conf->name,
            a->dir, strerror(errno));
    free(a->dir);
    a->dir = NULL;
    return -1;
  }
  return 0;
}

/* ---- starting and stopping --------------------------------------------- */

static int start_app(struct dispatch *d, struct table *t, struct app_rt *a)
{
  const struct app_conf *c = a->conf;
  struct worker_spec spec = {
      .name = c->name, .argv = c->argv, .count = c->workers,
      .mode = (enum handoff_mode)c->handoff, .concurrency = c->concurrency,
      .max_requests = c->max_requests, .queue = t->conf->queue,
      .stop_timeout_ms = STOP_TIMEOUT_MS,
  };
  int rc;

  if (c->cgi_dir) {
    if ((rc = cgi_app_new(c, t->conf->queue, &a->cgi)) != 0) {
      log_msg(SCGI_LOG_ERROR, "app %s: %s", c->name, strerror(-rc));
      return -1;
    }
    log_msg(SCGI_LOG_INFO, "app %s: CGI programs of %s, at most %u at once",
            c->name, c->cgi_dir, c->workers);
    return 0;
  }
  if (!c->argv)
    return 0; /* a connect app: nothing to start */
  if (c->handoff == HANDOFF_PASS && t->conf->max_header_bytes > 65536)
    log_msg(SCGI_LOG_WARNING, "app %s: max-header-bytes %u is above libscgi's "
            "default: its workers must set SCGI_OPT_MAX_HEADER_BYTES as high, "
            "or they drop larger handoffs", c->name, t->conf->max_header_bytes);
  if (c->handoff == HANDOFF_PROXY && make_app_dir(d, t, a) != 0)
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


/* Stops a table's workers, waiting until `deadline` for busy ones. */
static void table_stop(struct table *t, const struct timespec *deadline)
{
  for (size_t i = 0; i < t->conf->napps; i++) {
    struct timespec now;
    long long ms;

    if (!t->apps[i].ws)
      continue;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
         (deadline->tv_nsec - now.tv_nsec) / 1000000;
    workers_stop(t->apps[i].ws, ms > 0 ? (unsigned)ms : 0);
  }
}

/* Frees a stopped table (and its conf when it owns it). NULL allowed. */
static void table_free(struct table *t)
{
  if (!t)
    return;
  for (size_t i = 0; t->apps && i < t->conf->napps; i++) {
    workers_free(t->apps[i].ws);
    cgi_app_free(t->apps[i].cgi);
    if (t->apps[i].dir)
      remove_dir(t->apps[i].dir);
    free(t->apps[i].dir);
  }
  free(t->apps);
  if (t->owned) {
    conf_free(t->owned);
    free(t->owned);
  }
  free(t);
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* A new table for conf with every app's workers started, or NULL (logged;
 * an owned conf is freed either way on failure). */
static struct table *table_new(struct dispatch *d, const struct conf *conf,
                               struct conf *owned)
{
  struct table *t = calloc(1, sizeof *t);
  struct timespec now;

  if (!t || (t->apps = calloc(conf->napps ? conf->napps : 1,
                              sizeof *t->apps)) == NULL) {
    free(t);
    if (owned) {
      conf_free(owned);
      free(owned);
    }
    log_msg(SCGI_LOG_ERROR, "out of memory");
    return NULL;
  }
  t->conf = conf;
  t->owned = owned;
  t->gen = d->gens++;
  for (size_t i = 0; i < conf->napps; i++) {
    t->apps[i].conf = &conf->apps[i];
    t->apps[i].queue_timeout_ms = conf->queue_timeout_ms;
  }
  for (size_t i = 0; i < conf->napps; i++) {
    if (start_app(d, t, &t->apps[i]) != 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      table_stop(t, &now);
      table_free(t);
      return NULL;
    }
  }
  return t;
}

int dispatch_start(const struct conf *conf, struct dispatch **out)
{
  struct dispatch *d = calloc(1, sizeof *d);
  pthread_condattr_t ca;

  *out = NULL;
  if (!d) {
    log_msg(SCGI_LOG_ERROR, "out of memory");
    return -1;
  }
  pthread_rwlock_init(&d->current_lock, NULL);
  pthread_mutex_init(&d->lock, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&d->idle, &ca);
  pthread_condattr_destroy(&ca);
  d->started = time(NULL);
  clock_gettime(CLOCK_MONOTONIC, &d->started_mono);
  if ((d->current = table_new(d, conf, NULL)) == NULL) {
    dispatch_free(d);
    return -1;
  }
  atomic_store(&d->current_gen, d->current->gen);
  *out = d;
  return 0;
}

/* ---- reload ------------------------------------------------------------ */

/* The retire thread of an old table: waits for the front threads still
 * using it (up to the drain timeout), stops its workers with what is left
 * of that timeout, waits for any front thread still relaying (its app
 * connection is gone by then), and frees it. */
static void *retire_thread(void *arg)
{
  struct retiree *r = arg;
  struct dispatch *d = r->d;
  struct timespec deadline;

  deadline_in(&deadline, r->drain_ms);
  pthread_mutex_lock(&d->lock);
  while (atomic_load(&r->t->refs) > 0 &&
         pthread_cond_timedwait(&d->idle, &d->lock, &deadline) != ETIMEDOUT)
    ;
  pthread_mutex_unlock(&d->lock);
  table_stop(r->t, &deadline);
  pthread_mutex_lock(&d->lock);
  while (atomic_load(&r->t->refs) > 0)
    pthread_cond_wait(&d->idle, &d->lock);
  pthread_mutex_unlock(&d->lock);
  log_msg(SCGI_LOG_INFO, "reload: generation %u retired", r->t->gen);
  table_free(r->t);
  r->t = NULL;
  atomic_store(&r->done, true);
  return NULL;
}

/* Joins the retire threads that have finished (all of them: wait). */
static void reap_retirees(struct dispatch *d, bool wait)
{
  struct retiree **p = &d->retiring;

  while (*p) {
    struct retiree *r = *p;

    if (wait || atomic_load(&r->done)) {
      pthread_join(r->thread, NULL);
      *p = r->next;
      free(r);
    } else {
      p = &r->next;
    }
  }
}

static void retire(struct dispatch *d, struct table *t, unsigned drain_ms)
{
  struct retiree *r = calloc(1, sizeof *r), local = { 0 };
  int rc;

  if (r) {
    r->d = d;
    r->t = t;
    r->drain_ms = drain_ms;
    if ((rc = pthread_create(&r->thread, NULL, retire_thread, r)) == 0) {
      r->next = d->retiring;
      d->retiring = r;
      return;
    }
    log_msg(SCGI_LOG_WARNING, "reload: no retire thread (%s): retiring the "
            "old apps here", strerror(rc));
    free(r);
  }
  /* No thread: do the same work here, blocking the main loop meanwhile. */
  local.d = d;
  local.t = t;
  local.drain_ms = drain_ms;
  retire_thread(&local);
}

static bool same_strings(char **a, size_t na, char **b, size_t nb)
{
  if (na != nb)
    return false;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0)
      return false;
  return true;
}


/* Whether every app of `a` with listeners of its own has the same ones,
 * under the same name, in `b`. */
static bool app_listens_kept(const struct conf *a, const struct conf *b)
{
  for (size_t i = 0; i < a->napps; i++) {
    const struct app_conf *x = &a->apps[i], *y = NULL;
    if (x->nlisten == 0)
      continue;
    for (size_t j = 0; j < b->napps && !y; j++)
      if (strcmp(b->apps[j].name, x->name) == 0)
        y = &b->apps[j];
    if (!y || !same_strings(x->listen, x->nlisten, y->listen, y->nlisten))
      return false;
  }
  return true;
}

/* Logs the settings that differ but only take effect on a restart. */
static void log_restart_only(const struct conf *old, const struct conf *c)
{
  char list[256] = "";
  size_t n = 0;

#define CHANGED(cond, name)                                                 \
  do {                                                                      \
    if ((cond) && n < sizeof list)                                          \
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",              \
                            n ? ", " : "", name);                           \
  } while (0)
  CHANGED(!same_strings(old->listen, old->nlisten, c->listen, c->nlisten),
          "listen");
  CHANGED(!app_listens_kept(old, c) || !app_listens_kept(c, old),
          "an app's listen");
  CHANGED(old->threads != c->threads, "threads");
  CHANGED(old->header_timeout_ms != c->header_timeout_ms, "header-timeout");
  CHANGED(old->max_header_bytes != c->max_header_bytes, "max-header-bytes");
  CHANGED(old->log_syslog != c->log_syslog, "log");
  CHANGED((old->access_log == NULL) != (c->access_log == NULL) ||
              (old->access_log && c->access_log &&
               strcmp(old->access_log, c->access_log) != 0),
          "access-log");
#undef CHANGED
  if (n)
    log_msg(SCGI_LOG_WARNING, "reload: changed settings that need a "
            "restart, still running with the old ones: %s", list);
}

int dispatch_reload(struct dispatch *d, struct conf *conf,
                    unsigned drain_ms)
{
  struct table *t, *old;

  reap_retirees(d, false);
  log_restart_only(d->current->conf, conf);
  if ((t = table_new(d, conf, conf)) == NULL) {
    log_msg(SCGI_LOG_ERROR, "reload failed: keeping the running apps");
    return -1;
  }
  pthread_rwlock_wrlock(&d->current_lock);
  old = d->current;
  d->current = t;
  atomic_store(&d->current_gen, t->gen);
  pthread_rwlock_unlock(&d->current_lock);
  pthread_mutex_lock(&d->lock);
  if (atomic_load(&old->refs) == 0)
    pthread_cond_broadcast(&d->idle);
  pthread_mutex_unlock(&d->lock);
  log_msg(SCGI_LOG_INFO, "reloaded: %zu app%s (generation %u)",
          t->conf->napps, t->conf->napps == 1 ? "" : "s", t->gen);
  retire(d, old, drain_ms);
  return 0;
}

/* ---- stopping ---------------------------------------------------------- */

void dispatch_stop(struct dispatch *d)
{
  struct timespec deadline;

  if (!d)
    return;
  /* The drain timeout of the configuration running now, reloads
   * included. */
  deadline_in(&deadline, d->current ? d->current->conf->drain_timeout_ms : 0);
  if (d->current)
    table_stop(d->current, &deadline);
  reap_retirees(d, true);
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
  reap_retirees(d, true);
  table_free(d->current);
  if (d->base_dir)
    remove_dir(d->base_dir);
  free(d->base_dir);
  pthread_cond_destroy(&d->idle);
  pthread_mutex_destroy(&d->lock);
  pthread_rwlock_destroy(&d->current_lock);
  free(d);
}
