/*
 * notify.c - scgiserver's readiness notifications to systemd (Type=notify),
 * without libsystemd.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The socket's address is read once at startup; each notification opens
 * a datagram socket, sends and closes it, so that no descriptor stays open
 * for the workers to inherit. Only the main thread notifies.
 */
#define _GNU_SOURCE /* SOCK_CLOEXEC, MSG_NOSIGNAL */
#include "config.h"

#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Set by notify_init() before any thread starts; addr_len 0: disabled. */
static struct sockaddr_un addr;
static socklen_t addr_len;
static char socket_name[sizeof addr.sun_path];  /* as given, for log lines */
static bool failure_logged;

void notify_init(void)
{
  const char *env = getenv("NOTIFY_SOCKET");
  size_t len;

  if (!env)
    return;
  len = strlen(env);
  if ((env[0] == '/' || env[0] == '@') && len >= 2 &&
      len < sizeof addr.sun_path) {
    memcpy(socket_name, env, len + 1);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, env, len);
    if (env[0] == '@')
      addr.sun_path[0] = '\0'; /* abstract: the name has no final NUL */
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  } else {
    log_msg(SCGI_LOG_INFO, "NOTIFY_SOCKET='%.200s' is neither a path nor "
            "an @name: no notifications", env);
  }
  unsetenv("NOTIFY_SOCKET");
}

void notify_send(const char *format, ...)
{
  char msg[512];
  va_list ap;
  int n, fd, err = 0;

  if (addr_len == 0)
    return;
  va_start(ap, format);
  n = vsnprintf(msg, sizeof msg, format, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof msg)
    return; /* our own messages are short */
  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
                       (const struct sockaddr *)&addr, addr_len) != n)
    err = errno;
  if (fd >= 0)
    close(fd);
  if (err && !failure_logged) {
    failure_logged = true;
    log_msg(SCGI_LOG_INFO, "cannot notify the service manager at %s: %s "
            "(not logged again)", socket_name, strerror(err));
  }
}

void notify_reloading(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
              (unsigned long long)ts.tv_sec * 1000000ull +
                  (unsigned long long)ts.tv_nsec / 1000u);
}
