/*
 * route.h - which app serves a request: its listener, or the longest
 * path prefix.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef SCGISERVER_ROUTE_H
#define SCGISERVER_ROUTE_H

#include <stddef.h>

#include "conf.h"

/* The path to route on: SCRIPT_NAME when set and not empty (lighttpd,
 * Apache), else DOCUMENT_URI (nginx), else REQUEST_URI up to its '?'.
 * Any argument may be NULL. Sets *len; returns NULL when none is set. */
const char *route_path(const char *script_name, const char *document_uri,
                       const char *request_uri, size_t *len);

/* Index in c->apps of the app whose route is the longest prefix of
 * path[0..len) ending at a '/' boundary ("/app" takes "/app" and
 * "/app/x", not "/apple"), or -1 when none matches. */
long route_match(const struct conf *c, const char *path, size_t len);

/* The length of the longest of app's routes that is a prefix of
 * path[0..len) (as route_match() matches), a trailing '/' not counted;
 * 0 when none matches (an app reached through its own listener). */
size_t route_prefix_len(const struct app_conf *app, const char *path,
                        size_t len);

/* Index in c->apps of the app that lists `address` among its own listen
 * addresses, or -1. */
long route_listener(const struct conf *c, const char *address);

#endif /* SCGISERVER_ROUTE_H */
