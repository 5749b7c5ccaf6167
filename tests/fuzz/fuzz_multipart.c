/*
 * fuzz_multipart.c - the multipart/form-data parser, fed whole and in
 * pieces, must give the same events; each event is checked as it comes.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Input: one control byte, then the body. The boundary is taken from the
 * body's first line (after a leading "--"): the CONTENT_TYPE is built from
 * it, plain or quoted, and must be accepted exactly when RFC 2046 allows
 * it. Control bits: 0-4 the size of the pieces less one, 5
 * small limits, 6 a quoted boundary, 7 a callback that stops the parser
 * at the end of the second part.
 */
#include "config.h"

#include "fuzz.h"

#define MAX_BOUNDARY 70
#define STOP (-7) /* the callback's own error */

struct run {
  unsigned char control;
  size_t max_parts, parts;
  const scgi_part *part; /* between BEGIN and END; NULL outside a part */
  int stopped;
  uint64_t hash; /* FNV-1a of the events, part headers and content */
};

static void mix(struct run *r, const void *data, size_t len)
{
  const unsigned char *p = data;

  for (size_t i = 0; i < len; i++)
    r->hash = (r->hash ^ p[i]) * 0x100000001b3u;
}

static void mix_str(struct run *r, const char *s)
{
  mix(r, s ? s : "(null)", s ? strlen(s) + 1 : 6);
}

static void check_filename(const char *filename)
{
  char safe[256];
  ssize_t n = scgi_filename_safe(filename, safe, sizeof safe);

  if (n < 0) {
    FUZZ_CHECK(n == SCGI_EFILENAME || n == SCGI_E2BIG);
    return;
  }
  FUZZ_CHECK((size_t)n == strlen(safe) && n > 0);
  FUZZ_CHECK(!strchr(safe, '/') && !strchr(safe, '\\'));
  FUZZ_CHECK(strcmp(safe, ".") != 0 && strcmp(safe, "..") != 0);
  for (ssize_t i = 0; i < n; i++)
    FUZZ_CHECK((unsigned char)safe[i] >= 0x20 && safe[i] != 0x7f);
}

static void begin(struct run *r, const scgi_part *part)
{
  const char *name = scgi_part_name(part);

  FUZZ_CHECK(r->part == NULL && ++r->parts <= r->max_parts);
  FUZZ_CHECK(name != NULL && name[0] != '\0');
  FUZZ_CHECK(scgi_part_header(part, "Content-Disposition") != NULL);
  FUZZ_CHECK(scgi_part_header(part, NULL) == NULL);
  FUZZ_CHECK(scgi_part_content_type(part) ==
             scgi_part_header(part, "content-type"));
  if (scgi_part_filename(part))
    check_filename(scgi_part_filename(part));
  r->part = part;
  mix(r, "BEGIN", 6);
  mix_str(r, name);
  mix_str(r, scgi_part_filename(part));
  mix_str(r, scgi_part_content_type(part));
}

static int on_part(void *arg, scgi_part_event event, const scgi_part *part,
                   const char *data, size_t len)
{
  struct run *r = arg;

  FUZZ_CHECK(!r->stopped && part != NULL);
  FUZZ_CHECK(event == SCGI_PART_DATA ? data != NULL && len > 0
                                     : data == NULL && len == 0);
  if (event == SCGI_PART_BEGIN) {
    begin(r, part);
    return 0;
  }
  FUZZ_CHECK(r->part == part && strlen(scgi_part_name(part)) > 0);
  if (event == SCGI_PART_DATA) {
    mix(r, data, len); /* the bytes only: pieces differ with the feeds */
    return 0;
  }
  FUZZ_CHECK(event == SCGI_PART_END);
  mix(r, "END", 4);
  r->part = NULL;
  if ((r->control & 0x80) && r->parts == 2)
    return r->stopped = 1, STOP;
  return 0;
}

/* The length of the boundary at b: up to the end of the line and, for an
 * unquoted one, of a parameter value (strchr() finds the NUL too, so a
 * NUL ends it), one byte more than the limit at most. */
static size_t boundary_len(const char *b, size_t len, int quoted)
{
  const char *stop = quoted ? "\r\n" : "\r\n \t;\"";
  size_t n = 0;

  while (n < len && n <= MAX_BOUNDARY && !strchr(stop, b[n]))
    n++;
  return n;
}

/* Whether RFC 2046 allows the boundary. */
static int boundary_valid(const char *b, size_t n)
{
  static const char extra[] = "'()+_,-./:=? ";

  if (n == 0 || n > MAX_BOUNDARY || b[n - 1] == ' ')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((b[i] >= '0' && b[i] <= '9') || (b[i] >= 'a' && b[i] <= 'z') ||
          (b[i] >= 'A' && b[i] <= 'Z') || strchr(extra, b[i])))
      return 0;
  return 1;
}

/* The CONTENT_TYPE for the boundary b[0..n): quoted ones with escapes. */
static void content_type(char *out, const char *b, size_t n, int quoted)
{
  const char *type = quoted ? "Multipart/Form-Data; charset=x; boundary = \""
                            : "multipart/form-data;boundary=";
  size_t at = strlen(type);

  memcpy(out, type, at);
  for (size_t i = 0; i < n; i++) {
    if (quoted && (b[i] == '"' || b[i] == '\\'))
      out[at++] = '\\';
    out[at++] = b[i];
  }
  if (quoted)
    out[at++] = '"';
  out[at] = '\0';
}

/* Feeds body[0..len) in pieces of `piece` bytes; returns the result of
 * scgi_multipart_end(). */
static int run(const char *ct, struct run *r, const char *body, size_t len,
               size_t piece)
{
  scgi_multipart *mp = NULL;
  int rc, fed = 0;

  FUZZ_CHECK(scgi_multipart_new(ct, on_part, r, &mp) == 0);
  if (r->control & 0x20) {
    FUZZ_CHECK(scgi_multipart_set(mp, SCGI_OPT_MAX_PARTS, 3) == 0);
    FUZZ_CHECK(scgi_multipart_set(mp, SCGI_OPT_MAX_PART_HEADER_BYTES, 90) ==
               0);
    r->max_parts = 3;
  }
  for (size_t at = 0; at < len && fed == 0; at += piece) {
    char *copy = fuzz_copy(body + at, len - at < piece ? len - at : piece);
    fed = scgi_multipart_feed(mp, copy, len - at < piece ? len - at : piece);
    free(copy);
  }
  FUZZ_CHECK(scgi_multipart_set(mp, SCGI_OPT_MAX_PARTS, 1) == SCGI_ESTATE);
  rc = scgi_multipart_end(mp);
  FUZZ_CHECK(fed == 0 || rc == fed); /* errors are sticky */
  FUZZ_CHECK(rc == 0 ? r->part == NULL : rc < 0);
  FUZZ_CHECK((rc == STOP) == r->stopped);
  FUZZ_CHECK(rc != SCGI_ENOMEM && rc != SCGI_EINVAL);
  scgi_multipart_free(mp);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *body = (const char *)data + 1, *b = body;
  size_t len = size ? size - 1 : 0, n;
  char ct[64 + 2 * (MAX_BOUNDARY + 1)];
  struct run whole = { 0 }, split = { 0 };
  scgi_multipart *mp = NULL;
  int quoted, rc;

  if (size == 0)
    return 0;
  whole.control = split.control = data[0];
  whole.max_parts = split.max_parts = 1000;
  quoted = (data[0] & 0x40) != 0;
  if (len >= 2 && b[0] == '-' && b[1] == '-')
    b += 2;
  n = boundary_len(b, len - (size_t)(b - body), quoted);
  content_type(ct, b, n, quoted);
  rc = scgi_multipart_new(ct, on_part, &whole, &mp);
  scgi_multipart_free(mp);
  FUZZ_CHECK(rc == 0 ? mp != NULL : mp == NULL && rc == SCGI_ENOBOUNDARY);
  FUZZ_CHECK((rc == 0) == boundary_valid(b, n));
  if (rc != 0)
    return 0;

  rc = run(ct, &whole, body, len, len ? len : 1);
  FUZZ_CHECK(run(ct, &split, body, len, 1 + (data[0] & 0x1f)) == rc);
  FUZZ_CHECK(whole.hash == split.hash && whole.parts == split.parts);
  return 0;
}
