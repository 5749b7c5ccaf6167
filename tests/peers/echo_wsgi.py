# echo_wsgi.py - a WSGI application for uWSGI's SCGI socket, for
# tests/connect-peers.sh:
#   uwsgi --plugin python3 --scgi-socket 127.0.0.1:PORT --wsgi-file echo_wsgi.py
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Answers a request whose path starts with /missing with a 404; every other
# one with 200, the CGI variables it received (upper-case names) sorted by
# name as NAME=VALUE lines, an empty line, then the request body byte for
# byte, with a Content-Length.


def application(env, start_response):
    length = int(env.get("CONTENT_LENGTH") or 0)
    body = env["wsgi.input"].read(length) if length else b""
    if env.get("REQUEST_URI", "").startswith("/missing"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not here\n"]
    names = sorted(k for k, v in env.items()
                   if k.isupper() and isinstance(v, str))
    head = "".join("%s=%s\n" % (k, env[k]) for k in names) + "\n"
    out = head.encode("latin-1") + body
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(out))),
                              ("X-Peer", "uwsgi")])
    return [out]
