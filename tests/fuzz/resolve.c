/*
 * resolve.c - a getaddrinfo() for the fuzz targets: deterministic, no DNS.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * scgiserver resolves host names with getaddrinfo(); a fuzz target must
 * not send a query per input. Linked into the program, these definitions
 * take the place of the C library's: "localhost" is 127.0.0.1, a numeric
 * IPv4 address is itself, any other name does not exist.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
  struct {
    struct addrinfo ai;
    struct sockaddr_in sin;
  } *r;
  struct in_addr in;

  (void)service;
  if (node == NULL || (hints && hints->ai_family != AF_INET &&
                       hints->ai_family != AF_UNSPEC))
    return EAI_NONAME;
  if (strcmp(node, "localhost") == 0)
    in.s_addr = htonl(INADDR_LOOPBACK);
  else if (inet_pton(AF_INET, node, &in) != 1)
    return EAI_NONAME;
  if ((r = calloc(1, sizeof *r)) == NULL)
    return EAI_MEMORY;
  r->sin.sin_family = AF_INET;
  r->sin.sin_addr = in;
  r->ai.ai_family = AF_INET;
  r->ai.ai_socktype = SOCK_STREAM;
  r->ai.ai_addrlen = sizeof r->sin;
  r->ai.ai_addr = (struct sockaddr *)&r->sin;
  *res = &r->ai;
  return 0;
}

void freeaddrinfo(struct addrinfo *res)
{
  free(res);
}
