#!/usr/bin/env bash
# scgiserver.sh - scgiserver behind a real nginx, with examples/echo and
# tests/badapp as its applications: both handoff modes, --connect with
# failover, 503/502/504, dying and recycled workers, the command line, and
# a draining SIGTERM. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Needs nginx and curl; skipped when either is absent. Every scgiserver
# run listens on the same Unix socket (nginx connects per request), is
# stopped with SIGTERM at the end of its section, and its workers are
# checked gone. Everything started is stopped by PID at exit, also on
# failure, workers of scgiserver included.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

lib_find_nginx >/dev/null || tap_skip_all "nginx not installed"
command -v curl >/dev/null || tap_skip_all "curl not installed"

scgiserver=$top_builddir/scgiserver/scgiserver
echo_bin=$top_builddir/examples/echo
badapp=$top_builddir/tests/badapp
rawsend=$top_builddir/tests/rawsend
[ -x "$scgiserver" ] || tap_bail "$scgiserver not built"
[ -x "$echo_bin" ] || tap_bail "$echo_bin not built"
[ -x "$badapp" ] || tap_bail "$badapp not built"
[ -x "$rawsend" ] || tap_bail "$rawsend not built"

test_started_ms=$(lib_now_ms)
lib_tmpdir
dir=$lib_tmp
front=$dir/front.sock     # scgiserver's front listener, every run
direct=$dir/echo.sock     # examples/echo run by this script (--connect)
mkdir "$dir/rt"           # --runtime-dir of proxy runs
chmod 0755 "$dir/rt"

# examples/echo on its own socket: the reference for byte-exact answers,
# and the external application of --connect.
lib_spawn "$dir/echo.log" "$echo_bin" -t 4 "unix:$direct"
echo_pid=$lib_pid
lib_wait_socket "$direct" "$echo_pid" ||
  { sed 's/^/# /' "$dir/echo.log"; tap_bail "examples/echo did not start"; }

# Two servers: PORT through scgiserver, PORT2 straight to examples/echo
# (same URIs, so that answers compare byte for byte). lib_nginx_start
# writes one server block; the body closes it and opens the second one.
mkdir "$dir/nginx"
started=no
for _ in 1 2 3; do
  port=$(lib_free_port)
  port2=$(lib_free_port)
  tcp_port=$(lib_free_port) # scgiserver's TCP front listener (die-after)
  if [ "$port" = "$port2" ] || [ "$port" = "$tcp_port" ] ||
     [ "$port2" = "$tcp_port" ]; then
    continue
  fi
  body="
    location / { include scgi_params; scgi_pass unix:$front; }
    location /tcp/ { include scgi_params; scgi_pass 127.0.0.1:$tcp_port; }
  }
  server {
    listen 127.0.0.1:$port2;
    server_name localhost;
    location / { include scgi_params; scgi_pass unix:$direct; }"
  if lib_nginx_start "$dir/nginx" "$port" "$body" 2>"$dir/nginx.err"; then
    started=yes
    break
  fi
  [ -z "${lib_nginx_pid:-}" ] || lib_stop "$lib_nginx_pid"
done
if [ "$started" != yes ]; then
  sed 's/^/# /' "$dir/nginx.err"
  tap_bail "nginx did not start"
fi
base=http://127.0.0.1:$port
base_direct=http://127.0.0.1:$port2

# ---------------------------------------------------------------- helpers

# request NAME CURL_ARGS...: body into $dir/NAME.out, headers into
# $dir/NAME.head, curl's exit status into $dir/NAME.rc, the time taken in ms
# into $dir/NAME.ms, when it ended (lib_now_ms) into $dir/NAME.end; prints
# the HTTP status ("000" when none came).
request() {
  local name=$1 t0 rc=0 code
  shift
  t0=$(lib_now_ms)
  code=$(curl -sS --max-time 30 -H 'Host: test' -o "$dir/$name.out" \
    -D "$dir/$name.head" -w '%{http_code}' "$@" 2>"$dir/$name.err") || rc=$?
  echo "$rc" >"$dir/$name.rc"
  lib_now_ms >"$dir/$name.end"
  echo $(($(cat "$dir/$name.end") - t0)) >"$dir/$name.ms"
  printf '%s\n' "${code:-000}"
}

# is EXPECTED ACTUAL DESCRIPTION: a check that shows both values.
is() {
  tap_ok "$([ "$1" = "$2" ]; echo $?)" "$3 (expected $1, got $2)"
}

# from_nginx FILE: true when FILE is one of nginx's own error pages (so
# not an answer of scgiserver).
from_nginx() {
  grep -q '<center>nginx' "$1"
}

# not_nginx FILE...: none of the FILEs is one of nginx's own error pages.
not_nginx() {
  local f
  for f in "$@"; do
    if from_nginx "$f"; then
      echo "$f is nginx's own error page: $(grep -o '<title>.*</title>' "$f")"
      return 1
    fi
  done
}

# vars_of RESPONSE: the NAME=VALUE lines (before the first empty line),
# without those that differ between two requests or two nginx servers.
vars_of() {
  sed -n '/^$/q;p' "$1" | grep -av '^REMOTE_PORT=\|^SERVER_PORT='
}

# body_of RESPONSE: the echoed request body (after the first empty line).
body_of() {
  local n off
  n=$(grep -a -n -m1 '^$' "$1" | cut -d: -f1)
  [ -n "$n" ] || return 1
  off=$(head -n "$n" "$1" | wc -c)
  tail -c +"$((off + 1))" "$1"
}

srv_pid=""
srv_name=""
srv_workers=""

# srv_kill_leftovers: stops, by PID, the processes the current scgiserver
# started (at exit, or when scgiserver itself had to be killed).
srv_kill_leftovers() {
  local p
  [ -n "$srv_pid" ] && srv_workers="$srv_workers $(lib_children "$srv_pid")"
  for p in $srv_workers; do
    lib_running "$p" && kill -s KILL "$p" 2>/dev/null
  done
  return 0
}
lib_at_exit srv_kill_leftovers

# srv_start NAME ARGS...: starts scgiserver -l unix:$front ARGS, logging to
# $dir/NAME.log, and waits for its front socket. Sets srv_pid. A check
# tells whether it started.
srv_start() {
  srv_name=$1
  shift
  rm -f "$front"
  lib_spawn "$dir/$srv_name.log" "$scgiserver" -l "unix:$front" "$@"
  srv_pid=$lib_pid
  srv_workers=""
  if lib_wait_socket "$front" "$srv_pid"; then
    tap_ok 0 "$srv_name: scgiserver started"
    return 0
  fi
  tap_ok 1 "$srv_name: scgiserver started ($*)"
  sed 's/^/#   /' "$dir/$srv_name.log" | head -n 20
  srv_stop quiet
  return 1
}

# srv_wait_workers N: waits up to 10 s until scgiserver has N children
# (workers start after its front socket appears).
srv_has_workers() { [ "$(lib_children "$srv_pid" | grep -c .)" = "$1" ]; }
srv_wait_workers() { lib_wait_for 10 srv_has_workers "$1" || true; }

# srv_snapshot: sets srv_kids to the running children of scgiserver (one
# line, space-separated), remembered in srv_workers so that they can be
# checked gone (and stopped) after scgiserver exits. Not in a subshell.
srv_snapshot() {
  srv_kids=$(lib_children "$srv_pid" | tr '\n' ' ')
  srv_kids=${srv_kids% }
  srv_workers="$srv_workers $srv_kids"
}

# srv_stop [quiet]: SIGTERM to scgiserver; checks that it exits 0, within
# 5 s, that none of its workers is left, and that the front socket is gone.
# Sets srv_stop_ms, srv_status.
srv_stop() {
  local t0 p left=""
  [ -n "$srv_pid" ] || return 0
  srv_snapshot
  t0=$(lib_now_ms)
  lib_stop "$srv_pid" TERM
  srv_status=$lib_status
  srv_stop_ms=$(($(lib_now_ms) - t0))
  for _ in $(seq 20); do
    left=""
    for p in $srv_workers; do
      lib_running "$p" && left="$left $p"
    done
    [ -z "$left" ] && break
    sleep 0.05
  done
  if [ "${1:-}" != quiet ]; then
    tap_ok "$srv_status" \
      "$srv_name: SIGTERM: exit status 0 (got $srv_status, ${srv_stop_ms} ms)"
    tap_ok "$([ -z "$left" ]; echo $?)" \
      "$srv_name: no worker left after exit (workers:${srv_workers:- none seen}; left:${left:- none})"
    tap_ok "$([ ! -e "$front" ]; echo $?)" \
      "$srv_name: front socket file removed"
    if [ "$srv_status" -ne 0 ] || [ -n "$left" ]; then
      tail -n 15 "$dir/$srv_name.log" | sed 's/^/#   log: /'
    fi
  fi
  srv_kill_leftovers
  srv_pid=""
  srv_workers=""
}

# show_log: the last lines of the current run's log, as diagnostics.
show_log() {
  tail -n "${1:-10}" "$dir/$srv_name.log" | sed 's/^/#   log: /'
}

# One client of a load run: a POST whose body and query name the request;
# prints "bad N ..." unless the echo matches exactly.
one_client() {
  local i=$1 out
  out=$(curl -sS --max-time 30 --data-binary "body-$i" "$base/load/$i?n=$i" \
    2>&1) || { echo "bad $i (curl: $out)"; return 0; }
  if [ "$(printf '%s' "$out" | tail -c $((5 + ${#i})))" != "body-$i" ] ||
     ! printf '%s\n' "$out" | grep -qx "QUERY_STRING=n=$i" ||
     ! printf '%s\n' "$out" | grep -qx "CONTENT_LENGTH=$((5 + ${#i}))"; then
    echo "bad $i: $(printf '%s' "$out" | head -c 120 | tr '\n' ' ')"
  fi
}
export -f one_client
export base

# load NAME COUNT PARALLEL: COUNT echo requests, PARALLEL at a time; all
# must come back right.
load() {
  local name=$1 count=$2 par=$3 t0 ms bad
  t0=$(lib_now_ms)
  # shellcheck disable=SC2016 # $1 is for the inner bash
  seq "$count" | timeout 60 xargs -P "$par" -I{} bash -c 'one_client "$1"' _ {} \
    >"$dir/$name.load" 2>&1 || echo "xargs or timeout failed" >>"$dir/$name.load"
  ms=$(($(lib_now_ms) - t0))
  bad=$(grep -c . "$dir/$name.load" || true)
  tap_ok "$([ "$bad" -eq 0 ]; echo $?)" \
    "$name: $count requests, $par at a time, all echoed correctly ($bad bad)"
  tap_diag "$name: $count requests in $ms ms ($((count * 1000 / (ms + 1))) req/s), $bad failed"
  head -n 5 "$dir/$name.load" | sed 's/^/#   /'
}

# Reference answers from examples/echo straight behind nginx.
get_uri="/get/path?x=1&y=two%20words"
code=$(request ref-get "$base_direct$get_uri")
[ "$code" = 200 ] || tap_bail "examples/echo behind nginx answers $code"
vars_of "$dir/ref-get.out" >"$dir/ref-get.vars"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$dir/big.in"

# echo_checks NAME COUNT PARALLEL: GET byte-exact, 8 MiB POST, load.
echo_checks() {
  local name=$1 code
  code=$(request "$name-get" "$base$get_uri")
  is 200 "$code" "$name: GET with a query: status"
  tap_check "$name: GET: variables exactly as nginx sent them (same as without scgiserver)" \
    cmp "$dir/ref-get.vars" <(vars_of "$dir/$name-get.out")
  tap_check "$name: GET: CONTENT_LENGTH=0 first, SCGI=1 once" \
    test "$(head -n 1 "$dir/$name-get.out")" = CONTENT_LENGTH=0 -a \
    "$(grep -c '^SCGI=1$' "$dir/$name-get.out")" = 1
  tap_check "$name: GET: whole answer byte-exact apart from REMOTE_PORT/SERVER_PORT" \
    cmp <(grep -av '^REMOTE_PORT=\|^SERVER_PORT=' "$dir/ref-get.out") \
    <(grep -av '^REMOTE_PORT=\|^SERVER_PORT=' "$dir/$name-get.out")

  code=$(request "$name-post" --data-binary "@$dir/big.in" \
    -H 'Content-Type: application/octet-stream' "$base/post")
  is 200 "$code" "$name: POST 8 MiB: status"
  tap_check "$name: POST 8 MiB: CONTENT_LENGTH=8388608 first" \
    test "$(head -n 1 "$dir/$name-post.out")" = CONTENT_LENGTH=8388608
  tap_check "$name: POST 8 MiB: body echoed intact" \
    cmp "$dir/big.in" <(body_of "$dir/$name-post.out")
  tap_diag "$name: 8 MiB POST in $(cat "$dir/$name-post.ms") ms"
  rm -f "$dir/$name-post.out"

  load "$name" "$2" "$3"
}

# snippet FILE [N]: the first N (40) bytes of FILE on one line.
snippet() {
  head -c "${2:-40}" "$1" 2>/dev/null | tr '\n\r' '||'
}

# pid_of FILE: the pid a "badapp pid" answer holds; nothing for another
# answer.
pid_of() {
  local text
  text=$(cat "$1" 2>/dev/null) || return 0
  if [[ $text =~ ^[0-9]+$ ]]; then
    printf '%s\n' "$text"
  fi
}

# malformed_front NAME: hostile header blocks straight to scgiserver's
# front socket (no nginx in between): one tests/cases/*.in per error kind
# of its .expect ("error NAME ..."), at most 16. Each must get
# "Status: 400" or a close within 1 s; afterwards a GET through nginx is
# still byte-exact and the workers are the same processes (none crashed,
# none restarted).
malformed_front() {
  local name=$1 before f kind seen="" n=0 ok=0 n400=0 nclose=0 bad=""
  local t0 ms max=0 rc first
  srv_snapshot
  before=$srv_kids
  for f in "$top_srcdir"/tests/cases/*.expect; do
    kind=$(awk '$1 == "error" { print $2; exit }' "$f")
    [ -n "$kind" ] || continue
    case " $seen " in *" $kind "*) continue ;; esac
    seen="$seen $kind"
    f=${f%.expect}.in
    n=$((n + 1))
    t0=$(lib_now_ms)
    rc=0
    "$rawsend" "unix:$front" "$f" --timeout-ms 1000 \
      >"$dir/$name-bad-$n.out" 2>"$dir/$name-bad-$n.err" || rc=$?
    ms=$(($(lib_now_ms) - t0))
    [ "$ms" -le "$max" ] || max=$ms
    first=$(head -n 1 "$dir/$name-bad-$n.out" | tr -d '\r')
    if [ "$rc" -eq 0 ] && [ "$ms" -le 1000 ] && [[ $first == "Status: 400"* ]]
    then
      ok=$((ok + 1)) n400=$((n400 + 1))
    elif [ "$rc" -eq 0 ] && [ "$ms" -le 1000 ] &&
         [ ! -s "$dir/$name-bad-$n.out" ]; then
      ok=$((ok + 1)) nclose=$((nclose + 1))
    else
      bad="$bad $(basename "$f") (rawsend exit $rc, $ms ms, '$(snippet "$dir/$name-bad-$n.out")')"
    fi
    tap_diag "$name: malformed front input $(basename "$f") ($kind):" \
      "${first:-closed, no answer} in $ms ms"
    [ "$n" -lt 16 ] || break
  done
  tap_ok "$([ "$n" -ge 10 ]; echo $?)" \
    "$name: malformed front input: at least 10 error kinds in tests/cases ($n)"
  is "$n" "$ok" "$name: malformed front input: each answered 'Status: 400' or closed within 1 s${bad:+ (bad:$bad)}"
  tap_diag "$name: malformed front input: $n sent, $n400 got 400, $nclose closed without an answer, slowest $max ms"
  code=$(request "$name-after-bad" "$base$get_uri")
  is 200 "$code" "$name: GET through nginx after the malformed input: status"
  tap_check "$name: GET after the malformed input: byte-exact apart from REMOTE_PORT/SERVER_PORT" \
    cmp <(grep -av '^REMOTE_PORT=\|^SERVER_PORT=' "$dir/ref-get.out") \
    <(grep -av '^REMOTE_PORT=\|^SERVER_PORT=' "$dir/$name-after-bad.out")
  srv_snapshot
  is "$before" "$srv_kids" \
    "$name: malformed front input: no worker restarted (worker pids)"
  tap_check "$name: malformed front input: no worker exit or crash logged" \
    not grep -qi 'crashed\|exited\|restarting' "$dir/$name.log"
}

# not COMMAND [ARGS...]: true when the command fails.
not() {
  ! "$@"
}

# ---------------------------------------------------------------- CLI (i)

cli() {
  local name=$1
  shift
  local rc=0
  timeout 5 "$scgiserver" "$@" >"$dir/$name.stdout" 2>"$dir/$name.stderr" ||
    rc=$?
  echo "$rc"
}

rc=$(cli help --help)
is 0 "$rc" "--help: exit status"
tap_check "--help mentions --listen" grep -q -- '--listen' "$dir/help.stdout"
rc=$(cli version --version)
is 0 "$rc" "--version: exit status"
tap_check "--version prints a version number" \
  grep -q '[0-9]\+\.[0-9]\+' "$dir/version.stdout"
rc=$(cli unknown --no-such-option)
is 2 "$rc" "unknown option: exit status"
is 1 "$(grep -c . "$dir/unknown.stderr" || true)" \
  "unknown option: lines on stderr"
sed 's/^/#   /' "$dir/unknown.stderr" | head -n 5
rc=$(cli w0 -l "unix:$dir/never.sock" -w 0 -- "$echo_bin")
is 2 "$rc" "-w 0: exit status"
is 1 "$(grep -c . "$dir/w0.stderr" || true)" "-w 0: lines on stderr"
printf '# a comment\n\nno-such-key = 1\n' >"$dir/bad.conf"
rc=$(cli conf -c "$dir/bad.conf")
is 2 "$rc" "config file with an unknown key on line 3: exit status"
tap_check "config error message names the line (':3:')" \
  grep -q ':3:' "$dir/conf.stderr"
sed 's/^/#   /' "$dir/conf.stderr" | head -n 5
tap_check "none of the refused command lines created a socket" \
  test ! -e "$dir/never.sock"

# ---------------------------------------------------------------- pass (a)

common=(--drain-timeout 3000)
if srv_start pass "${common[@]}" -w 2 -- "$echo_bin"; then
  echo_checks pass 200 16
  srv_snapshot
  is 2 "$(wc -w <<<"$srv_kids")" "pass: worker processes ($srv_kids)"
  malformed_front pass
  srv_stop
fi

# ---------------------------------------------------------------- proxy (b)

if srv_start proxy "${common[@]}" --handoff proxy --runtime-dir "$dir/rt" \
    -w 2 -- "$echo_bin"; then
  echo_checks proxy 100 16
  srv_snapshot
  is 2 "$(wc -w <<<"$srv_kids")" "proxy: worker processes ($srv_kids)"
  srv_stop
  tap_check "proxy: runtime directory left empty" \
    test -z "$(ls -A "$dir/rt")"
fi

# A scgiserver killed outright leaves its app directory behind; the next
# one with the same --runtime-dir takes it over (no live socket in it).
if srv_start killed "${common[@]}" --handoff proxy --runtime-dir "$dir/rt" \
    -w 1 -- "$echo_bin"; then
  srv_wait_workers 1
  srv_snapshot
  lib_stop "$srv_pid" KILL
  srv_pid=""
  gone() { ! lib_running "$1"; }
  tap_check "killed: its worker (${srv_kids:-none}) goes too (SIGTERM as its parent dies)" \
    lib_wait_for 10 gone "${srv_kids:-0}"
  tap_check "killed: SIGKILL leaves the app directory behind" \
    test -d "$dir/rt/default"
  if srv_start restarted "${common[@]}" --handoff proxy \
      --runtime-dir "$dir/rt" -w 1 -- "$echo_bin"; then
    is 200 "$(request restarted-get "$base$get_uri")" \
      "restarted: serves with the directory left by the killed one"
    tap_check "restarted: the takeover is logged" \
      grep -q 'left by a scgiserver that did not stop cleanly' \
      "$dir/restarted.log"
    srv_stop
  fi
fi

# ---------------------------------------------------------------- connect (c)

if srv_start connect "${common[@]}" --connect "unix:$direct"; then
  code=$(request connect-get "$base$get_uri")
  is 200 "$code" "connect: GET: status"
  tap_check "connect: GET: byte-exact apart from REMOTE_PORT/SERVER_PORT" \
    cmp <(grep -av '^REMOTE_PORT=\|^SERVER_PORT=' "$dir/ref-get.out") \
    <(grep -av '^REMOTE_PORT=\|^SERVER_PORT=' "$dir/connect-get.out")
  load connect 50 8
  srv_stop
fi

if srv_start failover "${common[@]}" --connect "unix:$dir/dead.sock" \
    --connect "unix:$direct"; then
  t0=$(lib_now_ms)
  ok=0
  for i in $(seq 10); do
    code=$(request "failover-$i" "$base/failover/$i")
    [ "$code" = 200 ] && grep -qx "REQUEST_URI=/failover/$i" \
      "$dir/failover-$i.out" && ok=$((ok + 1))
  done
  is 10 "$ok" "failover: first --connect address dead: requests answered by the second"
  tap_diag "failover: 10 requests in $(($(lib_now_ms) - t0)) ms"
  [ "$ok" = 10 ] || show_log
  srv_stop
fi

if srv_start dead "${common[@]}" --connect "unix:$dir/dead.sock" \
    --connect "unix:$dir/dead2.sock"; then
  code=$(request dead "$base/dead")
  is 502 "$code" "only dead --connect addresses: status"
  tap_check "only dead --connect addresses: the 502 comes from scgiserver, not nginx" \
    not_nginx "$dir/dead.out"
  tap_check "only dead --connect addresses: logged" \
    grep -qi 'connect\|refused\|no such\|unreachable\|502' "$dir/dead.log"
  srv_stop
fi

# ---------------------------------------------------------------- 503 (d)

if srv_start overload "${common[@]}" -w 1 --concurrency 1 --queue 1 \
    --queue-timeout 300 -- "$badapp" slow 2000; then
  t0=$(lib_now_ms)
  reqs=""
  for i in 1 2 3 4; do
    request "overload-$i" "$base/overload/$i" >"$dir/overload-$i.code" &
    reqs="$reqs $!"
  done
  for p in $reqs; do wait "$p" || true; done
  total=$(($(lib_now_ms) - t0))
  n200=0 n503=0 n503ra=0 first503=""
  for i in 1 2 3 4; do
    code=$(cat "$dir/overload-$i.code")
    ms=$(cat "$dir/overload-$i.ms")
    tap_diag "overload: request $i: $code in $ms ms"
    case $code in
      200) n200=$((n200 + 1)) ;;
      503)
        n503=$((n503 + 1))
        grep -qi '^Retry-After: *[0-9]' "$dir/overload-$i.head" &&
          n503ra=$((n503ra + 1))
        if [ -z "$first503" ] || [ "$ms" -lt "$first503" ]; then
          first503=$ms
        fi
        ;;
    esac
  done
  tap_ok "$([ "$n200" -ge 1 ]; echo $?)" "overload: at least one 200 (got $n200)"
  tap_ok "$([ "$n503" -ge 1 ]; echo $?)" "overload: at least one 503 (got $n503)"
  tap_ok "$([ "$n503" -ge 1 ] && [ "$n503ra" = "$n503" ]; echo $?)" \
    "overload: every 503 has a Retry-After header ($n503ra of $n503)"
  tap_ok "$([ -n "$first503" ] && [ "$first503" -lt 1500 ]; echo $?)" \
    "overload: a 503 came before the slow request ended (first after ${first503:-none} ms)"
  tap_check "overload: the 503s are scgiserver's, not nginx's" \
    not_nginx "$dir"/overload-?.out
  tap_diag "overload: 4 requests in $total ms"
  srv_stop
fi

# ---------------------------------------------------------------- 504 (e)

if srv_start silent "${common[@]}" --handoff proxy --runtime-dir "$dir/rt" \
    --app-timeout 500 -w 1 -- "$badapp" silent; then
  code=$(request silent --max-time 5 "$base/silent")
  ms=$(cat "$dir/silent.ms")
  is 504 "$code" "silent app, --app-timeout 500: status"
  tap_ok "$([ "$ms" -lt 2000 ]; echo $?)" \
    "silent app: answered within 2 s (${ms} ms)"
  tap_check "silent app: the 504 is scgiserver's, not nginx's" \
    not_nginx "$dir/silent.out"
  srv_stop
fi

# ---------------------------------------------------------------- 502 (f)

if srv_start diebefore "${common[@]}" --handoff proxy --runtime-dir "$dir/rt" \
    -w 1 -- "$badapp" die-before; then
  code=$(request diebefore "$base/diebefore")
  is 502 "$code" "app dies before answering (proxy): status"
  tap_check "app dies before answering: the 502 is scgiserver's, not nginx's" \
    not_nginx "$dir/diebefore.out"
  tap_diag "die-before: 502 after $(cat "$dir/diebefore.ms") ms"
  srv_stop
fi

# A worker killed with SIGKILL comes back; requests sent afterwards succeed.
if srv_start restart "${common[@]}" -w 1 -- "$badapp" pid; then
  code=$(request restart-0 "$base/restart/0")
  is 200 "$code" "restart: first request"
  old=$(pid_of "$dir/restart-0.out")
  srv_snapshot
  tap_check "restart: the answering pid $old is a worker of scgiserver ($srv_kids)" \
    grep -qw "${old:-none}" <<<"$srv_kids"
  t0=$(lib_now_ms)
  if [ -n "$old" ] && grep -qw "$old" <<<"$srv_kids"; then
    kill -s KILL "$old" || true
  fi
  ok=0 new=""
  for i in 1 2 3 4 5; do
    code=$(request "restart-$i" "$base/restart/$i")
    if [ "$code" = 200 ] && [ -n "$(pid_of "$dir/restart-$i.out")" ]; then
      ok=$((ok + 1))
      new=$(pid_of "$dir/restart-$i.out")
    fi
  done
  is 5 "$ok" "restart: 5 requests after SIGKILL of the worker, all 200"
  tap_ok "$([ -n "$new" ] && [ "$new" != "$old" ]; echo $?)" \
    "restart: answered by a new worker (pid $old, then ${new:-none})"
  tap_diag "restart: first answer after the kill in $(cat "$dir/restart-1.ms") ms, 5 in $(($(lib_now_ms) - t0)) ms"
  [ "$ok" = 5 ] || show_log
  srv_stop
fi

# Under load: SIGKILL to one of two workers; at most the one request it
# had (--concurrency 1) may fail, and a new worker takes its place.
for mode in pass proxy; do
  name=kill-$mode
  if srv_start "$name" "${common[@]}" --handoff "$mode" \
      --runtime-dir "$dir/rt" -w 2 -- "$echo_bin"; then
    srv_wait_workers 2
    srv_snapshot
    before=$srv_kids
    t0=$(lib_now_ms)
    # shellcheck disable=SC2016 # $1 is for the inner bash
    seq 150 | timeout 60 xargs -P 8 -I{} bash -c 'one_client "$1"' _ {} \
      >"$dir/$name.load" 2>&1 &
    load_pid=$!
    sleep 0.5
    victim=${before%% *}
    [ -n "$victim" ] && kill -s KILL "$victim"
    wait "$load_pid" || echo "xargs or timeout failed" >>"$dir/$name.load"
    ms=$(($(lib_now_ms) - t0))
    bad=$(grep -c . "$dir/$name.load" || true)
    tap_ok "$([ -n "$victim" ] && [ "$bad" -le 1 ]; echo $?)" \
      "$name: SIGKILL to worker ${victim:-none} during 150 requests: at most 1 failed ($bad)"
    head -n 3 "$dir/$name.load" | sed 's/^/#   /'
    tap_diag "$name: 150 requests with a worker killed in $ms ms"
    for _ in $(seq 60); do
      srv_snapshot
      [ "$(wc -w <<<"$srv_kids")" = 2 ] && ! grep -qw "$victim" <<<"$srv_kids" &&
        break
      sleep 0.05
    done
    tap_ok "$([ "$(wc -w <<<"$srv_kids")" = 2 ] && ! grep -qw "$victim" <<<"$srv_kids"; echo $?)" \
      "$name: two workers again, a new one in place of $victim (before: $before; now: $srv_kids)"
    srv_stop
  fi
done

# ---------------------------------------------------------------- die-after (g)

# The app sends "Status: 200", headers and "partial-", then dies.
# - With "?cl" it announced Content-Length: 1000000: nginx sees the
#   response end early whatever scgiserver does, unless scgiserver made it
#   look complete; curl must fail (18: partial transfer).
# - Without a Content-Length, the response ends at connection close, so a
#   close looks like a complete response. In proxy mode scgiserver knows
#   the app died and must make the front connection fail: over TCP it can
#   reset it (nginx then ends the chunked response to curl without its
#   last chunk: curl exits 18). Over a Unix socket nothing but a close
#   exists, so nginx cannot tell and the client gets a short 200: only
#   reported below, not checked.
# - In pass mode the worker holds the front connection itself. Over TCP,
#   libscgi keeps SO_LINGER {1, 0} on it until a normal close, so the
#   kernel resets it when the worker dies: checked. Over a Unix socket the
#   kernel can only close it, so nginx sees a normal end and the client
#   gets a short 200. Checked: nothing but the app's bytes reach the
#   client, and later requests find a worker again.
curl_rc() { cat "$dir/$1.rc"; }

# only_partial FILE...: each body is "partial-" or a prefix of it, or
# nginx's own error page: nothing was made up after the app died.
only_partial() {
  local f body
  for f in "$@"; do
    from_nginx "$f" && continue
    body=$(head -c 100 "$f")
    if [[ partial- != "$body"* ]]; then
      echo "$f: unexpected body '$(snippet "$f" 60)'"
      return 1
    fi
  done
}

if srv_start dieafter-proxy "${common[@]}" -l "127.0.0.1:$tcp_port" \
    --handoff proxy --runtime-dir "$dir/rt" -w 1 -- "$badapp" die-after; then
  code=$(request dap-cl "$base/dap?cl")
  rc=$(curl_rc dap-cl)
  tap_ok "$([ "$rc" -ne 0 ]; echo $?)" \
    "die-after, proxy, Content-Length announced: curl fails (exit $rc, status $code)"
  code=$(request dap-tcp "$base/tcp/dap")
  rc=$(curl_rc dap-tcp)
  tap_ok "$([ "$rc" -ne 0 ]; echo $?)" \
    "die-after, proxy, TCP front, no Content-Length: curl fails, no complete response (exit $rc, status $code)"
  if [ "$rc" -eq 0 ]; then
    tap_diag "  body: '$(snippet "$dir/dap-tcp.out" 200)'"
    show_log 6
  fi
  code=$(request dap-unix "$base/dap")
  tap_diag "die-after, proxy, Unix front, no Content-Length: curl exit" \
    "$(curl_rc dap-unix), status $code, body '$(snippet "$dir/dap-unix.out")'" \
    "(a close is all a Unix socket has: nginx cannot tell)"
  tap_check "die-after, proxy: the client never gets more than the app sent" \
    only_partial "$dir"/dap-cl.out "$dir"/dap-tcp.out "$dir"/dap-unix.out
  tap_check "die-after, proxy: scgiserver logged the cut response" \
    grep -qi 'partial\|cut\|died\|reset\|abort\|exit\|signal' \
    "$dir/dieafter-proxy.log"
  srv_stop
fi

if srv_start dieafter-pass "${common[@]}" -l "127.0.0.1:$tcp_port" -w 1 \
    -- "$badapp" die-after; then
  code=$(request dapass-cl "$base/dapass?cl")
  rc=$(curl_rc dapass-cl)
  tap_ok "$([ "$rc" -ne 0 ]; echo $?)" \
    "die-after, pass, Content-Length announced: curl fails (exit $rc, status $code)"
  # Over TCP, libscgi arms SO_LINGER {1, 0} on the connection it was
  # handed: the dying worker's close is a reset, which nginx reports.
  code=$(request dapass-tcp "$base/tcp/dapass")
  rc=$(curl_rc dapass-tcp)
  tap_ok "$([ "$rc" -ne 0 ]; echo $?)" \
    "die-after, pass, TCP front, no Content-Length: curl fails, no complete response (exit $rc, status $code)"
  code=$(request dapass "$base/dapass")
  tap_diag "die-after, pass, no Content-Length: curl exit $(curl_rc dapass)," \
    "status $code, body '$(snippet "$dir/dapass.out")'" \
    "(the worker's own close: nginx cannot tell)"
  tap_check "die-after, pass: nothing but the app's bytes reach the client" \
    only_partial "$dir/dapass.out"
  code=$(request dapass-again "$base/dapass-again")
  tap_check "die-after, pass: a later request reaches a restarted worker (got status $code, '$(snippet "$dir/dapass-again.out" 20)')" \
    test "$(head -c 8 "$dir/dapass-again.out")" = partial-
  srv_stop
fi

# ---------------------------------------------------------------- recycling (h)

if srv_start recycle "${common[@]}" -w 1 --max-requests 3 -- "$badapp" pid; then
  ok=0
  : >"$dir/recycle.pids"
  for i in $(seq 7); do
    code=$(request "recycle-$i" "$base/recycle/$i")
    if [ "$code" = 200 ] && [ -n "$(pid_of "$dir/recycle-$i.out")" ]; then
      ok=$((ok + 1))
      pid_of "$dir/recycle-$i.out" >>"$dir/recycle.pids"
    fi
  done
  pids=$(sort -u "$dir/recycle.pids" | grep -c . || true)
  is 7 "$ok" "--max-requests 3: 7 requests, all 200"
  tap_ok "$([ "$pids" -ge 2 ]; echo $?)" \
    "--max-requests 3: at least 2 distinct worker pids (got $pids: $(tr '\n' ' ' <"$dir/recycle.pids"))"
  srv_stop
fi

# ---------------------------------------------------------------- SIGTERM drain (j)

for mode in pass proxy; do
  name=drain-$mode
  if srv_start "$name" --drain-timeout 4000 --handoff "$mode" \
      --runtime-dir "$dir/rt" -w 2 -- "$badapp" slow 1500; then
    sleep 0.3 # both workers up
    request "$name" "$base/drain" >"$dir/$name.code" &
    req_pid=$!
    sleep 0.4 # the request is in a worker now
    srv_snapshot
    t0=$(lib_now_ms)
    kill -s TERM "$srv_pid"
    sleep 0.2
    late=$(request "$name-late" --max-time 5 "$base/late")
    wait "$req_pid" || true
    code=$(cat "$dir/$name.code")
    is 200 "$code" "$name: SIGTERM during a 1.5 s request: the request completes"
    tap_check "$name: SIGTERM: the request's body is whole" \
      test "$(cat "$dir/$name.out")" = "slow 1500"
    tap_ok "$([ "$late" != 200 ]; echo $?)" \
      "$name: SIGTERM: a request after the signal is not served (status $late)"
    for _ in $(seq 100); do lib_running "$srv_pid" || break; sleep 0.05; done
    ms=$(($(lib_now_ms) - t0))
    left=""
    for p in $srv_kids; do lib_running "$p" && left="$left $p"; done
    tap_ok "$([ "$ms" -lt 4000 ]; echo $?)" \
      "$name: SIGTERM: scgiserver gone within the drain timeout (${ms} ms)"
    tap_ok "$([ -n "$srv_kids" ] && [ -z "$left" ]; echo $?)" \
      "$name: SIGTERM: its workers ($srv_kids) gone when it exits (left:${left:- none})"
    tap_diag "$name: request answered $(($(cat "$dir/$name.end") - t0)) ms after SIGTERM, scgiserver gone after $ms ms"
    srv_stop
  fi
done

rm -f "$dir/big.in"

# ---------------------------------------------------------------- after

tap_check "examples/echo still runs" lib_alive "$echo_pid"
tap_check "nginx still runs" lib_alive "$lib_nginx_pid"
if grep -q 'ERROR: \|runtime error' "$dir"/*.log 2>/dev/null; then
  tap_ok 1 "no sanitizer report in any log"
  grep -l 'ERROR: \|runtime error' "$dir"/*.log | sed 's/^/#   /'
else
  tap_ok 0 "no sanitizer report in any log"
fi
tap_diag "nginx error log: $(grep -c . "$dir/nginx/error.log" || true) lines"
tap_diag "whole test: $(($(lib_now_ms) - test_started_ms)) ms"

tap_done
