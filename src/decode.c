/*
 * decode.c - percent-decoding (`%XX`, and `+` for a space in form data).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * One pass, one table lookup per hex digit. The output index never passes
 * the input index, and each escape is read whole before its byte is
 * written, so decoding in place is safe.
 */
#include "config.h"
#include "internal.h"

#include <limits.h>

/* Each hex digit maps to its value with HEX_DIGIT set; every other byte to
 * 0. A valid escape is then one AND of its two entries, with no branch per
 * digit class, and no locale is involved. */
#define HEX_DIGIT 0x10
static const unsigned char hex_table[256] = {
    ['0'] = 0x10, ['1'] = 0x11, ['2'] = 0x12, ['3'] = 0x13, ['4'] = 0x14,
    ['5'] = 0x15, ['6'] = 0x16, ['7'] = 0x17, ['8'] = 0x18, ['9'] = 0x19,
    ['A'] = 0x1a, ['B'] = 0x1b, ['C'] = 0x1c, ['D'] = 0x1d, ['E'] = 0x1e,
    ['F'] = 0x1f, ['a'] = 0x1a, ['b'] = 0x1b, ['c'] = 0x1c, ['d'] = 0x1d,
    ['e'] = 0x1e, ['f'] = 0x1f,
};

/* Decodes the two hex digits at `p`, which the caller has checked are
 * inside the input. Returns the byte, or -1 when either is not hex. */
static int hex_pair(const char *p)
{
  unsigned hi = hex_table[(unsigned char)p[0]];
  unsigned lo = hex_table[(unsigned char)p[1]];

  if ((hi & lo & HEX_DIGIT) == 0)
    return -1;
  return (int)(((hi & 0xfu) << 4) | (lo & 0xfu));
}

SCGI_API ssize_t scgi_decode(char *dst, size_t dst_size, const char *src,
                             size_t len, unsigned flags)
{
  size_t in = 0, out = 0;

  /* The result must fit in ssize_t; decoded bytes are never more than
   * `len`. */
  if ((dst == NULL && dst_size > 0) || (src == NULL && len > 0) ||
      len > SSIZE_MAX)
    return SCGI_EINVAL;
  while (in < len) {
    int c = (unsigned char)src[in++];
    if (c == '%') {
      if (len - in < 2 || (c = hex_pair(src + in)) < 0)
        return SCGI_EPERCENT;
      in += 2;
    } else if (c == '+' && (flags & SCGI_DECODE_PLUS)) {
      c = ' ';
    }
    /* A raw NUL (a body may hold one) would cut a C string just as %00. */
    if (c == 0 && (flags & SCGI_DECODE_NO_NUL))
      return SCGI_ENUL;
    if (out == dst_size)
      return SCGI_E2BIG;
    dst[out++] = (char)c;
  }
  if (out < dst_size)
    dst[out] = '\0';
  return (ssize_t)out;
}
