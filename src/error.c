/*
 * error.c - descriptions of libscgi's error codes.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"
#include "internal.h"

#include <string.h>

/* Negated errno values are -1..-999; the library's own codes start at -1001
 * (see SCGI_ERROR_MAP), so the two ranges can never be confused. */
#define SCGI__ERRNO_MAX 999

/* strerror() may use a buffer shared between threads for unknown values;
 * strerrordesc_np() (glibc 2.32+) returns a constant string or NULL. */
static const char *errno_text(int err)
{
#ifdef HAVE_STRERRORDESC_NP
  const char *text = strerrordesc_np(err);
  return text != NULL ? text : "unknown error";
#else
  return strerror(err);
#endif
}

SCGI_API const char *scgi_strerror(int code)
{
  switch (code) {
  case 0:
    return "success";
#define SCGI__ERROR_CASE(name, value, text)                                    \
  case SCGI_##name:                                                            \
    return text;
    SCGI_ERROR_MAP(SCGI__ERROR_CASE)
#undef SCGI__ERROR_CASE
  default:
    break;
  }
  if (code < 0 && code >= -SCGI__ERRNO_MAX)
    return errno_text(-code);
  return "unknown error";
}
