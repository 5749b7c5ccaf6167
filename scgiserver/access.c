/*
 * access.c - scgiserver's access log.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each line is formatted first, then written with one write(2) on an
 * O_APPEND descriptor: lines of several front threads never interleave.
 * `lock` is held around that write and around the swap of a reopen, so
 * that the old descriptor is closed only once no thread writes to it (a
 * descriptor number closed under a writer could be reused by another
 * file). Writes to one file are serialized by the kernel anyway.
 */
#include "config.h"

#include "access.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define ACCESS_MODE 0640
#define ACCESS_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int log_fd = -1;   /* swapped under `lock` */
static char *log_path;           /* absolute; set before any thread */
static atomic_bool failing;      /* the last write failed (logged once) */

int access_open(const char *path)
{
  char cwd[4096];
  size_t n;
  int fd;

  if (path[0] == '/') {
    log_path = strdup(path);
  } else {
    if (!getcwd(cwd, sizeof cwd))
      return -errno;
    n = strlen(cwd) + strlen(path) + 2;
    if ((log_path = malloc(n)) != NULL)
      snprintf(log_path, n, "%s/%s", cwd, path);
  }
  if (!log_path)
    return -ENOMEM;
  if ((fd = open(log_path, ACCESS_FLAGS, ACCESS_MODE)) < 0) {
    int err = errno;
    free(log_path);
    log_path = NULL;
    return -err;
  }
  atomic_store(&log_fd, fd);
  return 0;
}

bool access_enabled(void) { return atomic_load(&log_fd) >= 0; }

int access_reopen(void)
{
  int fd, old;

  if (!log_path) {
    log_msg(SCGI_LOG_INFO, "SIGUSR1: no access log to reopen");
    return 0;
  }
  if ((fd = open(log_path, ACCESS_FLAGS, ACCESS_MODE)) < 0) {
    log_msg(SCGI_LOG_ERROR, "SIGUSR1: cannot reopen the access log %s: %s "
            "(still writing to the previous file)", log_path,
            strerror(errno));
    return -1;
  }
  pthread_mutex_lock(&lock);
  old = atomic_exchange(&log_fd, fd);
  pthread_mutex_unlock(&lock);
  close(old);
  atomic_store(&failing, false);
  log_msg(SCGI_LOG_INFO, "SIGUSR1: reopened the access log %s", log_path);
  return 0;
}

void access_close(void)
{
  int fd = atomic_exchange(&log_fd, -1);

  if (fd >= 0)
    close(fd);
  free(log_path);
  log_path = NULL;
}

/* Appends s (NULL or empty: "-") to buf at *len, at most max bytes of
 * it: printable ASCII as is but for '"', '\\' and space, any other byte
 * as \xHH; cut with "..." when longer. */
static void put_field(char *buf, size_t *len, size_t max, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;

  if (!s || *s == '\0')
    s = "-";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    bool plain = *p > ' ' && *p < 0x7f && *p != '"' && *p != '\\';
    size_t need = plain ? 1 : 4;

    if (n + need > max - 3) {
      memcpy(buf + *len + n, "...", 3);
      n += 3;
      break;
    }
    if (plain) {
      buf[*len + n++] = (char)*p;
    } else {
      buf[*len + n++] = '\\';
      buf[*len + n++] = 'x';
      buf[*len + n++] = hex[*p >> 4];
      buf[*len + n++] = hex[*p & 15];
    }
  }
  *len += n;
}

/* Appends formatted text; the caller leaves room for it. */
static void put_text(char *buf, size_t *len, size_t size, const char *text)
{
  size_t n = strlen(text);

  if (n > size - *len)
    n = size - *len;
  memcpy(buf + *len, text, n);
  *len += n;
}

void access_write(const scgi_request *req, const struct access_rec *r)
{
  /* Room for every field at its longest (the limits below) and the
   * fixed text. */
  char line[8192], text[160], when[64], status[16], bytes[24], worker[32];
  size_t len = 0;
  struct timespec now;
  struct tm tm;
  time_t t = time(NULL);
  long long ms;
  ssize_t w;
  int fd, err;

  if (!access_enabled())
    return;
  clock_gettime(CLOCK_MONOTONIC, &now);
  ms = (now.tv_sec - r->start.tv_sec) * 1000LL +
       (now.tv_nsec - r->start.tv_nsec) / 1000000;
  if (!localtime_r(&t, &tm) ||
      strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S %z", &tm) == 0)
    snprintf(when, sizeof when, "%lld", (long long)t);
  if (r->status > 0)
    snprintf(status, sizeof status, "%d", r->status);
  else
    strcpy(status, "-");
  if (r->bytes >= 0)
    snprintf(bytes, sizeof bytes, "%lld", r->bytes);
  else
    strcpy(bytes, "-");
  if (r->has_worker)
    snprintf(worker, sizeof worker, "%u.%u", r->worker_id, r->worker_gen);
  else
    strcpy(worker, "-");

  put_field(line, &len, 128, scgi_request_get(req, "REMOTE_ADDR"));
  snprintf(text, sizeof text, " - - [%s] \"", when);
  put_text(line, &len, sizeof line, text);
  put_field(line, &len, 64, scgi_request_method(req));
  line[len++] = ' ';
  put_field(line, &len, 6144, scgi_request_uri(req));
  line[len++] = ' ';
  put_field(line, &len, 64, scgi_request_get(req, "SERVER_PROTOCOL"));
  snprintf(text, sizeof text, "\" %s %s %lld app=", status, bytes,
           ms < 0 ? 0 : ms);
  put_text(line, &len, sizeof line, text);
  put_field(line, &len, 256, r->app);
  snprintf(text, sizeof text, " worker=%s%s\n", worker,
           r->passed ? " handoff=pass" : "");
  put_text(line, &len, sizeof line, text);

  pthread_mutex_lock(&lock);
  fd = atomic_load(&log_fd);
  do
    w = write(fd, line, len);
  while (w < 0 && errno == EINTR);
  err = errno;
  pthread_mutex_unlock(&lock);
  if (w == (ssize_t)len) {
    atomic_store(&failing, false);
  } else if (!atomic_exchange(&failing, true)) {
    log_msg(SCGI_LOG_WARNING, "access log %s: %s (logged once until a line "
            "is written again)", log_path,
            w < 0 ? strerror(err) : "short write");
  }
}
