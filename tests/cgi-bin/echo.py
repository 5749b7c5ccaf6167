#!/usr/bin/python3
# Sends the request body back, with its length in a header.
import os
import sys

length = int(os.environ.get("CONTENT_LENGTH") or 0)
data = sys.stdin.buffer.read(length)
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\r\n")
out.write(b"X-Length: %d\r\n\r\n" % len(data))
out.write(data)
