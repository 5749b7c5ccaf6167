/*
 * cgi_path.h - which program of a CGI directory a request path names.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef SCGISERVER_CGI_PATH_H
#define SCGISERVER_CGI_PATH_H

#include <stddef.h>

/* Where a path led: three strings in one allocation (free `filename`). */
struct cgi_script {
  char *filename;    /* the program's real path (inside the directory) */
  char *script_name; /* the URL path up to the program's name included */
  char *path_info;   /* the rest of the URL path ("" when none) */
};

/* Finds the program named by path[0..len) (a decoded URL path) below its
 * first `prefix_len` bytes (the app's route, which names the directory
 * itself) in the directory `root` (a real path: absolute, no symbolic
 * link, no trailing '/'). The segments after the prefix are walked from
 * the left: directories are entered, the first regular file is the
 * program and what follows it is PATH_INFO. Refused: an empty, "." or
 * ".." segment (400); a segment starting with '.' (404, as hidden);
 * nothing found, or a directory (404); a file that is not regular, not
 * executable, or whose real path lies outside `root`, as through a
 * symbolic link (403). Returns 0 (*out filled in), or that status code
 * with *why set to a static reason; 500 when out of memory. */
int cgi_locate(const char *root, const char *path, size_t len,
               size_t prefix_len, struct cgi_script *out, const char **why);

#endif /* SCGISERVER_CGI_PATH_H */
