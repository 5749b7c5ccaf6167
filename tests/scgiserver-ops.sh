#!/usr/bin/env bash
# scgiserver-ops.sh - scgiserver's operations: -d (background) with
# -p (pidfile: written, removed at exit, a live one refused, a stale one
# replaced), and -u/-g (the daemon and its workers run as that user). TAP
# output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The daemon is not our child: it is stopped by the PID its pidfile holds,
# and its workers (found in /proc) are killed by PID at exit if left.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

scgiserver=$top_builddir/scgiserver/scgiserver
rawsend=$top_builddir/tests/rawsend
[ -x "$scgiserver" ] || tap_bail "$scgiserver not built"
[ -x "$rawsend" ] || tap_bail "$rawsend not built"
[ -x "$top_builddir/examples/echo" ] || tap_bail "examples/echo not built"
# -d runs in /: PROGRAM must be absolute.
echo_bin=$(cd "$top_builddir/examples" && pwd)/echo

lib_tmpdir
dir=$lib_tmp
front=$dir/front.sock
pidfile=$dir/scgiserver.pid

# An SCGI request for /ops (netstring of headers, then ",").
headers=$dir/headers
printf 'CONTENT_LENGTH\0000\000SCGI\0001\000REQUEST_METHOD\000GET\000REQUEST_URI\000/ops\000' \
  >"$headers"
{ printf '%d:' "$(wc -c <"$headers")"; cat "$headers"; printf ','; } \
  >"$dir/request"

daemon_pid=""
daemon_workers=""

# kill_leftovers: the current daemon's workers, by PID (at exit).
kill_leftovers() {
  local p
  [ -n "$daemon_pid" ] &&
    daemon_workers="$daemon_workers $(lib_children "$daemon_pid")"
  for p in $daemon_workers; do
    lib_running "$p" && kill -s KILL "$p" 2>/dev/null
  done
  return 0
}
lib_at_exit kill_leftovers

# start NAME ARGS...: scgiserver -d -p $pidfile -l unix:$front ARGS; sets
# start_rc, start_ms and daemon_pid (from the pidfile).
start() {
  local name=$1 t0
  shift
  t0=$(lib_now_ms)
  start_rc=0
  "$scgiserver" -d -p "$pidfile" -l "unix:$front" -w 2 "$@" \
    </dev/null >"$dir/$name.log" 2>&1 || start_rc=$?
  start_ms=$(($(lib_now_ms) - t0))
  daemon_pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$daemon_pid" ]; then
    lib_pids="$lib_pids $daemon_pid" # stopped at exit if still there
  fi
}

# serves: one request through the daemon gets echo's 200.
serves() {
  "$rawsend" "unix:$front" "$dir/request" --timeout-ms 5000 2>/dev/null |
    head -n 1 | grep -q '^Status: 200'
}

# stop: SIGTERM to the daemon; sets stop_left to the workers still there.
stop() {
  local p
  daemon_workers=$(lib_children "$daemon_pid" | tr '\n' ' ')
  lib_stop "$daemon_pid" TERM
  for _ in $(seq 40); do
    stop_left=""
    for p in $daemon_workers; do
      lib_running "$p" && stop_left="$stop_left $p"
    done
    [ -z "$stop_left" ] && break
    sleep 0.05
  done
}

uid_of() { awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# ---------------------------------------------------------------- -d -p

start plain -- "$echo_bin"
tap_ok "$start_rc" "-d -p: the command exits 0 (${start_ms} ms)"
tap_ok "$([ -n "$daemon_pid" ] && lib_running "$daemon_pid"; echo $?)" \
  "-d -p: the pidfile holds a live pid (${daemon_pid:-none})"
tap_ok "$([ "$(awk '{ print $7 }' "/proc/$daemon_pid/stat" 2>/dev/null)" = 0 ]
          echo $?)" "-d: no controlling terminal"
tap_check "-d: the daemon serves a request" serves

# A second server with the same live pidfile.
rc=0
"$scgiserver" -p "$pidfile" -l "unix:$dir/other.sock" -- "$echo_bin" \
  >"$dir/second.log" 2>&1 || rc=$?
tap_ok "$([ "$rc" = 1 ] && grep -q "already running (pid $daemon_pid)" \
          "$dir/second.log"; echo $?)" \
  "a live pidfile: 'already running', exit 1 (got $rc: $(head -c 200 "$dir/second.log"))"
tap_ok "$([ "$(cat "$pidfile")" = "$daemon_pid" ]; echo $?)" \
  "a live pidfile is left alone"
tap_check "the daemon still serves" serves

stop
tap_ok "$([ ! -e "$pidfile" ]; echo $?)" "SIGTERM: the pidfile is removed"
tap_ok "$([ -n "$daemon_workers" ] && [ -z "$stop_left" ]; echo $?)" \
  "SIGTERM: the workers are gone (workers: ${daemon_workers:-none}; left:${stop_left:- none})"
daemon_pid=""

# ---------------------------------------------------------------- stale

# A pid that ran and exited.
sh -c 'exit 0' &
dead=$!
wait "$dead" || true
printf '%s\n' "$dead" >"$pidfile"
start stale -- "$echo_bin"
tap_ok "$([ "$start_rc" = 0 ] && [ -n "$daemon_pid" ] &&
          [ "$daemon_pid" != "$dead" ] && lib_running "$daemon_pid"; echo $?)" \
  "a stale pidfile is replaced (exit $start_rc, pid $dead -> ${daemon_pid:-none})"
tap_check "  and the new daemon serves" serves
stop
daemon_pid=""

# An error after binding still reaches the terminal, with a non-zero exit.
rc=0
"$scgiserver" -d -p "$pidfile" -l "unix:$front" -- examples/echo \
  >"$dir/relative.log" 2>&1 || rc=$?
tap_ok "$([ "$rc" = 2 ] && grep -q "absolute path" "$dir/relative.log" &&
          [ ! -e "$pidfile" ]; echo $?)" \
  "-d with a relative PROGRAM: exit 2, no pidfile (got $rc)"

# ---------------------------------------------------------------- -u -g

rc=0
"$scgiserver" -u no-such-user-libscgi -l "unix:$front" -- "$echo_bin" \
  >"$dir/nouser.log" 2>&1 || rc=$?
tap_ok "$([ "$rc" = 2 ] && grep -q "unknown user" "$dir/nouser.log"; echo $?)" \
  "unknown user: exit 2 (got $rc)"
rc=0
"$scgiserver" -g no-such-group-libscgi -l "unix:$front" -- "$echo_bin" \
  >"$dir/nogroup.log" 2>&1 || rc=$?
tap_ok "$([ "$rc" = 2 ] && grep -q "unknown group" "$dir/nogroup.log"; echo $?)" \
  "unknown group: exit 2 (got $rc)"

if [ "$(id -u)" != 0 ]; then
  tap_skip "-u nobody -g nogroup" "not root"
elif ! id nobody >/dev/null 2>&1 || ! getent group nogroup >/dev/null; then
  tap_skip "-u nobody -g nogroup" "no user nobody or group nogroup"
else
  nobody=$(id -u nobody)
  # The pidfile's directory belongs to nobody, so that it can be removed.
  mkdir "$dir/run"
  chown nobody:nogroup "$dir/run"
  pidfile=$dir/run/scgiserver.pid
  start user -u nobody -g nogroup -- "$echo_bin"
  tap_ok "$start_rc" "-u nobody -g nogroup: started (exit $start_rc)"
  tap_ok "$([ "$(uid_of "$daemon_pid")" = "$nobody" ]; echo $?)" \
    "  the daemon runs as nobody (uid $(uid_of "$daemon_pid"))"
  tap_ok "$([ "$(awk '/^Uid:/ { print $2 $3 $4 $5 }' \
                "/proc/$daemon_pid/status")" = "$nobody$nobody$nobody$nobody" ]
          echo $?)" "  real, effective, saved and fs uids all nobody"
  tap_check "  it serves" serves
  workers=$(lib_children "$daemon_pid" | tr '\n' ' ')
  bad=""
  for p in $workers; do
    [ "$(uid_of "$p")" = "$nobody" ] || bad="$bad $p"
  done
  tap_ok "$([ -n "$workers" ] && [ -z "$bad" ]; echo $?)" \
    "  its workers run as nobody (workers: ${workers:-none}; not:${bad:- none})"
  stop
  tap_ok "$([ ! -e "$pidfile" ]; echo $?)" "  SIGTERM: the pidfile is removed"
  daemon_pid=""

  if ! command -v setpriv >/dev/null; then
    tap_skip "-u when not root" "no setpriv"
    tap_done
    exit
  fi
  rc=0
  setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$scgiserver" -u nobody -l "unix:$dir/run/x.sock" -- "$echo_bin" \
    >"$dir/notroot.log" 2>&1 || rc=$?
  tap_ok "$([ "$rc" = 1 ] && grep -q "need root" "$dir/notroot.log"; echo $?)" \
    "-u when not root: exit 1 (got $rc: $(head -c 200 "$dir/notroot.log"))"
fi

tap_done
