/*
 * fuzz_parse.c - scgi_parse() on a whole request, then every getter.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Input: one byte choosing the parser's limits (fuzz_set_limits), then the
 * request.
 */
#include "config.h"

#include "fuzz.h"

/* scgi_parser_get() finds each name at its first occurrence. */
static const char *first_value(const scgi_parser *p, const char *name)
{
  const char *n, *v;

  for (size_t i = 0; scgi_parser_var(p, i, &n, &v, NULL) == 0; i++)
    if (strcmp(n, name) == 0)
      return v;
  return NULL;
}

static void check_complete(const scgi_parser *p, const char *buf, long end,
                           size_t max_vars)
{
  size_t count = scgi_parser_count(p), value_len;
  int64_t cl = scgi_parser_content_length(p);
  const char *name, *value;
  char digits[32];

  FUZZ_CHECK(buf[end - 1] == ',');
  FUZZ_CHECK(count >= 2 && count <= max_vars);
  FUZZ_CHECK(scgi_parser_var(p, count, NULL, NULL, NULL) == SCGI_EINVAL);
  FUZZ_CHECK(scgi_parser_error_offset(p) == 0);
  for (size_t i = 0; i < count; i++) {
    FUZZ_CHECK(scgi_parser_var(p, i, &name, &value, &value_len) == 0);
    FUZZ_CHECK(name > buf && value > name && value + value_len < buf + end);
    FUZZ_CHECK(name[0] != '\0' && strlen(value) == value_len);
    FUZZ_CHECK(scgi_parser_get(p, name) == first_value(p, name));
  }
  FUZZ_CHECK(scgi_parser_var(p, 0, &name, &value, NULL) == 0);
  FUZZ_CHECK(strcmp(name, "CONTENT_LENGTH") == 0 && cl >= 0);
  snprintf(digits, sizeof digits, "%lld", (long long)cl);
  FUZZ_CHECK(strcmp(value, digits) == 0);
  FUZZ_CHECK(strcmp(scgi_parser_get(p, "SCGI"), "1") == 0);
}

static void check_not_complete(const scgi_parser *p, long r, size_t len)
{
  FUZZ_CHECK(scgi_parser_count(p) == 0);
  FUZZ_CHECK(scgi_parser_content_length(p) == -1);
  FUZZ_CHECK(scgi_parser_get(p, "CONTENT_LENGTH") == NULL);
  FUZZ_CHECK(scgi_parser_var(p, 0, NULL, NULL, NULL) == SCGI_EINVAL);
  if (r == 0)
    FUZZ_CHECK(scgi_parser_error_offset(p) == 0);
  else /* a request error; never ENOMEM or EINVAL here */
    FUZZ_CHECK(r <= SCGI_ELENDIGIT && r >= SCGI_ETOOMANY &&
               scgi_parser_error_offset(p) <= len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  scgi_parser *p = scgi_parser_new();
  struct fuzz_limits limits;
  size_t len = size ? size - 1 : 0, offset;
  char *buf;
  long r;

  FUZZ_CHECK(p != NULL);
  if (size == 0) {
    FUZZ_CHECK(scgi_parse(p, NULL, 0) == 0);
    scgi_parser_free(p);
    return 0;
  }
  limits = fuzz_set_limits(p, data[0]);
  buf = fuzz_copy(data + 1, len);
  r = scgi_parse(p, buf, len);
  FUZZ_CHECK(r <= (long)len);
  FUZZ_CHECK(scgi_parser_set(p, SCGI_OPT_MAX_VARS, 1) == SCGI_ESTATE);
  if (r > 0)
    check_complete(p, buf, r, limits.max_vars);
  else
    check_not_complete(p, r, len);

  /* The result is sticky, and the same after a reset (limits kept). */
  offset = scgi_parser_error_offset(p);
  FUZZ_CHECK(scgi_parse(p, buf, len) == r);
  scgi_parser_reset(p);
  FUZZ_CHECK(scgi_parse(p, buf, len) == r);
  FUZZ_CHECK(scgi_parser_error_offset(p) == offset);
  scgi_parser_free(p);
  free(buf);
  return 0;
}
