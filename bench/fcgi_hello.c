/* fcgi_hello.c - "Hello, world!" as a libfcgi application, for bench/run.
 *
 * Copyright (C) 2026 The libscgi authors.
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Build: cc -O2 -o fcgi_hello fcgi_hello.c -lfcgi  (Debian: libfcgi-dev)
 * Run:   spawn-fcgi -n -s SOCKET -M 0666 -- ./fcgi_hello
 *
 * Single-threaded, the usual libfcgi loop: FCGX_Accept_r() a request,
 * read and discard its body, answer "Hello, world!\n", FCGX_Finish_r().
 * Not built by make: libfcgi is not a dependency of libscgi.
 */
#include <fcgiapp.h>

static const char reply[] =
  "Status: 200 OK\r\n"
  "Content-Type: text/plain\r\n"
  "Content-Length: 14\r\n"
  "\r\n"
  "Hello, world!\n";

int main(void)
{
  FCGX_Request req;
  char buf[16384];

  if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
    return 1;
  while (FCGX_Accept_r(&req) >= 0) {
    while (FCGX_GetStr(buf, (int)sizeof buf, req.in) > 0)
      ;
    FCGX_PutStr(reply, (int)sizeof reply - 1, req.out);
    FCGX_Finish_r(&req);
  }
  return 0;
}
