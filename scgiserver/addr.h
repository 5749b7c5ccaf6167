/*
 * addr.h - addresses of SCGI applications scgiserver connects to.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The syntax is the library's listener syntax minus what makes no sense
 * for a connection: `unix:/PATH`, `HOST:PORT` (IPv4 address or a host name
 * resolved once, at parse time, to its first IPv4 address) and
 * `[IPV6]:PORT`.
 */
#ifndef SCGISERVER_ADDR_H
#define SCGISERVER_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct addr {
  char *text;                  /* as written, owned (for log lines) */
  struct sockaddr_storage sa;  /* resolved */
  socklen_t len;
};

/* Parses and resolves `text` into *out (out->text is a copy, to release
 * with addr_clear()). Returns 0, or -1 with a reason in err. */
int addr_parse(const char *text, struct addr *out, char *err, size_t errsize);

/* Frees what addr_parse() allocated. */
void addr_clear(struct addr *a);

/* Connects to `a` within timeout_ms (0: no limit). Returns a connected
 * socket (non-blocking, close-on-exec, owned by the caller) or -errno. */
int addr_connect(const struct addr *a, unsigned timeout_ms);

/* The same for a Unix socket path. */
int addr_connect_unix(const char *path, unsigned timeout_ms);

#endif /* SCGISERVER_ADDR_H */
