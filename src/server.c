/*
 * server.c - the server object: settings, logging, the accept loop, the
 * thread pool of scgi_serve() and stopping.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Longest log line; longer ones end with "...". */
#define LOG_LINE_MAX 1024
/* Pause after running out of descriptors or memory before trying again. */
#define BACKOFF_MS 100
/* At most one "out of file descriptors" line per this many milliseconds. */
#define FD_WARNING_INTERVAL_MS 10000

struct scgi_server {
  struct scgi__conn_settings cfg; /* copied into each accepted request */
  unsigned socket_mode;
  int backlog;

  struct scgi__listener *listeners;
  size_t nlisteners;

  /* scgi_server_stop() sets `stopping` and writes one byte to stop_pipe[1].
   * The byte is never read, so the read end stays readable and wakes every
   * poll() on it, now and later. */
  int stop_pipe[2];
  atomic_int stopping;

  /* Monotonic time (ms) of the last "out of file descriptors" warning plus
   * one (0: never); shared by all accepting threads. */
  _Atomic uint64_t fd_warned_ms;

  /* Every thread in scgi_accept() waits on this one epoll set: the stop
   * pipe (level-triggered, so that it wakes them all), the listeners and
   * the connections of the waiting room (one-shot, so that each event goes
   * to one thread). */
  int epfd;
  struct scgi__room room;
  atomic_size_t open_listeners; /* handoff sockets close at their EOF */
  atomic_uint direct_takes;     /* see take_direct() */
};

/* epoll keys besides the waiting room's. */
#define KEY_STOP UINT64_MAX
#define KEY_LISTENER SCGI__ROOM_KEYS /* | listener index */
/* See take_direct(). */
#define DIRECT_STREAK 16

/* ---- logging ---------------------------------------------------------------- */

/* The default log function: one write(2) per line, so that lines from
 * several threads never interleave. */
static void log_stderr(void *arg, scgi_log_level level, const char *message)
{
  char line[LOG_LINE_MAX + 16];
  int n;

  (void)arg;
  (void)level;
  n = snprintf(line, sizeof line, "libscgi: %s\n", message);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof line) {
    n = (int)sizeof line - 1;
    line[n - 1] = '\n';
  }
  /* stderr may be a pipe to a logger that died: a write(2) there raises
   * SIGPIPE, which would kill a process that kept the default action. */
  struct scgi__sigpipe_guard guard;
  scgi__sigpipe_block(&guard);
  ssize_t rc = write(STDERR_FILENO, line, (size_t)n);
  scgi__sigpipe_restore(&guard, rc < 0 && errno == EPIPE);
}

void scgi__log(const struct scgi__conn_settings *cfg, scgi_log_level level,
               const char *format, ...)
{
  char line[LOG_LINE_MAX];
  va_list ap;
  int n, saved = errno;

  if (cfg == NULL || cfg->log == NULL)
    return;
  va_start(ap, format);
  n = vsnprintf(line, sizeof line, format, ap);
  va_end(ap);
  if (n < 0)
    snprintf(line, sizeof line, "(unprintable log message)");
  else if ((size_t)n >= sizeof line)
    memcpy(line + sizeof line - 4, "...", 4);
  cfg->log(cfg->log_arg, level, line);
  errno = saved;
}

/* ---- creation and settings ---------------------------------------------------- */

/* The stop pipe and the epoll set that watches it. */
static int open_wakeups(scgi_server *srv)
{
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = KEY_STOP};

  srv->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (srv->epfd < 0)
    return -1;
  if (pipe2(srv->stop_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
    close(srv->epfd);
    return -1;
  }
  if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->stop_pipe[0], &ev) < 0 ||
      scgi__room_init(&srv->room, srv->epfd) < 0) {
    close(srv->stop_pipe[0]);
    close(srv->stop_pipe[1]);
    close(srv->epfd);
    return -1;
  }
  return 0;
}

scgi_server *scgi_server_new(void)
{
  scgi_server *srv = calloc(1, sizeof *srv);

  if (srv == NULL)
    return NULL;
  if (open_wakeups(srv) < 0) {
    free(srv);
    return NULL;
  }
  srv->cfg.max_header_bytes = SCGI__DEFAULT_MAX_HEADER_BYTES;
  srv->cfg.max_vars = SCGI__DEFAULT_MAX_VARS;
  srv->cfg.read_timeout_ms = SCGI__DEFAULT_TIMEOUT_MS;
  srv->cfg.write_timeout_ms = SCGI__DEFAULT_TIMEOUT_MS;
  srv->cfg.log = log_stderr;
  srv->cfg.log_arg = NULL;
  srv->socket_mode = SCGI__DEFAULT_SOCKET_MODE;
  srv->backlog = SCGI__DEFAULT_BACKLOG;
  atomic_init(&srv->stopping, 0);
  atomic_init(&srv->fd_warned_ms, 0);
  atomic_init(&srv->open_listeners, 0);
  atomic_init(&srv->direct_takes, 0);
  return srv;
}

void scgi_server_free(scgi_server *srv)
{
  if (srv == NULL)
    return;
  scgi__room_cleanup(&srv->room);
  for (size_t i = 0; i < srv->nlisteners; i++)
    scgi__listener_close(&srv->listeners[i]);
  free(srv->listeners);
  close(srv->stop_pipe[0]);
  close(srv->stop_pipe[1]);
  close(srv->epfd);
  free(srv);
}

/* The parser is the authority on its own limits. */
static int check_parser_limit(scgi_option option, size_t value)
{
  scgi_parser p;
  int rc;

  scgi__parser_init(&p);
  rc = scgi_parser_set(&p, option, value);
  scgi__parser_cleanup(&p);
  return rc;
}

int scgi_server_set(scgi_server *srv, scgi_option option, size_t value)
{
  if (srv == NULL)
    return SCGI_EINVAL;
  switch (option) {
  case SCGI_OPT_MAX_HEADER_BYTES:
  case SCGI_OPT_MAX_VARS:
    if (check_parser_limit(option, value) < 0)
      return SCGI_EINVAL;
    if (option == SCGI_OPT_MAX_HEADER_BYTES)
      srv->cfg.max_header_bytes = value;
    else
      srv->cfg.max_vars = value;
    return 0;
  case SCGI_OPT_READ_TIMEOUT_MS:
  case SCGI_OPT_WRITE_TIMEOUT_MS:
    /* poll() takes an int. */
    if (value > INT_MAX)
      return SCGI_EINVAL;
    if (option == SCGI_OPT_READ_TIMEOUT_MS)
      srv->cfg.read_timeout_ms = (unsigned)value;
    else
      srv->cfg.write_timeout_ms = (unsigned)value;
    return 0;
  case SCGI_OPT_SOCKET_MODE:
    if (value > 0777)
      return SCGI_EINVAL;
    srv->socket_mode = (unsigned)value;
    return 0;
  case SCGI_OPT_BACKLOG:
    if (value < 1 || value > INT_MAX)
      return SCGI_EINVAL;
    srv->backlog = (int)value;
    return 0;
  case SCGI_OPT_MAX_PART_HEADER_BYTES:
  case SCGI_OPT_MAX_PARTS:
    break; /* multipart parser settings */
  }
  return SCGI_EINVAL;
}

void scgi_server_set_log(scgi_server *srv, scgi_log_fn fn, void *arg)
{
  if (srv == NULL)
    return;
  srv->cfg.log = fn;
  srv->cfg.log_arg = arg;
}

/* Arms a listener's one-shot registration: ADD the first time, MOD after
 * each event. */
static int arm_listener(scgi_server *srv, size_t i, int op)
{
  struct epoll_event ev = {
    .events = EPOLLIN | EPOLLONESHOT,
    .data.u64 = KEY_LISTENER | i,
  };

  return epoll_ctl(srv->epfd, op, srv->listeners[i].fd, &ev) < 0 ? -errno : 0;
}

/* Undoes a scgi_server_listen() that failed after opening listeners (from
 * index `from` on); descriptors given by the caller stay open. */
static void forget_listeners(scgi_server *srv, size_t from, bool given)
{
  for (size_t j = from; j < srv->nlisteners; j++) {
    (void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listeners[j].fd, NULL);
    if (given)
      srv->listeners[j].fd = -1;
    scgi__listener_close(&srv->listeners[j]);
  }
  srv->nlisteners = from;
}

int scgi_server_listen(scgi_server *srv, const char *address)
{
  struct scgi__listen_params params;
  size_t before;
  int rc;

  if (srv == NULL)
    return SCGI_EINVAL;
  params.socket_mode = srv->socket_mode;
  params.backlog = srv->backlog;
  params.cfg = &srv->cfg;
  before = srv->nlisteners;
  rc = scgi__listen(address, &params, &srv->listeners, &srv->nlisteners);
  for (size_t i = before; rc >= 0 && i < srv->nlisteners; i++)
    rc = arm_listener(srv, i, EPOLL_CTL_ADD);
  if (rc < 0 && srv->nlisteners > before)
    forget_listeners(srv, before, address == NULL ||
                                      strncmp(address, "fd:", 3) == 0);
  if (rc >= 0)
    atomic_store(&srv->open_listeners, srv->nlisteners);
  return rc;
}

/* ---- stopping ---------------------------------------------------------------- */

void scgi_server_stop(scgi_server *srv)
{
  int saved = errno;

  /* Only lock-free atomics and write(2): async-signal-safe. */
  if (srv != NULL && atomic_exchange(&srv->stopping, 1) == 0) {
    ssize_t rc = write(srv->stop_pipe[1], "", 1);
    (void)rc;
  }
  errno = saved;
}

static bool stopped(scgi_server *srv)
{
  return atomic_load(&srv->stopping) != 0;
}

/* Sleeps for `ms`, waking early when the server stops. */
static void backoff(scgi_server *srv, int ms)
{
  struct pollfd pfd = { .fd = srv->stop_pipe[0], .events = POLLIN };

  if (!stopped(srv))
    (void)poll(&pfd, 1, ms);
}

/* ---- accepting ------------------------------------------------------------------ */

static bool out_of_resources(int err)
{
  return err == -EMFILE || err == -ENFILE || err == -ENOBUFS ||
         err == -ENOMEM;
}

/* Logs running out of descriptors (or kernel memory) at most once per
 * interval, whichever thread sees it first. */
static void warn_fd_shortage(scgi_server *srv, int err)
{
  uint64_t now = scgi__now_ms() + 1;
  uint64_t last = atomic_load(&srv->fd_warned_ms);

  if (last != 0 && now < last + FD_WARNING_INTERVAL_MS)
    return;
  if (!atomic_compare_exchange_strong(&srv->fd_warned_ms, &last, now))
    return; /* another thread logs it */
  scgi__log(&srv->cfg, SCGI_LOG_WARNING,
            "cannot accept connections: %s; retrying every %d ms "
            "(this message is repeated at most every %d s)",
            scgi_strerror(err), BACKOFF_MS, FD_WARNING_INTERVAL_MS / 1000);
}

/* The parser's codes are the contiguous range ELENDIGIT..ETOOMANY. */
static bool is_parser_error(int err)
{
  return err <= SCGI_ELENDIGIT && err >= SCGI_ETOOMANY;
}

/* After a 400, the peer may still be sending the rest of its request:
 * closing now would reset the connection and could destroy the 400 before
 * the peer reads it. The rest is discarded in the waiting room, for a
 * short while, without holding a thread. */
static void close_later(scgi_server *srv, scgi_request *req)
{
  scgi__request_linger_start(req);
  if (scgi__room_park(&srv->room, req) != 0)
    scgi__request_destroy(req); /* discards, waiting */
}

/* Logs why a request was refused and answers 400 when the request itself
 * was at fault (not when the peer vanished); then frees the request. */
static void refuse(scgi_server *srv, scgi_request *req, int err)
{
  const struct scgi__conn_settings *cfg = &srv->cfg;

  if (is_parser_error(err)) {
    scgi__log(cfg, SCGI_LOG_WARNING, "bad request from %s: %s (byte %zu)",
              req->peer, scgi_strerror(err),
              scgi_parser_error_offset(&req->parser));
    scgi__request_reject(req, scgi_strerror(err));
  } else if (err == SCGI_ETIMEDOUT) {
    scgi__log(cfg, SCGI_LOG_WARNING,
              "bad request from %s: header not complete after %u ms "
              "(%zu bytes received)",
              req->peer, cfg->read_timeout_ms, req->in_len);
    scgi__request_reject(req, "request header timed out");
  } else if (err == SCGI_ENOMEM) {
    scgi__log(cfg, SCGI_LOG_ERROR,
              "cannot read the request from %s: %s", req->peer,
              scgi_strerror(err));
  } else if (err == SCGI_ETRUNCATED && req->in_len == 0) {
    /* Port probes and health checks connect and close: not worth a warning. */
    scgi__log(cfg, SCGI_LOG_INFO, "connection from %s closed without a request",
              req->peer);
  } else {
    /* The peer is gone or broken: nobody would read a 400. */
    scgi__log(cfg, SCGI_LOG_WARNING,
              "bad request from %s: %s (after %zu bytes)", req->peer,
              scgi_strerror(err), req->in_len);
  }
  if (req->linger)
    close_later(srv, req);
  else
    scgi__request_destroy(req);
}

/* The waiting room's sweep hands over requests past their deadline. */
static void expire(scgi_request *req, void *arg)
{
  if (req->linger) {
    req->linger_done = true; /* the peer had its time to stop sending */
    scgi__request_destroy(req);
  } else {
    refuse(arg, req, SCGI_ETIMEDOUT);
  }
}

/* Goes on discarding a rejected request's input; frees it when done. */
static void linger_more(scgi_server *srv, scgi_request *req)
{
  if (scgi__request_linger_read(req) != -EAGAIN)
    scgi__room_leave(&srv->room, req);
  else if (scgi__room_repark(&srv->room, req) == 0)
    return; /* more may come: wait for it */
  req->linger_done = true;
  scgi__request_destroy(req);
}

/* Reads what arrived of a new or waiting request's header block. Returns 0
 * with *out set when it is complete, else 1 (it waits in the room, or it
 * was refused). `in_room`: the request is taken from the room. */
static int read_header(scgi_server *srv, scgi_request *req, bool in_room,
                       scgi_request **out)
{
  int rc = scgi__request_read_header(req);

  if (rc == -EAGAIN) {
    rc = in_room ? scgi__room_repark(&srv->room, req)
                 : scgi__room_park(&srv->room, req);
    if (rc == 0)
      return 1;
    rc = rc == -ENOMEM ? SCGI_ENOMEM : rc;
  } else if (in_room) {
    scgi__room_leave(&srv->room, req);
  }
  if (rc == 0) {
    *out = req;
    return 0;
  }
  refuse(srv, req, rc);
  return 1;
}

/* A handoff listener reached its end; the last one stops the server. */
static void listener_ended(scgi_server *srv, size_t i)
{
  if (atomic_exchange(&srv->listeners[i].ended, true))
    return; /* another thread saw it first */
  (void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->listeners[i].fd, NULL);
  if (atomic_fetch_sub(&srv->open_listeners, 1) == 1)
    scgi_server_stop(srv);
}

/* Takes one connection from listener i: one that epoll reported readable
 * (`from_event`: re-armed for the other threads before the header is
 * read), or one tried on the chance that a connection is waiting. Returns
 * 0 with *out set, 1 to wait again, or an error. */
static int take_connection(scgi_server *srv, size_t i, bool from_event,
                           scgi_request **out)
{
  struct scgi__listener *l = &srv->listeners[i];
  scgi_request *req;
  int rc = scgi__listener_next(l, &srv->cfg, &req);

  if (atomic_load(&l->closed)) {
    listener_ended(srv, i);
    return 1;
  }
  if (out_of_resources(rc)) {
    /* The listener stays disarmed meanwhile: nobody spins on it. */
    warn_fd_shortage(srv, rc);
    backoff(srv, BACKOFF_MS);
  }
  if (from_event && arm_listener(srv, i, EPOLL_CTL_MOD) < 0)
    scgi__log(&srv->cfg, SCGI_LOG_ERROR, "cannot watch listener fd %d: %s",
              l->fd, scgi_strerror(-errno));
  if (rc == -EAGAIN || rc == SCGI_ESTOPPED || out_of_resources(rc))
    return 1;
  if (rc < 0) {
    scgi__log(&srv->cfg, SCGI_LOG_ERROR, "cannot accept a connection: %s",
              scgi_strerror(rc));
    return rc;
  }
  return read_header(srv, req, false, out);
}

/* Goes on with a waiting request that epoll reported readable. */
static int resume(scgi_server *srv, uint64_t key, scgi_request **out)
{
  scgi_request *req = scgi__room_take(&srv->room, key);

  if (req == NULL)
    return 1;
  if (req->linger) {
    linger_more(srv, req);
    return 1;
  }
  return read_header(srv, req, true, out);
}

static int wait_event(scgi_server *srv, struct epoll_event *ev)
{
  for (;;) {
    uint64_t now = scgi__now_ms();
    int n;

    scgi__room_sweep(&srv->room, now, expire, srv);
    if (stopped(srv))
      return SCGI_ESTOPPED;
    n = epoll_wait(srv->epfd, ev, 1, scgi__room_timeout(&srv->room, now));
    if (n > 0)
      return 0;
    if (n < 0 && errno != EINTR) {
      int rc = errno == ENOMEM ? SCGI_ENOMEM : -errno;
      scgi__log(&srv->cfg, SCGI_LOG_ERROR, "epoll_wait: %s",
                scgi_strerror(rc));
      return rc;
    }
  }
}

/* Under load a connection is usually waiting already: taking it at once
 * saves the epoll_wait() and the re-arming. Every DIRECT_STREAK takes,
 * the caller goes through epoll_wait() anyway, so that the waiting room
 * and its sweep get their turn. Returns like take_connection(). */
static int take_direct(scgi_server *srv, scgi_request **out)
{
  if (stopped(srv) ||
      atomic_fetch_add(&srv->direct_takes, 1) % DIRECT_STREAK == 0)
    return 1;
  for (size_t i = 0; i < srv->nlisteners; i++) {
    int rc;

    if (atomic_load(&srv->listeners[i].closed))
      continue;
    rc = take_connection(srv, i, false, out);
    if (rc <= 0)
      return rc;
  }
  return 1;
}

int scgi_accept(scgi_server *srv, scgi_request **out)
{
  int rc;

  if (out != NULL)
    *out = NULL;
  if (srv == NULL || out == NULL)
    return SCGI_EINVAL;
  if (srv->nlisteners == 0)
    return SCGI_ENOLISTENER;
  if ((rc = take_direct(srv, out)) <= 0)
    return rc;
  for (;;) {
    struct epoll_event ev;

    if ((rc = wait_event(srv, &ev)) < 0)
      return rc;
    if (ev.data.u64 == KEY_STOP)
      return SCGI_ESTOPPED;
    if (ev.data.u64 >= KEY_LISTENER)
      rc = take_connection(srv, (size_t)(ev.data.u64 - KEY_LISTENER), true,
                           out);
    else
      rc = resume(srv, ev.data.u64, out);
    if (rc <= 0)
      return rc;
  }
}

/* ---- the thread pool -------------------------------------------------------------- */

struct serve_ctx {
  scgi_server *srv;
  scgi_handler handler;
  void *arg;
};

static void *serve_thread(void *p)
{
  const struct serve_ctx *ctx = p;

  for (;;) {
    scgi_request *req;
    int rc = scgi_accept(ctx->srv, &req);

    if (rc == SCGI_ESTOPPED || rc == SCGI_ENOLISTENER)
      break;
    if (rc < 0) {
      /* Already logged; a shortage passes, so wait and go on. */
      backoff(ctx->srv, BACKOFF_MS);
      continue;
    }
    if (ctx->handler(req, ctx->arg) < 0)
      scgi_fail(req);
    scgi_request_free(req);
  }
  return NULL;
}

static unsigned default_threads(void)
{
  long n = sysconf(_SC_NPROCESSORS_ONLN);

  return n < 1 ? 1 : n > 1024 ? 1024 : (unsigned)n;
}

int scgi_serve(scgi_server *srv, unsigned threads, scgi_handler handler,
               void *arg)
{
  struct serve_ctx ctx = { srv, handler, arg };
  pthread_t *tids;
  unsigned started = 0;
  int err = 0;

  if (srv == NULL || handler == NULL)
    return SCGI_EINVAL;
  if (srv->nlisteners == 0)
    return SCGI_ENOLISTENER;
  if (threads == 0)
    threads = default_threads();
  tids = calloc(threads, sizeof *tids);
  if (tids == NULL)
    return SCGI_ENOMEM;
  for (; started < threads; started++) {
    err = pthread_create(&tids[started], NULL, serve_thread, &ctx);
    if (err != 0)
      break;
  }
  if (started < threads)
    scgi__log(&srv->cfg, started ? SCGI_LOG_WARNING : SCGI_LOG_ERROR,
              "started %u of %u threads: %s", started, threads,
              scgi_strerror(-err));
  for (unsigned i = 0; i < started; i++)
    pthread_join(tids[i], NULL);
  free(tids);
  return started == 0 ? -err : 0;
}
