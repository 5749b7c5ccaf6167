/*
 * form.c - query strings, urlencoded bodies and cookies as name/value lists.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A form is one heap block: the header, the pair index, then every name and
 * value NUL-terminated. It is built in two passes over the input with the
 * same walking code: the first only measures (pairs, and an upper bound of
 * the text bytes, since decoding never grows a string), the second decodes
 * into the block allocated in between. Each pass is linear in the input.
 */
#include "config.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Default largest urlencoded body for scgi_form_body(). */
#define FORM_BODY_DEFAULT_MAX ((size_t)1 << 20)

#define URLENCODED_TYPE "application/x-www-form-urlencoded"

/* One name/value pair; both strings live in the form's own block. */
struct form_pair {
  const char *name;
  const char *value;
  size_t name_len;
  size_t value_len;
};

struct scgi_form {
  size_t count;
  struct form_pair pairs[]; /* `count` of them, then the text */
};

/* A piece of the input, not NUL-terminated. */
struct span {
  const char *p;
  size_t len;
};

/* State of one pass. While `form` is NULL the pass only measures. */
struct builder {
  scgi_form *form;
  bool decode;      /* percent-decode (forms) or copy (cookies) */
  size_t count;     /* pairs measured */
  size_t bytes;     /* text bytes measured, then used */
  size_t pairs_cap; /* what the block was allocated for */
  size_t text_cap;
  char *text;
};

/* ---------------------------------------------------------------- building */

/* Adds one pair's room: the encoded lengths bound the decoded ones, plus a
 * NUL after each string. Sizes come from the peer: check every sum. */
static int builder_measure(struct builder *b, size_t name_len, size_t value_len)
{
  size_t need = name_len;

  if (value_len > SIZE_MAX - 2 - need)
    return SCGI_ENOMEM;
  need += value_len + 2;
  if (need > SIZE_MAX - b->bytes || b->count == SIZE_MAX)
    return SCGI_ENOMEM;
  b->bytes += need;
  b->count++;
  return 0;
}

/* Allocates the block for what the first pass measured and switches the
 * builder to storing. */
static int builder_alloc(struct builder *b)
{
  size_t head = offsetof(scgi_form, pairs);

  if (b->count > (SIZE_MAX - head) / sizeof(struct form_pair))
    return SCGI_ENOMEM;
  head += b->count * sizeof(struct form_pair);
  if (b->bytes > SIZE_MAX - head)
    return SCGI_ENOMEM;
  b->form = malloc(head + b->bytes);
  if (b->form == NULL)
    return SCGI_ENOMEM;
  b->form->count = 0;
  b->pairs_cap = b->count;
  b->text_cap = b->bytes;
  b->text = (char *)b->form + head;
  b->bytes = 0;
  return 0;
}

/* Writes one string into the text area, decoded or copied, NUL-terminated. */
static int builder_put(struct builder *b, struct span s, const char **str,
                       size_t *str_len)
{
  char *dst = b->text + b->bytes;
  size_t room = b->text_cap - b->bytes;
  ssize_t n = (ssize_t)s.len;

  if (b->decode)
    n = scgi_decode(dst, room, s.p, s.len,
                    SCGI_DECODE_PLUS | SCGI_DECODE_NO_NUL);
  else if (s.len < room)
    memcpy(dst, s.p, s.len);
  if (n < 0)
    return (int)n;
  /* The measuring pass reserved room for the NUL; anything else is a bug
   * that must not become an overflow. */
  if ((size_t)n >= room)
    return SCGI_E2BIG;
  dst[n] = '\0';
  *str = dst;
  *str_len = (size_t)n;
  b->bytes += (size_t)n + 1;
  return 0;
}

/* Measures or stores one pair, depending on the pass. */
static int builder_add(struct builder *b, struct span name, struct span value)
{
  struct form_pair *pair;
  int rc;

  if (b->form == NULL)
    return builder_measure(b, name.len, value.len);
  if (b->form->count == b->pairs_cap)
    return SCGI_E2BIG; /* the two passes disagree: a bug, not an overflow */
  pair = &b->form->pairs[b->form->count];
  rc = builder_put(b, name, &pair->name, &pair->name_len);
  if (rc == 0)
    rc = builder_put(b, value, &pair->value, &pair->value_len);
  if (rc == 0)
    b->form->count++;
  return rc;
}

/* Runs both passes of `walk` over `input` and hands the form out. */
static int build(int (*walk)(struct builder *, const void *),
                 const void *input, bool decode, scgi_form **out)
{
  struct builder b = {.decode = decode};
  int rc = walk(&b, input);

  if (rc == 0)
    rc = builder_alloc(&b);
  if (rc == 0)
    rc = walk(&b, input);
  if (rc != 0) {
    free(b.form);
    return rc;
  }
  *out = b.form;
  return 0;
}

/* -------------------------------------------------------------- urlencoded */

/* One non-empty `&`-separated piece: split at the first `=`; a piece
 * without one is a name with an empty value (WHATWG urlencoded parsing). */
static int urlencoded_piece(struct builder *b, const char *p, size_t len)
{
  const char *eq = memchr(p, '=', len);
  struct span name = {p, len}, value = {"", 0};

  if (eq != NULL) {
    name.len = (size_t)(eq - p);
    value.p = eq + 1;
    value.len = len - name.len - 1;
  }
  return builder_add(b, name, value);
}

static int urlencoded_walk(struct builder *b, const void *input)
{
  const struct span *in = input;
  const char *p = in->p;
  size_t left = in->len;

  while (left > 0) {
    const char *amp = memchr(p, '&', left);
    size_t len = amp != NULL ? (size_t)(amp - p) : left;
    int rc = len > 0 ? urlencoded_piece(b, p, len) : 0;
    if (rc != 0)
      return rc;
    /* Step over the piece and its '&' (absent after the last piece). */
    p += len + (amp != NULL);
    left -= len + (amp != NULL);
  }
  return 0;
}

SCGI_API int scgi_form_parse(const char *data, size_t len, scgi_form **out)
{
  struct span in = {data, len};

  if (out == NULL)
    return SCGI_EINVAL;
  *out = NULL;
  if (data == NULL && len > 0)
    return SCGI_EINVAL;
  return build(urlencoded_walk, &in, true, out);
}

SCGI_API int scgi_form_query(const scgi_request *req, scgi_form **out)
{
  const char *query;

  if (out == NULL)
    return SCGI_EINVAL;
  *out = NULL;
  if (req == NULL)
    return SCGI_EINVAL;
  query = scgi_request_query_string(req);
  if (query == NULL)
    query = "";
  return scgi_form_parse(query, strlen(query), out);
}

/* ---------------------------------------------------------------- body */

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static char ascii_lower(char c)
{
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Media types are case-insensitive (RFC 9110 8.3.1) and may carry
 * parameters; compared in ASCII so that the locale plays no part. */
static bool is_urlencoded(const char *type)
{
  const char *want = URLENCODED_TYPE;

  if (type == NULL)
    return false;
  while (is_blank(*type))
    type++;
  for (; *want != '\0'; want++, type++)
    if (ascii_lower(*type) != *want)
      return false;
  while (is_blank(*type))
    type++;
  return *type == '\0' || *type == ';';
}

/* Reads exactly `len` body bytes; the body accounting guarantees that
 * scgi_read() returns 0 only once the body is over. */
static int read_exact(scgi_request *req, char *buf, size_t len)
{
  size_t got = 0;

  while (got < len) {
    ssize_t n = scgi_read(req, buf + got, len - got);
    if (n < 0)
      return (int)n;
    if (n == 0)
      return SCGI_ETRUNCATED;
    got += (size_t)n;
  }
  return 0;
}

/* Checks what can be refused without reading: type, size, and a body that
 * is still whole (parsing the tail of a form would invent fields). */
static int body_check(const scgi_request *req, size_t max_bytes)
{
  int64_t length = scgi_request_content_length(req);

  if (!is_urlencoded(scgi_request_content_type(req)))
    return SCGI_ECONTENTTYPE;
  if (max_bytes == 0)
    max_bytes = FORM_BODY_DEFAULT_MAX;
  if ((uint64_t)length > (uint64_t)max_bytes)
    return SCGI_EBODYSIZE;
  if (scgi_request_body_left(req) != length)
    return SCGI_ESTATE;
  return 0;
}

SCGI_API int scgi_form_body(scgi_request *req, size_t max_bytes,
                            scgi_form **out)
{
  size_t len;
  char *buf;
  int rc;

  if (out == NULL)
    return SCGI_EINVAL;
  *out = NULL;
  if (req == NULL)
    return SCGI_EINVAL;
  rc = body_check(req, max_bytes);
  if (rc != 0)
    return rc;
  /* body_check() bounded the length by max_bytes, a size_t. */
  len = (size_t)scgi_request_content_length(req);
  buf = malloc(len > 0 ? len : 1);
  if (buf == NULL)
    return SCGI_ENOMEM;
  rc = read_exact(req, buf, len);
  if (rc == 0)
    rc = scgi_form_parse(buf, len, out);
  free(buf);
  return rc;
}

/* ---------------------------------------------------------------- cookies */

static struct span trim(struct span s)
{
  while (s.len > 0 && is_blank(s.p[0])) {
    s.p++;
    s.len--;
  }
  while (s.len > 0 && is_blank(s.p[s.len - 1]))
    s.len--;
  return s;
}

/* One `;`-separated piece: `name=value`, both trimmed as browsers do
 * (RFC 6265 5.2); a quoted value loses its quotes. Anything without a
 * name is skipped rather than refused: one bad cookie set by another
 * application on the domain must not hide the others. */
static int cookie_piece(struct builder *b, struct span piece)
{
  const char *end = piece.p + piece.len;
  const char *eq = memchr(piece.p, '=', piece.len);
  struct span name, value;

  if (eq == NULL)
    return 0;
  name = trim((struct span){piece.p, (size_t)(eq - piece.p)});
  value = trim((struct span){eq + 1, (size_t)(end - eq - 1)});
  if (name.len == 0)
    return 0;
  if (value.len >= 2 && value.p[0] == '"' && value.p[value.len - 1] == '"') {
    value.p++;
    value.len -= 2;
  }
  return builder_add(b, name, value);
}

static int cookie_header(struct builder *b, const char *p, size_t left)
{
  while (left > 0) {
    const char *semi = memchr(p, ';', left);
    size_t len = semi != NULL ? (size_t)(semi - p) : left;
    int rc = cookie_piece(b, (struct span){p, len});
    if (rc != 0)
      return rc;
    p += len + (semi != NULL);
    left -= len + (semi != NULL);
  }
  return 0;
}

/* Every HTTP_COOKIE variable, in wire order: nginx forwards each Cookie
 * line as its own variable, and lookups would only see the first. */
static int cookie_walk(struct builder *b, const void *input)
{
  const scgi_request *req = input;
  size_t count = scgi_request_count(req);

  for (size_t i = 0; i < count; i++) {
    const char *name, *value;
    size_t value_len;
    int rc = scgi_request_var(req, i, &name, &value, &value_len);
    if (rc == 0 && strcmp(name, "HTTP_COOKIE") == 0)
      rc = cookie_header(b, value, value_len);
    if (rc != 0)
      return rc;
  }
  return 0;
}

SCGI_API int scgi_form_cookies(const scgi_request *req, scgi_form **out)
{
  if (out == NULL)
    return SCGI_EINVAL;
  *out = NULL;
  if (req == NULL)
    return SCGI_EINVAL;
  return build(cookie_walk, req, false, out);
}

/* ---------------------------------------------------------------- lookup */

SCGI_API size_t scgi_form_count(const scgi_form *form)
{
  return form != NULL ? form->count : 0;
}

SCGI_API int scgi_form_field(const scgi_form *form, size_t index,
                             const char **name, const char **value,
                             size_t *value_len)
{
  const struct form_pair *pair;

  if (form == NULL || index >= form->count)
    return SCGI_EINVAL;
  pair = &form->pairs[index];
  if (name != NULL)
    *name = pair->name;
  if (value != NULL)
    *value = pair->value;
  if (value_len != NULL)
    *value_len = pair->value_len;
  return 0;
}

SCGI_API const char *scgi_form_next(const scgi_form *form, const char *name,
                                    size_t *cursor)
{
  size_t len;

  if (form == NULL || name == NULL || cursor == NULL)
    return NULL;
  len = strlen(name);
  /* Lengths first: most names differ in length, and memcmp then never
   * runs. Names hold no NUL (decoding refuses %00), so this is exact. */
  for (size_t i = *cursor; i < form->count; i++) {
    const struct form_pair *pair = &form->pairs[i];
    if (pair->name_len == len && memcmp(pair->name, name, len) == 0) {
      *cursor = i + 1;
      return pair->value;
    }
  }
  *cursor = form->count;
  return NULL;
}

SCGI_API const char *scgi_form_get(const scgi_form *form, const char *name)
{
  size_t cursor = 0;

  return scgi_form_next(form, name, &cursor);
}

SCGI_API void scgi_form_free(scgi_form *form)
{
  free(form);
}
