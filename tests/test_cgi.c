/*
 * test_cgi.c - CGI mode's parts: the header block a program writes, the
 * program a path names, the environment it gets.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <scgi.h>

#include "../scgiserver/cgi_env.h"
#include "../scgiserver/cgi_head.h"
#include "../scgiserver/cgi_path.h"
#include "tap.h"

/* ---- header block ------------------------------------------------------ */

static int head(const char *text, struct cgi_head *h)
{
  return cgi_head_parse(text, strlen(text), h);
}

static void test_head_ok(void)
{
  struct cgi_head h;
  const char *t = "Content-Type: text/html\r\nX-A:  b c \r\n\r\nbody";

  TAP_EQ(head(t, &h), 1, "CRLF block: complete");
  TAP_EQ(h.status, 200, "no Status: 200");
  TAP_EQ(h.nfields, 2, "two fields");
  TAP_EQ(h.length, strlen(t) - 4, "length up to the body");
  TAP_OK(h.fields[1].value_len == 3 && memcmp(h.fields[1].value, "b c", 3) == 0,
         "value trimmed on both sides");
  TAP_EQ(head("Status: 404 Not Found\nContent-Type: text/plain\n\n", &h), 1,
         "LF block with Status");
  TAP_EQ(h.status, 404, "Status code");
  TAP_OK(h.reason_len == 9 && memcmp(h.reason, "Not Found", 9) == 0,
         "reason phrase");
  TAP_EQ(h.nfields, 1, "Status is not a field");
  TAP_EQ(head("Location: https://example.org/\n\n", &h), 1, "Location only");
  TAP_EQ(h.status, 302, "Location without Status: 302");
  TAP_EQ(head("status: 301\nlocation: /x\n\n", &h), 1, "names are case-blind");
  TAP_EQ(h.status, 301, "Status beats the Location default");
  TAP_EQ(h.reason_len, 0, "a code without reason");
}

static void test_head_partial(void)
{
  const char *t = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
  size_t n = strlen(t);
  struct cgi_head h;
  int bad = 0;

  for (size_t i = 0; i < n; i++)
    bad += cgi_head_parse(t, i, &h) != 0;
  TAP_EQ(bad, 0, "every proper prefix needs more bytes");
  TAP_EQ(cgi_head_parse(t, n, &h), 1, "the whole block is complete");
}

static void test_head_refused(void)
{
  static const char *const bad[] = {
      "\n",                            /* no line */
      "\r\n",
      "Content-Type text/plain\n\n",   /* no colon */
      ": empty\n\n",                   /* no name */
      "Bad Name: x\n\n",               /* space in the name */
      "X-A: 1\n folded\n\n",           /* folding */
      "Status: 20\n\n",                /* short code */
      "Status: 099 Low\n\n",           /* below 100 */
      "Status: 2000\n\n",              /* four digits */
      "Status: abc\n\n",
      "Status: 200 OK\nStatus: 404 No\n\n",
      "X-A: a\rb\n\n",                 /* bare CR in a value */
  };
  struct cgi_head h;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    TAP_EQ(head(bad[i], &h), -1, bad[i]);
  TAP_EQ(cgi_head_parse("X-A: a\0b\n\n", 11, &h), -1, "NUL in a value");
  TAP_OK(h.error != NULL, "an error says why");
}

static void test_head_many_fields(void)
{
  char buf[8192];
  size_t n = 0;
  struct cgi_head h;

  for (int i = 0; i <= CGI_HEAD_FIELDS; i++)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "X-%d: v\n", i);
  buf[n++] = '\n';
  TAP_EQ(cgi_head_parse(buf, n, &h), -1, "one field too many is refused");
}

/* ---- locating the program ---------------------------------------------- */

static char root[PATH_MAX];
static char outside[PATH_MAX + 8];

static void make_file(const char *rel, const char *text, mode_t mode)
{
  char p[PATH_MAX * 2];
  FILE *f;

  snprintf(p, sizeof p, "%s/%s", root, rel);
  if ((f = fopen(p, "w")) == NULL) {
    perror(p);
    exit(1);
  }
  fputs(text, f);
  fclose(f);
  chmod(p, mode);
}

static void make_tree(void)
{
  char tmpl[] = "/tmp/test_cgi.XXXXXX", p[PATH_MAX * 2];

  if (!mkdtemp(tmpl) || !realpath(tmpl, root)) {
    perror("mkdtemp");
    exit(1);
  }
  snprintf(outside, sizeof outside, "%s.out", root);
  mkdir(outside, 0755);
  snprintf(p, sizeof p, "%s/sub", root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/.hidden", root);
  mkdir(p, 0755);
  make_file("hello.sh", "#!/bin/sh\n", 0755);
  make_file("plain.txt", "text\n", 0644);
  make_file("sub/deep.py", "#!/usr/bin/python3\n", 0755);
  make_file(".hidden/x.sh", "#!/bin/sh\n", 0755);
  snprintf(p, sizeof p, "%s/evil.sh", outside);
  fclose(fopen(p, "w"));
  chmod(p, 0755);
  {
    char link[PATH_MAX * 2];
    snprintf(link, sizeof link, "%s/out.sh", root);
    (void)symlink(p, link);
    snprintf(link, sizeof link, "%s/outdir", root);
    (void)symlink(outside, link);
    snprintf(link, sizeof link, "%s/in.sh", root);
    (void)symlink("sub/deep.py", link);
    snprintf(p, sizeof p, "%s/fifo", root);
    (void)mkfifo(p, 0755);
  }
}

static void remove_tree(void)
{
  char cmd[PATH_MAX * 3];

  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", root, outside);
  if (system(cmd) != 0)
    tap_diag("cannot remove %s", root);
}

/* Locates path below prefix; returns the status. */
static int locate(const char *path, size_t prefix, struct cgi_script *s)
{
  const char *why;
  int rc = cgi_locate(root, path, strlen(path), prefix, s, &why);

  if (rc != 0) {
    memset(s, 0, sizeof *s);
    TAP_OK(why != NULL && *why, "%s: a reason (%s)", path, why ? why : "");
  }
  return rc;
}

static void expect(const char *path, size_t prefix, const char *file,
                   const char *script_name, const char *path_info)
{
  struct cgi_script s;
  char want[PATH_MAX * 2];

  snprintf(want, sizeof want, "%s/%s", root, file);
  TAP_EQ(locate(path, prefix, &s), 0, path);
  TAP_STREQ(s.filename, want, "filename");
  TAP_STREQ(s.script_name, script_name, "SCRIPT_NAME");
  TAP_STREQ(s.path_info, path_info, "PATH_INFO");
  free(s.filename);
}

static void test_locate(void)
{
  struct cgi_script s;

  expect("/hello.sh", 0, "hello.sh", "/hello.sh", "");
  expect("/hello.sh/a/b", 0, "hello.sh", "/hello.sh", "/a/b");
  expect("/cgi-bin/hello.sh/x", 8, "hello.sh", "/cgi-bin/hello.sh", "/x");
  expect("/sub/deep.py", 0, "sub/deep.py", "/sub/deep.py", "");
  expect("/in.sh/p", 0, "sub/deep.py", "/in.sh", "/p");
  expect("/hello.sh/", 0, "hello.sh", "/hello.sh", "/");
  TAP_EQ(locate("/nope.sh", 0, &s), 404, "missing: 404");
  TAP_EQ(locate("/sub", 0, &s), 404, "a directory: 404");
  TAP_EQ(locate("/sub/", 0, &s), 404, "a directory with '/': 404");
  TAP_EQ(locate("/cgi-bin", 8, &s), 404, "the prefix alone: 404");
  TAP_EQ(locate("/.hidden/x.sh", 0, &s), 404, "hidden directory: 404");
  TAP_EQ(locate("/sub/../hello.sh", 0, &s), 400, "'..': 400");
  TAP_EQ(locate("/../x", 0, &s), 400, "leading '..': 400");
  TAP_EQ(locate("/./hello.sh", 0, &s), 400, "'.': 400");
  TAP_EQ(locate("//hello.sh", 0, &s), 400, "empty segment: 400");
  TAP_EQ(locate("/plain.txt", 0, &s), 403, "not executable: 403");
  TAP_EQ(locate("/out.sh", 0, &s), 403, "symlink out of the directory: 403");
  TAP_EQ(locate("/outdir/evil.sh", 0, &s), 403,
         "through a linked directory out of it: 403");
  TAP_EQ(locate("/fifo", 0, &s), 403, "not a regular file: 403");
  TAP_EQ(locate("hello.sh", 0, &s), 404, "no leading '/': 404");
}

/* ---- environment ------------------------------------------------------- */

static int parser_var(const void *src, size_t i, const char **name,
                      const char **value)
{
  return scgi_parser_var(src, i, name, value, NULL);
}

static const char *env_get(char **env, const char *name)
{
  size_t n = strlen(name);
  const char *found = NULL;
  int seen = 0;

  for (; *env; env++)
    if (strncmp(*env, name, n) == 0 && (*env)[n] == '=') {
      found = *env + n + 1;
      seen++;
    }
  return seen > 1 ? "(twice)" : found;
}

static void test_env(void)
{
  static const char h[] =
      "CONTENT_LENGTH\0" "0\0" "SCGI\0" "1\0" "REQUEST_METHOD\0" "GET\0"
      "HTTP_PROXY\0" "http://evil:1\0" "HTTP_COOKIE\0" "a=1\0"
      "HTTP_COOKIE\0" "b=2\0" "HTTP_X_DUP\0" "1\0" "HTTP_X_DUP\0" "2\0"
      "SCRIPT_NAME\0" "/front\0" "PATH\0" "/evil\0" "PATH_TRANSLATED\0" "x\0"
      "bad-name\0" "v\0" "9LIVES\0" "v\0" "QUERY_STRING\0" "a=b\0";
  char wire[512];
  int n = snprintf(wire, sizeof wire, "%zu:", sizeof h - 1);
  scgi_parser *p = scgi_parser_new();
  struct cgi_script s = { "/srv/cgi/x.sh", "/x.sh", "/more" };
  struct cgi_vars vars;
  char **env;

  memcpy(wire + n, h, sizeof h - 1);
  wire[n + (int)sizeof h - 1] = ',';
  TAP_OK(scgi_parse(p, wire, (size_t)n + sizeof h) > 0, "request parsed");
  vars = (struct cgi_vars){ p, scgi_parser_count(p), parser_var };
  env = cgi_env(&vars, &s);
  TAP_OK(env != NULL, "environment built");
  TAP_STREQ(env_get(env, "REQUEST_METHOD"), "GET", "request variable kept");
  TAP_STREQ(env_get(env, "QUERY_STRING"), "a=b", "QUERY_STRING kept");
  TAP_STREQ(env_get(env, "HTTP_PROXY"), NULL, "HTTP_PROXY dropped (httpoxy)");
  TAP_STREQ(env_get(env, "SCGI"), NULL, "SCGI dropped");
  TAP_STREQ(env_get(env, "HTTP_COOKIE"), "a=1; b=2", "cookies joined by ';'");
  TAP_STREQ(env_get(env, "HTTP_X_DUP"), "1, 2", "repeated header joined");
  TAP_STREQ(env_get(env, "SCRIPT_NAME"), "/x.sh", "SCRIPT_NAME is ours");
  TAP_STREQ(env_get(env, "SCRIPT_FILENAME"), "/srv/cgi/x.sh",
            "SCRIPT_FILENAME");
  TAP_STREQ(env_get(env, "PATH_INFO"), "/more", "PATH_INFO");
  TAP_STREQ(env_get(env, "PATH"), "/usr/local/bin:/usr/bin:/bin",
            "PATH is fixed");
  TAP_STREQ(env_get(env, "PATH_TRANSLATED"), NULL, "PATH_TRANSLATED dropped");
  TAP_STREQ(env_get(env, "GATEWAY_INTERFACE"), "CGI/1.1", "GATEWAY_INTERFACE");
  TAP_STREQ(env_get(env, "SERVER_SOFTWARE"), "scgiserver/" PACKAGE_VERSION,
            "SERVER_SOFTWARE when the front sent none");
  TAP_STREQ(env_get(env, "bad-name"), NULL, "invalid name dropped");
  TAP_STREQ(env_get(env, "9LIVES"), NULL, "name starting with a digit dropped");
  free(env);
  s.path_info = "";
  env = cgi_env(&vars, &s);
  TAP_STREQ(env_get(env, "PATH_INFO"), NULL, "no PATH_INFO when empty");
  free(env);
  scgi_parser_free(p);
}

int main(void)
{
  test_head_ok();
  test_head_partial();
  test_head_refused();
  test_head_many_fields();
  make_tree();
  test_locate();
  remove_tree();
  test_env();
  return tap_done();
}
