/*
 * daemon.c - scgiserver's operations: -d (background), -p (pidfile),
 * -u/-g (privileges dropped after binding).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * With -d the parent stays in the foreground until the daemon has started
 * its workers: it reads one status byte from a pipe and exits with it, so
 * that `scgiserver -d ...` fails with the daemon's own exit status when
 * startup fails, and returns 0 only once requests are served.
 *
 * The pidfile is created by root before the privileges are dropped. It
 * stays owned by root and is kept open: at exit it is removed when its
 * directory lets the new user do so (systemd's RuntimeDirectory=, or a
 * directory chowned to that user), else emptied through the open
 * descriptor; an empty pidfile, or one naming no running process, is
 * stale and replaced at the next start.
 */
#define _GNU_SOURCE /* pipe2, initgroups */
#include "config.h"

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* ---- checks ------------------------------------------------------------ */

static int resolve_user(const char *name, struct daemon *d)
{
  struct passwd *pw = getpwnam(name);

  if (!pw) {
    log_msg(SCGI_LOG_ERROR, "--user '%s': unknown user", name);
    return 2;
  }
  if ((d->user = strdup(pw->pw_name)) == NULL) {
    log_msg(SCGI_LOG_ERROR, "out of memory");
    return 1;
  }
  d->uid = pw->pw_uid;
  d->gid = pw->pw_gid;
  d->has_uid = 1;
  return 0;
}

static int resolve_group(const char *name, struct daemon *d)
{
  struct group *gr = getgrnam(name);

  if (!gr) {
    log_msg(SCGI_LOG_ERROR, "--group '%s': unknown group", name);
    return 2;
  }
  d->gid = gr->gr_gid;
  return 0;
}

static int resolve_ids(const struct conf *c, struct daemon *d)
{
  int rc = 0;

  if (!c->user && !c->group)
    return 0;
  if (c->user)
    rc = resolve_user(c->user, d);
  if (rc == 0 && c->group)
    rc = resolve_group(c->group, d);
  if (rc == 0 && geteuid() != 0) {
    log_msg(SCGI_LOG_ERROR, "--user and --group need root: running as uid "
            "%u already", (unsigned)geteuid());
    rc = 1;
  }
  d->drop = rc == 0;
  return rc;
}

static int absolute(const char *path) { return path[0] == '/'; }

/* The daemon runs in "/": a relative path would name another file there
 * (or, for a config file, at the next reload). */
static int check_paths(const struct conf *c)
{
  const char *what = NULL, *path = NULL;

  if (c->config_file && !absolute(c->config_file))
    what = "--config", path = c->config_file;
  else if (c->runtime_dir && !absolute(c->runtime_dir))
    what = "--runtime-dir", path = c->runtime_dir;
  for (size_t i = 0; !what && i < c->napps; i++) {
    const char *prog = c->apps[i].argv ? c->apps[i].argv[0] : NULL;
    if (prog && strchr(prog, '/') && !absolute(prog))
      what = "PROGRAM", path = prog;
  }
  if (!what)
    return 0;
  log_msg(SCGI_LOG_ERROR, "%s '%s': with --daemon (which runs in /), give "
          "an absolute path", what, path);
  return 2;
}

/* The pidfile's path as given, made absolute so that it can be removed
 * after chdir("/"). */
static int set_pidfile_path(const char *path, struct daemon *d)
{
  char cwd[4096];
  size_t n;

  if (absolute(path)) {
    d->pidfile = strdup(path);
  } else if (getcwd(cwd, sizeof cwd)) {
    n = strlen(cwd) + strlen(path) + 2;
    if ((d->pidfile = malloc(n)) != NULL)
      snprintf(d->pidfile, n, "%s/%s", cwd, path);
  } else {
    log_msg(SCGI_LOG_ERROR, "--pidfile: getcwd: %s", strerror(errno));
    return 1;
  }
  if (!d->pidfile) {
    log_msg(SCGI_LOG_ERROR, "out of memory");
    return 1;
  }
  return 0;
}

int daemon_prepare(const struct conf *c, struct daemon *d)
{
  int rc;

  memset(d, 0, sizeof *d);
  d->pidfd = d->ready_fd = -1;
  d->log_syslog = c->log_syslog;
  d->daemonize = c->daemonize;
  if ((rc = resolve_ids(c, d)) != 0)
    return rc;
  if (c->daemonize && (rc = check_paths(c)) != 0)
    return rc;
  if (c->pidfile)
    return set_pidfile_path(c->pidfile, d);
  return 0;
}

/* ---- pidfile ----------------------------------------------------------- */

/* The pid a pidfile holds: decimal digits and a newline. 0 if none. */
static pid_t pidfile_read(const char *path)
{
  char buf[32];
  long pid = 0;
  ssize_t n;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return 0;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  for (ssize_t i = 0; i < n && buf[i] != '\n'; i++) {
    if (buf[i] < '0' || buf[i] > '9' || pid > 99999999)
      return 0;
    pid = pid * 10 + (buf[i] - '0');
  }
  return (pid_t)pid;
}

static int process_exists(pid_t pid)
{
  return pid > 0 && pid != getpid() && (kill(pid, 0) == 0 || errno == EPERM);
}

/* O_EXCL, so that of two servers started at once only one gets it. */
static int pidfile_create(struct daemon *d)
{
  for (int tries = 0; tries < 3; tries++) {
    pid_t pid;
    int fd = open(d->pidfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

    if (fd >= 0) {
      d->pidfd = fd;
      return 0;
    }
    if (errno != EEXIST)
      break;
    if (process_exists(pid = pidfile_read(d->pidfile))) {
      log_msg(SCGI_LOG_ERROR, "already running (pid %ld): pidfile %s",
              (long)pid, d->pidfile);
      goto refused;
    }
    log_msg(SCGI_LOG_WARNING, "replacing the stale pidfile %s", d->pidfile);
    if (unlink(d->pidfile) != 0 && errno != ENOENT)
      break;
  }
  log_msg(SCGI_LOG_ERROR, "pidfile %s: %s", d->pidfile, strerror(errno));
refused:
  free(d->pidfile); /* not ours: never remove it */
  d->pidfile = NULL;
  return 1;
}

static int pidfile_write(const struct daemon *d)
{
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());

  if (write(d->pidfd, buf, (size_t)n) != n) {
    log_msg(SCGI_LOG_ERROR, "pidfile %s: cannot write", d->pidfile);
    return 1;
  }
  return 0;
}

/* ---- background -------------------------------------------------------- */

/* The parent of -d: the daemon's status byte, or 1 if it died first. */
static int wait_for_daemon(int fd, const struct daemon *d)
{
  unsigned char status;
  ssize_t n;

  do
    n = read(fd, &status, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) {
    fputs("scgiserver: the daemon died while starting\n", stderr);
    if (d->pidfile)
      unlink(d->pidfile);
    return 1;
  }
  if (status != 0 && d->log_syslog)
    fputs("scgiserver: the daemon failed to start: see syslog\n", stderr);
  return status;
}

static int to_dev_null(int log_syslog)
{
  int fd = open("/dev/null", O_RDWR);

  if (fd < 0)
    return -1;
  if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
      (log_syslog && dup2(fd, STDERR_FILENO) < 0)) {
    close(fd);
    return -1;
  }
  if (fd > STDERR_FILENO)
    close(fd);
  return 0;
}

/* Returns in the daemon only. With --log stderr, stderr stays where it
 * was (a terminal, or systemd's journal). */
static int go_background(struct daemon *d)
{
  int p[2];
  pid_t pid;

  if (pipe2(p, O_CLOEXEC) != 0) {
    log_msg(SCGI_LOG_ERROR, "pipe: %s", strerror(errno));
    return 1;
  }
  fflush(NULL);
  if ((pid = fork()) < 0) {
    log_msg(SCGI_LOG_ERROR, "fork: %s", strerror(errno));
    close(p[0]);
    close(p[1]);
    return 1;
  }
  if (pid > 0) {
    close(p[1]);
    _exit(wait_for_daemon(p[0], d)); /* the daemon owns what we share */
  }
  close(p[0]);
  d->ready_fd = p[1];
  if (setsid() < 0 || chdir("/") != 0 || to_dev_null(d->log_syslog) != 0) {
    log_msg(SCGI_LOG_ERROR, "detaching: %s", strerror(errno));
    return 1;
  }
  return 0;
}

/* ---- privileges -------------------------------------------------------- */

static int drop_privileges(const struct daemon *d)
{
  int rc = d->user ? initgroups(d->user, d->gid) : setgroups(1, &d->gid);

  if (rc != 0) {
    log_msg(SCGI_LOG_ERROR, "setgroups: %s", strerror(errno));
    return 1;
  }
  if (setgid(d->gid) != 0) {
    log_msg(SCGI_LOG_ERROR, "setgid %u: %s", (unsigned)d->gid,
            strerror(errno));
    return 1;
  }
  if (d->has_uid && setuid(d->uid) != 0) {
    log_msg(SCGI_LOG_ERROR, "setuid %u: %s", (unsigned)d->uid,
            strerror(errno));
    return 1;
  }
  if (d->has_uid && d->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
    log_msg(SCGI_LOG_ERROR, "could switch back to root after setuid");
    return 1;
  }
  log_msg(SCGI_LOG_INFO, "running as uid %u, gid %u", (unsigned)getuid(),
          (unsigned)getgid());
  return 0;
}

/* ---- the sequence ------------------------------------------------------ */

int daemon_start(struct daemon *d)
{
  int rc = 0;

  if (d->pidfile)
    rc = pidfile_create(d);
  if (rc == 0 && d->daemonize)
    rc = go_background(d);
  if (rc == 0 && d->pidfile)
    rc = pidfile_write(d);
  if (rc == 0 && d->drop)
    rc = drop_privileges(d);
  return rc;
}

void daemon_ready(struct daemon *d, int rc)
{
  unsigned char status = (unsigned char)(rc > 0 && rc < 256 ? rc : rc ? 1 : 0);

  if (d->ready_fd < 0)
    return;
  if (write(d->ready_fd, &status, 1) != 1)
    log_msg(SCGI_LOG_WARNING, "cannot report to the parent: %s",
            strerror(errno));
  close(d->ready_fd);
  d->ready_fd = -1;
}

void daemon_end(struct daemon *d)
{
  if (d->pidfile && unlink(d->pidfile) != 0) {
    int why = errno;
    if (d->pidfd >= 0 && ftruncate(d->pidfd, 0) == 0)
      log_msg(SCGI_LOG_INFO, "pidfile %s: cannot remove it (%s), emptied it",
              d->pidfile, strerror(why));
    else
      log_msg(SCGI_LOG_WARNING, "pidfile %s: %s", d->pidfile,
              strerror(errno));
  }
  if (d->pidfd >= 0)
    close(d->pidfd);
  free(d->pidfile);
  free(d->user);
  memset(d, 0, sizeof *d);
  d->pidfd = d->ready_fd = -1;
}
