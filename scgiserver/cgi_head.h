/*
 * cgi_head.h - reading the header block a CGI program writes before its
 * body (RFC 3875, section 6).
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#ifndef SCGISERVER_CGI_HEAD_H
#define SCGISERVER_CGI_HEAD_H

#include <stddef.h>

#define CGI_HEAD_FIELDS 100 /* header lines kept, Status aside */

/* One header line, pointing into the parsed bytes. */
struct cgi_field {
  const char *name, *value;
  size_t name_len, value_len;
};

struct cgi_head {
  int status;          /* Status's code; without one, 302 when there is a
                          Location line, else 200 */
  const char *reason;  /* Status's reason phrase (may be empty) */
  size_t reason_len;
  struct cgi_field fields[CGI_HEAD_FIELDS]; /* the other lines, in order */
  size_t nfields;
  size_t length;       /* bytes of the block, its blank line included */
  const char *error;   /* why it was refused (a static string) */
};

/* Parses the header block at the start of buf[0..len): lines end with LF
 * or CRLF, a blank line ends the block; every line is `Name: value`
 * (name an HTTP token, no folding, no NUL), Status is `NNN reason` with
 * NNN from 100 to 999 and appears once, and a block needs one line at
 * least. Never reads past buf + len; h's pointers point into buf.
 * Returns 1 when the whole block is there (h filled in), 0 when more
 * bytes are needed, -1 when it is malformed (h->error says why). */
int cgi_head_parse(const char *buf, size_t len, struct cgi_head *h);

#endif /* SCGISERVER_CGI_HEAD_H */
