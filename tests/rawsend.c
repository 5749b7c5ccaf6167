/*
 * rawsend.c - sends a file's bytes to an SCGI server and prints the answer.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Usage: rawsend ADDRESS FILE [--split N] [--delay-ms D] [--keep-open]
 *                [--timeout-ms T]
 *
 * Connects to ADDRESS (unix:/PATH or IPV4:PORT), sends FILE (in pieces of
 * N bytes with D milliseconds between them when asked), shuts down writing
 * (unless --keep-open), then copies everything received to standard output
 * until the peer closes. Standard error gets one line saying what the peer
 * did and when, counted from the last byte sent, e.g.
 *   rawsend: sent 57/57 bytes; first byte after 1 ms; closed after 2 ms
 * Exit status: 0 when the peer closed (or reset) the connection, 1 when it
 * did not within T milliseconds (default 10000), 2 on usage or setup errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct options {
  const char *address;
  const char *file;
  size_t split;
  long delay_ms;
  long timeout_ms;
  int keep_open;
};

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
}

static int usage(void)
{
  fputs("usage: rawsend ADDRESS FILE [--split N] [--delay-ms D] "
        "[--keep-open] [--timeout-ms T]\n"
        "  ADDRESS is unix:/PATH or IPV4:PORT\n",
        stderr);
  return 2;
}

static int number(const char *s, long *out)
{
  char *end;
  errno = 0;
  *out = strtol(s, &end, 10);
  return errno == 0 && end != s && *end == '\0' && *out >= 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
  int positional = 0;
  long v;

  o->split = 0;
  o->delay_ms = 0;
  o->timeout_ms = 10000;
  o->keep_open = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--keep-open") == 0) {
      o->keep_open = 1;
    } else if (strncmp(a, "--", 2) == 0 && i + 1 < argc &&
               number(argv[i + 1], &v)) {
      if (strcmp(a, "--split") == 0 && v > 0)
        o->split = (size_t)v;
      else if (strcmp(a, "--delay-ms") == 0)
        o->delay_ms = v;
      else if (strcmp(a, "--timeout-ms") == 0 && v > 0)
        o->timeout_ms = v;
      else
        return -1;
      i++;
    } else if (strncmp(a, "--", 2) != 0 && positional < 2) {
      if (positional++ == 0)
        o->address = a;
      else
        o->file = a;
    } else {
      return -1;
    }
  }
  return positional == 2 ? 0 : -1;
}

static int bad_address(void)
{
  errno = EINVAL;
  return -1;
}

static int connect_to(const char *address)
{
  struct sockaddr_storage ss;
  socklen_t len;
  int fd;

  memset(&ss, 0, sizeof ss);
  if (strncmp(address, "unix:", 5) == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    size_t path_len = strlen(address + 5);
    if (path_len >= sizeof un->sun_path)
      return bad_address();
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, address + 5, path_len + 1);
    len = sizeof *un;
  } else {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    char host[64];
    const char *colon = strrchr(address, ':');
    long port;
    if (!colon || (size_t)(colon - address) >= sizeof host ||
        !number(colon + 1, &port) || port < 1 || port > 65535)
      return bad_address();
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    in->sin_family = AF_INET;
    in->sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
      return bad_address();
    len = sizeof *in;
  }
  if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static char *read_file(const char *path, size_t *size)
{
  FILE *f = fopen(path, "rb");
  char *data = NULL, *grown;
  size_t cap = 0, len = 0, got;

  if (!f)
    return NULL;
  do {
    if (len == cap) {
      cap = cap ? cap * 2 : 65536;
      if (!(grown = realloc(data, cap))) {
        free(data);
        fclose(f);
        return NULL;
      }
      data = grown;
    }
    got = fread(data + len, 1, cap - len, f);
    len += got;
  } while (got > 0);
  if (ferror(f)) {
    free(data);
    data = NULL;
  }
  fclose(f);
  *size = len;
  return data;
}

/* Sends the bytes; returns how many went out before the peer refused. */
static size_t send_all(int fd, const char *data, size_t size,
                       const struct options *o)
{
  size_t sent = 0;

  while (sent < size) {
    size_t piece = o->split && o->split < size - sent ? o->split : size - sent;
    ssize_t n;
    if (sent > 0 && o->split && o->delay_ms)
      sleep_ms(o->delay_ms);
    while (piece > 0) {
      n = send(fd, data + sent, piece, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return sent;
      sent += (size_t)n;
      piece -= (size_t)n;
    }
  }
  return sent;
}

/* Copies the answer to stdout until the peer closes or the time is up. */
static int receive_all(int fd, const struct options *o, size_t sent,
                       size_t size)
{
  long long start = now_ms(), first = -1;
  const char *how = "closed";
  char buf[65536];

  for (;;) {
    struct pollfd pfd = {fd, POLLIN, 0};
    long long left = o->timeout_ms - (now_ms() - start);
    ssize_t n;
    if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
      fprintf(stderr, "rawsend: sent %zu/%zu bytes; peer still open after "
              "%ld ms\n", sent, size, o->timeout_ms);
      return 1;
    }
    n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n > 0) {
      if (first < 0)
        first = now_ms() - start;
      if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
        return 2;
      continue;
    }
    if (n < 0)
      how = errno == ECONNRESET ? "reset" : strerror(errno);
    break;
  }
  fflush(stdout);
  if (first >= 0)
    fprintf(stderr, "rawsend: sent %zu/%zu bytes; first byte after %lld ms; "
            "%s after %lld ms\n", sent, size, first, how, now_ms() - start);
  else
    fprintf(stderr, "rawsend: sent %zu/%zu bytes; no answer; %s after "
            "%lld ms\n", sent, size, how, now_ms() - start);
  return 0;
}

int main(int argc, char **argv)
{
  struct options o = {0};
  size_t size, sent;
  char *data;
  int fd, rc;

  if (parse_options(argc, argv, &o) < 0)
    return usage();
  if (!(data = read_file(o.file, &size))) {
    fprintf(stderr, "rawsend: %s: %s\n", o.file, strerror(errno));
    return 2;
  }
  if ((fd = connect_to(o.address)) < 0) {
    fprintf(stderr, "rawsend: cannot connect to %s: %s\n", o.address,
            strerror(errno));
    free(data);
    return 2;
  }
  sent = send_all(fd, data, size, &o);
  if (!o.keep_open)
    shutdown(fd, SHUT_WR);
  rc = receive_all(fd, &o, sent, size);
  close(fd);
  free(data);
  return rc;
}
