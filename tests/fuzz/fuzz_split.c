/*
 * fuzz_split.c - a request fed to scgi_parse() in pieces gives the same
 * result as fed whole: same return value, same error offset, same
 * variables.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Input: one byte choosing the limits (fuzz_set_limits), one choosing two
 * cut points, then the request. Each piece is parsed from a new heap copy
 * of the bytes so far, the previous copy freed first: the parser keeps
 * offsets, never pointers, and reads nothing past the bytes it is given.
 * Requests of up to 256 bytes are also fed one byte at a time. After each
 * call the result must be that of a fresh parser given the same bytes at
 * once.
 */
#include "config.h"

#include "fuzz.h"

#define BYTEWISE_MAX 256

static long parse_whole(const char *buf, size_t len, unsigned char limits,
                        size_t *offset)
{
  scgi_parser *p = scgi_parser_new();
  long r;

  FUZZ_CHECK(p != NULL);
  fuzz_set_limits(p, limits);
  r = scgi_parse(p, len ? buf : NULL, len);
  *offset = scgi_parser_error_offset(p);
  scgi_parser_free(p);
  return r;
}

/* Feeds p the prefix of `len` bytes of data; returns the new copy, the
 * one p's getters now point into. */
static char *feed(scgi_parser *p, char *prev, const uint8_t *data, size_t len,
                  unsigned char limits)
{
  char *buf = fuzz_copy(data, len);
  size_t offset;
  long r;

  free(prev);
  r = scgi_parse(p, len ? buf : NULL, len);
  FUZZ_CHECK(r == parse_whole(buf, len, limits, &offset));
  FUZZ_CHECK(scgi_parser_error_offset(p) == offset);
  return buf;
}

static void same_vars(const scgi_parser *a, const scgi_parser *b)
{
  const char *name_a, *name_b, *value_a, *value_b;
  size_t len_a, len_b;

  FUZZ_CHECK(scgi_parser_count(a) == scgi_parser_count(b));
  FUZZ_CHECK(scgi_parser_content_length(a) == scgi_parser_content_length(b));
  for (size_t i = 0; scgi_parser_var(a, i, &name_a, &value_a, &len_a) == 0;
       i++) {
    FUZZ_CHECK(scgi_parser_var(b, i, &name_b, &value_b, &len_b) == 0);
    FUZZ_CHECK(strcmp(name_a, name_b) == 0);
    FUZZ_CHECK(len_a == len_b && memcmp(value_a, value_b, len_a) == 0);
  }
}

/* Parses data fed as the prefixes ending at cuts[0..n), the last one
 * being the whole; returns the parser and (in *buf) its last copy. */
static scgi_parser *parse_cut(const uint8_t *data, const size_t *cuts,
                              size_t n, unsigned char limits, char **buf)
{
  scgi_parser *p = scgi_parser_new();

  FUZZ_CHECK(p != NULL);
  fuzz_set_limits(p, limits);
  *buf = NULL;
  for (size_t i = 0; i < n; i++)
    *buf = feed(p, *buf, data, cuts[i], limits);
  return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t len = size < 2 ? 0 : size - 2, cuts[BYTEWISE_MAX + 1], n;
  scgi_parser *whole, *split;
  char *whole_buf, *split_buf;
  unsigned char limits, c;

  if (size < 2)
    return 0;
  limits = data[0];
  c = data[1];
  data += 2;

  cuts[0] = len;
  whole = parse_cut(data, cuts, 1, limits, &whole_buf);
  cuts[0] = len * (c & 15) / 16;
  cuts[1] = cuts[0] + (len - cuts[0]) * (c >> 4) / 16;
  cuts[2] = len;
  split = parse_cut(data, cuts, 3, limits, &split_buf);
  same_vars(whole, split);
  scgi_parser_free(split);
  free(split_buf);

  if (len <= BYTEWISE_MAX) {
    for (n = 0; n <= len; n++)
      cuts[n] = n;
    split = parse_cut(data, cuts, n, limits, &split_buf);
    same_vars(whole, split);
    scgi_parser_free(split);
    free(split_buf);
  }
  scgi_parser_free(whole);
  free(whole_buf);
  return 0;
}
