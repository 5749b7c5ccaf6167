/*
 * cgi.c - CGI mode: one process per request, answered through libscgi.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A front thread runs one program at a time: it spawns it (posix_spawn,
 * its own process group, default signal dispositions, no descriptor but
 * its three pipes, in the program's directory), then polls its pipes:
 * the request body goes to standard input as the program takes it, the
 * header block of standard output is read whole and checked
 * (cgi_head.c) before any byte is answered, the body follows as it
 * comes (flushed when the program pauses for FLUSH_DELAY_MS, so that
 * streamed output is not held back, while a short response written at
 * once still ends whole in libscgi's buffer and gets a Content-Length),
 * standard error goes to the log line by line. The
 * program's whole run is bounded by app-timeout: past it, its process
 * group is killed. Its exit is waited for through a pidfd, or by polling
 * where pidfd_open() is missing (valgrind).
 */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_add*_np */
#include "config.h"

#include "cgi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgi_env.h"
#include "cgi_head.h"
#include "cgi_path.h"
#include "log.h"
#include "route.h"

#define OUT_BUF 65536       /* stdout reads; also the header block's cap */
#define IN_BUF 65536        /* request body on its way to stdin */
#define ERR_LINE 1024       /* longest stderr line logged as one */
#define ERR_LINES 100       /* stderr lines logged per request */
#define EXIT_POLL_MS 20     /* exit checks without a pidfd */
#define FLUSH_DELAY_MS 50   /* a pause in its output this long flushes it */

struct cgi_app {
  const struct app_conf *conf;
  unsigned queue;
  /* `lock` guards running and waiting; `freed` is signalled when a place
   * is given back. Invariant: running <= conf->workers. */
  pthread_mutex_t lock;
  pthread_cond_t freed;
  unsigned running, waiting;
  atomic_ullong served, crashes;
};

/* ---- places ------------------------------------------------------------ */

int cgi_app_new(const struct app_conf *c, unsigned queue,
                struct cgi_app **out)
{
  struct cgi_app *app = calloc(1, sizeof *app);
  pthread_condattr_t ca;

  *out = NULL;
  if (!app)
    return -ENOMEM;
  app->conf = c;
  app->queue = queue;
  pthread_mutex_init(&app->lock, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&app->freed, &ca);
  pthread_condattr_destroy(&ca);
  *out = app;
  return 0;
}

void cgi_app_free(struct cgi_app *app)
{
  if (!app)
    return;
  pthread_cond_destroy(&app->freed);
  pthread_mutex_destroy(&app->lock);
  free(app);
}

static void add_ms(struct timespec *ts, unsigned ms)
{
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

int cgi_acquire(struct cgi_app *app, unsigned wait_ms)
{
  struct timespec deadline;
  int rc = 0;

  pthread_mutex_lock(&app->lock);
  if (app->running >= app->conf->workers) {
    if (app->waiting >= app->queue) {
      rc = -EAGAIN;
    } else {
      clock_gettime(CLOCK_MONOTONIC, &deadline);
      add_ms(&deadline, wait_ms);
      app->waiting++;
      while (rc == 0 && app->running >= app->conf->workers)
        if (pthread_cond_timedwait(&app->freed, &app->lock, &deadline) ==
            ETIMEDOUT)
          rc = -ETIMEDOUT;
      app->waiting--;
    }
  }
  if (rc == 0)
    app->running++;
  pthread_mutex_unlock(&app->lock);
  return rc;
}

void cgi_release(struct cgi_app *app)
{
  pthread_mutex_lock(&app->lock);
  app->running--;
  pthread_mutex_unlock(&app->lock);
  pthread_cond_signal(&app->freed);
}

void cgi_stats(struct cgi_app *app, struct worker_stats *out)
{
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&app->lock);
  out->alive = out->busy = app->running;
  out->waiting = app->waiting;
  pthread_mutex_unlock(&app->lock);
  out->served = atomic_load(&app->served);
  out->crashes = atomic_load(&app->crashes);
}

/* ---- one run ----------------------------------------------------------- */

struct run {
  struct cgi_app *app;
  scgi_request *req;
  const struct cgi_script *script;
  pid_t pid;
  int pidfd;                /* -1 when pidfd_open() is missing */
  int in, out, err;         /* our ends of its pipes; -1 once closed */
  bool exited;
  int wstatus;
  struct timespec deadline; /* tv_sec 0: none */
  char *inbuf;              /* body bytes read, not yet written */
  size_t in_off, in_len;
  char *outbuf;             /* stdout bytes before the header block ends */
  size_t out_len;
  bool head_sent;           /* the header block went to libscgi */
  bool unflushed;           /* body bytes given to libscgi since a flush */
  char errline[ERR_LINE];
  size_t err_len;
  unsigned err_lines;
  enum cgi_end end;
  int status;
  long long bytes;
};

static const char *app_name(const struct run *r)
{
  return r->app->conf->name;
}

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* Our pipe ends are non-blocking: a program that stops reading or writing
 * never blocks the thread. */
static int make_pipe(int fds[2], bool ours_reads)
{
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -errno;
  return fcntl(fds[ours_reads ? 0 : 1], F_SETFL, O_NONBLOCK) == 0 ? 0 : -errno;
}

/* The directory part of a real path, for the program's working
 * directory; "/" for a program at the root. */
static char *dir_of(const char *filename)
{
  const char *slash = strrchr(filename, '/');
  size_t n = slash && slash != filename ? (size_t)(slash - filename) : 1;
  char *dir = malloc(n + 1);

  if (dir) {
    memcpy(dir, filename, n);
    dir[n] = '\0';
  }
  return dir;
}

/* Spawns the program on the child ends of its pipes. 0 or an errno
 * value. */
static int spawn(struct run *r, char **env, const int child[3])
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t none, all;
  char *argv[] = { r->script->filename, NULL };
  char *dir = dir_of(r->script->filename);
  int rc;

  if (!dir)
    return ENOMEM;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  for (int fd = 0; fd < 3; fd++)
    posix_spawn_file_actions_adddup2(&fa, child[fd], fd);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCHDIR_NP
  posix_spawn_file_actions_addchdir_np(&fa, dir);
#endif
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
  /* scgiserver ignores SIGPIPE and blocks signals in its threads: the
   * program starts with defaults, in a process group of its own so that
   * a timeout kills what it started too. */
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF |
                                    POSIX_SPAWN_SETPGROUP);
  rc = posix_spawn(&r->pid, r->script->filename, &fa, &at, argv, env);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  free(dir);
  return rc;
}

static int var_of_request(const void *src, size_t i, const char **name,
                          const char **value)
{
  return scgi_request_var(src, i, name, value, NULL);
}

/* Pipes, environment, process. 0, or an errno value (logged by the
 * caller). */
static int start(struct run *r)
{
  struct cgi_vars vars = { r->req, scgi_request_count(r->req),
                           var_of_request };
  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
  char **env = cgi_env(&vars, r->script);
  int rc = env ? 0 : ENOMEM;

  if (rc == 0 && ((rc = make_pipe(in, false)) != 0 ||
                  (rc = make_pipe(out, true)) != 0 ||
                  (rc = make_pipe(err, true)) != 0))
    rc = -rc;
  if (rc == 0)
    rc = spawn(r, env, (const int[3]){ in[0], out[1], err[1] });
  free(env);
  close_fd(&in[0]);
  close_fd(&out[1]);
  close_fd(&err[1]);
  r->in = in[1];
  r->out = out[0];
  r->err = err[0];
  if (rc != 0) {
    close_fd(&r->in);
    close_fd(&r->out);
    close_fd(&r->err);
    return rc;
  }
  r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
  return 0;
}

/* ---- its output -------------------------------------------------------- */

/* Logs one stderr line, control bytes shown as '?'. */
static void log_stderr_line(struct run *r)
{
  if (r->err_len == 0 || ++r->err_lines > ERR_LINES) {
    if (r->err_lines == ERR_LINES + 1)
      log_msg(SCGI_LOG_WARNING, "app %s: %s: more standard error output; "
              "not logged", app_name(r), r->script->script_name);
    r->err_len = 0;
    return;
  }
  for (size_t i = 0; i < r->err_len; i++)
    if ((unsigned char)r->errline[i] < 0x20 || r->errline[i] == 0x7f)
      r->errline[i] = '?';
  log_msg(SCGI_LOG_WARNING, "app %s: %s: %.*s", app_name(r),
          r->script->script_name, (int)r->err_len, r->errline);
  r->err_len = 0;
}

static void on_stderr(struct run *r)
{
  char buf[4096];
  ssize_t n = read(r->err, buf, sizeof buf);

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    log_stderr_line(r);
    close_fd(&r->err);
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      if (r->err_len > 0 && r->errline[r->err_len - 1] == '\r')
        r->err_len--;
      log_stderr_line(r);
    } else {
      if (r->err_len == ERR_LINE)
        log_stderr_line(r);
      r->errline[r->err_len++] = buf[i];
    }
  }
}

static void fail_with(struct run *r, enum cgi_end end, int status)
{
  r->end = end;
  r->status = status;
}

/* A name or reason phrase as a C string. */
static char *copy(const char *s, size_t n)
{
  char *c = malloc(n + 1);

  if (c) {
    memcpy(c, s, n);
    c[n] = '\0';
  }
  return c;
}

/* Hands the parsed header block to libscgi. 0, or -1 (r->end set). */
static int send_head(struct run *r, const struct cgi_head *h)
{
  char *reason = h->reason_len < 64 ? copy(h->reason, h->reason_len) : NULL;
  int rc = scgi_status(r->req, h->status, reason);

  free(reason);
  for (size_t i = 0; rc == 0 && i < h->nfields; i++) {
    char *name = copy(h->fields[i].name, h->fields[i].name_len);
    rc = name ? scgi_header_n(r->req, name, h->fields[i].value,
                              h->fields[i].value_len)
              : SCGI_ENOMEM;
    free(name);
  }
  if (rc != 0) {
    log_msg(SCGI_LOG_WARNING, "app %s: 502 for %s: its header block was "
            "refused: %s", app_name(r), r->script->script_name,
            scgi_strerror(rc));
    fail_with(r, CGI_FAILED, 502);
    return -1;
  }
  r->head_sent = true;
  r->status = h->status;
  return 0;
}

static int front_failed(struct run *r, int rc)
{
  log_msg(SCGI_LOG_INFO, "app %s: the front connection for %s failed: %s; "
          "killing the program", app_name(r), r->script->script_name,
          scgi_strerror(rc));
  fail_with(r, CGI_FRONT_GONE, 0);
  return -1;
}

static int send_body(struct run *r, const char *data, size_t n)
{
  int rc;

  if (n == 0)
    return 0;
  if ((rc = scgi_write(r->req, data, n)) != 0)
    return front_failed(r, rc);
  r->bytes += (long long)n;
  r->unflushed = true;
  return 0;
}

/* Stdout bytes while the header block is incomplete: kept in outbuf
 * until it ends. 0, or -1 (r->end set). */
static int take_head(struct run *r, size_t n)
{
  struct cgi_head h;
  int rc;

  r->out_len += n;
  rc = cgi_head_parse(r->outbuf, r->out_len, &h);
  if (rc == 0 && r->out_len < OUT_BUF)
    return 0;
  if (rc <= 0) {
    log_msg(SCGI_LOG_WARNING, "app %s: 502 for %s: not a CGI response: %s",
            app_name(r), r->script->script_name,
            rc < 0 ? h.error : "a header block of 64 KiB or more");
    fail_with(r, CGI_FAILED, 502);
    return -1;
  }
  if (send_head(r, &h) != 0)
    return -1;
  return send_body(r, r->outbuf + h.length, r->out_len - h.length);
}

/* 0, or -1 when the run must stop (r->end set). */
static int on_stdout(struct run *r)
{
  char *at = r->head_sent ? r->outbuf : r->outbuf + r->out_len;
  size_t room = r->head_sent ? OUT_BUF : OUT_BUF - r->out_len;
  ssize_t n = read(r->out, at, room);

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n <= 0) {
    close_fd(&r->out);
    if (r->head_sent)
      return 0;
    log_msg(SCGI_LOG_WARNING, "app %s: 502 for %s: %s", app_name(r),
            r->script->script_name,
            r->out_len ? "its output ended inside the header block"
                       : "it wrote no response");
    fail_with(r, CGI_FAILED, 502);
    return -1;
  }
  if (!r->head_sent)
    return take_head(r, (size_t)n);
  return send_body(r, r->outbuf, (size_t)n);
}

/* ---- its input --------------------------------------------------------- */

/* Stdin is writable: moves body bytes on, reading more from the front
 * when none are pending; closes stdin at the body's end or when the
 * program stops reading (the rest is discarded by libscgi). A body that
 * cannot be read whole (the front closed early, or was too slow) stops
 * the run: the program must not take a cut body for the whole one.
 * Returns 0, or -1 (r->end set). */
static int on_stdin(struct run *r)
{
  ssize_t n;

  if (r->in_len == 0) {
    n = scgi_read(r->req, r->inbuf, IN_BUF);
    if (n < 0) {
      log_msg(SCGI_LOG_WARNING, "app %s: the request body for %s could not "
              "be read whole: %s; killing the program", app_name(r),
              r->script->script_name, scgi_strerror((int)n));
      fail_with(r, CGI_FRONT_GONE, n == SCGI_ETIMEDOUT ? 408 : 0);
      return -1;
    }
    if (n == 0) {
      close_fd(&r->in);
      return 0;
    }
    r->in_off = 0;
    r->in_len = (size_t)n;
  }
  n = write(r->in, r->inbuf + r->in_off, r->in_len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n < 0) { /* EPIPE: it closed its input */
    close_fd(&r->in);
    return 0;
  }
  r->in_off += (size_t)n;
  r->in_len -= (size_t)n;
  if (r->in_len == 0 && scgi_request_body_left(r->req) == 0)
    close_fd(&r->in);
  return 0;
}

/* ---- the loop ---------------------------------------------------------- */

static void check_exit(struct run *r)
{
  if (!r->exited && waitpid(r->pid, &r->wstatus, WNOHANG) == r->pid)
    r->exited = true;
}

/* Milliseconds to the deadline (-1: none), at most `cap` when cap >= 0. */
static int wait_ms(const struct run *r, int cap)
{
  struct timespec now;
  long long ms;

  if (r->deadline.tv_sec == 0)
    return cap;
  clock_gettime(CLOCK_MONOTONIC, &now);
  ms = (r->deadline.tv_sec - now.tv_sec) * 1000LL +
       (r->deadline.tv_nsec - now.tv_nsec) / 1000000L;
  if (ms < 0)
    ms = 0;
  return cap >= 0 && ms > cap ? cap : (int)ms;
}

static bool past_deadline(const struct run *r)
{
  return r->deadline.tv_sec != 0 && wait_ms(r, -1) == 0;
}

/* One poll round. 0 to go on, -1 when the run must stop (r->end set). */
static int step(struct run *r)
{
  struct pollfd p[4];
  nfds_t n = 0;
  int timeout, ready, rc;

  p[n++] = (struct pollfd){ r->out, POLLIN, 0 };
  p[n++] = (struct pollfd){ r->err, POLLIN, 0 };
  p[n++] = (struct pollfd){ r->in, POLLOUT, 0 };
  p[n++] = (struct pollfd){ r->exited ? -1 : r->pidfd, POLLIN, 0 };
  timeout = wait_ms(r, r->unflushed ? FLUSH_DELAY_MS
                     : r->pidfd < 0 && !r->exited ? EXIT_POLL_MS : -1);
  ready = poll(p, n, timeout);
  if (ready == 0 && r->unflushed) { /* it pauses: what it wrote goes out */
    r->unflushed = false;
    if ((rc = scgi_flush(r->req)) != 0)
      return front_failed(r, rc);
  }
  if (ready < 0 && errno != EINTR)
    return fail_with(r, CGI_FAILED, 502), -1;
  if (p[0].revents && on_stdout(r) != 0)
    return -1;
  if (p[1].revents)
    on_stderr(r);
  if (p[2].revents && on_stdin(r) != 0)
    return -1;
  if (p[3].revents || r->pidfd < 0)
    check_exit(r);
  return 0;
}

/* Runs the loop until the program has closed its output and exited;
 * then takes what its standard error holds (a child it left behind may
 * keep that open). */
static void relay(struct run *r)
{
  if (scgi_request_body_left(r->req) == 0)
    close_fd(&r->in);
  while (r->out >= 0 || !r->exited) {
    if (past_deadline(r)) {
      fail_with(r, CGI_TIMED_OUT, r->head_sent ? 0 : 504);
      return;
    }
    if (step(r) != 0)
      return;
  }
  while (r->err >= 0 && poll(&(struct pollfd){ r->err, POLLIN, 0 }, 1, 0) > 0)
    on_stderr(r);
  log_stderr_line(r);
}

/* ---- ending ------------------------------------------------------------ */

/* Kills its process group if it still runs, and reaps it. */
static void reap(struct run *r)
{
  if (!r->exited) {
    (void)kill(-r->pid, SIGKILL);
    while (waitpid(r->pid, &r->wstatus, 0) < 0 && errno == EINTR)
      ;
    r->exited = true;
  }
  close_fd(&r->pidfd);
  close_fd(&r->in);
  close_fd(&r->out);
  close_fd(&r->err);
}

static void count_exit(struct run *r, bool killed)
{
  int st = r->wstatus;

  atomic_fetch_add_explicit(&r->app->served, 1, memory_order_relaxed);
  if (killed || (WIFEXITED(st) && WEXITSTATUS(st) == 0))
    return;
  atomic_fetch_add_explicit(&r->app->crashes, 1, memory_order_relaxed);
  if (WIFSIGNALED(st))
    log_msg(SCGI_LOG_WARNING, "app %s: %s (pid %ld) was killed by signal %d",
            app_name(r), r->script->script_name, (long)r->pid,
            WTERMSIG(st));
  else
    log_msg(SCGI_LOG_WARNING, "app %s: %s (pid %ld) exited with status %d",
            app_name(r), r->script->script_name, (long)r->pid,
            WEXITSTATUS(st));
}

/* The answers libscgi still can send: an error page before anything went
 * out, else a reset so that a cut response is not taken for whole. */
static void answer_failure(struct run *r)
{
  const char *text = r->status == 408
                         ? "408 Request Timeout: the request body stopped "
                           "arriving.\n"
                     : r->status == 504
                         ? "504 Gateway Timeout: the CGI program ran too "
                           "long.\n"
                         : "502 Bad Gateway: the CGI program gave no valid "
                           "response.\n";

  if (r->end == CGI_TIMED_OUT)
    log_msg(SCGI_LOG_WARNING, "app %s: %s for %s: still running after %u "
            "ms (pid %ld): killed", app_name(r),
            r->head_sent ? "connection reset" : "504",
            r->script->script_name, r->app->conf->app_timeout_ms,
            (long)r->pid);
  /* A front that stalled may still read: it gets a 408. */
  if (r->head_sent || (r->end == CGI_FRONT_GONE && r->status != 408)) {
    scgi_fail(r->req);
    r->status = 0;
    return;
  }
  if (scgi_status(r->req, r->status, NULL) == 0)
    (void)scgi_write(r->req, text, strlen(text));
}

/* ---- a request --------------------------------------------------------- */

/* The path the program is chosen from: SCRIPT_NAME (+ PATH_INFO), else
 * DOCUMENT_URI, else REQUEST_URI decoded. NULL when there is none or it
 * does not decode. Free it. */
static char *request_path(scgi_request *req, size_t *len)
{
  const char *sn = scgi_request_get(req, "SCRIPT_NAME");
  const char *pi = scgi_request_get(req, "PATH_INFO");
  const char *du = scgi_request_get(req, "DOCUMENT_URI");
  const char *ru = scgi_request_uri(req);
  char *path;
  ssize_t n;

  if (sn && *sn) {
    size_t a = strlen(sn), b = pi ? strlen(pi) : 0;
    if ((path = malloc(a + b + 1)) != NULL) {
      memcpy(path, sn, a);
      memcpy(path + a, pi ? pi : "", b + 1);
      *len = a + b;
    }
    return path;
  }
  if (du && *du) {
    *len = strlen(du);
    return strdup(du);
  }
  if (!ru)
    return NULL;
  n = (ssize_t)strcspn(ru, "?");
  if ((path = malloc((size_t)n + 1)) == NULL)
    return NULL;
  if ((n = scgi_decode(path, (size_t)n + 1, ru, (size_t)n,
                       SCGI_DECODE_NO_NUL)) < 0) {
    free(path);
    return NULL;
  }
  *len = (size_t)n;
  return path;
}

static int locate(struct cgi_app *app, scgi_request *req,
                  struct cgi_script *s, const char **why)
{
  size_t len = 0;
  char *path = request_path(req, &len);
  int status;

  if (!path) {
    *why = "no request path, or a malformed one";
    return 400;
  }
  status = cgi_locate(app->conf->cgi_dir, path, len,
                      route_prefix_len(app->conf, path, len), s, why);
  free(path);
  return status;
}

static void refuse(struct cgi_app *app, scgi_request *req, int status,
                   const char *why, struct cgi_result *out)
{
  const char *uri = scgi_request_uri(req);
  char text[128];

  log_msg(status >= 500 ? SCGI_LOG_ERROR : SCGI_LOG_INFO,
          "app %s: %d for %s: %s", app->conf->name, status,
          uri ? uri : "(no REQUEST_URI)", why);
  snprintf(text, sizeof text, "%d %s\n", status,
           status == 400 ? "Bad Request" : status == 403 ? "Forbidden"
           : status == 404 ? "Not Found" : "Internal Server Error");
  out->end = status >= 500 ? CGI_FAILED : CGI_NO_PROGRAM;
  out->status = status;
  if (scgi_status(req, status, NULL) == 0)
    (void)scgi_write(req, text, strlen(text));
}

void cgi_serve(struct cgi_app *app, scgi_request *req,
               struct cgi_result *out)
{
  struct cgi_script script = { 0 };
  struct run r = { .app = app, .req = req, .script = &script, .pidfd = -1,
                   .in = -1, .out = -1, .err = -1 };
  const char *why;
  int rc;

  memset(out, 0, sizeof *out);
  if ((rc = locate(app, req, &script, &why)) != 0) {
    refuse(app, req, rc, why, out);
    return;
  }
  r.inbuf = malloc(IN_BUF);
  r.outbuf = malloc(OUT_BUF);
  if (!r.inbuf || !r.outbuf) {
    rc = ENOMEM;
  } else if ((rc = start(&r)) == 0) {
    if (app->conf->app_timeout_ms) {
      clock_gettime(CLOCK_MONOTONIC, &r.deadline);
      add_ms(&r.deadline, app->conf->app_timeout_ms);
    }
    relay(&r);
    reap(&r);
    count_exit(&r, r.end == CGI_TIMED_OUT || r.end == CGI_FRONT_GONE);
    /* Killed, not ended: what it wrote may be cut anywhere. */
    if (r.end == CGI_OK && WIFSIGNALED(r.wstatus))
      fail_with(&r, CGI_FAILED, 502);
    if (r.end != CGI_OK)
      answer_failure(&r);
  }
  if (rc != 0) {
    log_msg(SCGI_LOG_ERROR, "app %s: 502 for %s: cannot run %s: %s",
            app->conf->name, script.script_name, script.filename,
            strerror(rc));
    fail_with(&r, CGI_FAILED, 502);
    answer_failure(&r);
  }
  free(r.inbuf);
  free(r.outbuf);
  free(script.filename);
  *out = (struct cgi_result){ r.end, r.status, r.bytes };
}
