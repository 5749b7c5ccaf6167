#!/usr/bin/python3
# A classic CGI program: the request as the CGI variables describe it.
import os

print("Content-Type: text/plain; charset=utf-8")
print("X-Script: hello")
print()
for name in ("REQUEST_METHOD", "QUERY_STRING", "SCRIPT_NAME", "PATH_INFO",
             "GATEWAY_INTERFACE"):
    print("%s=%s" % (name, os.environ.get(name, "(unset)")))
print("cwd=%s" % os.path.basename(os.getcwd()))
