#!/usr/bin/env bash
# scgiserver-access.sh - scgiserver's access log (access-log): one line per
# request with its method, URI and status (status page, pass handoff, proxy
# relay, 404 of routing), request bytes that cannot be logged raw escaped,
# SIGUSR1 reopening the file after logrotate moved it, the config key, and
# an unusable path refused at startup. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Requests go to scgiserver's Unix socket with the scgi client (which sends
# REMOTE_ADDR 127.0.0.1 and SERVER_PROTOCOL HTTP/1.1), or with
# tests/rawsend for bytes that the client would not send. Every scgiserver
# run is stopped with SIGTERM at the end of its section; everything started
# (workers included) is stopped by PID at exit.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/srv.sh"

scgiserver=$top_builddir/scgiserver/scgiserver
scgi=$top_builddir/scgiserver/scgi
rawsend=$top_builddir/tests/rawsend
[ -x "$scgiserver" ] || tap_bail "$scgiserver not built"
[ -x "$scgi" ] || tap_bail "$scgi not built"
[ -x "$rawsend" ] || tap_bail "$rawsend not built"
[ -x "$top_builddir/examples/echo" ] || tap_bail "examples/echo not built"
# Config files name PROGRAM: make it absolute.
echo_bin=$(cd "$top_builddir/examples" && pwd)/echo

lib_tmpdir
dir=$lib_tmp
front=$dir/front.sock
conf=$dir/scgiserver.conf
alog=$dir/access.log
umask 022

# ---------------------------------------------------------------- helpers

# like FILE LINE_NO REGEX DESCRIPTION: line LINE_NO of FILE matches the
# extended REGEX (anchored by the caller); shows the line otherwise.
like() {
  local line
  line=$(sed -n "$2p" "$1")
  if printf '%s\n' "$line" | grep -Eq -- "$3"; then
    tap_ok 0 "$4"
  else
    tap_ok 1 "$4"
    tap_diag "line $2 of $(basename "$1"): $line"
  fi
}

lines() { if [ -f "$1" ]; then grep -c '' "$1" || true; else echo 0; fi; }
lines_are() { [ "$(lines "$1")" = "$2" ]; }

# get URI [SCGI OPTIONS]: one request with the scgi client, body dropped.
get() {
  local uri=$1
  shift
  "$scgi" -t 5000 "$@" "unix:$front" "$uri" >/dev/null 2>&1 || true
}

# The start of a line for the scgi client's requests, and its fields after
# the request line: STATUS BYTES DURATION.
DATE='\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [-+][0-9]{4}\]'
HEAD="^127\.0\.0\.1 - - $DATE "
NUM='[0-9]+'

# ------------------------------------- (1) command line, pass mode, SIGUSR1

srv_start cli --access-log "$alog" --status-path /status -w 2 -- "$echo_bin"
is 640 "$(stat -c %a "$alog" 2>/dev/null)" "the access log is created mode 0640"
is 0 "$(lines "$alog")" "no line before any request"

get /status
lib_wait_for 5 lines_are "$alog" 1 || true
is 1 "$(lines "$alog")" "one line for the status page"
like "$alog" 1 "$HEAD\"GET /status HTTP/1\.1\" 200 $NUM $NUM app=- worker=-\$" \
  "status page: GET /status, status 200, its bytes, no app nor worker"

get '/hello?x=1'
lib_wait_for 5 lines_are "$alog" 2 || true
like "$alog" 2 "$HEAD\"GET /hello\?x=1 HTTP/1\.1\" - - $NUM app=default worker=$NUM\.$NUM handoff=pass\$" \
  "pass: status and bytes '-', the app, the worker, handoff=pass"

get /form -d 'a=1'
lib_wait_for 5 lines_are "$alog" 3 || true
like "$alog" 3 "$HEAD\"POST /form HTTP/1\.1\" - - $NUM app=default " \
  "POST: the method is logged"

# A quote, a backslash, a space, control bytes and a non-ASCII byte in
# the URI; no REMOTE_ADDR nor SERVER_PROTOCOL: "-".
printf '%s\0' CONTENT_LENGTH 0 SCGI 1 REQUEST_METHOD GET \
  REQUEST_URI $'/q"x\\y z\x01\t\x7f\xe9' >"$dir/bad.h"
{ printf '%d:' "$(wc -c <"$dir/bad.h")"; cat "$dir/bad.h"; printf ','; } \
  >"$dir/bad.req"
"$rawsend" "unix:$front" "$dir/bad.req" --timeout-ms 5000 >/dev/null 2>&1 ||
  true
lib_wait_for 5 lines_are "$alog" 4 || true
like "$alog" 4 '^- - - \[[^]]*\] "GET /q\\x22x\\x5cy\\x20z\\x01\\x09\\x7f\\xe9 -" - - [0-9]+ app=default ' \
  "quote, backslash, space, control and 8-bit bytes of the URI as \\xHH; missing fields '-'"
is 0 "$(tr -d '\n' <"$alog" | LC_ALL=C tr -cd '\000-\037\177-\377' | wc -c)" \
  "no raw control or 8-bit byte in the whole log"
is 4 "$(lines "$alog")" "one line per request, 4 requests"

# logrotate: move the file, SIGUSR1, the next line goes to a new file.
mv "$alog" "$alog.1"
kill -s USR1 "$srv_pid"
lib_wait_for 5 test -f "$alog" || true
tap_ok "$([ -f "$alog" ]; echo $?)" "SIGUSR1: a new file at the access-log path"
get /after
lib_wait_for 5 lines_are "$alog" 1 || true
is 1 "$(lines "$alog")" "SIGUSR1: the next request's line is in the new file"
like "$alog" 1 "$HEAD\"GET /after HTTP/1\.1\" - - $NUM app=default " \
  "SIGUSR1: that line is the request sent after the reopen"
is 4 "$(lines "$alog.1")" "SIGUSR1: the moved file kept the 4 earlier lines"
tap_ok "$(grep -q "SIGUSR1: reopened the access log $alog" "$dir/cli.log"
  echo $?)" "SIGUSR1: the reopen is logged"
tap_ok "$(lib_alive "$srv_pid"; echo $?)" "SIGUSR1: scgiserver still runs"
out=$("$scgi" -t 5000 "unix:$front" /status 2>/dev/null) || true
tap_ok "$(case $out in *requests_total:*) echo 0 ;; *) echo 1 ;; esac)" \
  "SIGUSR1: scgiserver still serves"
srv_stop

# ------------------------------ (2) config file: 404, proxy, SIGUSR1 twice

rm -f "$alog" "$alog.1"
cat >"$conf" <<EOF
access-log = $alog
status-path = /status
workers = 1

[app web]
exec = $echo_bin
route = /app

[app px]
exec = $echo_bin
handoff = proxy
route = /px
EOF
srv_start conf -c "$conf"
get /nowhere
get /app/x
get '/px/y?z=2'
lib_wait_for 5 lines_are "$alog" 3 || true
is 3 "$(lines "$alog")" "config: one line per request, 3 requests"
like "$alog" 1 "$HEAD\"GET /nowhere HTTP/1\.1\" 404 $NUM $NUM app=- worker=-\$" \
  "config: no route: 404 logged with its bytes, no app"
like "$alog" 2 "$HEAD\"GET /app/x HTTP/1\.1\" - - $NUM app=web worker=$NUM\.$NUM handoff=pass\$" \
  "config: pass app: status '-', handoff=pass"
like "$alog" 3 "$HEAD\"GET /px/y\?z=2 HTTP/1\.1\" 200 $NUM $NUM app=px worker=$NUM\.$NUM\$" \
  "config: proxy app: the app's status 200 and the bytes relayed"
# Two rotations in a row.
for n in 1 2; do
  mv "$alog" "$alog.$n"
  kill -s USR1 "$srv_pid"
  lib_wait_for 5 test -f "$alog" || true
  get "/app/r$n"
  lib_wait_for 5 lines_are "$alog" 1 || true
done
is "3 1 1" "$(lines "$alog.1") $(lines "$alog.2") $(lines "$alog")" \
  "config: two rotations: 3, 1 and 1 lines"
like "$alog" 1 "\"GET /app/r2 HTTP/1\.1\"" "config: the last file has the last request"
srv_stop

# ------------------------------------------------ (3) unusable paths refused

rc=0
"$scgiserver" -l "unix:$front" --access-log "$dir/no/such/dir/access.log" \
  -w 1 -- "$echo_bin" >"$dir/bad1.log" 2>&1 || rc=$?
is "1 scgiserver: error: access-log $dir/no/such/dir/access.log: cannot open it: No such file or directory" \
  "$rc $(cat "$dir/bad1.log")" "--access-log in a missing directory: exit 1, one line"
rc=0
"$scgiserver" -l "unix:$front" --access-log "$dir" -w 1 -- "$echo_bin" \
  >"$dir/bad2.log" 2>&1 || rc=$?
is "1 scgiserver: error: access-log $dir: cannot open it: Is a directory" \
  "$rc $(cat "$dir/bad2.log")" "--access-log naming a directory: exit 1"
if [ "$(id -u)" != 0 ]; then
  mkdir "$dir/ro" && chmod 0555 "$dir/ro"
  rc=0
  "$scgiserver" -l "unix:$front" --access-log "$dir/ro/access.log" -w 1 \
    -- "$echo_bin" >"$dir/bad0.log" 2>&1 || rc=$?
  is "1 scgiserver: error: access-log $dir/ro/access.log: cannot open it: Permission denied" \
    "$rc $(cat "$dir/bad0.log")" "--access-log in a read-only directory: exit 1"
else
  tap_skip "--access-log in a read-only directory: exit 1" "run as root"
fi
rc=0
"$scgiserver" -l "unix:$front" --access-log '' -w 1 -- "$echo_bin" \
  >"$dir/bad3.log" 2>&1 || rc=$?
is "2 scgiserver: --access-log: give a file" "$rc $(cat "$dir/bad3.log")" \
  "--access-log '': exit 2"
printf '[app a]\nexec = %s\naccess-log = %s\n' "$echo_bin" "$alog" \
  >"$dir/bad4.conf"
rc=0
"$scgiserver" -l "unix:$front" -c "$dir/bad4.conf" >"$dir/bad4.log" 2>&1 ||
  rc=$?
tap_ok "$([ "$rc" = 2 ] && grep -q "bad4.conf:3: 'access-log' is a global key" \
  "$dir/bad4.log"; echo $?)" "access-log in an [app] section: exit 2"
tap_ok "$([ ! -e "$dir/no" ]; echo $?)" "nothing created for the refused path"

tap_done
