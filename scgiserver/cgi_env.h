/*
 * cgi_env.h - the environment a CGI program gets (RFC 3875, section 4).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef SCGISERVER_CGI_ENV_H
#define SCGISERVER_CGI_ENV_H

#include <stddef.h>

#include "cgi_path.h"

/* The request's variables, read through a getter shaped like
 * scgi_request_var() (so that a parser can stand in for a request). */
struct cgi_vars {
  const void *src;
  size_t count;
  int (*get)(const void *src, size_t index, const char **name,
             const char **value);
};

/* Builds a program's environment: every request variable with a name of
 * letters, digits and '_' (not starting with a digit), except SCGI, and
 * HTTP_PROXY (a client's "Proxy:" header: httpoxy); a repeated name once,
 * its values joined with "; " for HTTP_COOKIE and ", " otherwise (as
 * HTTP joins repeated headers); then GATEWAY_INTERFACE, SCRIPT_NAME,
 * SCRIPT_FILENAME, PATH_INFO (when not empty) from `s`, a fixed PATH,
 * and SERVER_SOFTWARE when the front server sent none. These replace any
 * request variable of the same name, as does PATH_TRANSLATED (dropped).
 * Returns a NULL-terminated array in one allocation (free() it), or NULL
 * when out of memory. */
char **cgi_env(const struct cgi_vars *vars, const struct cgi_script *s);

#endif /* SCGISERVER_CGI_ENV_H */
