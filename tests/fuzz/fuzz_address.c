/*
 * fuzz_address.c - scgiserver's parsing of application addresses
 * (addr_parse()).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Input: the address text (up to its first NUL). Host names resolve
 * through tests/fuzz/resolve.c, never DNS. The library's own listener
 * addresses are not fuzzed: scgi_server_listen() binds what it parses.
 */
#include "config.h"

#include <netinet/in.h>
#include <sys/un.h>

#include "../../scgiserver/addr.h"
#include "fuzz.h"

static socklen_t family_len(const struct addr *a)
{
  const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->sa;

  switch (a->sa.ss_family) {
  case AF_UNIX:
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                       strlen(sun->sun_path) + 1);
  case AF_INET:
    return sizeof(struct sockaddr_in);
  case AF_INET6:
    return sizeof(struct sockaddr_in6);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1), err[256] = "";
  struct addr a;

  FUZZ_CHECK(text != NULL);
  memcpy(text, data, size);
  text[size] = '\0';
  if (addr_parse(text, &a, err, sizeof err) == 0) {
    FUZZ_CHECK(a.text != NULL && strcmp(a.text, text) == 0);
    FUZZ_CHECK(a.len > 0 && a.len == family_len(&a));
    FUZZ_CHECK(a.sa.ss_family == AF_UNIX ||
               ((const struct sockaddr_in *)&a.sa)->sin_port != 0);
    addr_clear(&a);
  } else {
    FUZZ_CHECK(err[0] != '\0' && a.text == NULL);
  }
  free(text);
  return 0;
}
