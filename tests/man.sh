#!/usr/bin/env bash
# man.sh - the manual pages of doc/: groff formats each one without a
# warning; scgiserver(8) lists every option of `scgiserver --help` and of
# scgiserver/conf.c's option table, scgiserver.conf(5) every key of
# conf.c's key table, scgi(1) every option of `scgi --help` (of the agreed
# interface while the program is not built), libscgi(3) every exported
# function; the pages name no function or SCGI_* constant that does not
# exist, and libscgi(3)'s example is examples/hello.c. TAP output; skipped
# when groff is not installed.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"
export LC_ALL=C.UTF-8

command -v groff >/dev/null || tap_skip_all "groff not installed"

doc=$top_srcdir/doc
conf_c=$top_srcdir/scgiserver/conf.c
exports=$top_srcdir/tests/exports.txt
header=$top_srcdir/include/scgi.h
scgiserver=$top_builddir/scgiserver/scgiserver
pages=(scgiserver.8 scgiserver.conf.5 scgi.1 libscgi.3)
lib_tmpdir
tmp=$lib_tmp

# The scgi client, when it is built (scgiserver/scgi.c).
scgi_client=""
for f in "$top_builddir/scgiserver/scgi" "$top_builddir/scgi/scgi"; do
  if [ -f "$f" ] && [ -x "$f" ]; then
    scgi_client=$f
    break
  fi
done
# scgi(1)'s interface, for as long as the program is not built.
scgi_options=(-X --request -d --data -H --var -i --include -v --verbose
  -t --timeout -h --help -V --version)

# ---------------------------------------------------------------- helpers

# plain PAGE: the page formatted as plain text (no bold, no underline).
plain() {
  groff -man -Tutf8 -P-cbou "$doc/$1" 2>/dev/null
}

# section PAGE NAME: the source lines of section NAME (".SH NAME").
section() {
  awk -v want=".SH $2" '/^\.SH / { inside = ($0 == want); next } inside' \
    "$doc/$1"
}

# tags: the tag lines of .TP items on stdin, fonts and quotes removed and
# "\-" written "-".
tags() {
  awk 'prev == ".TP" { print } { prev = $0 }' |
    sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/"//g'
}

# options: the -x and --name words on stdin, one a line, sorted.
options() {
  grep -oE -- '-{1,2}[A-Za-z][A-Za-z-]*' | LC_ALL=C sort -u
}

# help_options COMMAND: the options that `COMMAND --help` lists: on the
# lines that begin with a few spaces and a dash, each piece (pieces are
# separated by two spaces or more) that begins with a dash, e.g. both of
# "  -h, --help   this help;  -V, --version  the version".
help_options() {
  "$1" --help | grep -E '^ {1,8}-' | sed -E 's/ {2,}/\n/g' | grep -E '^-' |
    options
}

# table NAME: the quoted names of conf.c's array NAME[], one a line, sorted.
table() {
  awk -v start="$1\\[\\] = \\{" '
    $0 ~ start { inside = 1; next }
    inside && /^};/ { exit }
    inside && match($0, /\{ *"[a-z-]+"/) {
      s = substr($0, RSTART, RLENGTH); sub(/^\{ *"/, "", s); sub(/"$/, "", s)
      print s
    }' "$conf_c" | LC_ALL=C sort -u
}

# compare WHAT EXPECTED FOUND: ok when the sorted lists are the same;
# otherwise says what is missing from the page and what it has too many.
compare() {
  local missing extra
  missing=$(LC_ALL=C comm -23 "$2" "$3" | tr '\n' ' ')
  extra=$(LC_ALL=C comm -13 "$2" "$3" | tr '\n' ' ')
  if [ -z "$missing$extra" ]; then
    tap_ok 0 "$1"
  else
    tap_ok 1 "$1"
    [ -z "$missing" ] || tap_diag "missing from the page: $missing"
    [ -z "$extra" ] || tap_diag "in the page but not expected: $extra"
  fi
}

# ---------------------------------------------------------------- format

for page in "${pages[@]}"; do
  if [ ! -r "$doc/$page" ]; then
    tap_ok 1 "$page: exists"
    continue
  fi
  rc=0
  groff -ww -z -man -Tutf8 "$doc/$page" >"$tmp/warnings" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ] && [ ! -s "$tmp/warnings" ]; then
    tap_ok 0 "$page: groff -ww formats it without a warning"
  else
    tap_ok 1 "$page: groff -ww formats it without a warning (status $rc)"
    sed 's/^/#   /' "$tmp/warnings" | head -n 40
  fi
done

# Plain ASCII (groff reads the pages without preconv), and every option
# written with "\-": a bare "-" may come out as a hyphen, which a reader
# cannot paste into a shell.
bad=$(cd "$doc" && { LC_ALL=C grep -n '[^[:print:][:space:]]' "${pages[@]}" || true; })
tap_ok "$([ -z "$bad" ]; echo $?)" "the pages are ASCII"
[ -z "$bad" ] || printf '%s\n' "$bad" | head -n 10 | sed 's/^/#   /'
bad=$(cd "$doc" && { grep -nE '(^|[[:space:]("|,])-{1,2}[A-Za-z]' "${pages[@]}" |
  grep -vE '^[^:]+:[0-9]+:\.\\"' || true; })
tap_ok "$([ -z "$bad" ]; echo $?)" "options are written with \\-"
[ -z "$bad" ] || printf '%s\n' "$bad" | head -n 10 | sed 's/^/#   /'

# ---------------------------------------------------------------- scgiserver

section scgiserver.8 OPTIONS | tags | options >"$tmp/page-options"
if [ -x "$scgiserver" ]; then
  help_options "$scgiserver" >"$tmp/help-options"
  compare "scgiserver(8) OPTIONS: the options of scgiserver --help" \
    "$tmp/help-options" "$tmp/page-options"
else
  tap_skip "scgiserver(8) OPTIONS: the options of scgiserver --help" \
    "$scgiserver not built"
fi
table long_options | sed 's/^/--/' >"$tmp/table-options"
grep -e '^--' "$tmp/page-options" >"$tmp/page-long" || true
compare "scgiserver(8) OPTIONS: the long options of conf.c's table" \
  "$tmp/table-options" "$tmp/page-long"

table keys >"$tmp/table-keys"
section scgiserver.conf.5 KEYS | tags | awk '{ print $1 }' |
  LC_ALL=C sort -u >"$tmp/page-keys"
compare "scgiserver.conf(5) KEYS: the keys of conf.c's table" \
  "$tmp/table-keys" "$tmp/page-keys"

# ---------------------------------------------------------------- scgi

section scgi.1 OPTIONS | tags | options >"$tmp/page-scgi"
if [ -n "$scgi_client" ]; then
  help_options "$scgi_client" >"$tmp/scgi-options"
  compare "scgi(1) OPTIONS: the options of $scgi_client --help" \
    "$tmp/scgi-options" "$tmp/page-scgi"
else
  tap_diag "no scgi program built: scgi(1) is checked against its agreed options"
  printf '%s\n' "${scgi_options[@]}" | LC_ALL=C sort -u >"$tmp/scgi-options"
  compare "scgi(1) OPTIONS: the agreed options of scgi" \
    "$tmp/scgi-options" "$tmp/page-scgi"
fi

# ---------------------------------------------------------------- libscgi

LC_ALL=C sort -u "$exports" >"$tmp/exports"
plain libscgi.3 | grep -oE 'scgi_[a-z0-9_]+\(\)' | sed 's/()$//' |
  LC_ALL=C sort -u >"$tmp/page-functions"
missing=$(LC_ALL=C comm -23 "$tmp/exports" "$tmp/page-functions" | tr '\n' ' ')
tap_ok "$([ -z "$missing" ]; echo $?)" "libscgi(3) names every exported function"
[ -z "$missing" ] || tap_diag "missing: $missing"

for page in "${pages[@]}"; do plain "$page"; done >"$tmp/all.txt"
grep -oE 'scgi_[a-z0-9_]+\(\)' "$tmp/all.txt" | sed 's/()$//' |
  LC_ALL=C sort -u >"$tmp/named"
unknown=$(LC_ALL=C comm -13 "$tmp/exports" "$tmp/named" | tr '\n' ' ')
tap_ok "$([ -z "$unknown" ]; echo $?)" "every function the pages name exists"
[ -z "$unknown" ] || tap_diag "not exported: $unknown"

# SCGI_* names: options, events and environment variables appear as they
# are in scgi.h; error codes as X(NAME, ...) of its SCGI_ERROR_MAP.
unknown=""
while read -r name; do
  case $name in *\*) continue ;; esac
  grep -qw -- "$name" "$header" || grep -q "X(${name#SCGI_}," "$header" ||
    unknown="$unknown $name"
done < <(grep -oE 'SCGI_[A-Z0-9_]+\*?' "$tmp/all.txt" | LC_ALL=C sort -u)
tap_ok "$([ -z "$unknown" ]; echo $?)" "every SCGI_* name of the pages is in scgi.h"
[ -z "$unknown" ] || tap_diag "unknown:$unknown"

# Cross references between these pages.
unknown=""
while read -r ref; do
  name=${ref%(*}
  num=${ref#*(}
  [ -r "$doc/$name.${num%)}" ] || unknown="$unknown $ref"
done < <(grep -oE '(scgiserver\.conf|scgiserver|scgi|libscgi)\([0-9]\)' \
           "$tmp/all.txt" | LC_ALL=C sort -u)
tap_ok "$([ -z "$unknown" ]; echo $?)" "every page of libscgi the pages refer to exists"
[ -z "$unknown" ] || tap_diag "no such page:$unknown"

# The example is examples/hello.c, whole (as README's is).
awk '/^\.SH EXAMPLE/ { in_section = 1; next }
     in_section && /^\.EX/ { inside = 1; next }
     inside && /^\.EE/ { exit }
     inside' "$doc/libscgi.3" |
  sed -e 's/\\e/\\/g' -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\&//g' \
    >"$tmp/hello.c"
if cmp -s "$tmp/hello.c" "$top_srcdir/examples/hello.c"; then
  tap_ok 0 "libscgi(3) EXAMPLE is examples/hello.c"
else
  tap_ok 1 "libscgi(3) EXAMPLE is examples/hello.c"
  diff -u "$top_srcdir/examples/hello.c" "$tmp/hello.c" | sed 's/^/#   /' |
    head -n 40
fi

tap_done
