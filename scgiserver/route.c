/*
 * route.c - which app serves a request: its listener, or the longest
 * path prefix.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A linear scan over every route: configs hold a handful, and the scan
 * touches no shared state, so any number of front threads may route at
 * once.
 */
#include "config.h"

#include "route.h"

#include <string.h>

const char *route_path(const char *script_name, const char *document_uri,
                       const char *request_uri, size_t *len)
{
  const char *q;

  *len = 0;
  if (script_name && *script_name) {
    *len = strlen(script_name);
    return script_name;
  }
  if (document_uri && *document_uri) {
    *len = strlen(document_uri);
    return document_uri;
  }
  if (!request_uri)
    return NULL;
  q = strchr(request_uri, '?');
  *len = q ? (size_t)(q - request_uri) : strlen(request_uri);
  return request_uri;
}

/* "/app" and "/app/" both cover "/app/x"; only "/app" covers "/app". */
static int prefix_matches(const char *prefix, const char *path, size_t len)
{
  size_t n = strlen(prefix);

  if (n > len || memcmp(prefix, path, n) != 0)
    return 0;
  return prefix[n - 1] == '/' || n == len || path[n] == '/';
}

long route_match(const struct conf *c, const char *path, size_t len)
{
  long best = -1;
  size_t best_len = 0;

  if (!path)
    return -1;
  for (size_t i = 0; i < c->napps; i++) {
    for (size_t j = 0; j < c->apps[i].nroutes; j++) {
      const char *prefix = c->apps[i].routes[j];
      size_t n = strlen(prefix);
      if (prefix_matches(prefix, path, len) && (best < 0 || n > best_len)) {
        best = (long)i;
        best_len = n;
      }
    }
  }
  return best;
}

size_t route_prefix_len(const struct app_conf *app, const char *path,
                        size_t len)
{
  size_t best = 0;

  for (size_t j = 0; path && j < app->nroutes; j++) {
    const char *prefix = app->routes[j];
    size_t n = strlen(prefix);
    if (!prefix_matches(prefix, path, len))
      continue;
    if (prefix[n - 1] == '/')
      n--;
    if (n > best)
      best = n;
  }
  return best;
}

long route_listener(const struct conf *c, const char *address)
{
  for (size_t i = 0; i < c->napps; i++)
    for (size_t j = 0; j < c->apps[i].nlisten; j++)
      if (strcmp(c->apps[i].listen[j], address) == 0)
        return (long)i;
  return -1;
}
