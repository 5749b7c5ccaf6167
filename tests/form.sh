#!/usr/bin/env bash
# form.sh - examples/form behind a real nginx: the HTML page, urlencoded and
# multipart posts checked line by line, malformed bodies, and a 100 MiB
# upload that must not grow the example's memory. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Needs nginx and curl; skipped when either is absent. Everything it starts
# is stopped by PID at exit, also on failure.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

lib_find_nginx >/dev/null || tap_skip_all "nginx not installed"
command -v curl >/dev/null || tap_skip_all "curl not installed"

form_bin=$top_builddir/examples/form
[ -x "$form_bin" ] || tap_bail "$form_bin not built"

lib_tmpdir
dir=$lib_tmp
sock=$dir/form.sock

lib_spawn "$dir/form.log" "$form_bin" -t 2 "unix:$sock"
form_pid=$lib_pid
lib_wait_socket "$sock" "$form_pid" ||
  { sed 's/^/# /' "$dir/form.log"; tap_bail "examples/form did not start"; }

mkdir "$dir/nginx"
locations="
    client_max_body_size 2g;
    location / { include scgi_params; scgi_pass unix:$sock; }"
lib_nginx_up "$dir/nginx" "$locations"

# ---------------------------------------------------------------- helpers

# request NAME CURL_ARGS...: body into $dir/NAME.out, headers into
# $dir/NAME.head; prints the HTTP status ("curl" when curl failed).
request() {
  local name=$1
  shift
  curl -sS --max-time 60 -o "$dir/$name.out" -D "$dir/$name.head" \
    -w '%{http_code}' "$@" 2>"$dir/$name.err" || echo curl
}

# same EXPECTED_FILE GOT_FILE: the files are equal; shows a diff if not.
same() {
  diff -u "$1" "$2"
}

# header_is FILE NAME VALUE_PREFIX: a response header starts with the value.
header_is() {
  tr -d '\r' <"$1" | grep -qi "^$2: $3"
}

# crc32 FILE: the CRC-32 of the file (zlib's), 8 lowercase hex digits,
# from the trailer of gzip, which stores it little-endian.
crc32() {
  gzip -1 -c <"$1" | tail -c 8 | head -c 4 | od -An -tx1 |
    awk '{ print $4 $3 $2 $1 }'
}

# size FILE: its size in bytes.
size() {
  wc -c <"$1" | tr -d ' '
}

# vm_hwm: the example's peak resident memory, in KiB.
vm_hwm() {
  awk '/^VmHWM:/ { print $2 }' "/proc/$form_pid/status"
}

# refused NAME REASON CURL_ARGS...: the post is answered 400 with REASON in
# the body, and the example still runs.
refused() {
  local name=$1 reason=$2 code
  shift 2
  code=$(request "$name" "$@")
  tap_ok "$([ "$code" = 400 ]; echo $?)" "$name: 400 (got $code)"
  tap_check "$name: the body gives the reason ($reason)" \
    grep -qF -- "$reason" "$dir/$name.out"
  tap_check "$name: examples/form still runs" lib_alive "$form_pid"
}

# ---------------------------------------------------------------- GET

code=$(request get "$base/form")
tap_ok "$([ "$code" = 200 ]; echo $?)" "GET: 200 (got $code)"
tap_check "GET: Content-Type text/html; charset=utf-8" \
  header_is "$dir/get.head" Content-Type 'text/html; charset=utf-8'
tap_check "GET: a multipart form" \
  grep -qF 'enctype="multipart/form-data"' "$dir/get.out"
tap_check "GET: two file inputs" \
  test "$(grep -oF 'type="file"' "$dir/get.out" | wc -l)" = 2
tap_check "GET: a repeated checkbox 'tags'" \
  test "$(grep -oF 'type="checkbox" name="tags"' "$dir/get.out" | wc -l)" -ge 2
tap_check "GET: a textarea" grep -qF '<textarea' "$dir/get.out"
tap_check "GET: a second form, urlencoded (no enctype)" \
  test "$(grep -c '<form method="post"' "$dir/get.out")" = 2

code=$(request head -I "$base/form")
tap_ok "$([ "$code" = 200 ]; echo $?)" "HEAD: 200 (got $code)"

code=$(request put -X PUT --data-binary x "$base/form")
tap_ok "$([ "$code" = 405 ]; echo $?)" "PUT: 405 (got $code)"
tap_check "PUT: Allow header lists GET and POST" \
  header_is "$dir/put.head" Allow 'GET, HEAD, POST'

# ---------------------------------------------------------------- urlencoded

code=$(request urlencoded \
  -H 'Cookie: session=abc123; theme="dark"' -H 'Cookie: lang=fr' \
  --data-binary 'name=J%C3%BCrgen+M%C3%BCller&empty=&&note=a%2Bb%26c%3Dd+e&name=second&bare&esc=%5C%09%01' \
  "$base/form/submit?page=2&q=caf%C3%A9+au+lait&flag")
tap_ok "$([ "$code" = 200 ]; echo $?)" "urlencoded POST: 200 (got $code)"
tap_check "urlencoded POST: Content-Type text/plain; charset=utf-8" \
  header_is "$dir/urlencoded.head" Content-Type 'text/plain; charset=utf-8'
cat >"$dir/urlencoded.expect" <<'EOF'
QUERY page=2
QUERY q=café au lait
QUERY flag=
COOKIE session=abc123
COOKIE theme=dark
COOKIE lang=fr
FIELD name=Jürgen Müller
FIELD empty=
FIELD note=a+b&c=d e
FIELD name=second
FIELD bare=
FIELD esc=\\\t\x01
EOF
tap_check "urlencoded POST: QUERY, COOKIE, FIELD lines, decoded, escaped, in order" \
  same "$dir/urlencoded.expect" "$dir/urlencoded.out"

# ---------------------------------------------------------------- multipart

printf 'Hello, form!\nSecond line.\n' >"$dir/small.txt"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$dir/random.bin"
printf 'quote' >"$dir/quote.txt"
code=$(request multipart -H 'Cookie: k=v' \
  --form-string 'title=Café crème — ünïcødé ✓' \
  --form-string "comment=$(printf 'line one\r\nline two')" \
  -F tags=red -F tags=green -F tags=blue \
  -F "file1=@$dir/small.txt" \
  -F "file2=@$dir/random.bin;type=application/octet-stream" \
  -F "file3=@$dir/quote.txt;filename=\"say \\\"hi\\\".txt\"" \
  --form-string 'after=files' \
  "$base/form/upload?step=1")
tap_ok "$([ "$code" = 200 ]; echo $?)" "multipart POST: 200 (got $code)"
cat >"$dir/multipart.expect" <<EOF
QUERY step=1
COOKIE k=v
FIELD title=Café crème — ünïcødé ✓
FIELD comment=line one\\r\\nline two
FIELD tags=red
FIELD tags=green
FIELD tags=blue
FILE file1 small.txt $(size "$dir/small.txt") $(crc32 "$dir/small.txt")
FILE file2 random.bin 3145728 $(crc32 "$dir/random.bin")
FILE file3 say "hi".txt 5 $(crc32 "$dir/quote.txt")
FIELD after=files
EOF
tap_check "multipart POST: fields, repeated tags, files (size, CRC-32) in order" \
  same "$dir/multipart.expect" "$dir/multipart.out"
printf '123456789' >"$dir/check.txt"
tap_check "the test's CRC-32 gives the standard check value cbf43926" \
  test "$(crc32 "$dir/check.txt")" = cbf43926

# A browser's body for an empty file input (filename="") and an empty
# field, written by hand.
crlf() { printf '%s\r\n' "$@"; }
{
  crlf '--XyZ' 'Content-Disposition: form-data; name="note"' '' 'hi'
  crlf '--XyZ' 'Content-Disposition: form-data; name="file1"; filename=""'
  crlf 'Content-Type: application/octet-stream' '' ''
  crlf '--XyZ' 'Content-Disposition: form-data; name="empty"' '' ''
  crlf '--XyZ--'
} >"$dir/browser.body"
code=$(request browser --data-binary "@$dir/browser.body" \
  -H 'Content-Type: multipart/form-data; boundary=XyZ' "$base/form")
tap_ok "$([ "$code" = 200 ]; echo $?)" "empty file input: 200 (got $code)"
printf 'FIELD note=hi\nFILE file1  0 00000000\nFIELD empty=\n' \
  >"$dir/browser.expect"
tap_check "empty file input: 'FILE file1  0 00000000' (empty name as is)" \
  same "$dir/browser.expect" "$dir/browser.out"

# ---------------------------------------------------------------- malformed

head -c -9 "$dir/browser.body" >"$dir/truncated.body"   # no "--XyZ--\r\n"
refused truncated "ends before its final boundary" \
  --data-binary "@$dir/truncated.body" \
  -H 'Content-Type: multipart/form-data; boundary=XyZ' "$base/form"
refused no-boundary "boundary parameter" \
  --data-binary "@$dir/browser.body" \
  -H 'Content-Type: multipart/form-data' "$base/form"
refused other-boundary "ends before its final boundary" \
  --data-binary "@$dir/browser.body" \
  -H 'Content-Type: multipart/form-data; boundary=AbC' "$base/form"
{
  crlf '--XyZ' 'Content-Disposition: form-data' '' 'no name'
  crlf '--XyZ--'
} >"$dir/noname.body"
refused part-without-name "malformed multipart body" \
  --data-binary "@$dir/noname.body" \
  -H 'Content-Type: multipart/form-data; boundary=XyZ' "$base/form"
refused bad-escape "percent escape" \
  --data-binary 'a=1&b=%zz' "$base/form"
refused bad-escape-query "percent escape" \
  --data-binary 'a=1' "$base/form?x=%4"
refused wrong-type "another CONTENT_TYPE" \
  --data-binary '{"a": 1}' -H 'Content-Type: application/json' "$base/form"
refused no-type "another CONTENT_TYPE" \
  --data-binary 'a=1' -H 'Content-Type:' "$base/form"
head -c 65536 /dev/zero | tr '\0' a >"$dir/long.txt"
code=$(request field-64k -F "big=<$dir/long.txt" "$base/form")
tap_ok "$([ "$code" = 200 ]; echo $?)" "a field of exactly 64 KiB: 200 (got $code)"
tap_check "a field of exactly 64 KiB: kept whole" \
  same <(printf 'FIELD big='; cat "$dir/long.txt"; echo) "$dir/field-64k.out"
printf a >>"$dir/long.txt"
refused field-too-large "larger than 64 KiB" \
  -F "big=<$dir/long.txt" "$base/form"
tap_check "refusals are logged to stderr" \
  test "$(grep -c ': 400 ' "$dir/form.log")" -ge 9

# ---------------------------------------------------------------- 100 MiB

head -c $((100 * 1024 * 1024)) /dev/urandom >"$dir/huge.bin"
hwm_before=$(vm_hwm)
started_ms=$(date +%s%3N)
code=$(request huge -F "file=@$dir/huge.bin" "$base/form/huge")
elapsed_ms=$(( $(date +%s%3N) - started_ms ))
hwm_after=$(vm_hwm)
tap_ok "$([ "$code" = 200 ]; echo $?)" "100 MiB upload: 200 (got $code)"
printf 'FILE file huge.bin 104857600 %s\n' "$(crc32 "$dir/huge.bin")" \
  >"$dir/huge.expect"
tap_check "100 MiB upload: size and CRC-32" \
  same "$dir/huge.expect" "$dir/huge.out"
tap_diag "100 MiB upload through nginx: $elapsed_ms ms;" \
  "examples/form VmHWM ${hwm_before} KiB before, ${hwm_after} KiB after"
tap_check "100 MiB upload: peak RSS grew by less than 8 MiB" \
  test $((hwm_after - hwm_before)) -lt 8192
rm -f "$dir/huge.bin"

# ---------------------------------------------------------------- after

code=$(request get2 "$base/form")
tap_check "GET after everything: same page" \
  same "$dir/get.out" "$dir/get2.out"

lib_stop "$form_pid" TERM
tap_ok "$lib_status" "examples/form stops on SIGTERM with status 0 (got $lib_status)"
tap_check "examples/form removed its socket file" test ! -e "$sock"
if grep -q 'ERROR: \|runtime error' "$dir/form.log"; then
  tap_ok 1 "examples/form log has no sanitizer report"
  sed 's/^/# /' "$dir/form.log" | head -n 60
else
  tap_ok 0 "examples/form log has no sanitizer report"
fi

tap_done
