#!/usr/bin/env bash
# scgiserver-listen.sh - routing by listener: an app with `listen` in its
# config section gets every request arriving there, whatever the path;
# the global listener still routes by path prefix; SIGHUP keeps both
# listeners serving; SIGTERM stops every front server and exits 0. Raw SCGI requests (tests/rawsend), no nginx.
# TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Everything started is stopped by PID at exit, workers of scgiserver
# included.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

scgiserver=$top_builddir/scgiserver/scgiserver
rawsend=$top_builddir/tests/rawsend
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
for b in "$scgiserver" "$rawsend" "$top_builddir/examples/echo" \
  "$top_builddir/tests/badapp"; do
  [ -x "$b" ] || tap_bail "$b not built"
done
echo_bin=$(abs "$top_builddir/examples/echo")
badapp=$(abs "$top_builddir/tests/badapp")

lib_tmpdir
dir=$lib_tmp
global=$dir/global.sock
own=$dir/b.sock
conf=$dir/scgiserver.conf

cat >"$conf" <<CONF
listen = unix:$global
threads = 4
drain-timeout = 3000

[app a]
exec = $echo_bin
workers = 1
route = /

[app b]
exec = $badapp pid
workers = 1
listen = unix:$own
CONF

# request FILE URI: a raw SCGI GET request for URI.
request() {
  local body=$dir/req.body
  printf 'CONTENT_LENGTH\0000\0SCGI\0001\0REQUEST_METHOD\0GET\0REQUEST_URI\0%s\0DOCUMENT_URI\0%s\0' \
    "$2" "$2" >"$body"
  { printf '%d:' "$(wc -c <"$body")"; cat "$body"; printf ','; } >"$1"
}

# send ADDRESS URI: prints the response's body (after the blank line).
send() {
  request "$dir/req" "$2"
  "$rawsend" "$1" "$dir/req" --timeout-ms 5000 2>/dev/null |
    tr -d '\r' | sed '1,/^$/d'
}

workers=""
kill_workers() {
  local p
  for p in $workers; do
    lib_running "$p" && kill -s KILL "$p" 2>/dev/null
  done
  return 0
}
lib_at_exit kill_workers

lib_spawn "$dir/scgiserver.log" "$scgiserver" -c "$conf"
srv=$lib_pid
ready() {
  [ -S "$global" ] && [ -S "$own" ] &&
    send "unix:$own" /x | grep -Eq '^[0-9]+$'
}
if ! lib_wait_for 10 ready; then
  sed 's/^/# /' "$dir/scgiserver.log"
  tap_bail "scgiserver did not start"
fi
workers=$(lib_children "$srv" | tr '\n' ' ')
tap_ok 0 "scgiserver up with a global and an app-owned listener"

# badapp pid answers its pid; echo answers a page naming the request.
bpid=$(send "unix:$own" /x)
all_b=0
for uri in / /x /app/deep?q=1 /nothing-routes-here; do
  got=$(send "unix:$own" "$uri")
  [ "$got" = "$bpid" ] || { all_b=1; tap_diag "b's socket, $uri: '$got'"; }
done
tap_ok "$all_b" "b's own listener: every path goes to app b (pid $bpid)"
tap_ok "$(lib_running "$bpid"; echo $?)" "  that pid is a running worker"

all_a=0
for uri in / /x /b; do
  got=$(send "unix:$global" "$uri")
  if ! printf '%s' "$got" | grep -q -- "$uri" ||
    printf '%s' "$got" | grep -Eq '^[0-9]+$'; then
    all_a=1
    tap_diag "global socket, $uri: '$(printf '%s' "$got" | head -n 3)'"
  fi
done
tap_ok "$all_a" "global listener: routed by path to app a (echo)"

rc=0; grep -q "front servers" "$dir/scgiserver.log" || rc=$?
tap_ok $rc "the log says how the front threads are split"

# SIGHUP: the listeners stay as they are; the new apps take them over.
kill -s HUP "$srv"
reloaded() { grep -q "reloaded: 2 apps" "$dir/scgiserver.log"; }
rc=0; lib_wait_for 10 reloaded || rc=$?
tap_ok $rc "SIGHUP: reloaded"
new_b() {
  local got
  got=$(send "unix:$own" /after-reload)
  [ -n "$got" ] && [ "$got" != "$bpid" ] && printf '%s' "$got" | grep -Eq '^[0-9]+$'
}
rc=0; lib_wait_for 10 new_b || rc=$?
tap_ok $rc "  b's listener now goes to the new app b's worker"
got=$(send "unix:$global" /after-reload)
rc=0; printf '%s' "$got" | grep -q /after-reload || rc=$?
tap_ok $rc "  the global listener still goes to app a"
workers="$workers $(lib_children "$srv" | tr '\n' ' ')"

lib_stop "$srv" TERM
tap_ok "$lib_status" "SIGTERM: exit status 0 (got $lib_status)"
left=""
for p in $workers; do
  lib_running "$p" && left="$left $p"
done
tap_ok "$([ -z "$left" ]; echo $?)" "SIGTERM: workers gone (left:${left:- none})"
tap_ok "$(! lib_alive "$srv"; echo $?)" "SIGTERM: scgiserver gone"
if [ "$tap_failed" -ne 0 ]; then
  sed 's/^/# log: /' "$dir/scgiserver.log"
fi
tap_done
