# hello_wsgi.py - "Hello, world!" as a WSGI application, for bench/run
# (uWSGI's python3 plugin serving SCGI).
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Reads and discards the request body, then answers "Hello, world!\n".

BODY = b"Hello, world!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    body = environ["wsgi.input"]
    while body.read(65536):
        pass
    start_response("200 OK", HEADERS)
    return [BODY]
