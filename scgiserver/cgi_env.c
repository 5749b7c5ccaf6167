/*
 * cgi_env.c - the environment a CGI program gets.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Nothing of scgiserver's own environment reaches the program: only the
 * request's variables and the few CGI ones set here, with a fixed PATH.
 * Repeated names are found by sorting the variables' indexes by name, so
 * that a request with thousands of variables costs n log n, not n².
 */
#include "config.h"

#include "cgi_env.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CGI_PATH "/usr/local/bin:/usr/bin:/bin"

/* "NAME=value\0" strings, appended one after the other. */
struct strings {
  char *data;
  size_t len, cap, count;
  bool failed;
};

static void put(struct strings *b, const char *s, size_t n)
{
  if (b->failed)
    return;
  if (n > SIZE_MAX / 2 - b->len) {
    b->failed = true;
    return;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *p;
    while (cap < b->len + n)
      cap *= 2;
    if ((p = realloc(b->data, cap)) == NULL) {
      b->failed = true;
      return;
    }
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

static void put_var(struct strings *b, const char *name, const char *value)
{
  put(b, name, strlen(name));
  put(b, "=", 1);
  put(b, value, strlen(value));
  put(b, "", 1);
  b->count++;
}

static bool valid_name(const char *s)
{
  if (*s == '\0' || (*s >= '0' && *s <= '9'))
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

/* Request variables never passed on: SCGI's own marker, the httpoxy
 * header, and the names set here. */
static bool dropped(const char *name)
{
  static const char *const names[] = {
      "SCGI", "HTTP_PROXY", "GATEWAY_INTERFACE", "SCRIPT_NAME",
      "SCRIPT_FILENAME", "PATH_INFO", "PATH_TRANSLATED", "PATH",
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i]) == 0)
      return true;
  return !valid_name(name);
}

struct var {
  const char *name, *value;
  size_t index;
};

static int by_name(const void *a, const void *b)
{
  const struct var *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The request's variables that are passed on, sorted by name (then wire
 * order); *n gets their count. NULL with *n = 0 when there are none. */
static struct var *kept_vars(const struct cgi_vars *vars, size_t *n,
                             bool *failed)
{
  struct var *v = NULL;

  *n = 0;
  if (vars->count &&
      (v = calloc(vars->count, sizeof *v)) == NULL) {
    *failed = true;
    return NULL;
  }
  for (size_t i = 0; i < vars->count; i++) {
    const char *name, *value;
    if (vars->get(vars->src, i, &name, &value) == 0 && !dropped(name))
      v[(*n)++] = (struct var){ name, value, i };
  }
  qsort(v, *n, sizeof *v, by_name);
  return v;
}

/* Each name once, the values of a repeated one joined. */
static bool put_request_vars(struct strings *b, const struct cgi_vars *vars)
{
  bool failed = false, software = false;
  size_t n;
  struct var *v = kept_vars(vars, &n, &failed);

  for (size_t i = 0; i < n; i++) {
    bool repeat = i > 0 && strcmp(v[i].name, v[i - 1].name) == 0;
    if (repeat) {
      b->len--; /* the previous value's NUL */
      put(b, strcmp(v[i].name, "HTTP_COOKIE") == 0 ? "; " : ", ", 2);
      put(b, v[i].value, strlen(v[i].value));
      put(b, "", 1);
      continue;
    }
    put_var(b, v[i].name, v[i].value);
    software |= strcmp(v[i].name, "SERVER_SOFTWARE") == 0;
  }
  free(v);
  b->failed |= failed;
  return software;
}

char **cgi_env(const struct cgi_vars *vars, const struct cgi_script *s)
{
  struct strings b = { 0 };
  char **env, *p;

  if (!put_request_vars(&b, vars))
    put_var(&b, "SERVER_SOFTWARE", "scgiserver/" PACKAGE_VERSION);
  put_var(&b, "GATEWAY_INTERFACE", "CGI/1.1");
  put_var(&b, "SCRIPT_NAME", s->script_name);
  put_var(&b, "SCRIPT_FILENAME", s->filename);
  if (s->path_info[0])
    put_var(&b, "PATH_INFO", s->path_info);
  put_var(&b, "PATH", CGI_PATH);
  if (b.failed ||
      (env = malloc((b.count + 1) * sizeof *env + b.len)) == NULL) {
    free(b.data);
    return NULL;
  }
  p = memcpy(env + b.count + 1, b.data, b.len);
  for (size_t i = 0; i < b.count; i++) {
    env[i] = p;
    p += strlen(p) + 1;
  }
  env[b.count] = NULL;
  free(b.data);
  return env;
}
