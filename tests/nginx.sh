#!/usr/bin/env bash
# nginx.sh - examples/echo behind a real nginx, then hostile bytes sent
# straight to its socket. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Needs nginx and curl; skipped when nginx is absent. Everything it starts
# is stopped by PID at exit, also on failure.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

lib_find_nginx >/dev/null || tap_skip_all "nginx not installed"
command -v curl >/dev/null || tap_skip_all "curl not installed"

echo_bin=$top_builddir/examples/echo
rawsend=$top_builddir/tests/rawsend
[ -x "$echo_bin" ] || tap_bail "$echo_bin not built"
[ -x "$rawsend" ] || tap_bail "$rawsend not built"

lib_tmpdir
dir=$lib_tmp
sock=$dir/echo.sock

# A short read timeout, so that a request that stops half-way is dropped
# quickly (tested below); nginx on the same machine never waits that long.
read_timeout_ms=1500
lib_spawn "$dir/echo.log" "$echo_bin" -t 4 -T "$read_timeout_ms" "unix:$sock"
echo_pid=$lib_pid
lib_wait_socket "$sock" "$echo_pid" ||
  { sed 's/^/# /' "$dir/echo.log"; tap_bail "echo did not start"; }

mkdir "$dir/nginx"
locations="
    location / { include scgi_params; scgi_pass unix:$sock; }
    location /stream/ {
      include scgi_params;
      scgi_pass unix:$sock;
      scgi_request_buffering off;
    }
    location /noparams/ { scgi_pass unix:$sock; }"
lib_nginx_up "$dir/nginx" "$locations"

# ---------------------------------------------------------------- helpers

# get FILE CURL_ARGS...: body into FILE, prints the HTTP status.
get() {
  local out=$1
  shift
  curl -sS --max-time 30 -o "$out" -w '%{http_code}' "$@"
}

# body_of RESPONSE: the echoed request body (after the first empty line).
body_of() {
  local n off
  n=$(grep -a -n -m1 '^$' "$1" | cut -d: -f1)
  [ -n "$n" ] || return 1
  off=$(head -n "$n" "$1" | wc -c)
  tail -c +"$((off + 1))" "$1"
}

# vars_of RESPONSE: the NAME=VALUE lines (before the first empty line).
vars_of() {
  sed -n '/^$/q;p' "$1"
}

# in_order FILE LINE...: every LINE is a line of FILE, in this order.
in_order() {
  local file=$1 last=0 n line
  shift
  for line in "$@"; do
    n=$(grep -a -n -x -F -m1 -- "$line" "$file" | cut -d: -f1)
    if [ -z "$n" ]; then
      echo "missing line: $line"
      return 1
    fi
    if [ "$n" -le "$last" ]; then
      echo "out of order: $line (line $n, previous $last)"
      return 1
    fi
    last=$n
  done
}

# ---------------------------------------------------------------- GET

code=$(get "$dir/get.out" "$base/get/path?x=1&y=two%20words") || code=curl
tap_ok "$([ "$code" = 200 ]; echo $?)" "GET answers 200 (got $code)"
vars_of "$dir/get.out" >"$dir/get.vars"
tap_check "GET: CONTENT_LENGTH=0 is the first line" \
  test "$(head -n 1 "$dir/get.vars")" = "CONTENT_LENGTH=0"
tap_check "GET: variables present, in nginx's order" \
  in_order "$dir/get.vars" CONTENT_LENGTH=0 REQUEST_METHOD=GET \
  "REQUEST_URI=/get/path?x=1&y=two%20words" \
  "QUERY_STRING=x=1&y=two%20words" DOCUMENT_URI=/get/path SCGI=1
tap_check "GET: empty body" test -z "$(body_of "$dir/get.out")"
tap_check "GET: one SCGI line" test "$(grep -c '^SCGI=' "$dir/get.vars")" = 1

curl -sS --max-time 30 -o /dev/null -D "$dir/get.head" "$base/x" || true
tap_check "GET: Content-Type text/plain" \
  grep -qi '^Content-Type: text/plain' "$dir/get.head"

# ---------------------------------------------------------------- POST

# nginx from 1.7.11 until a fix merged in February 2026 (nginx/nginx pull
# request 1118) computes CONTENT_LENGTH from the body bytes already read, so with
# scgi_request_buffering off it sends a wrong one (often 0) although the
# client announced the length. Releases before 1.29 all have the bug (a
# probe cannot tell reliably: nginx may have the whole small body when it
# builds the header); for later ones, a one-byte POST that waits for
# "100 Continue" shows it.
nginx_version=$("$(lib_find_nginx)" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
stream_bug=""
if [ -n "$nginx_version" ] &&
   [ "$(printf '%s\n1.29\n' "$nginx_version" | sort -V | head -n 1)" != 1.29 ]
then
  stream_bug="nginx $nginx_version sends a wrong CONTENT_LENGTH with scgi_request_buffering off"
else
  for _ in 1 2 3; do
    code=$(get "$dir/probe.out" -H 'Expect: 100-continue' --data-binary x \
      "$base/stream/probe") || code=curl
    cl=$(sed -n 's/^CONTENT_LENGTH=//p;/^$/q' "$dir/probe.out" | head -n 1)
    if [ "$code" = 200 ] && [ "$cl" != 1 ]; then
      stream_bug="this nginx sends CONTENT_LENGTH=$cl, not 1, with scgi_request_buffering off"
    fi
  done
fi

head -c $((8 * 1024 * 1024)) /dev/urandom >"$dir/big.in"
for loc in /post /stream/post; do
  what="POST 8 MiB to $loc"
  if [ "$loc" = /stream/post ] && [ -n "$stream_bug" ]; then
    tap_skip "$what: 200" "$stream_bug"
    tap_skip "$what: CONTENT_LENGTH first" "$stream_bug"
    tap_skip "$what: body echoed intact" "$stream_bug"
    continue
  fi
  code=$(get "$dir/post.out" --data-binary "@$dir/big.in" \
    -H 'Content-Type: application/octet-stream' "$base$loc") || code=curl
  tap_ok "$([ "$code" = 200 ]; echo $?)" "$what: 200 (got $code)"
  tap_check "$what: CONTENT_LENGTH first" \
    test "$(head -n 1 "$dir/post.out")" = "CONTENT_LENGTH=8388608"
  tap_check "$what: body echoed intact" \
    cmp "$dir/big.in" <(body_of "$dir/post.out")
done
rm -f "$dir/big.in" "$dir/post.out"

# ---------------------------------------------------------------- headers

code=$(get "$dir/cookie.out" -H 'Cookie: a=1' -H 'Cookie: b=2' \
  "$base/cookies") || code=curl
tap_check "two Cookie headers: two HTTP_COOKIE lines, in order" \
  in_order "$dir/cookie.out" HTTP_COOKIE=a=1 HTTP_COOKIE=b=2

code=$(get "$dir/noparams.out" "$base/noparams/") || code=curl
tap_ok "$([ "$code" = 400 ]; echo $?)" \
  "without scgi_params: 400 (got $code)"
tap_check "without scgi_params: the answer says 'include scgi_params'" \
  grep -q 'include scgi_params' "$dir/noparams.out"

# ---------------------------------------------------------------- load

# One client: a POST whose body and query name the request; prints
# "bad N" unless the echo matches exactly.
one_client() {
  local i=$1 out
  out=$(curl -sS --max-time 30 --data-binary "body-$i" "$base/load/$i?n=$i") ||
    { echo "bad $i (curl)"; return 0; }
  if [ "$(printf '%s' "$out" | tail -c $((5 + ${#i})))" != "body-$i" ] ||
     ! printf '%s\n' "$out" | grep -qx "QUERY_STRING=n=$i" ||
     ! printf '%s\n' "$out" | grep -qx "CONTENT_LENGTH=$((5 + ${#i}))"; then
    echo "bad $i"
  fi
}
export -f one_client
export base
# shellcheck disable=SC2016 # $1 is for the inner bash
seq 300 | xargs -P 32 -I{} bash -c 'one_client "$1"' _ {} >"$dir/load.out"
tap_check "300 requests, 32 at a time, all echoed correctly" \
  test ! -s "$dir/load.out"
head -n 5 "$dir/load.out" | sed 's/^/# /'

# ---------------------------------------------------------------- hostile

# hostile NAME FILE [RAWSEND_ARGS]: sends FILE to the echo socket; passes when
# the answer is "Status: 400" or nothing, and the connection closes within
# a second.
hostile() {
  local name=$1 file=$2 out err ms
  shift 2
  out=$("$rawsend" "unix:$sock" "$file" --timeout-ms 5000 "$@" \
    2>"$dir/rawsend.err" | head -c 200) || true
  err=$(cat "$dir/rawsend.err")
  ms=$(printf '%s\n' "$err" | sed -n 's/.* \(closed\|reset\) after \([0-9]*\) ms$/\2/p')
  if [ -z "$ms" ] || [ "$ms" -gt 1000 ]; then
    echo "not closed within 1 s: $err"
    return 1
  fi
  case $out in
    "") echo "closed $name" >>"$dir/hostile.kinds"; return 0 ;;
    "Status: 400"*) echo 400 >>"$dir/hostile.kinds"; return 0 ;;
  esac
  echo "unexpected answer: $(printf '%s' "$out" | head -n 1) ($err)"
  return 1
}

# Every malformed case of the parser's suite ("error ..."), and every
# incomplete one ("more", which the write shutdown cuts short).
ncases=0
for expect in "$top_srcdir"/tests/cases/*.expect; do
  [ -e "$expect" ] || continue
  name=$(basename "$expect" .expect)
  input=${expect%.expect}.in
  [ -e "$input" ] || continue
  kind=$(grep -v '^#' "$expect" | head -n 1 | cut -d' ' -f1)
  case $kind in
    error) ;;
    more) name="$name (cut short)" ;;
    *) continue ;;
  esac
  ncases=$((ncases + 1))
  tap_check "hostile case $name: 400 or close within 1 s" \
    hostile "$name" "$input"
  tap_check "hostile case $name, 7-byte pieces: 400 or close within 1 s" \
    hostile "$name" "$input" --split 7
done
tap_diag "$ncases hostile cases from tests/cases;" \
  "$(grep -c 400 "$dir/hostile.kinds" || true) answers were 400," \
  "$(grep -c closed "$dir/hostile.kinds" || true) closes without an answer"
tap_check "tests/cases has hostile cases" test "$ncases" -gt 0

# Hand-made cases that need no case file.
printf '9999999999999999999999:' >"$dir/hugelen.in"
tap_check "hostile: absurd netstring length" hostile hugelen "$dir/hugelen.in"
printf '%s' '-1:,' >"$dir/neglen.in"
tap_check "hostile: negative netstring length" hostile neglen "$dir/neglen.in"
: >"$dir/empty.in"
tap_check "hostile: connection closed without a byte" \
  hostile empty "$dir/empty.in"
printf '50:CONTENT_LENGTH\0000\0SCGI\0001\0' >"$dir/short.in"
tap_check "hostile: header block cut short" hostile short "$dir/short.in"

# A client that sends half a header and waits: dropped after the read
# timeout, not before, and not much later.
started_ms=$(date +%s%3N)
out=$("$rawsend" "unix:$sock" "$dir/short.in" --keep-open --timeout-ms 10000 \
  2>"$dir/slow.err") || true
elapsed=$(( $(date +%s%3N) - started_ms ))
tap_check "slow client dropped after the read timeout (${elapsed} ms)" \
  test "$elapsed" -ge $((read_timeout_ms - 100)) -a \
  "$elapsed" -le $((read_timeout_ms + 3000))
sed 's/^/# /' "$dir/slow.err"

# A well-formed request straight to the socket, split in 1-byte pieces.
printf '24:CONTENT_LENGTH\0005\0SCGI\0001\0,hello' >"$dir/valid.in"
"$rawsend" "unix:$sock" "$dir/valid.in" --split 1 >"$dir/valid.out" \
  2>"$dir/valid.err" || true
tap_check "valid request in 1-byte pieces: Status 200" \
  grep -aq '^Status: 200' "$dir/valid.out"
tap_check "valid request in 1-byte pieces: variables echoed" \
  in_order "$dir/valid.out" CONTENT_LENGTH=5 SCGI=1
tap_check "valid request in 1-byte pieces: body echoed" \
  test "$(body_of "$dir/valid.out")" = hello

# Real requests captured behind nginx, Apache and lighttpd: every variable
# comes back in wire order, duplicates included, then the body.
for capture in "$top_srcdir"/tests/captures/*.bin; do
  [ -e "$capture" ] || continue
  name=$(basename "$capture" .bin)
  len=$(head -c 12 "$capture" | tr '\0' '\n' | head -n 1 | cut -d: -f1)
  tail -c +$((${#len} + 2)) "$capture" | head -c "$len" | tr '\0' '\n' |
    paste -d= - - >"$dir/$name.vars"
  tail -c +$((${#len} + len + 3)) "$capture" >"$dir/$name.body"
  "$rawsend" "unix:$sock" "$capture" >"$dir/$name.out" 2>"$dir/$name.err" ||
    true
  tap_check "capture $name: Status 200" \
    grep -aq '^Status: 200' "$dir/$name.out"
  tap_check "capture $name: variables echoed in wire order" \
    cmp "$dir/$name.vars" <(vars_of "$dir/$name.out" | sed '1,/^\r$/d')
  tap_check "capture $name: body echoed" \
    cmp "$dir/$name.body" <(body_of "$dir/$name.out")
done

# A body that trickles in: 256 KiB in 4 KiB pieces, straight to the socket.
head -c 262144 /dev/urandom >"$dir/trickle.body"
printf 'CONTENT_LENGTH\000262144\000SCGI\0001\000' >"$dir/trickle.head"
{ printf '%d:' "$(wc -c <"$dir/trickle.head")"; cat "$dir/trickle.head"
  printf ','; cat "$dir/trickle.body"; } >"$dir/trickle.in"
"$rawsend" "unix:$sock" "$dir/trickle.in" --split 4096 --delay-ms 1 \
  >"$dir/trickle.out" 2>"$dir/trickle.err" || true
tap_check "body arriving in 4 KiB pieces: echoed intact" \
  cmp "$dir/trickle.body" <(body_of "$dir/trickle.out")

# ---------------------------------------------------------------- after

tap_check "echo still runs after the hostile battery" lib_alive "$echo_pid"
code=$(get "$dir/get2.out" "$base/get/path?x=1&y=two%20words") || code=curl
tap_check "GET after the battery: byte-exact same answer" \
  cmp <(grep -av '^REMOTE_PORT=' "$dir/get.out") \
  <(grep -av '^REMOTE_PORT=' "$dir/get2.out")

lib_stop "$echo_pid" TERM
tap_ok "$lib_status" "echo stops on SIGTERM with status 0 (got $lib_status)"
tap_check "echo removed its socket file" test ! -e "$sock"
if grep -q 'ERROR: \|runtime error' "$dir/echo.log"; then
  tap_ok 1 "echo log has no sanitizer report"
  sed 's/^/# /' "$dir/echo.log" | head -n 60
else
  tap_ok 0 "echo log has no sanitizer report"
fi

tap_done
