/*
 * addr.c - parsing and connecting to application addresses.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fail(char *err, size_t errsize, const char *text, const char *why)
{
  snprintf(err, errsize, "address '%s': %s", text, why);
  return -1;
}

/* A plain decimal from 1 to 65535: no sign, no leading zero. */
static int parse_port(const char *s, unsigned *out)
{
  unsigned v = 0;

  if (*s < '1' || *s > '9')
    return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return -1;
    v = v * 10 + (unsigned)(*s - '0');
    if (v > 65535)
      return -1;
  }
  *out = v;
  return 0;
}

static int parse_unix(const char *path, struct addr *out)
{
  struct sockaddr_un *sun = (struct sockaddr_un *)&out->sa;
  size_t n = strlen(path);

  if (n == 0 || n >= sizeof sun->sun_path)
    return -1;
  sun->sun_family = AF_UNIX;
  memcpy(sun->sun_path, path, n + 1);
  out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  return 0;
}

static int parse_ipv6(const char *host, unsigned port, struct addr *out)
{
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;

  if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
    return -1;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons((uint16_t)port);
  out->len = sizeof *sin6;
  return 0;
}

/* Numeric IPv4 without DNS; a name through getaddrinfo, first IPv4 only,
 * as the library's listeners do. */
static int parse_ipv4(const char *host, unsigned port, struct addr *out)
{
  struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;
  struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
  struct addrinfo *res;

  if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
    if (*host == '\0' || getaddrinfo(host, NULL, &hints, &res) != 0)
      return -1;
    sin->sin_addr = ((const struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
  }
  sin->sin_family = AF_INET;
  sin->sin_port = htons((uint16_t)port);
  out->len = sizeof *sin;
  return 0;
}

/* Splits "HOST:PORT" or "[IPV6]:PORT" in the copy `s`. */
static int parse_inet(char *s, struct addr *out)
{
  char *colon = strrchr(s, ':');
  unsigned port;

  if (!colon || parse_port(colon + 1, &port) != 0)
    return -1;
  *colon = '\0';
  if (s[0] == '[') {
    size_t n = strlen(s);
    if (n < 3 || s[n - 1] != ']')
      return -1;
    s[n - 1] = '\0';
    return parse_ipv6(s + 1, port, out);
  }
  return parse_ipv4(s, port, out);
}

int addr_parse(const char *text, struct addr *out, char *err, size_t errsize)
{
  char *copy;
  int rc;

  memset(out, 0, sizeof *out);
  if (strncmp(text, "unix:", 5) == 0) {
    if (parse_unix(text + 5, out) != 0)
      return fail(err, errsize, text, "empty or too long socket path");
  } else {
    if ((copy = strdup(text)) == NULL)
      return fail(err, errsize, text, "out of memory");
    rc = parse_inet(copy, out);
    free(copy);
    if (rc != 0)
      return fail(err, errsize, text,
                  "use unix:/PATH, HOST:PORT or [IPV6]:PORT (port 1-65535, "
                  "host resolvable)");
  }
  if ((out->text = strdup(text)) == NULL)
    return fail(err, errsize, text, "out of memory");
  return 0;
}

void addr_clear(struct addr *a)
{
  free(a->text);
  a->text = NULL;
}

static unsigned long long now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/* Milliseconds left before the deadline, for poll(2): -1 without one. */
static int time_left(unsigned long long deadline)
{
  unsigned long long now;

  if (deadline == 0)
    return -1;
  now = now_ms();
  return now >= deadline ? 0 : (int)(deadline - now);
}

/* A connection in progress: wait for it, then read its outcome. */
static int finish_connect(int fd, unsigned long long deadline)
{
  struct pollfd p = { .fd = fd, .events = POLLOUT };
  int rc, soerr = 0;
  socklen_t len = sizeof soerr;

  while ((rc = poll(&p, 1, time_left(deadline))) < 0 && errno == EINTR)
    ;
  if (rc < 0)
    return -errno;
  if (rc == 0)
    return -ETIMEDOUT;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
    return -errno;
  return -soerr;
}

static int connect_sa(const struct sockaddr *sa, socklen_t salen,
                      unsigned timeout_ms)
{
  unsigned long long deadline = timeout_ms ? now_ms() + timeout_ms : 0;
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc = 0, one = 1;

  if (fd < 0)
    return -errno;
  while (connect(fd, sa, salen) != 0) {
    if (errno == EINTR)
      continue;
    if (errno == EINPROGRESS) {
      rc = finish_connect(fd, deadline);
      break;
    }
    /* A Unix listener with a full backlog refuses at once with EAGAIN and
     * gives nothing to poll on: retry briefly until the deadline. */
    if (errno == EAGAIN && time_left(deadline) != 0) {
      struct timespec ts = { 0, 5 * 1000000L };
      nanosleep(&ts, NULL);
      continue;
    }
    rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
    break;
  }
  if (rc != 0) {
    close(fd);
    return rc;
  }
  if (sa->sa_family != AF_UNIX) /* requests are small: no Nagle delay */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int addr_connect(const struct addr *a, unsigned timeout_ms)
{
  return connect_sa((const struct sockaddr *)&a->sa, a->len, timeout_ms);
}

int addr_connect_unix(const char *path, unsigned timeout_ms)
{
  struct addr a;

  memset(&a, 0, sizeof a);
  if (parse_unix(path, &a) != 0)
    return -ENAMETOOLONG;
  return addr_connect(&a, timeout_ms);
}
