/*
 * cgi_path.c - which program of a CGI directory a request path names.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * The check that matters is the last one: the program's real path, all
 * symbolic links resolved, must lie inside the directory. The segment
 * rules before it only give clearer answers (a ".." never reaches the
 * file system at all).
 */
#include "config.h"

#include "cgi_path.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int refuse(const char **why, int status, const char *reason)
{
  *why = reason;
  return status;
}

/* Checks one segment: 0, or the status that refuses it. */
static int check_segment(const char *seg, size_t n, const char **why)
{
  if (n == 0)
    return refuse(why, 400, "an empty path segment");
  if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
    return refuse(why, 400, "a '.' or '..' path segment");
  if (seg[0] == '.')
    return refuse(why, 404, "a hidden file or directory");
  return 0;
}

static bool inside(const char *root, const char *real)
{
  size_t n = strlen(root);

  if (n == 1) /* root is "/" */
    return real[0] == '/';
  return strncmp(real, root, n) == 0 && real[n] == '/';
}

/* The program found at `file` (what path[0..end) named): checks it and
 * fills in *out. */
static int take(const char *file, const char *path, size_t len, size_t end,
                const char *root, struct cgi_script *out, const char **why)
{
  char *real = realpath(file, NULL);
  size_t rl, total;
  int status = 0;

  if (!real)
    return refuse(why, errno == ENOMEM ? 500 : 404, "cannot resolve it");
  if (!inside(root, real))
    status = refuse(why, 403, "its real path is outside the CGI directory");
  else if (access(real, X_OK) != 0)
    status = refuse(why, 403, "not executable");
  rl = strlen(real);
  total = rl + 1 + end + 1 + (len - end) + 1;
  if (status == 0 && (out->filename = realloc(real, total)) == NULL)
    status = refuse(why, 500, "out of memory");
  if (status != 0) {
    free(real);
    return status;
  }
  out->script_name = out->filename + rl + 1;
  memcpy(out->script_name, path, end);
  out->script_name[end] = '\0';
  out->path_info = out->script_name + end + 1;
  memcpy(out->path_info, path + end, len - end);
  out->path_info[len - end] = '\0';
  return 0;
}

int cgi_locate(const char *root, const char *path, size_t len,
               size_t prefix_len, struct cgi_script *out, const char **why)
{
  size_t rl = strlen(root), pos = prefix_len, n = rl;
  char *file;
  int status = 404;

  *why = "no program named";
  if (pos >= len || path[pos] != '/')
    return 404;
  if ((file = malloc(rl + (len - pos) + 1)) == NULL)
    return refuse(why, 500, "out of memory");
  memcpy(file, root, rl);
  while (pos < len) {
    const char *seg = path + pos + 1;
    const char *slash = memchr(seg, '/', len - pos - 1);
    size_t sl = slash ? (size_t)(slash - seg) : len - pos - 1;
    struct stat st;

    if (!slash && sl == 0) { /* a trailing '/' after a directory */
      status = refuse(why, 404, "a directory");
      break;
    }
    if ((status = check_segment(seg, sl, why)) != 0)
      break;
    file[n++] = '/';
    memcpy(file + n, seg, sl);
    n += sl;
    file[n] = '\0';
    pos += 1 + sl;
    if (stat(file, &st) != 0) {
      status = refuse(why, errno == EACCES ? 403 : 404,
                      errno == EACCES ? "permission denied" : "no such file");
      break;
    }
    if (S_ISREG(st.st_mode)) {
      status = take(file, path, len, pos, root, out, why);
      break;
    }
    if (!S_ISDIR(st.st_mode)) {
      status = refuse(why, 403, "not a regular file");
      break;
    }
    status = refuse(why, 404, "a directory");
  }
  free(file);
  return status;
}
