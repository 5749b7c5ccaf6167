/*
 * test_workers.c - scgiserver's worker supervisor, with real processes:
 * examples/echo workers in both handoff modes, /bin/sh workers that exit,
 * crash, ignore SIGTERM or dump their environment.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Standard error (where log_msg writes) goes to a temporary file, so that
 * the log lines can be checked; it is copied to the TAP output at the end.
 */
#include "config.h"

#include "tap.h"

#include "../scgiserver/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct ctx {
  char dir[64];        /* temporary directory: proxy sockets, files */
  char echo[4096];     /* examples/echo in the build tree */
  char log[128];       /* where standard error goes */
};

/* ---- helpers ------------------------------------------------------------- */

static long long ms_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* Polls `cond` every 10 ms for up to `ms`; evaluates to its last value. */
#define WAIT_UNTIL(cond, ms)                                                   \
  ({                                                                           \
    long long until_ = ms_now() + (ms);                                        \
    while (!(cond) && ms_now() < until_)                                       \
      sleep_ms(10);                                                            \
    (cond);                                                                    \
  })

static struct worker_stats stats_of(struct worker_set *ws)
{
  struct worker_stats st;

  workers_stats(ws, &st);
  return st;
}

/* Whether the log so far contains `text`. */
static bool logged(struct ctx *c, const char *text)
{
  static char buf[1 << 16];
  FILE *f = fopen(c->log, "r");
  size_t n;

  if (!f)
    return false;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, text) != NULL;
}

static bool reaped(pid_t pid)
{
  return pid > 0 && waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD &&
         kill(pid, 0) < 0 && errno == ESRCH;
}

static struct worker_spec spec_of(const char *name, char *const *argv,
                                  enum handoff_mode mode, const char *dir)
{
  return (struct worker_spec){.name = name, .argv = argv, .count = 1,
                              .mode = mode, .concurrency = 1, .queue = 4,
                              .runtime_dir = dir, .stop_timeout_ms = 2000};
}

static bool started(const struct worker_spec *spec, struct worker_set **ws)
{
  int rc = workers_start(spec, ws);

  TAP_OK(rc == 0, "%s: started", spec->name);
  if (rc != 0)
    tap_diag("workers_start: %s", strerror(-rc));
  return rc == 0;
}

/* ---- talking SCGI -------------------------------------------------------- */

static size_t build_request(char *buf, size_t size, const char *body)
{
  char hdr[256];
  int hl = snprintf(hdr, sizeof hdr,
                    "CONTENT_LENGTH%c%zu%cSCGI%c1%cREQUEST_METHOD%cPOST%c"
                    "REQUEST_URI%c/t%c",
                    0, strlen(body), 0, 0, 0, 0, 0, 0, 0);
  int n = snprintf(buf, size, "%d:", hl);

  memcpy(buf + n, hdr, (size_t)hl);
  buf[n + hl] = ',';
  memcpy(buf + n + hl + 1, body, strlen(body));
  return (size_t)n + (size_t)hl + 1 + strlen(body);
}

static size_t read_all(int fd, char *buf, size_t size)
{
  size_t got = 0;
  ssize_t n;

  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (got + 1 >= size || poll(&p, 1, 5000) <= 0)
      break;
    if ((n = read(fd, buf + got, size - 1 - got)) <= 0)
      break;
    got += (size_t)n;
  }
  buf[got] = '\0';
  return got;
}

static int send_fd(int sock, int fd, const void *data, size_t len)
{
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
                     .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

  memset(u.buf, 0, sizeof u.buf);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

/* Hands a connection over as scgiserver does: the first `split` bytes of
 * the request as payload, the rest (`send_now` bytes of it) written to the
 * front end of the connection, which is returned (-1 on error). */
static int hand_off(const struct worker_ref *ref, const char *req,
                    size_t len, size_t split, size_t send_now)
{
  int front[2];

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, front) < 0)
    return -1;
  if (send_fd(ref->handoff_fd, front[1], req, split) < 0 ||
      send(front[0], req + split, send_now - split, MSG_NOSIGNAL) !=
          (ssize_t)(send_now - split)) {
    close(front[0]);
    close(front[1]);
    return -1;
  }
  close(front[1]);
  (void)len;
  return front[0];
}

/* One whole request through a pass worker; the response goes to resp. */
static bool pass_request(struct worker_set *ws, unsigned wait_ms,
                         const char *body, struct worker_ref *ref,
                         char *resp, size_t size)
{
  char req[512];
  size_t len = build_request(req, sizeof req, body);
  int fd;

  resp[0] = '\0';
  if (workers_acquire(ws, wait_ms, ref) != 0)
    return false;
  if ((fd = hand_off(ref, req, len, len / 2, len)) < 0) {
    workers_release(ws, ref, true);
    return false;
  }
  workers_handed_off(ws, ref);
  read_all(fd, resp, size);
  close(fd);
  return true;
}

static bool proxy_request(struct worker_set *ws, const char *body,
                          struct worker_ref *ref, char *resp, size_t size)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  char req[512];
  size_t len = build_request(req, sizeof req, body);
  bool ok;
  int fd;

  resp[0] = '\0';
  if (workers_acquire(ws, 3000, ref) != 0)
    return false;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", ref->socket_path);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
       send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len;
  if (ok)
    read_all(fd, resp, size);
  if (fd >= 0)
    close(fd);
  workers_release(ws, ref, !ok);
  return ok;
}

static bool echoed(const char *resp, const char *body)
{
  size_t rl = strlen(resp), bl = strlen(body);

  return strncmp(resp, "Status: 200", 11) == 0 &&
         strstr(resp, "REQUEST_URI=/t\n") != NULL && rl >= bl &&
         strcmp(resp + rl - bl, body) == 0;
}

/* ---- pass mode ----------------------------------------------------------- */

static void test_pass(struct ctx *c)
{
  char *argv[] = {c->echo, "-t", "2", NULL};
  struct worker_spec spec = spec_of("pass", argv, HANDOFF_PASS, NULL);
  struct worker_ref ref, refs[4];
  struct worker_set *ws;
  char resp[4096];
  bool ids[2] = {false, false}, all_ok = true;
  pid_t pid[2];

  spec.count = 2;
  spec.concurrency = 2;
  TAP_EQ(workers_start(&spec, &ws), 0, "pass: two echo workers start");
  if (!ws)
    return;
  TAP_EQ(stats_of(ws).alive, 2, "pass: both alive");
  TAP_OK(pass_request(ws, 1000, "hello", &ref, resp, sizeof resp),
         "pass: acquire and hand off");
  TAP_OK(ref.handoff_fd >= 0 && ref.socket_path == NULL,
         "pass: the ref has a handoff socket, no path");
  TAP_OK(echoed(resp, "hello"), "pass: the worker answered: %.15s", resp);
  TAP_OK(WAIT_UNTIL(stats_of(ws).busy == 0, 3000),
         "pass: the worker's \"D\" frees the slot");
  for (int i = 0; i < 6; i++) {
    all_ok &= pass_request(ws, 1000, "again", &ref, resp, sizeof resp) &&
              echoed(resp, "again");
    ids[ref.id % 2] = true;
  }
  TAP_OK(all_ok && ids[0] && ids[1], "pass: 6 more requests, both workers");
  TAP_OK(WAIT_UNTIL(stats_of(ws).busy == 0, 3000), "pass: all slots free");
  TAP_EQ(stats_of(ws).served, 7, "pass: served counted");

  for (int i = 0; i < 4; i++)
    TAP_EQ(workers_acquire(ws, 0, &refs[i]), 0, "pass: 4 slots of 2x2");
  TAP_EQ(workers_acquire(ws, 0, &ref), -ETIMEDOUT, "pass: no fifth slot");
  TAP_EQ(stats_of(ws).busy, 4, "pass: 4 busy");
  for (int i = 0; i < 4; i++)
    workers_release(ws, &refs[i], false);
  TAP_EQ(stats_of(ws).busy, 0, "pass: released without handoff");

  /* A killed worker comes back. */
  pid[0] = workers_pid(ws, 0);
  pid[1] = workers_pid(ws, 1);
  TAP_OK(pid[0] > 0 && pid[1] > 0, "pass: pids %d %d", pid[0], pid[1]);
  kill(pid[0], SIGKILL);
  TAP_OK(WAIT_UNTIL(workers_pid(ws, 0) > 0 && workers_pid(ws, 0) != pid[0],
                    3000),
         "pass: a SIGKILLed worker is restarted with a new pid");
  TAP_OK(reaped(pid[0]), "pass: the killed one was reaped");
  TAP_EQ(stats_of(ws).crashes, 1, "pass: one crash counted");
  TAP_EQ(stats_of(ws).restarts, 1, "pass: one restart counted");
  TAP_OK(logged(c, "(pid ") && logged(c, "crashed (signal 9); restarting "
                                         "in 100 ms"),
         "pass: the crash and the restart delay are logged");
  all_ok = true;
  for (int i = 0; i < 4; i++)
    all_ok &= pass_request(ws, 1000, "back", &ref, resp, sizeof resp) &&
              echoed(resp, "back");
  TAP_OK(all_ok, "pass: the restarted worker serves");

  pid[0] = workers_pid(ws, 0);
  workers_stop(ws, 2000);
  TAP_OK(reaped(pid[0]) && reaped(pid[1]),
         "pass: stop terminates and reaps every worker");
  TAP_EQ(workers_acquire(ws, 0, &ref), -ESRCH, "pass: no acquire once stopped");
  workers_free(ws);
}

struct late_send {
  int fd;
  const char *data;
  size_t len;
};

/* The front end sends the end of the request 300 ms later. */
static void *send_later(void *arg)
{
  struct late_send *l = arg;

  sleep_ms(300);
  (void)send(l->fd, l->data, l->len, MSG_NOSIGNAL);
  return NULL;
}

/* A connection still in a worker when the stop begins finishes. */
static void test_drain(struct ctx *c)
{
  char *argv[] = {c->echo, NULL};
  struct worker_spec spec = spec_of("drain", argv, HANDOFF_PASS, NULL);
  struct worker_set *ws;
  struct worker_ref ref;
  char req[512], resp[4096];
  size_t len = build_request(req, sizeof req, "slow body");
  long long t0;
  pid_t pid;
  int fd = -1;

  if (!started(&spec, &ws))
    return;
  if (workers_acquire(ws, 1000, &ref) == 0)
    fd = hand_off(&ref, req, len, 10, len - 4); /* body incomplete */
  workers_handed_off(ws, &ref);
  pid = workers_pid(ws, 0);
  TAP_OK(fd >= 0, "drain: request handed off");
  struct late_send late = {.fd = fd, .data = req + len - 4, .len = 4};
  pthread_t t;
  pthread_create(&t, NULL, send_later, &late);
  t0 = ms_now();
  workers_stop(ws, 5000);
  TAP_OK(ms_now() - t0 >= 250 && ms_now() - t0 < 4000,
         "drain: stop waited for the connection (%lld ms)", ms_now() - t0);
  read_all(fd, resp, sizeof resp);
  TAP_OK(echoed(resp, "slow body"), "drain: the response is complete");
  TAP_OK(reaped(pid), "drain: the worker is reaped");
  pthread_join(t, NULL);
  close(fd);
  workers_free(ws);
}

/* ---- proxy mode ---------------------------------------------------------- */

static void test_proxy(struct ctx *c)
{
  char *argv[] = {c->echo, "-t", "2", NULL};
  struct worker_spec spec = spec_of("px", argv, HANDOFF_PROXY, c->dir);
  struct worker_set *ws;
  struct worker_ref ref;
  char path[256], resp[4096];
  struct stat st;

  snprintf(path, sizeof path, "%s/px-0.sock", c->dir);
  TAP_EQ(workers_start(&spec, &ws), 0, "proxy: an echo worker starts");
  if (!ws)
    return;
  TAP_OK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
             (st.st_mode & 0777) == 0600,
         "proxy: socket %s, mode 0600", path);
  TAP_OK(proxy_request(ws, "via proxy", &ref, resp, sizeof resp),
         "proxy: connect and send");
  TAP_STREQ(ref.socket_path, path, "proxy: the ref names the socket");
  TAP_EQ(ref.handoff_fd, -1, "proxy: no handoff socket");
  TAP_OK(echoed(resp, "via proxy"), "proxy: the worker answered");
  TAP_EQ(stats_of(ws).busy, 0, "proxy: release frees the slot");
  TAP_EQ(stats_of(ws).served, 1, "proxy: served counted");
  workers_stop(ws, 1000);
  TAP_OK(stat(path, &st) < 0 && errno == ENOENT,
         "proxy: stop removes the socket");
  workers_free(ws);
}

/* ---- recycling ----------------------------------------------------------- */

static void recycle_in(struct ctx *c, enum handoff_mode mode)
{
  char *argv[] = {c->echo, NULL};
  const char *what = mode == HANDOFF_PASS ? "recycle pass" : "recycle proxy";
  struct worker_spec spec =
      spec_of(mode == HANDOFF_PASS ? "rp" : "rx", argv, mode, c->dir);
  struct worker_set *ws;
  struct worker_ref ref;
  unsigned gen[5];
  char resp[4096];
  bool all_ok = true;
  pid_t first;

  spec.max_requests = 2;
  if (!started(&spec, &ws))
    return;
  first = workers_pid(ws, 0);
  for (int i = 0; i < 5; i++) {
    bool ok = mode == HANDOFF_PASS
                  ? pass_request(ws, 3000, "r", &ref, resp, sizeof resp)
                  : proxy_request(ws, "r", &ref, resp, sizeof resp);
    all_ok &= ok && echoed(resp, "r");
    gen[i] = ref.generation;
  }
  TAP_OK(all_ok, "%s: 5 requests, none failed", what);
  TAP_OK(gen[0] == gen[1] && gen[2] == gen[0] + 1 && gen[3] == gen[2] &&
             gen[4] == gen[0] + 2,
         "%s: a new generation every 2 requests (%u %u %u %u %u)", what,
         gen[0], gen[1], gen[2], gen[3], gen[4]);
  TAP_OK(WAIT_UNTIL(stats_of(ws).recycles == 2, 3000),
         "%s: 2 recycles counted", what);
  TAP_OK(WAIT_UNTIL(reaped(first), 3000), "%s: the first worker is gone", what);
  TAP_OK(stats_of(ws).crashes + stats_of(ws).restarts == 0,
         "%s: no crash, no restart", what);
  workers_stop(ws, 1000);
  workers_free(ws);
}

static void test_recycle(struct ctx *c)
{
  recycle_in(c, HANDOFF_PASS);
  recycle_in(c, HANDOFF_PROXY);
  TAP_OK(logged(c, "served 2 requests: replacing it"), "recycle: logged");
}

/* ---- queueing ------------------------------------------------------------ */

struct waiter {
  struct worker_set *ws;
  struct worker_ref ref;
  int rc;
};

static void *wait_acquire(void *arg)
{
  struct waiter *w = arg;

  w->rc = workers_acquire(w->ws, 5000, &w->ref);
  return NULL;
}

static void test_queue(void)
{
  char *argv[] = {"sleep", "1000", NULL};
  struct worker_spec spec = spec_of("queue", argv, HANDOFF_PASS, NULL);
  struct worker_ref ref, other;
  struct waiter w = {.rc = 1};
  struct worker_set *ws;
  pthread_t t;
  long long t0;

  spec.queue = 1;
  if (!started(&spec, &ws))
    return;
  TAP_EQ(workers_acquire(ws, 0, &ref), 0, "queue: the only slot");
  t0 = ms_now();
  TAP_EQ(workers_acquire(ws, 200, &other), -ETIMEDOUT, "queue: times out");
  TAP_OK(ms_now() - t0 >= 190, "queue: after waiting (%lld ms)",
         ms_now() - t0);
  w.ws = ws;
  pthread_create(&t, NULL, wait_acquire, &w);
  TAP_OK(WAIT_UNTIL(stats_of(ws).waiting == 1, 2000), "queue: one waits");
  TAP_EQ(workers_acquire(ws, 1000, &other), -EAGAIN, "queue: full");
  workers_release(ws, &ref, false);
  pthread_join(t, NULL);
  TAP_EQ(w.rc, 0, "queue: a release wakes the waiter with the slot");

  struct waiter w2 = {.ws = ws, .rc = 1};
  pthread_create(&t, NULL, wait_acquire, &w2);
  TAP_OK(WAIT_UNTIL(stats_of(ws).waiting == 1, 2000), "queue: one waits");
  workers_stop(ws, 0);
  pthread_join(t, NULL);
  TAP_EQ(w2.rc, -ESRCH, "queue: stop wakes a waiter with -ESRCH");
  workers_release(ws, &w.ref, false); /* late, after the stop: harmless */
  workers_free(ws);

  spec.queue = 0;
  if (!started(&spec, &ws))
    return;
  TAP_EQ(workers_acquire(ws, 0, &ref), 0, "queue 0: the only slot");
  TAP_EQ(workers_acquire(ws, 1000, &other), -EAGAIN, "queue 0: -EAGAIN");
  workers_release(ws, &ref, false);
  workers_stop(ws, 0);
  workers_free(ws);
}

/* ---- failing programs ---------------------------------------------------- */

static void test_crash_loop(struct ctx *c)
{
  char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
  struct worker_spec spec = spec_of("loop", argv, HANDOFF_PASS, NULL);
  struct worker_set *ws;
  struct worker_stats st;

  if (!started(&spec, &ws))
    return;
  sleep_ms(1500);
  st = stats_of(ws);
  TAP_OK(st.restarts >= 2 && st.restarts <= 5,
         "crash loop: %llu restarts in 1.5 s, not spinning", st.restarts);
  TAP_EQ(st.crashes, 0, "crash loop: an exit status is not a crash");
  TAP_OK(logged(c, "exited with status 3; restarting in 100 ms") &&
             logged(c, "restarting in 200 ms") &&
             logged(c, "restarting in 400 ms"),
         "crash loop: each restart logged with a growing delay");
  workers_stop(ws, 0);
  workers_free(ws);

  char *segv[] = {"/bin/sh", "-c", "kill -SEGV $$", NULL};
  spec = spec_of("segv", segv, HANDOFF_PASS, NULL);
  if (!started(&spec, &ws))
    return;
  TAP_OK(WAIT_UNTIL(stats_of(ws).crashes >= 1, 2000),
         "crash loop: SIGSEGV counted as a crash");
  TAP_OK(logged(c, "crashed (signal 11"), "crash loop: the signal is logged");
  workers_stop(ws, 0);
  workers_free(ws);
}

static void test_exec_errors(struct ctx *c)
{
  char *missing[] = {"/nonexistent/prog", NULL};
  char *unlisted[] = {"no-such-program-here", NULL};
  char *noexec[] = {"/etc/passwd", NULL};
  struct worker_spec spec = spec_of("bad", missing, HANDOFF_PASS, NULL);
  struct worker_set *ws;
  struct worker_ref ref;

  TAP_EQ(workers_start(&spec, &ws), 0, "exec: a missing program starts");
  if (!ws)
    return;
  TAP_OK(WAIT_UNTIL(logged(c, "cannot run /nonexistent/prog: No such file"),
                    2000),
         "exec: the exec error is logged");
  TAP_EQ(stats_of(ws).alive, 0, "exec: not alive");
  workers_stop(ws, 0);
  workers_free(ws);

  spec.argv = unlisted;
  TAP_EQ(workers_start(&spec, &ws), 0, "exec: a program not in PATH");
  if (!ws)
    return;
  TAP_OK(logged(c, "cannot run no-such-program-here: No such file"),
         "exec: the PATH lookup failure is logged");
  TAP_EQ(workers_acquire(ws, 0, &ref), -ESRCH,
         "exec: no worker and no restart due: -ESRCH");
  TAP_EQ(workers_acquire(ws, 300, &ref), -ETIMEDOUT,
         "exec: a restart due within the wait: -ETIMEDOUT");
  workers_stop(ws, 0);
  workers_free(ws);

  spec.argv = noexec;
  TAP_EQ(workers_start(&spec, &ws), 0, "exec: a file that is no program");
  if (!ws)
    return;
  TAP_OK(WAIT_UNTIL(logged(c, "cannot run /etc/passwd: Permission denied"),
                    2000),
         "exec: EACCES is logged");
  workers_stop(ws, 0);
  workers_free(ws);
}

/* A worker that ignores SIGTERM gets SIGKILL after stop_timeout_ms. */
static void test_stubborn(struct ctx *c)
{
  char *argv[] = {"/bin/sh", "-c", "trap '' TERM; exec sleep 1000", NULL};
  struct worker_spec spec = spec_of("stubborn", argv, HANDOFF_PASS, NULL);
  struct worker_set *ws;
  long long t0, took;
  pid_t pid;

  spec.stop_timeout_ms = 300;
  if (!started(&spec, &ws))
    return;
  sleep_ms(100); /* let sh install its trap */
  pid = workers_pid(ws, 0);
  t0 = ms_now();
  workers_stop(ws, 0);
  took = ms_now() - t0;
  TAP_OK(took >= 290 && took < 3000, "stop: SIGKILL after %lld ms", took);
  TAP_OK(reaped(pid), "stop: the stubborn worker is reaped");
  TAP_OK(logged(c, "did not stop within 300 ms: killed"), "stop: logged");
  workers_free(ws);
}

/* ---- environment --------------------------------------------------------- */

static bool file_has(const char *path, const char *text)
{
  char buf[1 << 15];
  FILE *f = fopen(path, "r");
  size_t n;

  if (!f)
    return false;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, text) != NULL;
}

/* The standard signals (1 to 31) a process ignores, from a dumped
 * /proc/PID/status. The C library's own real-time signals (32, 33) are left
 * out: sigaction() refuses to touch them, so a worker inherits whatever its
 * parent had (make, for one, ignores them). */
static unsigned long ignored_standard_signals(const char *path)
{
  char buf[1 << 15], *line;
  FILE *f = fopen(path, "r");
  size_t n;

  if (!f)
    return ~0ul;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  if (!(line = strstr(buf, "SigIgn:\t")))
    return ~0ul;
  return strtoul(line + 8, NULL, 16) & 0x7ffffffful;
}

/* Starts a /bin/sh worker that dumps its environment, fd 3 and ignored
 * signals to `out`; returns its pid (0 on failure). */
static pid_t dump_env(struct ctx *c, enum handoff_mode mode,
                      const char *out, struct worker_set **ws)
{
  char script[512];
  char *argv[] = {"sh", "-c", script, NULL};
  struct worker_spec spec = spec_of("env", argv, mode, c->dir);

  snprintf(script, sizeof script,
           "{ env; echo \"pid=$$\"; readlink /proc/$$/fd/3; "
           "grep SigIgn /proc/$$/status; "
           "echo \"pgrp=$(cut -d' ' -f5 /proc/$$/stat)\"; } > %s.tmp; "
           "mv %s.tmp %s; "
           "exec sleep 1000",
           out, out, out);
  if (!started(&spec, ws))
    return 0;
  return WAIT_UNTIL(access(out, F_OK) == 0, 3000) ? workers_pid(*ws, 0) : 0;
}

static void test_env(struct ctx *c)
{
  struct worker_set *ws;
  char out[128], want[64];
  pid_t pid;

  setenv("LISTEN_FDS", "2", 1);
  setenv("LISTEN_PID", "1", 1);
  setenv("LISTEN_FDNAMES", "x:y", 1);
  setenv("SCGI_HANDOFF_FD", "9", 1);
  snprintf(out, sizeof out, "%s/env-pass", c->dir);
  if (!(pid = dump_env(c, HANDOFF_PASS, out, &ws)))
    return;
  TAP_OK(pid > 0, "env pass: the worker wrote its environment");
  TAP_OK(file_has(out, "\nSCGI_HANDOFF_FD=3\n") &&
             !file_has(out, "LISTEN_FDS=") && !file_has(out, "LISTEN_PID=") &&
             !file_has(out, "LISTEN_FDNAMES="),
         "env pass: SCGI_HANDOFF_FD=3, no inherited LISTEN_*");
  TAP_OK(file_has(out, "\nsocket:["), "env pass: fd 3 is a socket");
  TAP_EQ(ignored_standard_signals(out), 0,
         "env pass: no standard signal ignored (SIGPIPE, SIGINT reset)");
  {
    char want_pgrp[48];
    snprintf(want_pgrp, sizeof want_pgrp, "\npgrp=%ld\n", (long)pid);
    TAP_OK(file_has(out, want_pgrp),
           "env pass: the worker leads a process group of its own");
  }
  TAP_OK(file_has(out, "\nHOME=") || !getenv("HOME"),
         "env pass: the rest of the environment is kept");
  workers_stop(ws, 0);
  workers_free(ws);

  snprintf(out, sizeof out, "%s/env-proxy", c->dir);
  if (!(pid = dump_env(c, HANDOFF_PROXY, out, &ws)))
    return;
  snprintf(want, sizeof want, "\nLISTEN_PID=%ld\n", (long)pid);
  TAP_OK(pid > 0 && file_has(out, want) && file_has(out, "\nLISTEN_FDS=1\n"),
         "env proxy: LISTEN_FDS=1, LISTEN_PID=%ld", (long)pid);
  TAP_OK(!file_has(out, "SCGI_HANDOFF_FD") && !file_has(out, "FDNAMES"),
         "env proxy: nothing else inherited");
  workers_stop(ws, 0);
  workers_free(ws);
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  unsetenv("SCGI_HANDOFF_FD");
}

static void test_bad_spec(void)
{
  char *argv[] = {"sleep", "1", NULL};
  struct worker_spec spec = spec_of("x", argv, HANDOFF_PROXY, NULL);
  struct worker_set *ws;

  TAP_EQ(workers_start(&spec, &ws), -EINVAL, "spec: proxy needs a dir");
  spec.runtime_dir = "/nonexistent-dir";
  TAP_OK(workers_start(&spec, &ws) < 0 && ws == NULL,
         "spec: an unusable runtime dir fails the start");
  spec.count = 0;
  TAP_EQ(workers_start(&spec, &ws), -EINVAL, "spec: count 0");
}

/* ---- main ---------------------------------------------------------------- */

static void copy_log(const char *path)
{
  char line[1024];
  FILE *f = fopen(path, "r");

  while (f && fgets(line, sizeof line, f))
    printf("# %s", line);
  if (f)
    fclose(f);
}

int main(void)
{
  const char *top = getenv("top_builddir");
  struct ctx c;
  int fd;

  signal(SIGPIPE, SIG_IGN); /* the workers must not inherit this */
  snprintf(c.echo, sizeof c.echo, "%s/examples/echo", top ? top : ".");
  snprintf(c.dir, sizeof c.dir, "/tmp/test_workers.XXXXXX");
  if (!mkdtemp(c.dir) || access(c.echo, X_OK) != 0)
    tap_skip_all("no temporary directory or no examples/echo");
  snprintf(c.log, sizeof c.log, "%s/log", c.dir);
  if ((fd = open(c.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
    tap_skip_all("cannot create the log file");
  fflush(stderr);
  dup2(fd, STDERR_FILENO);
  close(fd);

  test_pass(&c);
  test_drain(&c);
  test_proxy(&c);
  test_recycle(&c);
  test_queue();
  test_crash_loop(&c);
  test_exec_errors(&c);
  test_stubborn(&c);
  test_env(&c);
  test_bad_spec();

  copy_log(c.log);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", c.dir);
  if (system(cmd) != 0)
    tap_diag("could not remove %s", c.dir);
  return tap_done();
}
