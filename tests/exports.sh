#!/usr/bin/env bash
# exports.sh - the ABI check: the dynamic symbols that the built libscgi.so
# exports must be exactly tests/exports.txt, which must list exactly the
# SCGI_API functions of include/scgi.h. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# After adding a public function: add it to tests/exports.txt (sorted with
# LC_ALL=C) and bump the -version-info in Makefile.am.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
export LC_ALL=C

so=$top_builddir/.libs/libscgi.so
expected=$top_srcdir/tests/exports.txt
header=$top_srcdir/include/scgi.h

command -v nm >/dev/null || { echo "1..0 # SKIP nm not installed"; exit 0; }
[ -e "$so" ] || { echo "1..0 # SKIP no shared library (built with --disable-shared?)"; exit 0; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libscgi-exports.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

n=0
failed=0
result() {
  n=$((n + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $n - $2"
  else
    failed=$((failed + 1))
    echo "not ok $n - $2"
  fi
}

# Sanitizer builds add their own runtime hooks; they are not our ABI.
nm -D --defined-only "$so" | awk '$2 ~ /[TDBRW]/ {print $3}' |
  grep -Ev '^(__(asan|ubsan|tsan|lsan|msan|sanitizer|odr_asan)|_init$|_fini$)' |
  sort >"$tmp/actual" || true
sed -n 's/^SCGI_API .*[ *]\(scgi_[a-z_0-9]*\)(.*/\1/p' "$header" |
  sort >"$tmp/declared"

if diff -u "$expected" "$tmp/actual" >"$tmp/diff1"; then
  result 0 "exported symbols match tests/exports.txt ($(wc -l <"$tmp/actual") symbols)"
else
  result 1 "exported symbols match tests/exports.txt"
  sed 's/^/# /' "$tmp/diff1"
fi

if diff -u "$expected" "$tmp/declared" >"$tmp/diff2"; then
  result 0 "tests/exports.txt lists exactly the SCGI_API functions of scgi.h"
else
  result 1 "tests/exports.txt lists exactly the SCGI_API functions of scgi.h"
  sed 's/^/# /' "$tmp/diff2"
fi

if bad=$(grep -v '^scgi_' "$tmp/actual"); then
  result 1 "every exported symbol starts with scgi_"
  printf '%s\n' "$bad" | sed 's/^/# /'
else
  result 0 "every exported symbol starts with scgi_"
fi

if sort -c "$expected" 2>/dev/null; then
  result 0 "tests/exports.txt is sorted"
else
  result 1 "tests/exports.txt is sorted (LC_ALL=C sort)"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
