/*
 * filename.c - a client-supplied file name made safe as one path component.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Both '/' and '\' separate directories here, whatever the platform:
 * browsers on Windows have sent whole paths such as C:\Users\me\cv.pdf,
 * and a name kept with a '\' in it becomes a path again on the day the
 * file is copied to a Windows share. Bytes from 0x80 up are kept as they
 * are (UTF-8 names), and not checked for being valid UTF-8.
 */
#include "config.h"
#include "internal.h"

#include <limits.h>
#include <string.h>

/* Finds the last path component of a NUL-terminated name; one pass, no
 * byte after the NUL is looked at. */
static const char *last_component(const char *name, size_t *len)
{
  const char *base = name, *p = name;

  for (; *p != '\0'; p++)
    if (*p == '/' || *p == '\\')
      base = p + 1;
  *len = (size_t)(p - base);
  return base;
}

/* Empty, "." and ".." name directories, not files; control characters
 * make log lines and terminals lie. */
static bool component_safe(const char *s, size_t len)
{
  if (len == 0 || (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.'))))
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return false;
  }
  return true;
}

/* Checks the name; the length of the safe name, or the error. */
static ssize_t check(const char *filename, size_t size, const char **base)
{
  size_t len;

  if (filename == NULL)
    return SCGI_EFILENAME;
  *base = last_component(filename, &len);
  if (!component_safe(*base, len))
    return SCGI_EFILENAME;
  if (len >= size || len > SSIZE_MAX)
    return SCGI_E2BIG;
  return (ssize_t)len;
}

SCGI_API ssize_t scgi_filename_safe(const char *filename, char *out,
                                    size_t size)
{
  const char *base = NULL;
  ssize_t len;

  if (out == NULL && size > 0)
    return SCGI_EINVAL;
  len = check(filename, size, &base);
  if (len < 0) {
    if (size > 0)
      out[0] = '\0';
    return len;
  }
  /* memmove: `out` may be `filename` itself. */
  memmove(out, base, (size_t)len);
  out[len] = '\0';
  return len;
}
