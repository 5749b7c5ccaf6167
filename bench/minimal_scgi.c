/* minimal_scgi.c - the least an SCGI backend can do, for bench/run.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Usage: minimal_scgi HOST:PORT | unix:/PATH
 *
 * One thread, blocking sockets, no library: accept a connection, read the
 * netstring header block, take CONTENT_LENGTH (the first variable, as
 * SCGI requires), read and discard that many body bytes, answer
 * "Hello, world!\n" with one write() and close. No other variable is
 * looked at and nothing is checked beyond what is needed not to hang, so
 * its CPU time per request is the practical floor for an SCGI backend
 * behind the same front server. Stops at SIGINT or SIGTERM.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char reply[] =
  "Status: 200 OK\r\n"
  "Content-Type: text/plain\r\n"
  "Content-Length: 14\r\n"
  "\r\n"
  "Hello, world!\n";

static volatile sig_atomic_t stopping;

static void on_signal(int sig) { (void)sig; stopping = 1; }

static int listen_on(const char *addr)
{
  int fd;

  if (strncmp(addr, "unix:", 5) == 0) {
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    const char *path = addr + 5;

    if (strlen(path) >= sizeof sun.sun_path) {
      fprintf(stderr, "minimal_scgi: socket path too long: %s\n", path);
      return -1;
    }
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || (unlink(path) < 0 && errno != ENOENT) ||
        bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
        chmod(path, 0666) < 0)
      goto fail;
  } else {
    struct sockaddr_in sin = {.sin_family = AF_INET};
    const char *colon = strrchr(addr, ':');
    char host[64];
    int one = 1;

    if (!colon || (size_t)(colon - addr) >= sizeof host) {
      fprintf(stderr, "minimal_scgi: not HOST:PORT or unix:/PATH: %s\n",
              addr);
      return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    sin.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
      fprintf(stderr, "minimal_scgi: not an IPv4 address: %s\n", host);
      return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
      goto fail;
  }
  if (listen(fd, 1024) < 0)
    goto fail;
  return fd;
fail:
  fprintf(stderr, "minimal_scgi: %s: %s\n", addr, strerror(errno));
  return -1;
}

/* Reads one request from fd; returns 0 when it was whole. */
static int read_request(int fd)
{
  char buf[65536];
  size_t have = 0, hlen = 0, i, need;
  unsigned long long body = 0;
  ssize_t n;

  /* Header block: "LEN:" then LEN bytes then ",". */
  for (;;) {
    n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0)
      return -1;
    have += (size_t)n;
    for (i = 0; i < have && buf[i] >= '0' && buf[i] <= '9'; i++)
      hlen = hlen * 10 + (size_t)(buf[i] - '0');
    if (i < have) {
      if (buf[i] != ':' || i == 0 || hlen > sizeof buf - i - 2)
        return -1;
      need = i + 1 + hlen + 1;
      if (have >= need)
        break;
    }
    hlen = 0;
  }
  /* "CONTENT_LENGTH\0digits\0" comes first. */
  i++;
  if (hlen < 16 || memcmp(buf + i, "CONTENT_LENGTH", 15) != 0)
    return -1;
  for (i += 15; buf[i] >= '0' && buf[i] <= '9'; i++)
    body = body * 10 + (unsigned long long)(buf[i] - '0');
  /* Body bytes already read, then the rest. */
  have -= need;
  if (have > body)
    return -1;
  body -= have;
  while (body > 0) {
    n = read(fd, buf, body < sizeof buf ? body : sizeof buf);
    if (n <= 0)
      return -1;
    body -= (unsigned long long)n;
  }
  return 0;
}

int main(int argc, char **argv)
{
  struct sigaction sa = {.sa_handler = on_signal};
  int lfd, fd;

  if (argc != 2) {
    fprintf(stderr, "usage: minimal_scgi HOST:PORT | unix:/PATH\n");
    return 2;
  }
  lfd = listen_on(argv[1]);
  if (lfd < 0)
    return 1;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: accept() returns */
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  while (!stopping) {
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      perror("minimal_scgi: accept");
      return 1;
    }
    if (read_request(fd) == 0 &&
        write(fd, reply, sizeof reply - 1) != (ssize_t)(sizeof reply - 1))
      perror("minimal_scgi: write");
    close(fd);
  }
  if (strncmp(argv[1], "unix:", 5) == 0)
    unlink(argv[1] + 5);
  return 0;
}
