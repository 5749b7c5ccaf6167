/*
 * cgi_head.c - reading the header block a CGI program writes before its
 * body.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Strict on purpose: what is accepted here is handed to libscgi's
 * response functions, and a program whose output cannot be read as CGI
 * gets a 502 rather than a guess.
 */
#include "config.h"

#include "cgi_head.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool is_token_char(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static bool named(const struct cgi_field *f, const char *name)
{
  return f->name_len == strlen(name) &&
         strncasecmp(f->name, name, f->name_len) == 0;
}

static int refuse(struct cgi_head *h, const char *why)
{
  h->error = why;
  return -1;
}

/* "NNN reason": the code, then one space or tab before the reason. */
static int parse_status(struct cgi_head *h, const struct cgi_field *f)
{
  const char *v = f->value;
  size_t n = f->value_len;

  if (h->reason)
    return refuse(h, "two Status lines");
  if (n < 3 || v[0] < '1' || v[0] > '9' || v[1] < '0' || v[1] > '9' ||
      v[2] < '0' || v[2] > '9' || (n > 3 && v[3] != ' ' && v[3] != '\t'))
    return refuse(h, "Status is not a code from 100 to 999");
  h->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
  h->reason = n > 3 ? v + 4 : v + 3;
  h->reason_len = n > 3 ? n - 4 : 0;
  return 0;
}

/* One line without its end: `Name: value`, spaces around the value
 * dropped. */
static int parse_line(struct cgi_head *h, const char *s, size_t n)
{
  struct cgi_field f;
  size_t i = 0;

  if (n > 0 && (s[0] == ' ' || s[0] == '\t'))
    return refuse(h, "a folded header line");
  while (i < n && is_token_char((unsigned char)s[i]))
    i++;
  if (i == 0 || i == n || s[i] != ':')
    return refuse(h, "a header line that is not Name: value");
  f.name = s;
  f.name_len = i++;
  while (i < n && (s[i] == ' ' || s[i] == '\t'))
    i++;
  while (n > i && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  f.value = s + i;
  f.value_len = n - i;
  if (memchr(f.value, '\0', f.value_len) || memchr(f.value, '\r', f.value_len))
    return refuse(h, "a control character in a header value");
  if (named(&f, "Status"))
    return parse_status(h, &f);
  if (h->nfields == CGI_HEAD_FIELDS)
    return refuse(h, "too many header lines");
  h->fields[h->nfields++] = f;
  return 0;
}

static bool has_location(const struct cgi_head *h)
{
  for (size_t i = 0; i < h->nfields; i++)
    if (named(&h->fields[i], "Location"))
      return true;
  return false;
}

int cgi_head_parse(const char *buf, size_t len, struct cgi_head *h)
{
  const char *blank;
  size_t pos = 0;

  memset(h, 0, sizeof *h);
  for (;;) {
    const char *nl = memchr(buf + pos, '\n', len - pos);
    size_t end;

    if (!nl)
      return 0;
    end = (size_t)(nl - buf);
    if (end > pos && buf[end - 1] == '\r')
      end--;
    if (end == pos)
      break;
    if (parse_line(h, buf + pos, end - pos) != 0)
      return -1;
    pos = (size_t)(nl - buf) + 1;
  }
  if (pos == 0)
    return refuse(h, "no header line before the blank line");
  blank = memchr(buf + pos, '\n', len - pos);
  h->length = (size_t)(blank - buf) + 1;
  if (!h->reason) {
    h->status = has_location(h) ? 302 : 200;
    h->reason = "";
  }
  return 1;
}
