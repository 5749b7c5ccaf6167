#!/usr/bin/env bash
# doc.sh - the API reference builds with doxygen without a single warning,
# and README's example is examples/hello.c. TAP output; skipped when doxygen
# is not installed.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}

command -v doxygen >/dev/null || { echo "1..0 # SKIP doxygen not installed"; exit 0; }
doxyfile=$top_builddir/doc/Doxyfile
[ -r "$doxyfile" ] || { echo "Bail out! $doxyfile missing (run configure)"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libscgi-doc.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

# Same settings, output to a temporary directory; warnings to their file.
{ cat "$doxyfile"; echo "OUTPUT_DIRECTORY = $tmp"; echo "WARN_LOGFILE ="; } >"$tmp/Doxyfile"
rc=0
doxygen "$tmp/Doxyfile" >"$tmp/out" 2>"$tmp/warnings" || rc=$?

if [ "$rc" -eq 0 ]; then
  echo "ok 1 - doxygen succeeds"
else
  echo "not ok 1 - doxygen succeeds (exit status $rc)"
  sed 's/^/# /' "$tmp/out" | tail -n 20
fi
if [ -s "$tmp/warnings" ]; then
  echo "not ok 2 - no doxygen warnings ($(wc -l <"$tmp/warnings") lines)"
  sed 's/^/# /' "$tmp/warnings"
else
  echo "ok 2 - no doxygen warnings"
fi
if [ -s "$tmp/html/index.html" ] && [ -s "$tmp/html/scgi_8h.html" ]; then
  echo "ok 3 - doc/html has the main page and the scgi.h reference"
else
  echo "not ok 3 - doc/html has the main page and the scgi.h reference"
fi
# README shows examples/hello.c whole: the two must not drift apart.
awk '/^```c$/ { inside = 1; next } /^```$/ && inside { exit } inside' \
  "$top_srcdir/README.md" >"$tmp/readme-hello.c"
if cmp -s "$tmp/readme-hello.c" "$top_srcdir/examples/hello.c"; then
  echo "ok 4 - README's example is examples/hello.c"
  example=0
else
  echo "not ok 4 - README's example is examples/hello.c"
  diff -u "$top_srcdir/examples/hello.c" "$tmp/readme-hello.c" | sed 's/^/# /'
  example=1
fi
echo "1..4"
[ "$rc" -eq 0 ] && [ ! -s "$tmp/warnings" ] && [ -s "$tmp/html/index.html" ] &&
  [ "$example" -eq 0 ]
