/*
 * tap.h - a tiny TAP producer for the C tests.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Each test file calls tap_plan() or ends with tap_done(); checks print
 * "ok N - what" or "not ok N - what" with both values and file:line, so a
 * failure explains itself in the test log.
 */
#ifndef SCGI_TAP_H
#define SCGI_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static void tap_result(int ok, const char *file, int line, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

static void tap_result(int ok, const char *file, int line, const char *fmt,
                       ...)
{
  va_list ap;
  printf("%sok %d - ", ok ? "" : "not ", ++tap_count);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  if (!ok) {
    tap_failed++;
    printf("#   at %s:%d\n", file, line);
  }
  fflush(stdout);
}

/* Prints a diagnostic line. */
#define tap_diag(...)                                                          \
  do {                                                                         \
    printf("# ");                                                              \
    printf(__VA_ARGS__);                                                       \
    printf("\n");                                                              \
    fflush(stdout);                                                            \
  } while (0)

#define TAP_OK(cond, ...) tap_result(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Integer equality; prints both values on failure. */
#define TAP_EQ(got, want, what)                                                \
  do {                                                                         \
    intmax_t tap_g_ = (intmax_t)(got), tap_w_ = (intmax_t)(want);              \
    tap_result(tap_g_ == tap_w_, __FILE__, __LINE__, "%s", what);              \
    if (tap_g_ != tap_w_)                                                      \
      printf("#   got %jd, want %jd (%s)\n", tap_g_, tap_w_, #got);            \
  } while (0)

/* String equality (NULL allowed); prints both values on failure. */
#define TAP_STREQ(got, want, what)                                             \
  do {                                                                         \
    const char *tap_g_ = (got), *tap_w_ = (want);                              \
    int tap_ok_ = (tap_g_ == NULL || tap_w_ == NULL)                           \
                      ? tap_g_ == tap_w_                                       \
                      : strcmp(tap_g_, tap_w_) == 0;                           \
    tap_result(tap_ok_, __FILE__, __LINE__, "%s", what);                       \
    if (!tap_ok_)                                                              \
      printf("#   got \"%s\", want \"%s\"\n", tap_g_ ? tap_g_ : "(null)",      \
             tap_w_ ? tap_w_ : "(null)");                                      \
  } while (0)

/* Skips the whole file (TAP "1..0 # SKIP reason"). */
#define tap_skip_all(reason)                                                   \
  do {                                                                         \
    printf("1..0 # SKIP %s\n", reason);                                        \
    exit(0);                                                                   \
  } while (0)

/* Ends the test file: prints the plan and exits non-zero on any failure. */
static int tap_done(void)
{
  printf("1..%d\n", tap_count);
  return tap_failed ? 1 : 0;
}

#endif /* SCGI_TAP_H */
