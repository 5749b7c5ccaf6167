/* uwsgi_hello.c - "Hello, world!" as a C request handler for uWSGI, for
 * bench/run.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Build: cc -O2 -shared -fPIC -o uwsgi_hello.so uwsgi_hello.c
 * Run:   uwsgi --plugin symcall --dlopen ./uwsgi_hello.so \
 *          --symcall uwsgi_hello --scgi-socket SOCKET --scgi-modifier1 18
 *
 * uWSGI's symcall plugin (modifier1 18) calls uwsgi_hello() for each
 * request; the functions below are uWSGI's own, exported by its binary,
 * so no uWSGI header is needed: the request stays an opaque pointer. Reads
 * and discards the body, then answers "Hello, world!\n".
 * Not built by make: uWSGI is not a dependency of libscgi.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct wsgi_request;

/* From uWSGI 2.0's uwsgi.h. */
int uwsgi_parse_vars(struct wsgi_request *);
char *uwsgi_request_body_read(struct wsgi_request *, ssize_t, ssize_t *);
int uwsgi_response_prepare_headers(struct wsgi_request *, char *, uint16_t);
int uwsgi_response_add_header(struct wsgi_request *, char *, uint16_t,
                              char *, uint16_t);
int uwsgi_response_write_body_do(struct wsgi_request *, char *, size_t);

int uwsgi_hello(struct wsgi_request *req);

int uwsgi_hello(struct wsgi_request *req)
{
  ssize_t n;

  /* Sets the body's length from CONTENT_LENGTH. */
  if (uwsgi_parse_vars(req) != 0)
    return -1;
  do {
    n = 0; /* added to, not set */
    if (!uwsgi_request_body_read(req, 65536, &n))
      return -1;
  } while (n > 0);
  uwsgi_response_prepare_headers(req, "200 OK", 6);
  uwsgi_response_add_header(req, "Content-Type", 12, "text/plain", 10);
  uwsgi_response_add_header(req, "Content-Length", 14, "14", 2);
  uwsgi_response_write_body_do(req, "Hello, world!\n", 14);
  return 0;
}
