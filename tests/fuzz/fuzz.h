/*
 * fuzz.h - helpers shared by the fuzz targets of tests/fuzz.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A target checks what the interface promises and abort()s when it does
 * not hold, so that libFuzzer and tests/fuzz/replay.c both see a crash.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <scgi.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entry point libFuzzer calls, and tests/fuzz/replay.c too. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* A heap copy of exactly `size` bytes (one byte allocated for 0), so that
 * AddressSanitizer catches a read past the end. */
static inline char *fuzz_copy(const void *data, size_t size)
{
  char *copy = malloc(size ? size : 1);

  FUZZ_CHECK(copy != NULL);
  if (size)
    memcpy(copy, data, size);
  return copy;
}

/* Parser limits chosen by one input byte: around the 48 variables kept
 * inside the parser, and the header sizes of the tests/cases files. */
struct fuzz_limits {
  size_t max_vars, max_header_bytes;
};

static inline struct fuzz_limits fuzz_set_limits(scgi_parser *p,
                                                 unsigned char c)
{
  static const size_t vars[8] = { 1, 2, 3, 47, 48, 49, 97, 1024 };
  static const size_t bytes[8] = { 1, 9, 31, 64, 100, 1000, 65536, 1u << 30 };
  struct fuzz_limits l = { vars[c & 7], bytes[(c >> 3) & 7] };

  FUZZ_CHECK(scgi_parser_set(p, SCGI_OPT_MAX_VARS, l.max_vars) == 0);
  FUZZ_CHECK(scgi_parser_set(p, SCGI_OPT_MAX_HEADER_BYTES,
                             l.max_header_bytes) == 0);
  return l;
}

#endif /* FUZZ_H */
