/*
 * workers.c - starting, watching, restarting and recycling the application
 * processes of one worker set.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each slot (0 .. count - 1) has at most one current process, the one that
 * takes new connections; a process being recycled or one that died while a
 * relay thread still held a reference to it stays on the set's list of
 * processes until nothing refers to it.
 *
 * Lock invariant: ws->lock guards the slots, the process list, every
 * counter of every process, the stop phase and the statistics. Only the
 * supervisor thread (and workers_start before that thread exists) creates,
 * installs and frees processes and closes their descriptors, so a process
 * pointer the supervisor took under the lock stays valid while it polls
 * without the lock, and a handoff_fd given by workers_acquire() stays open
 * until its reference comes back through workers_handed_off() or
 * workers_release() (no descriptor number can be reused under a relay).
 *
 * Slots of a process: `held` references are with relay threads (acquired,
 * not yet handed off or released), `sent` connections were handed off and
 * wait for their "D". A "D" can overtake the workers_handed_off() call of
 * its own connection; `early` counts those.
 */
#include "config.h"

#include "workers.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* waitid()'s P_PIDFD (Linux 5.4): glibc has it as an enum constant only,
 * so it cannot be tested for; the value is the kernel's. */
#define WAIT_PIDFD ((idtype_t)3)
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

#define WORKER_FD 3             /* the descriptor a worker inherits */
#define BACKOFF_MIN_MS 100      /* first restart delay after an exit */
#define BACKOFF_MAX_MS 10000    /* the delay doubles up to this */
#define STABLE_MS 10000         /* a worker that lived this long resets it */
#define REAP_GIVE_UP_MS 5000    /* after SIGKILL, how long stop waits */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define PID_DIGITS 20           /* room for any pid_t in LISTEN_PID */
#define NO_PIDFD_POLL_MS 100    /* exit checks without pidfd_open (valgrind) */
#define DONES_BACKLOG 64        /* "D"s left unread on a handoff socket */

struct proc {
  struct proc *next;
  unsigned slot, generation;
  pid_t pid;
  int pidfd;                 /* -1 once reaped, or when pidfd_open() is
                                missing (valgrind): then polled */
  int handoff_fd;            /* pass: our end of the socketpair; else -1 */
  unsigned held, sent, early; /* see the top of the file */
  unsigned given;            /* connections given, for max_requests */
  int64_t started_ms;
  int64_t kill_at_ms;        /* when term_sent: SIGKILL time (or give-up
                                time once killed) */
  bool exec_failed, retiring, hup, term_sent, killed, reaped;
};

struct slot {
  struct proc *cur;          /* takes new work; NULL while restarting */
  unsigned generation;       /* of the last process started here */
  unsigned backoff_ms;       /* delay before the next restart */
  unsigned delay_ms;         /* that of the restart scheduled, for logs */
  int64_t restart_at_ms;     /* 0: no restart scheduled */
  char *socket_path;         /* proxy */
};

enum phase { RUNNING, DRAINING, TERMINATING, STOPPED };

struct worker_set {
  /* Set by workers_start, read-only afterwards. */
  char *name, **argv, **envp, *path_var;
  char *listen_pid;          /* proxy: the digits of LISTEN_PID in envp */
  enum handoff_mode mode;
  unsigned count, concurrency, max_requests, queue, stop_timeout_ms;
  int wake[2];               /* to the supervisor: something changed */
  pthread_t thread;
  bool sync_ready;           /* lock and freed initialized */
  bool said_no_pidfd;        /* only the spawning thread uses it */
  bool joined;               /* no supervisor runs: only the stop caller */

  pthread_mutex_t lock;
  pthread_cond_t freed;      /* a slot freed, a worker started, stopping */
  struct slot *slots;
  struct proc *procs;
  unsigned next_pick;        /* spreads ties between equally busy workers */
  unsigned waiting;
  unsigned freed_unsignaled; /* slots freed by "D"s, signaled after unlock */
  enum phase phase;
  int64_t drain_until_ms;
  struct worker_stats stats;
};

/* ---- small helpers ------------------------------------------------------- */

static int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned busy_of(const struct proc *p)
{
  return p->held + p->sent;
}

static bool usable(const struct proc *p)
{
  return !(p->reaped || p->exec_failed || p->retiring || p->hup ||
           p->term_sent);
}

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* Tells the supervisor to look at the set again; a full pipe already
 * says so. */
static void wake(struct worker_set *ws)
{
  ssize_t n;

  do
    n = write(ws->wake[1], "", 1);
  while (n < 0 && errno == EINTR);
}

static struct proc *find(struct worker_set *ws, const struct worker_ref *ref)
{
  for (struct proc *p = ws->procs; p; p = p->next)
    if (p->slot == ref->id && p->generation == ref->generation)
      return p;
  return NULL;
}

/* ---- environment and program, prepared before any fork ------------------- */

static bool inherited_var(const char *var)
{
  static const char *const names[] = {"LISTEN_FDS=", "LISTEN_PID=",
                                      "LISTEN_FDNAMES=", "SCGI_HANDOFF_FD=",
                                      "SCGI_WAIT_FOR_CLOSE="};

  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strncmp(var, names[i], strlen(names[i])) == 0)
      return true;
  return false;
}

static void free_strv(char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

/* Copies of the strings, so that neither a later setenv() nor the caller
 * freeing its configuration pulls them from under a fork. */
static char **copy_strv(char *const *v, size_t extra)
{
  size_t n = 0;
  char **out;

  while (v && v[n])
    n++;
  if (!(out = calloc(n + extra + 1, sizeof *out)))
    return NULL;
  for (size_t i = 0, k = 0; i < n; i++) {
    if (extra && inherited_var(v[i]))
      continue; /* `extra` is only given for the environment */
    if (!(out[k++] = strdup(v[i]))) {
      free_strv(out);
      return NULL;
    }
  }
  return out;
}

static size_t strv_len(char **v)
{
  size_t n = 0;

  while (v[n])
    n++;
  return n;
}

/* The environment of every worker: ours minus the inherited activation
 * variables, plus the handoff ones (proxy: LISTEN_FDS, LISTEN_PID and
 * SCGI_WAIT_FOR_CLOSE). LISTEN_PID gets room for the digits
 * that each child writes into its own copy of the string. */
static int build_env(struct worker_set *ws)
{
  size_t n;

  if (!(ws->envp = copy_strv(environ, 3)))
    return -ENOMEM;
  n = strv_len(ws->envp);
  if (ws->mode == HANDOFF_PASS) {
    ws->envp[n] = strdup("SCGI_HANDOFF_FD=3");
    return ws->envp[n] ? 0 : -ENOMEM;
  }
  if (!(ws->envp[n] = strdup("LISTEN_FDS=1")))
    return -ENOMEM;
  if (!(ws->envp[n + 1] = calloc(1, sizeof "LISTEN_PID=" + PID_DIGITS)))
    return -ENOMEM;
  memcpy(ws->envp[n + 1], "LISTEN_PID=0", sizeof "LISTEN_PID=0");
  ws->listen_pid = ws->envp[n + 1] + strlen("LISTEN_PID=");
  /* A libscgi worker then keeps a finished connection open until the
   * relay closes it: the relay tells a finish from a death that way. */
  ws->envp[n + 2] = strdup("SCGI_WAIT_FOR_CLOSE=1");
  return ws->envp[n + 2] ? 0 : -ENOMEM;
}

static bool executable_file(const char *path)
{
  struct stat st;

  return access(path, X_OK) == 0 && stat(path, &st) == 0 &&
         S_ISREG(st.st_mode);
}

/* execvp()'s lookup, done in the parent because it allocates and is not
 * async-signal-safe. Returns 0 with the path in buf, or -ENOENT. */
static int resolve(const struct worker_set *ws, char *buf, size_t size)
{
  const char *prog = ws->argv[0], *dir = ws->path_var;

  if (strchr(prog, '/')) {
    if (strlen(prog) >= size)
      return -ENAMETOOLONG;
    memcpy(buf, prog, strlen(prog) + 1);
    return 0;
  }
  while (*dir || dir == ws->path_var) {
    size_t len = strcspn(dir, ":");
    int n = len ? snprintf(buf, size, "%.*s/%s", (int)len, dir, prog)
                : snprintf(buf, size, "%s", prog); /* "": current dir */
    if (n > 0 && (size_t)n < size && executable_file(buf))
      return 0;
    if (dir[len] == '\0')
      break;
    dir += len + 1;
  }
  return -ENOENT;
}

/* ---- the child, between fork and exec: async-signal-safe calls only ------ */

/* Hand-written because snprintf() is not async-signal-safe. */
static void format_pid(char *out, pid_t pid)
{
  char tmp[PID_DIGITS];
  unsigned long v = (unsigned long)pid;
  size_t n = 0;

  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && n < sizeof tmp);
  while (n)
    *out++ = tmp[--n];
  *out = '\0';
}

struct exec_args {            /* all prepared before fork */
  const char *path;
  char *const *argv, *const *envp;
  char *listen_pid;           /* NULL in pass mode */
  int fd;                     /* becomes WORKER_FD */
  int err_fd;                 /* close-on-exec pipe: errno if exec fails */
  pid_t parent;               /* scgiserver's pid */
};

/* Handlers would be reset by exec anyway, but ignored signals are
 * inherited: a worker must start with SIGPIPE and the rest at default.
 * The mask is cleared last, once no handler of ours can run. */
static void child_reset_signals(void)
{
  struct sigaction dfl;
  sigset_t none;

  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    (void)sigaction(sig, &dfl, NULL);
  sigemptyset(&none);
  (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_fail(int err_fd, int err)
{
  ssize_t n;

  do
    n = write(err_fd, &err, sizeof err);
  while (n < 0 && errno == EINTR);
  _exit(127);
}

__attribute__((noreturn)) static void child_exec(const struct exec_args *a)
{
  int err_fd = a->err_fd;

  child_reset_signals();
  /* A process group of its own: a terminal's Ctrl-C (or a kill of the
   * job) reaches scgiserver alone, which then drains and stops its
   * workers, instead of every worker dying at once under it. */
  (void)setpgid(0, 0);
  /* scgiserver killed outright: its workers get SIGTERM rather than serve
   * on unsupervised (a proxy worker would keep its socket answering, so
   * that the next scgiserver could not take the directory over). The
   * forking thread is the main or the supervisor thread, which both
   * outlive the set's processes. */
  (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != a->parent)
    _exit(127); /* it died before the prctl */
  if (err_fd == WORKER_FD) /* dup2() below would overwrite it */
    err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, WORKER_FD + 1);
  if (a->fd == WORKER_FD ? fcntl(WORKER_FD, F_SETFD, 0) < 0
                         : dup2(a->fd, WORKER_FD) < 0)
    child_fail(err_fd, errno);
#ifdef SYS_close_range
  /* Whatever another thread opened without O_CLOEXEC stays with us. */
  (void)syscall(SYS_close_range, WORKER_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC);
#endif
  if (a->listen_pid)
    format_pid(a->listen_pid, getpid());
  execve(a->path, a->argv, a->envp);
  child_fail(err_fd, errno);
  _exit(127); /* not reached */
}

/* ---- starting one process ------------------------------------------------ */

static int listen_unix(const char *path)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int fd, err;

  memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked at start */
  if (unlink(path) < 0 && errno != ENOENT) /* a stale one from a crash */
    return -errno;
  if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
    return -errno;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
      chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
    err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

/* The descriptor the child gets as fd 3, and (pass) the end we keep. */
static int make_channel(const struct worker_set *ws, unsigned slot,
                        int *child_fd, int *keep_fd)
{
  int sv[2];

  *keep_fd = -1;
  if (ws->mode == HANDOFF_PROXY) {
    *child_fd = listen_unix(ws->slots[slot].socket_path);
    return *child_fd < 0 ? *child_fd : 0;
  }
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  *keep_fd = sv[0];
  *child_fd = sv[1];
  return 0;
}

/* Every signal stays blocked from fork until the child has reset its
 * dispositions, so that no handler of ours ever runs in the child. */
static pid_t fork_exec(const struct exec_args *a)
{
  sigset_t all, old;
  pid_t pid;

  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid = fork();
  if (pid == 0)
    child_exec(a);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return pid;
}

/* Waits for exec: the pipe closes on success, or carries errno. */
static int exec_result(int fd)
{
  int err = 0;
  ssize_t n;

  do
    n = read(fd, &err, sizeof err);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)sizeof err ? err : 0;
}

static int spawn_process(struct worker_set *ws, struct proc *p,
                         const char *path, int child_fd)
{
  struct exec_args a = {.path = path, .argv = ws->argv, .envp = ws->envp,
                        .listen_pid = ws->listen_pid, .fd = child_fd,
                        .parent = getpid()};
  int errp[2], err;

  if (pipe2(errp, O_CLOEXEC) < 0)
    return -errno;
  a.err_fd = errp[1];
  p->pid = fork_exec(&a);
  err = p->pid < 0 ? -errno : 0;
  close(errp[1]);
  if (err == 0 && (p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0)) < 0 &&
      errno != ENOSYS) {
    err = -errno;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
  }
  if (err == 0 && p->pidfd < 0 && !ws->said_no_pidfd) {
    ws->said_no_pidfd = true;
    log_msg(SCGI_LOG_WARNING, "app %s: no pidfd_open(): checking for "
            "exited workers every %d ms", ws->name, NO_PIDFD_POLL_MS);
  }
  if (err == 0 && (err = exec_result(errp[0])) != 0) {
    p->exec_failed = true;
    log_msg(SCGI_LOG_ERROR, "app %s: cannot run %s: %s", ws->name, path,
            strerror(err));
    err = 0; /* the child exits 127: reaped and restarted like any exit */
  }
  close(errp[0]);
  return err;
}

/* Starts a process for `slot` (no lock held: only the supervisor, or
 * workers_start before it, starts processes). Returns 0 with *out, or with
 * *out NULL when the program is not found; or -errno. Failures are
 * logged. */
static int spawn(struct worker_set *ws, unsigned slot, unsigned generation,
                 struct proc **out)
{
  char path[PATH_MAX];
  struct proc *p;
  int child_fd = -1, rc;

  *out = NULL;
  if ((rc = resolve(ws, path, sizeof path)) < 0) {
    log_msg(SCGI_LOG_ERROR, "app %s: cannot run %s: %s", ws->name,
            ws->argv[0], strerror(-rc));
    return 0; /* retried like a failed exec: it may be installed later */
  }
  if (!(p = calloc(1, sizeof *p)))
    return -ENOMEM;
  *p = (struct proc){.slot = slot, .generation = generation, .pidfd = -1,
                     .started_ms = now_ms()};
  rc = make_channel(ws, slot, &child_fd, &p->handoff_fd);
  if (rc == 0) {
    rc = spawn_process(ws, p, path, child_fd);
    close(child_fd);
  }
  if (rc < 0) {
    log_msg(SCGI_LOG_ERROR, "app %s: cannot start worker %u: %s", ws->name,
            slot, strerror(-rc));
    close_fd(&p->handoff_fd);
    free(p);
    return rc;
  }
  if (!p->exec_failed)
    log_msg(SCGI_LOG_INFO, "app %s: worker %u started (pid %ld)", ws->name,
            slot, (long)p->pid);
  *out = p;
  return 0;
}

/* ---- supervisor: restarts, recycling, termination ------------------------ */

static void schedule_restart(struct slot *s, int64_t lived_ms)
{
  if (lived_ms >= STABLE_MS)
    s->backoff_ms = BACKOFF_MIN_MS;
  s->delay_ms = s->backoff_ms;
  s->restart_at_ms = now_ms() + s->backoff_ms;
  s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                      : s->backoff_ms * 2;
}

/* Called with the lock held; drops it while forking so that acquirers
 * are not held up. A program not found is retried with backoff, and so is
 * a system error when `retry` (not at start, where it fails the start). */
static int start_slot(struct worker_set *ws, unsigned slot, bool retry)
{
  struct slot *s = &ws->slots[slot];
  unsigned generation = ++s->generation;
  struct proc *p;
  int rc;

  pthread_mutex_unlock(&ws->lock);
  rc = spawn(ws, slot, generation, &p);
  pthread_mutex_lock(&ws->lock);
  if (p == NULL && rc < 0 && !retry)
    return rc;
  if (p == NULL) {
    schedule_restart(s, 0);
    log_msg(SCGI_LOG_WARNING, "app %s: worker %u: retrying in %u ms",
            ws->name, slot, s->delay_ms);
    return rc;
  }
  p->next = ws->procs;
  ws->procs = p;
  s->cur = p;
  pthread_cond_broadcast(&ws->freed);
  return 0;
}

/* SIGTERM, and (pass) closing the handoff socket, which stops a libscgi
 * application even if something else handles its SIGTERM. The socket is
 * only closed once no relay thread can still send on it. */
static void terminate(struct worker_set *ws, struct proc *p)
{
  /* SIGTERM before the close: a libscgi worker also stops when its
   * handoff socket closes, and one that stopped for that may free its
   * server before a later signal reaches a handler that still calls
   * scgi_server_stop() on it. */
  if (!p->term_sent && !p->reaped) {
    kill(p->pid, SIGTERM);
    p->term_sent = true;
    p->kill_at_ms = now_ms() + ws->stop_timeout_ms;
  }
  if (p->held == 0)
    close_fd(&p->handoff_fd);
}

static void kill_late(struct worker_set *ws, struct proc *p, int64_t now)
{
  if (!p->term_sent || p->reaped || now < p->kill_at_ms)
    return;
  if (!p->killed) {
    log_msg(SCGI_LOG_WARNING,
            "app %s: worker %u (pid %ld) did not stop within %u ms: killed",
            ws->name, p->slot, (long)p->pid, ws->stop_timeout_ms);
    kill(p->pid, SIGKILL);
    p->killed = true;
    p->kill_at_ms = now + REAP_GIVE_UP_MS;
    return;
  }
  /* Stuck in the kernel: stop waiting (it is reaped when we exit). */
  log_msg(SCGI_LOG_ERROR, "app %s: worker %u (pid %ld) survives SIGKILL",
          ws->name, p->slot, (long)p->pid);
  p->reaped = true;
  close_fd(&p->pidfd);
}

/* A current process that served max_requests: pass mode starts the
 * replacement at once (it has its own socketpair); proxy mode waits until
 * the old one is idle, because the replacement binds the same path. */
static void recycle(struct worker_set *ws, struct slot *s)
{
  struct proc *p = s->cur;

  if (!p || !p->retiring || p->reaped ||
      (ws->mode == HANDOFF_PROXY && busy_of(p) > 0))
    return;
  log_msg(SCGI_LOG_INFO, "app %s: worker %u (pid %ld) served %u requests: "
          "replacing it", ws->name, p->slot, (long)p->pid, p->given);
  s->cur = NULL;
  ws->stats.recycles++;
  start_slot(ws, p->slot, true);
}

/* Frees what nothing refers to any more; terminates idle retired ones. */
static void collect(struct worker_set *ws)
{
  struct proc **pp = &ws->procs;

  while (*pp) {
    struct proc *p = *pp;
    bool current = ws->slots[p->slot].cur == p;
    if (!current && !p->reaped && busy_of(p) == 0)
      terminate(ws, p);
    if (p->reaped && p->held == 0 && !current) {
      close_fd(&p->handoff_fd);
      *pp = p->next;
      free(p);
      continue;
    }
    pp = &p->next;
  }
}

static void run_restarts(struct worker_set *ws, int64_t now)
{
  for (unsigned i = 0; i < ws->count && ws->phase == RUNNING; i++) {
    struct slot *s = &ws->slots[i];
    if (s->cur == NULL && s->restart_at_ms && now >= s->restart_at_ms) {
      s->restart_at_ms = 0;
      ws->stats.restarts++;
      start_slot(ws, i, true);
    }
    recycle(ws, s);
  }
}

static unsigned total_busy(const struct worker_set *ws)
{
  unsigned n = 0;

  for (const struct proc *p = ws->procs; p; p = p->next)
    n += p->reaped ? 0 : busy_of(p);
  return n;
}

static bool any_running(const struct worker_set *ws)
{
  for (const struct proc *p = ws->procs; p; p = p->next)
    if (!p->reaped)
      return true;
  return false;
}

/* Drain, then SIGTERM everything, then wait for the last exit (late ones
 * get SIGKILL from kill_late()). */
static void advance_stop(struct worker_set *ws, int64_t now)
{
  unsigned busy;

  if (ws->phase == DRAINING) {
    busy = total_busy(ws);
    if (busy > 0 && now < ws->drain_until_ms)
      return;
    if (busy > 0)
      log_msg(SCGI_LOG_WARNING, "app %s: %u connections still in progress "
              "after the drain timeout", ws->name, busy);
    ws->phase = TERMINATING;
  }
  if (ws->phase == TERMINATING) {
    for (struct proc *p = ws->procs; p; p = p->next)
      terminate(ws, p);
    if (!any_running(ws))
      ws->phase = STOPPED;
  }
}

/* ---- supervisor: events -------------------------------------------------- */

static void describe_exit(const struct proc *p, const siginfo_t *si,
                          char *buf, size_t size)
{
  bool ours = p->term_sent && (si->si_status == SIGTERM ||
                               (p->killed && si->si_status == SIGKILL));

  if (si->si_code == CLD_EXITED)
    snprintf(buf, size, "exited with status %d", si->si_status);
  else if (ours)
    snprintf(buf, size, "stopped (signal %d)", si->si_status);
  else
    snprintf(buf, size, "crashed (signal %d%s)", si->si_status,
             si->si_code == CLD_DUMPED ? ", core dumped" : "");
}

static bool crashed(const struct proc *p, const siginfo_t *si)
{
  return si->si_code != CLD_EXITED &&
         !(p->term_sent && (si->si_status == SIGTERM || p->killed));
}

/* `delay_ms`: of the restart scheduled, or -1 when none is. */
static void log_exit(struct worker_set *ws, const struct proc *p,
                     const siginfo_t *si, long delay_ms)
{
  char what[64];
  bool restarting = delay_ms >= 0;

  describe_exit(p, si, what, sizeof what);
  if (p->exec_failed && restarting)
    log_msg(SCGI_LOG_WARNING, "app %s: worker %u: retrying in %ld ms",
            ws->name, p->slot, delay_ms);
  else if (restarting)
    log_msg(crashed(p, si) ? SCGI_LOG_ERROR : SCGI_LOG_WARNING,
            "app %s: worker %u (pid %ld) %s; restarting in %ld ms",
            ws->name, p->slot, (long)p->pid, what, delay_ms);
  else if (!p->exec_failed)
    log_msg(p->term_sent ? SCGI_LOG_INFO : SCGI_LOG_WARNING,
            "app %s: worker %u (pid %ld) %s", ws->name, p->slot,
            (long)p->pid, what);
}

/* The pidfd is readable: the process ended. Its handed-off connections
 * died with it; references still held by relay threads keep the process
 * (and its handoff_fd) listed until they come back. */
static void reap(struct worker_set *ws, struct proc *p)
{
  struct slot *s = &ws->slots[p->slot];
  bool restart = s->cur == p && ws->phase == RUNNING;
  siginfo_t si;

  memset(&si, 0, sizeof si);
  if ((p->pidfd >= 0
           ? waitid(WAIT_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG)
           : waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG)) < 0) {
    if (errno != ECHILD) /* ECHILD: SIGCHLD is ignored, status lost */
      return;
    si.si_code = CLD_EXITED;
    si.si_pid = p->pid;
  }
  if (si.si_pid == 0)
    return;
  p->reaped = true;
  p->sent = p->early = 0;
  close_fd(&p->pidfd);
  if (crashed(p, &si))
    ws->stats.crashes++;
  if (s->cur == p)
    s->cur = NULL;
  if (restart)
    schedule_restart(s, now_ms() - p->started_ms);
  log_exit(ws, p, &si, restart ? (long)s->delay_ms : -1);
}

/* One "D": a handed-off connection is finished. */
static void done_one(struct worker_set *ws, struct proc *p)
{
  if (p->sent > 0) {
    p->sent--;
    ws->freed_unsignaled++;
  } else if (p->held > p->early) {
    p->early++; /* workers_handed_off() for it has not run yet */
  } else {
    log_msg(SCGI_LOG_WARNING, "app %s: worker %u (pid %ld) sent a \"D\" "
            "for no connection", ws->name, p->slot, (long)p->pid);
  }
}

/* A libscgi worker closes its handoff socket only when it stops; one that
 * closed it and lives on would hold its slot forever: make sure it ends
 * (and is restarted). */
static void closed_by_worker(struct worker_set *ws, struct proc *p)
{
  p->hup = true;
  reap(ws, p); /* its exit may be known already */
  if (p->term_sent || p->reaped)
    return;
  log_msg(SCGI_LOG_INFO, "app %s: worker %u (pid %ld) closed its handoff "
          "socket", ws->name, p->slot, (long)p->pid);
  terminate(ws, p);
}

/* Reads the worker's "D" messages (one per recv on SOCK_SEQPACKET). */
static void read_done(struct worker_set *ws, struct proc *p, short revents)
{
  char buf[16];
  ssize_t n;

  for (;;) {
    n = recv(p->handoff_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      done_one(ws, p);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if ((n == 0 && (revents & POLLHUP)) ||
        (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      closed_by_worker(ws, p);
    return;
  }
}

static void maintain(struct worker_set *ws)
{
  int64_t now = now_ms();

  for (struct proc *p = ws->procs; p; p = p->next) {
    if (!p->reaped && p->pidfd < 0)
      reap(ws, p); /* no pidfd: checked every NO_PIDFD_POLL_MS */
    kill_late(ws, p, now);
  }
  if (ws->phase == RUNNING)
    run_restarts(ws, now);
  else
    advance_stop(ws, now);
  collect(ws);
}

/* Milliseconds until the next timer of maintain(), or -1. */
static int next_timeout(const struct worker_set *ws)
{
  int64_t next = INT64_MAX, now = now_ms();

  for (unsigned i = 0; i < ws->count && ws->phase == RUNNING; i++)
    if (ws->slots[i].restart_at_ms && ws->slots[i].cur == NULL &&
        ws->slots[i].restart_at_ms < next)
      next = ws->slots[i].restart_at_ms;
  for (const struct proc *p = ws->procs; p; p = p->next) {
    if (p->term_sent && !p->reaped && p->kill_at_ms < next)
      next = p->kill_at_ms;
    if (!p->reaped && p->pidfd < 0 && now + NO_PIDFD_POLL_MS < next)
      next = now + NO_PIDFD_POLL_MS;
  }
  if (ws->phase == DRAINING && ws->drain_until_ms < next)
    next = ws->drain_until_ms;
  if (next == INT64_MAX)
    return -1;
  return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

struct pollset {
  struct pollfd *fds;
  struct proc **who;   /* NULL for the wake pipe */
  size_t n, cap;
};

static void pollset_add(struct pollset *ps, int fd, struct proc *p)
{
  if (ps->n == ps->cap)
    return; /* out of memory: the rest waits for the next round */
  ps->fds[ps->n] = (struct pollfd){.fd = fd, .events = POLLIN};
  ps->who[ps->n++] = p;
}

/* Whether the supervisor reads the "D"s as they come. Only when a front
 * thread waits for a slot, or to drain: otherwise a front thread collects
 * them when it needs a slot (collect_dones()), which spares a wake-up of
 * the supervisor per request. */
static bool watch_dones(const struct worker_set *ws)
{
  return ws->mode == HANDOFF_PASS &&
         (ws->waiting > 0 || ws->phase != RUNNING);
}

/* Returns false when memory ran short and some descriptors are left out. */
static bool pollset_build(struct worker_set *ws, struct pollset *ps)
{
  size_t want = 1;

  for (struct proc *p = ws->procs; p; p = p->next)
    want += 2;
  if (want > ps->cap) {
    struct pollfd *fds = realloc(ps->fds, want * sizeof *fds);
    if (fds)
      ps->fds = fds;
    struct proc **who = fds ? realloc(ps->who, want * sizeof *who) : NULL;
    if (who) {
      ps->who = who;
      ps->cap = want;
    }
  }
  ps->n = 0;
  pollset_add(ps, ws->wake[0], NULL);
  for (struct proc *p = ws->procs; p; p = p->next) {
    /* The exit first: a dead worker's "D"s no longer matter (its exit
     * releases all its slots), and its closed socket is no news. */
    if (!p->reaped && p->pidfd >= 0)
      pollset_add(ps, p->pidfd, p);
    if (watch_dones(ws) && p->handoff_fd >= 0 && !p->hup && !p->reaped)
      pollset_add(ps, p->handoff_fd, p);
  }
  return want <= ps->cap;
}

static void drain_wake_pipe(int fd)
{
  char buf[64];

  while (read(fd, buf, sizeof buf) > 0)
    ;
}

static void dispatch(struct worker_set *ws, const struct pollset *ps)
{
  for (size_t i = 0; i < ps->n; i++) {
    struct proc *p = ps->who[i];
    short ev = ps->fds[i].revents;
    if (ev == 0)
      continue;
    if (p == NULL)
      drain_wake_pipe(ps->fds[i].fd);
    else if (ps->fds[i].fd == p->handoff_fd && !p->reaped)
      read_done(ws, p, ev);
    else if (ps->fds[i].fd == p->pidfd)
      reap(ws, p);
  }
}

/* Unlocks, then wakes a waiting front thread per slot the "D"s freed: a
 * thread woken while the lock is still held would only block on it. */
static void signal_freed(struct worker_set *ws)
{
  unsigned n = ws->freed_unsignaled;

  ws->freed_unsignaled = 0;
  pthread_mutex_unlock(&ws->lock);
  while (n-- > 0)
    pthread_cond_signal(&ws->freed);
}

static void *supervise(void *arg)
{
  struct worker_set *ws = arg;
  struct pollset ps = {0};
  int timeout;

  pthread_mutex_lock(&ws->lock);
  for (;;) {
    maintain(ws);
    if (ws->phase == STOPPED)
      break;
    timeout = next_timeout(ws);
    if (!pollset_build(ws, &ps))
      timeout = timeout < 0 || timeout > 100 ? 100 : timeout;
    signal_freed(ws);
    if (poll(ps.fds, ps.n, timeout) < 0 && errno != EINTR)
      log_msg(SCGI_LOG_ERROR, "app %s: poll: %s", ws->name, strerror(errno));
    pthread_mutex_lock(&ws->lock);
    dispatch(ws, &ps);
  }
  pthread_mutex_unlock(&ws->lock);
  free(ps.fds);
  free(ps.who);
  return NULL;
}

/* ---- acquire and release ------------------------------------------------- */

/* The least busy usable process with a free slot, ties taken in turn. */
static struct proc *pick(struct worker_set *ws)
{
  struct proc *best = NULL;

  if (ws->phase != RUNNING)
    return NULL;
  for (unsigned k = 0; k < ws->count; k++) {
    struct proc *p = ws->slots[(ws->next_pick + k) % ws->count].cur;
    if (p && usable(p) && busy_of(p) < ws->concurrency &&
        (!best || busy_of(p) < busy_of(best)))
      best = p;
  }
  if (best)
    ws->next_pick = (best->slot + 1) % ws->count;
  return best;
}

/* Whether a slot can free up within wait_ms: some process is there (busy,
 * starting, or about to be replaced), or a restart is due in time. Every
 * worker waiting out a crash-loop backoff longer than that: no hope. */
static bool can_free_up(const struct worker_set *ws, unsigned wait_ms)
{
  int64_t until = now_ms() + wait_ms;

  for (unsigned i = 0; i < ws->count; i++) {
    const struct slot *s = &ws->slots[i];
    if (s->cur || s->restart_at_ms == 0 || s->restart_at_ms <= until)
      return true;
  }
  return false;
}

static int why_not_now(const struct worker_set *ws, unsigned wait_ms)
{
  if (ws->phase != RUNNING || !can_free_up(ws, wait_ms))
    return -ESRCH;
  if (ws->waiting >= ws->queue)
    return -EAGAIN;
  return wait_ms == 0 ? -ETIMEDOUT : 0;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000;
  if (ts->tv_nsec >= 1000000000) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000;
  }
}

static int wait_for_slot(struct worker_set *ws, unsigned wait_ms,
                         struct proc **out)
{
  struct timespec deadline;
  struct proc *p = NULL;

  deadline_after(&deadline, wait_ms);
  if (ws->waiting++ == 0 && ws->mode == HANDOFF_PASS)
    wake(ws); /* to watch the "D"s from now on (watch_dones()) */
  while (ws->phase == RUNNING && !(p = pick(ws)))
    if (pthread_cond_timedwait(&ws->freed, &ws->lock, &deadline) ==
        ETIMEDOUT) {
      p = pick(ws);
      break;
    }
  ws->waiting--;
  *out = p;
  return p ? 0 : ws->phase != RUNNING ? -ESRCH : -ETIMEDOUT;
}

/* Returns whether the supervisor must act (start a replacement). */
static bool take(struct worker_set *ws, struct proc *p,
                 struct worker_ref *ref)
{
  p->held++;
  *ref = (struct worker_ref){
      .handoff_fd = p->handoff_fd,
      .socket_path = ws->mode == HANDOFF_PROXY
                         ? ws->slots[p->slot].socket_path : NULL,
      .id = p->slot, .generation = p->generation};
  if (ws->max_requests && ++p->given >= ws->max_requests) {
    p->retiring = true;
    return true;
  }
  return false;
}

/* Takes the "D"s that arrived meanwhile, without waiting (lock held). */
static void collect_dones(struct worker_set *ws)
{
  for (struct proc *p = ws->procs; p; p = p->next)
    if (p->sent > 0 && p->handoff_fd >= 0 && !p->hup && !p->reaped)
      read_done(ws, p, 0); /* 0: a hang-up is left to the supervisor */
}

int workers_acquire(struct worker_set *ws, unsigned wait_ms,
                    struct worker_ref *ref)
{
  struct proc *p;
  bool poke = false;
  int rc = 0;

  pthread_mutex_lock(&ws->lock);
  p = pick(ws);
  /* Also before the "D"s could fill the socket (the worker does not
   * wait for room: a "D" lost would keep a slot busy for good). */
  if (ws->mode == HANDOFF_PASS && (!p || p->sent >= DONES_BACKLOG)) {
    collect_dones(ws);
    p = pick(ws);
  }
  if (!p && (rc = why_not_now(ws, wait_ms)) == 0)
    rc = wait_for_slot(ws, wait_ms, &p);
  if (p)
    poke = take(ws, p, ref);
  pthread_mutex_unlock(&ws->lock);
  if (poke)
    wake(ws);
  return rc;
}

/* After a reference came back: whether the supervisor has something to do
 * (free a dead process, terminate or replace a retired one, drain). */
static bool returned(struct worker_set *ws, struct proc *p)
{
  return !usable(p) || ws->phase != RUNNING;
}

/* Wakes a waiting front thread (called after unlocking) if a slot freed. */
static void after_return(struct worker_set *ws, bool freed, bool poke)
{
  if (freed)
    pthread_cond_signal(&ws->freed);
  if (poke)
    wake(ws);
}

void workers_handed_off(struct worker_set *ws, const struct worker_ref *ref)
{
  struct proc *p;
  bool poke = false, freed = false;

  pthread_mutex_lock(&ws->lock);
  if ((p = find(ws, ref)) && p->held > 0) {
    p->held--;
    ws->stats.served++;
    if (p->early > 0) {
      p->early--; /* its "D" already came: the slot is free */
      freed = usable(p);
    } else if (!p->reaped) {
      p->sent++; /* busy until its "D" */
    }
    poke = returned(ws, p);
  }
  pthread_mutex_unlock(&ws->lock);
  after_return(ws, freed, poke);
}

void workers_release(struct worker_set *ws, const struct worker_ref *ref,
                     bool worker_failed)
{
  struct proc *p;
  bool poke = false, freed = false;

  pthread_mutex_lock(&ws->lock);
  if ((p = find(ws, ref)) && p->held > 0) {
    p->held--;
    if (p->early > p->held) /* a "D" cannot belong to a connection not sent */
      p->early = p->held;
    if (worker_failed)
      log_msg(SCGI_LOG_WARNING, "app %s: worker %u (pid %ld) failed a "
              "request", ws->name, p->slot, (long)p->pid);
    else if (ws->mode == HANDOFF_PROXY)
      ws->stats.served++;
    freed = usable(p);
    poke = returned(ws, p);
  }
  pthread_mutex_unlock(&ws->lock);
  after_return(ws, freed, poke);
}

#define EXIT_CHECK_MS 5

bool workers_exited(struct worker_set *ws, const struct worker_ref *ref,
                    unsigned wait_ms, pid_t *pid)
{
  int64_t deadline = now_ms() + wait_ms;

  for (;;) {
    struct proc *p;
    bool gone;
    pid_t child = 0;
    siginfo_t si;

    pthread_mutex_lock(&ws->lock);
    p = find(ws, ref);
    gone = !p || p->reaped;
    if (p) {
      child = p->pid;
      if (pid)
        *pid = child;
    }
    pthread_mutex_unlock(&ws->lock);
    if (gone)
      return true;
    /* WNOWAIT: only looks, the supervisor reaps it. ECHILD means it was
     * reaped meanwhile (p->reaped tells on the next turn). */
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        si.si_pid != 0)
      return true;
    if (now_ms() >= deadline)
      return false;
    struct timespec ts = {.tv_nsec = EXIT_CHECK_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
}

void workers_stats(struct worker_set *ws, struct worker_stats *out)
{
  pthread_mutex_lock(&ws->lock);
  if (ws->mode == HANDOFF_PASS)
    collect_dones(ws); /* busy counts what is really in progress */
  *out = ws->stats;
  out->alive = out->busy = 0;
  for (unsigned i = 0; i < ws->count; i++) {
    const struct proc *p = ws->slots[i].cur;
    out->alive += p && !p->reaped && !p->exec_failed;
  }
  for (const struct proc *p = ws->procs; p; p = p->next)
    out->busy += busy_of(p);
  out->waiting = ws->waiting;
  pthread_mutex_unlock(&ws->lock);
}

pid_t workers_pid(struct worker_set *ws, unsigned id)
{
  pid_t pid = 0;

  pthread_mutex_lock(&ws->lock);
  if (id < ws->count && ws->slots[id].cur && !ws->slots[id].cur->reaped)
    pid = ws->slots[id].cur->pid;
  pthread_mutex_unlock(&ws->lock);
  return pid;
}

/* ---- start, stop, free --------------------------------------------------- */

static int check_spec(const struct worker_spec *spec)
{
  struct sockaddr_un sa;
  size_t room;

  if (!spec->name || !spec->argv || !spec->argv[0] || !spec->argv[0][0] ||
      spec->count == 0 || spec->concurrency == 0)
    return -EINVAL;
  if (spec->mode != HANDOFF_PROXY)
    return 0;
  if (!spec->runtime_dir)
    return -EINVAL;
  /* DIR/NAME-ID.sock, ID up to 10 digits, plus the NUL */
  room = strlen(spec->runtime_dir) + strlen(spec->name) + 17;
  return room > sizeof sa.sun_path ? -ENAMETOOLONG : 0;
}

static int init_slots(struct worker_set *ws, const struct worker_spec *spec)
{
  if (!(ws->slots = calloc(ws->count, sizeof *ws->slots)))
    return -ENOMEM;
  for (unsigned i = 0; i < ws->count; i++) {
    struct slot *s = &ws->slots[i];
    s->backoff_ms = BACKOFF_MIN_MS;
    if (ws->mode != HANDOFF_PROXY)
      continue;
    size_t size = strlen(spec->runtime_dir) + strlen(spec->name) + 20;
    if (!(s->socket_path = malloc(size)))
      return -ENOMEM;
    snprintf(s->socket_path, size, "%s/%s-%u.sock", spec->runtime_dir,
             spec->name, i);
  }
  return 0;
}

static int init_sync(struct worker_set *ws)
{
  pthread_condattr_t attr;
  int rc;

  if (pipe2(ws->wake, O_CLOEXEC | O_NONBLOCK) < 0)
    return -errno;
  if ((rc = pthread_mutex_init(&ws->lock, NULL)) != 0)
    return -rc;
  if ((rc = pthread_condattr_init(&attr)) != 0)
    return -rc;
  rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc == 0)
    rc = pthread_cond_init(&ws->freed, &attr);
  pthread_condattr_destroy(&attr);
  if (rc != 0)
    pthread_mutex_destroy(&ws->lock);
  ws->sync_ready = rc == 0;
  return -rc;
}

static int init_set(struct worker_set *ws, const struct worker_spec *spec)
{
  const char *path = getenv("PATH");
  int rc;

  ws->mode = spec->mode;
  ws->count = spec->count;
  ws->concurrency = spec->concurrency;
  ws->max_requests = spec->max_requests;
  ws->queue = spec->queue;
  ws->stop_timeout_ms = spec->stop_timeout_ms;
  if (!(ws->name = strdup(spec->name)) ||
      !(ws->argv = copy_strv(spec->argv, 0)) ||
      !(ws->path_var = strdup(path ? path : DEFAULT_PATH)))
    return -ENOMEM;
  if ((rc = build_env(ws)) < 0 || (rc = init_slots(ws, spec)) < 0)
    return rc;
  return init_sync(ws);
}

/* The first processes; a program that cannot be found or run is retried
 * with backoff like a crash, but a system error fails the start. */
static int start_all(struct worker_set *ws)
{
  int rc = 0;

  pthread_mutex_lock(&ws->lock);
  for (unsigned i = 0; i < ws->count && rc == 0; i++)
    rc = start_slot(ws, i, false);
  pthread_mutex_unlock(&ws->lock);
  return rc;
}

int workers_start(const struct worker_spec *spec, struct worker_set **out)
{
  struct worker_set *ws;
  int rc;

  *out = NULL;
  if ((rc = check_spec(spec)) < 0)
    return rc;
  if (!(ws = calloc(1, sizeof *ws)))
    return -ENOMEM;
  ws->wake[0] = ws->wake[1] = -1;
  ws->joined = true; /* until the supervisor runs, free must not stop */
  if ((rc = init_set(ws, spec)) < 0) {
    workers_free(ws);
    return rc;
  }
  rc = start_all(ws);
  if ((errno = pthread_create(&ws->thread, NULL, supervise, ws)) != 0) {
    /* No supervisor to stop them: kill the ones started. */
    rc = -errno;
    for (struct proc *p = ws->procs; p; p = p->next)
      if (kill(p->pid, SIGKILL) == 0)
        waitpid(p->pid, NULL, 0);
    workers_free(ws);
    return rc;
  }
  ws->joined = false;
  if (rc < 0) {
    workers_stop(ws, 0);
    workers_free(ws);
    return rc;
  }
  *out = ws;
  return 0;
}

void workers_stop(struct worker_set *ws, unsigned drain_ms)
{
  if (ws->joined)
    return;
  pthread_mutex_lock(&ws->lock);
  if (ws->phase == RUNNING) {
    ws->phase = DRAINING;
    ws->drain_until_ms = now_ms() + drain_ms;
    for (unsigned i = 0; i < ws->count; i++)
      ws->slots[i].restart_at_ms = 0;
    pthread_cond_broadcast(&ws->freed);
  }
  pthread_mutex_unlock(&ws->lock);
  wake(ws);
  pthread_join(ws->thread, NULL);
  ws->joined = true;
  for (unsigned i = 0; i < ws->count; i++)
    if (ws->slots[i].socket_path)
      unlink(ws->slots[i].socket_path);
}

static void free_procs(struct worker_set *ws)
{
  while (ws->procs) {
    struct proc *p = ws->procs;
    ws->procs = p->next;
    close_fd(&p->pidfd);
    close_fd(&p->handoff_fd);
    free(p);
  }
}

void workers_free(struct worker_set *ws)
{
  if (ws == NULL)
    return;
  workers_stop(ws, 0);
  free_procs(ws);
  for (unsigned i = 0; ws->slots && i < ws->count; i++)
    free(ws->slots[i].socket_path);
  free(ws->slots);
  close_fd(&ws->wake[0]);
  close_fd(&ws->wake[1]);
  if (ws->sync_ready) {
    pthread_cond_destroy(&ws->freed);
    pthread_mutex_destroy(&ws->lock);
  }
  free_strv(ws->argv);
  free_strv(ws->envp);
  free(ws->name);
  free(ws->path_var);
  free(ws);
}
