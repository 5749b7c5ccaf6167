/*
 * address.h - the address syntax of the benchmark helpers (the library's,
 * less fd:N): shared by scgi_load.c and idle_conns.c.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef BENCH_ADDRESS_H
#define BENCH_ADDRESS_H

#include <netdb.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Parses unix:/PATH, HOST:PORT or [HOST]:PORT into *addr. */
static int parse_address(const char *s, struct sockaddr_storage *addr,
                         socklen_t *addr_len)
{
  if (strncmp(s, "unix:", 5) == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)addr;
    size_t len = strlen(s + 5);
    if (len == 0 || len >= sizeof un->sun_path)
      return -1;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, s + 5, len + 1);
    *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
  }

  char host[256];
  const char *colon = strrchr(s, ':');
  size_t hlen;
  if (!colon || colon == s || colon[1] == '\0')
    return -1;
  hlen = (size_t)(colon - s);
  if (s[0] == '[' && colon[-1] == ']') {
    s++;
    hlen -= 2;
  }
  if (hlen >= sizeof host)
    return -1;
  memcpy(host, s, hlen);
  host[hlen] = '\0';

  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
    return -1;
  memcpy(addr, res->ai_addr, res->ai_addrlen);
  *addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

#endif /* BENCH_ADDRESS_H */
