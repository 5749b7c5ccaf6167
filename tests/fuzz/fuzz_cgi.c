/*
 * fuzz_cgi.c - scgiserver's CGI mode: the header block a CGI program
 * writes (cgi_head_parse()) and the environment built from a request
 * (cgi_env()).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Input: a program's output, and also an SCGI request when it parses as
 * one. A complete header block has a status from 100 to 999, a length
 * within the input and ending with LF, fields that point inside it with
 * token names and values free of CR, LF and NUL; it reads the same from
 * any longer input, and a prefix of it is never complete. The
 * environment has every entry as NAME=value with a valid name, once each,
 * and never HTTP_PROXY or SCGI.
 */
#include "config.h"

#include "../../scgiserver/cgi_env.h"
#include "../../scgiserver/cgi_head.h"
#include "fuzz.h"

static void check_field(const char *buf, size_t len, const struct cgi_field *f)
{
  FUZZ_CHECK(f->name >= buf && f->name + f->name_len <= buf + len);
  FUZZ_CHECK(f->value >= buf && f->value + f->value_len <= buf + len);
  FUZZ_CHECK(f->name_len > 0);
  for (size_t i = 0; i < f->name_len; i++)
    FUZZ_CHECK(f->name[i] > ' ' && f->name[i] < 0x7f && f->name[i] != ':');
  FUZZ_CHECK(!memchr(f->value, '\r', f->value_len) &&
             !memchr(f->value, '\n', f->value_len) &&
             !memchr(f->value, '\0', f->value_len));
}

static void check_head(const uint8_t *data, size_t size)
{
  char *buf = fuzz_copy(data, size);
  struct cgi_head h, again;
  int rc = cgi_head_parse(buf, size, &h);

  FUZZ_CHECK(rc >= -1 && rc <= 1);
  if (rc == -1)
    FUZZ_CHECK(h.error != NULL);
  if (rc == 1) {
    FUZZ_CHECK(h.status >= 100 && h.status <= 999);
    FUZZ_CHECK(h.length >= 2 && h.length <= size && buf[h.length - 1] == '\n');
    FUZZ_CHECK(h.nfields <= CGI_HEAD_FIELDS);
    for (size_t i = 0; i < h.nfields; i++)
      check_field(buf, size, &h.fields[i]);
    FUZZ_CHECK(cgi_head_parse(buf, h.length, &again) == 1 &&
               again.length == h.length && again.status == h.status &&
               again.nfields == h.nfields);
    FUZZ_CHECK(cgi_head_parse(buf, h.length - 1, &again) == 0);
  }
  free(buf);
}

static int parser_var(const void *src, size_t i, const char **name,
                      const char **value)
{
  return scgi_parser_var(src, i, name, value, NULL);
}

static void check_entry(char **env, size_t i)
{
  const char *e = env[i], *eq = strchr(e, '=');
  size_t n;

  FUZZ_CHECK(eq != NULL && eq > e && !(*e >= '0' && *e <= '9'));
  n = (size_t)(eq - e);
  for (size_t k = 0; k < n; k++)
    FUZZ_CHECK((e[k] >= 'A' && e[k] <= 'Z') || (e[k] >= 'a' && e[k] <= 'z') ||
               (e[k] >= '0' && e[k] <= '9') || e[k] == '_');
  FUZZ_CHECK(!(n == 10 && memcmp(e, "HTTP_PROXY", 10) == 0));
  FUZZ_CHECK(!(n == 4 && memcmp(e, "SCGI", 4) == 0));
  for (size_t j = 0; j < i; j++)
    FUZZ_CHECK(strncmp(env[j], e, n + 1) != 0);
}

static void check_env(const uint8_t *data, size_t size)
{
  scgi_parser *p = scgi_parser_new();
  struct cgi_script s = { "/srv/cgi/x", "/x", "/info" };
  struct cgi_vars vars;
  char **env;

  FUZZ_CHECK(p != NULL);
  if (scgi_parse(p, (const char *)data, size) > 0) {
    vars = (struct cgi_vars){ p, scgi_parser_count(p), parser_var };
    env = cgi_env(&vars, &s);
    FUZZ_CHECK(env != NULL);
    for (size_t i = 0; env[i]; i++)
      check_entry(env, i);
    free(env);
  }
  scgi_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_head(data, size);
  check_env(data, size);
  return 0;
}
