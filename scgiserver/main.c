/*
 * main.c - scgiserver: relays SCGI connections from a front server to
 * application workers it supervises, or to SCGI applications elsewhere.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Front servers: one scgi_server for the global listeners (routed by path
 * prefix), plus one per listener that an app owns (`listen` in its
 * section: everything arriving there is that app's). The library's
 * handler is not told which listener a request came in on, so a server
 * per owned listener is how the handler knows. The --threads front
 * threads are split evenly among the servers, at least one each.
 *
 * Threads: each server's scgi_serve() runs its front threads (dispatch.c)
 * on a thread of its own; workers.c runs a supervisor thread per app; the main thread
 * only waits for signals. Every thread but the main one starts with
 * SIGTERM, SIGINT, SIGHUP, SIGUSR1 and WAKE_SIGNAL blocked, so the handlers
 * always run on the main thread, inside sigsuspend(), with no race between
 * testing a flag and waiting for the next signal.
 *
 * Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads, SIGUSR1 reopens
 * the access log (logrotate); WAKE_SIGNAL, a real-time signal that nobody
 * else sends, only wakes the main loop when a scgi_serve() returns.
 *
 * Under systemd (notify.c): READY=1 once the front threads run, RELOADING=1
 * then READY=1 around a SIGHUP reload, STOPPING=1 when the drain starts.
 * With -d the daemon notifies (with its MAINPID=) before its parent exits.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <scgi.h>

#include "access.h"
#include "conf.h"
#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "notify.h"

/* Sent by a serve thread to the main thread when scgi_serve() returns. */
#define WAKE_SIGNAL SIGRTMIN

/* Set by the signal handlers, read by the main loop. */
static volatile sig_atomic_t stop_requested, reload_requested,
    reopen_requested;
/* For the SIGTERM handler: scgi_server_stop() is async-signal-safe. Set
 * before the handlers are installed, cleared after the servers stop. */
static scgi_server **front_servers;
static volatile sig_atomic_t nfront_servers;

static void on_stop(int sig)
{
  int saved = errno;

  (void)sig;
  stop_requested = 1;
  for (sig_atomic_t i = 0; i < nfront_servers; i++)
    scgi_server_stop(front_servers[i]);
  errno = saved;
}

static void on_reload(int sig)
{
  (void)sig;
  reload_requested = 1;
}

static void on_reopen(int sig)
{
  (void)sig;
  reopen_requested = 1;
}

/* WAKE_SIGNAL only wakes the main loop (sent when scgi_serve() returns). */
static void on_wake(int sig) { (void)sig; }

/* Exit status: 0 when told to stop, 1 on failure, 2 on bad usage. */
static int load_conf(int argc, char **argv, struct conf *c)
{
  char err[512];
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

  switch (conf_load(argc, argv, ncpu > 0 ? (unsigned)ncpu : 1, c, err,
                    sizeof err)) {
  case CONF_OK:
    return -1;
  case CONF_HELP:
    fputs(conf_usage, stdout);
    return 0;
  case CONF_VERSION:
    puts("scgiserver (libscgi) " SCGI_VERSION);
    return 0;
  default:
    fprintf(stderr, "scgiserver: %s\n", err);
    return 2;
  }
}

/* Blocks the signals the main loop waits for; *old receives the mask to
 * wait with. Threads started afterwards inherit the blocked mask. */
static void block_signals(sigset_t *old)
{
  sigset_t set;
  struct sigaction sa = { .sa_handler = SIG_IGN };

  sigaction(SIGPIPE, &sa, NULL); /* a vanished peer is an error code */
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, WAKE_SIGNAL);
  pthread_sigmask(SIG_BLOCK, &set, old);
}

static void install_handlers(void)
{
  struct sigaction sa;

  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_reload;
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = on_reopen;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_wake;
  sigaction(WAKE_SIGNAL, &sa, NULL);
}

static int listen_one(scgi_server *srv, const char *address)
{
  int rc = scgi_server_listen(srv, address);

  if (rc != 0)
    log_msg(SCGI_LOG_ERROR, "listen %s: %s", address ? address : "(inherited)",
            scgi_strerror(rc));
  return rc == 0 ? 0 : rc == SCGI_EADDRESS ? 2 : 1;
}

/* One front server: its listeners, the header limits, our log. address
 * NULL with global set: the global listeners (the inherited one when
 * there are none). Returns 0 or an exit status. */
static int open_server(const struct conf *c, const char *address,
                       scgi_server **out)
{
  scgi_server *srv = scgi_server_new();
  int rc = 0;

  if (!srv) {
    log_msg(SCGI_LOG_ERROR, "out of memory");
    return 1;
  }
  scgi_server_set_log(srv, log_from_library, NULL);
  scgi_server_set(srv, SCGI_OPT_READ_TIMEOUT_MS, c->header_timeout_ms);
  scgi_server_set(srv, SCGI_OPT_MAX_HEADER_BYTES, c->max_header_bytes);
  if (address)
    rc = listen_one(srv, address);
  else if (c->nlisten == 0)
    rc = listen_one(srv, NULL);
  for (size_t i = 0; !address && i < c->nlisten && rc == 0; i++)
    rc = listen_one(srv, c->listen[i]);
  if (rc != 0) {
    scgi_server_free(srv);
    return rc;
  }
  *out = srv;
  return 0;
}

/* A front server and the thread running scgi_serve() on it. */
struct front {
  scgi_server *srv;
  struct dispatch_front route;  /* the handler's argument */
  struct serving *s;
  pthread_t thread;
  bool started;
  int rc;
};

struct serving {
  struct front *fronts;
  size_t nfronts;
  unsigned threads;             /* per front server */
  struct dispatch *dispatch;
  struct daemon *daemon;        /* -d: its parent waits until we serve */
  size_t napps;                 /* of the running config (STATUS=) */
  pthread_t main_thread;
  atomic_bool done;             /* some scgi_serve() returned */
  int argc;        /* the command line, parsed again on SIGHUP */
  char **argv;
};

/* Opens every front server: the global one unless every listener is an
 * app's own (and none is global), then one per app-owned listener.
 * Returns 0 or an exit status; s->fronts holds what was opened. */
static int open_fronts(const struct conf *c, struct serving *s)
{
  size_t owned = 0, n;
  int rc = 0;

  for (size_t i = 0; i < c->napps; i++)
    owned += c->apps[i].nlisten;
  n = owned + (c->nlisten > 0 || owned == 0);
  if ((s->fronts = calloc(n, sizeof *s->fronts)) == NULL) {
    log_msg(SCGI_LOG_ERROR, "out of memory");
    return 1;
  }
  if (c->nlisten > 0 || owned == 0)
    rc = open_server(c, NULL, &s->fronts[s->nfronts++].srv);
  for (size_t i = 0; i < c->napps && rc == 0; i++)
    for (size_t j = 0; j < c->apps[i].nlisten && rc == 0; j++) {
      struct front *f = &s->fronts[s->nfronts++];
      f->route.listen = c->apps[i].listen[j];
      rc = open_server(c, f->route.listen, &f->srv);
    }
  if (rc != 0)
    s->nfronts--; /* the last one failed: nothing to free */
  s->threads = c->threads / (unsigned)n;
  if (s->threads == 0)
    s->threads = 1;
  return rc;
}

static void free_fronts(struct serving *s)
{
  for (size_t i = 0; i < s->nfronts; i++)
    scgi_server_free(s->fronts[i].srv);
  free(s->fronts);
  s->fronts = NULL;
  s->nfronts = 0;
}

static void *serve_thread(void *arg)
{
  struct front *f = arg;

  f->rc = scgi_serve(f->srv, f->s->threads, dispatch_handle, &f->route);
  atomic_store(&f->s->done, true);
  pthread_kill(f->s->main_thread, WAKE_SIGNAL);
  return NULL;
}

/* Tells the service manager that requests are served. */
static void notify_serving(const struct serving *s, const char *note)
{
  notify_send("READY=1\nMAINPID=%ld\nSTATUS=serving %zu app%s%s",
              (long)getpid(), s->napps, s->napps == 1 ? "" : "s", note);
}

/* SIGHUP: parses the same command line again, so the config file is
 * re-read (with none, the same settings give fresh workers); a bad config
 * is logged and the running one kept. Returns 0 when reloaded. */
static int reload(struct serving *s)
{
  char err[512];
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  struct conf *c = calloc(1, sizeof *c);
  size_t napps;

  if (!c) {
    log_msg(SCGI_LOG_ERROR, "reload failed: out of memory");
    return -1;
  }
  if (conf_load(s->argc, s->argv, ncpu > 0 ? (unsigned)ncpu : 1, c, err,
                sizeof err) != CONF_OK) {
    log_msg(SCGI_LOG_ERROR, "reload failed, keeping the running config: %s",
            err);
    conf_free(c);
    free(c);
    return -1;
  }
  napps = c->napps; /* c is the dispatch's once taken */
  if (dispatch_reload(s->dispatch, c, c->drain_timeout_ms) != 0)
    return -1;
  s->napps = napps;
  return 0;
}

/* Serves until SIGTERM/SIGINT (or until scgi_serve() gives up); returns
 * the exit status. */
static int run(struct serving *s, const sigset_t *wait_mask)
{
  int rc, status = 0;

  s->main_thread = pthread_self();
  for (size_t i = 0; i < s->nfronts; i++) {
    struct front *f = &s->fronts[i];
    f->s = s;
    f->route.d = s->dispatch;
    if ((rc = pthread_create(&f->thread, NULL, serve_thread, f)) != 0) {
      log_msg(SCGI_LOG_ERROR, "cannot start the front threads: %s",
              strerror(rc));
      atomic_store(&s->done, true);
      status = 1;
      break;
    }
    f->started = true;
  }
  if (s->nfronts == 1)
    log_msg(SCGI_LOG_INFO, "serving with %u front threads", s->threads);
  else
    log_msg(SCGI_LOG_INFO, "serving with %u front threads on each of %zu "
            "front servers (global and per-app listeners)", s->threads,
            s->nfronts);
  /* Requests are served now. Notify first: with -d, systemd then knows the
   * daemon's pid (MAINPID=) before the parent exits. */
  if (status == 0)
    notify_serving(s, "");
  daemon_ready(s->daemon, status);
  while (!stop_requested && !atomic_load(&s->done)) {
    sigsuspend(wait_mask);
    if (reload_requested) {
      reload_requested = 0;
      log_msg(SCGI_LOG_INFO, "SIGHUP: reloading");
      notify_reloading();
      notify_serving(s, reload(s) == 0 ? "" : " (reload failed: see the log)");
    }
    if (reopen_requested) {
      reopen_requested = 0;
      (void)access_reopen();
    }
  }
  log_msg(SCGI_LOG_INFO, "stopping: finishing requests in progress");
  notify_send("STOPPING=1\nSTATUS=stopping: finishing requests in progress");
  for (size_t i = 0; i < s->nfronts; i++)
    scgi_server_stop(s->fronts[i].srv);
  for (size_t i = 0; i < s->nfronts; i++) {
    if (!s->fronts[i].started)
      continue;
    pthread_join(s->fronts[i].thread, NULL);
    if (s->fronts[i].rc != 0) {
      log_msg(SCGI_LOG_ERROR, "serving failed: %s",
              scgi_strerror(s->fronts[i].rc));
      status = 1;
    }
  }
  return status;
}

int main(int argc, char **argv)
{
  struct conf conf;
  struct daemon daemon;
  struct serving s = { .argc = argc, .argv = argv, .daemon = &daemon };
  sigset_t wait_mask;
  int rc = load_conf(argc, argv, &conf);

  if (rc >= 0) {
    conf_free(&conf);
    return rc;
  }
  log_init(conf.log_syslog);
  notify_init(); /* before the workers copy our environment */
  block_signals(&wait_mask);
  rc = daemon_prepare(&conf, &daemon);
  /* Before privileges are dropped: the log's directory may be root's. */
  if (rc == 0 && conf.access_log && (rc = access_open(conf.access_log)) != 0) {
    log_msg(SCGI_LOG_ERROR, "access-log %s: cannot open it: %s",
            conf.access_log, strerror(-rc));
    rc = 1;
  }
  if (rc == 0)
    rc = open_fronts(&conf, &s);
  if (rc == 0 &&
      (front_servers = calloc(s.nfronts, sizeof *front_servers)) == NULL) {
    log_msg(SCGI_LOG_ERROR, "out of memory");
    rc = 1;
  }
  /* Before any thread: -d forks, and workers start as the new user. */
  if (rc == 0)
    rc = daemon_start(&daemon);
  if (rc == 0 && dispatch_start(&conf, &s.dispatch) != 0)
    rc = 1;
  if (rc != 0)
    daemon_ready(&daemon, rc); /* else run() does, once serving */
  if (rc == 0) {
    s.napps = conf.napps;
    for (size_t i = 0; i < s.nfronts; i++)
      front_servers[i] = s.fronts[i].srv;
    nfront_servers = (sig_atomic_t)s.nfronts;
    install_handlers();
    rc = run(&s, &wait_mask);
    dispatch_stop(s.dispatch);
    dispatch_log_stats(s.dispatch);
  }
  dispatch_free(s.dispatch);
  nfront_servers = 0;
  free(front_servers);
  front_servers = NULL;
  daemon_end(&daemon);
  free_fronts(&s);
  access_close();
  conf_free(&conf);
  return rc;
}
