#!/usr/bin/env bash
# scale.sh - scgiserver holding 10 000 idle front connections: the memory
# each one costs, and whether requests are still served meanwhile.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Usage: BUILD=/path/to/build bench/scale.sh
#
# Starts scgiserver on 127.0.0.1 (2 workers of examples/hello, header
# timeout HEADER_TIMEOUT ms, default 120 s) behind a private nginx (1
# worker). Measures requests/s through nginx with wrk, then opens IDLE
# (default 10000) connections straight to scgiserver's TCP port with
# bench/idle_conns, each with the first 3 bytes of a header block written
# (started requests, as from slow clients), reads scgiserver's RSS and
# open files again, measures requests/s again while they are held,
# releases them and checks that scgiserver's open files return to what
# they were. Connections that the kernel itself makes after the release
# from stale SYN cookies (see orphans() below) are counted apart:
# scgiserver cannot tell them from new clients that have sent nothing
# yet, and keeps them until the header timeout. Prints a Markdown section
# on stdout, progress on stderr. Takes about 30 s; every wait is bounded,
# so a server that stops answering shows up as errors, never as a hang.
#
# Environment: BUILD (required), IDLE (connections, default 10000),
# DURATION (seconds per wrk run, default 5), BENCH_QUICK=1 (2 s runs),
# HEADER_TIMEOUT (scgiserver's --header-timeout in ms, default 120000),
# EXPIRY_WAIT=1 (when such connections are left, wait for the header
# timeout to see scgiserver close them).
set -eu

: "${BUILD:?set BUILD to a build directory (binaries in BUILD/examples, BUILD/scgiserver)}"
repo=$(cd "$(dirname "$0")/.." && pwd)
idle_n=${IDLE:-10000}
partial=3
duration=${DURATION:-5}
header_timeout=${HEADER_TIMEOUT:-120000}
[ "${BENCH_QUICK:-0}" != 1 ] || duration=2

# shellcheck source-path=SCRIPTDIR/.. source=tests/lib.sh
. "$repo/tests/lib.sh"

bench_name=scale
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"

for f in examples/hello scgiserver/scgiserver; do
  [ -x "$BUILD/$f" ] || die "$BUILD/$f not found: build first"
done
need nginx nginx || [ -x /usr/sbin/nginx ] || die "nginx is missing"
need curl curl || die "curl is missing"
need ss iproute2 || die "ss (iproute2) is missing"
if need wrk wrk; then
  loader="wrk -t1 -c32 -d${duration}s --timeout 2s"
else
  say "no wrk: a curl loop measures requests instead"
  loader="curl, one request at a time for ${duration} s"
fi

# Open files: 10 000 held connections, plus what scgiserver needs. Raising
# the hard limit takes root.
want=$((idle_n + 1024))
[ "$want" -ge 65536 ] || want=65536
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null ||
    say "cannot raise the hard open files limit ($(ulimit -Hn)) to $want"
fi
ulimit -Sn "$(ulimit -Hn)"

lib_tmpdir
dir=$lib_tmp

# helper NAME: the path of bench/NAME, from the build or compiled here.
helper() {
  if [ -x "$BUILD/bench/$1" ]; then
    printf '%s\n' "$BUILD/bench/$1"
  else
    cc -O2 -Wall -o "$dir/$1" "$repo/bench/$1.c" >&2 || return 1
    printf '%s\n' "$dir/$1"
  fi
}
idle_conns=$(helper idle_conns) || die "cannot build bench/idle_conns"
scgi_load=$(helper scgi_load) || die "cannot build bench/scgi_load"

# status_kb PID FIELD: a field of /proc/PID/status in kB (0 when gone).
status_kb() {
  awk -v k="$2:" '$1 == k { v = $2 } END { print v + 0 }' \
    "/proc/$1/status" 2>/dev/null || echo 0
}
fd_count() {
  local n
  n=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || n=0
  echo "$n"
}
# accept_queue: connections that the kernel completed and scgiserver has
# not accepted yet (Recv-Q of the listener; its Send-Q is the backlog).
accept_queue() {
  ss -ltnH "sport = :$port" 2>/dev/null | awk '{ q = $2 } END { print q + 0 }'
}
backlog() {
  ss -ltnH "sport = :$port" 2>/dev/null | awk '{ q = $3 } END { print q + 0 }'
}
# established: scgiserver's side of established connections on the port,
# accepted or not.
established() {
  ss -tnH state established "sport = :$port" 2>/dev/null | wc -l
}
# orphans: scgiserver's side of established connections on the port whose
# other end is no socket on this host any more (all clients here are on
# 127.0.0.1: idle_conns, nginx, scgi_load). After idle_conns exits, its
# sockets wait in TIME-WAIT. Such connections are made by the kernel, not
# by a client: when the many connects overflowed the listener's SYN queue
# it answered them with SYN cookies, and for two minutes after that any
# ACK that reaches the listener for a connection it does not know is
# checked as the last step of a SYN-cookie handshake. A duplicate ACK from
# a client in TIME-WAIT that arrives after scgiserver's socket is gone can
# pass the check (its numbers are those of the old handshake plus the
# bytes each side sent: with the MSS of 127.0.0.1, they pass when the
# client sent at most 3 bytes before its FIN, as idle_conns does here),
# and the kernel then makes a new established connection, which
# scgiserver accepts and keeps, as it keeps any connection that has not
# sent its header block yet, until the header timeout, or until a new
# connection from the same client port (nginx's) resets it.
orphans() {
  {
    ss -tnH state established "dport = :$port" 2>/dev/null |
      awk '{ print "client", $3 }'
    ss -tnH state established "sport = :$port" 2>/dev/null |
      awk '{ print "server", $4 }'
  } | awk '$1 == "client" { live[$2] = 1; next }
           !($2 in live) { n++ }
           END { print n + 0 }'
}
# tcpext NAME: a TCP counter of the kernel (whole machine).
tcpext() {
  awk -v k="$1" '$1 == "TcpExt:" {
      if (!names) { for (i = 2; i <= NF; i++) col[$i] = i; names = 1 }
      else if (k in col) v = $col[k]
    }
    END { print v + 0 }' /proc/net/netstat 2>/dev/null || echo 0
}
workers_kb() {
  local p sum=0
  for p in $(lib_children "$srv"); do
    sum=$((sum + $(status_kb "$p" VmRSS)))
  done
  echo "$sum"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
# cell ROW N: the Nth field of a Markdown table row (counting the empty one
# before the first "|"), trimmed.
cell() {
  printf '%s\n' "$1" | awk -F'|' -v n="$2" \
    '{ v = $n; gsub(/^ +| +$/, "", v); print v }'
}

# ---------------------------------------------------------------- start

port=$(lib_free_port)
say "scgiserver on 127.0.0.1:$port, 2 workers of examples/hello"
lib_spawn "$dir/scgiserver.log" "$BUILD/scgiserver/scgiserver" \
  -l "127.0.0.1:$port" -w 2 --header-timeout "$header_timeout" -- \
  "$BUILD/examples/hello"
srv=$lib_pid

# At exit: stop scgiserver first, then any worker it left behind.
stop_scgiserver() {
  local w p
  lib_alive "$srv" || return 0
  w=$(lib_children "$srv")
  lib_stop "$srv" TERM
  for p in $w; do
    if lib_running "$p"; then kill -s KILL "$p" 2>/dev/null || true; fi
  done
}
lib_at_exit stop_scgiserver

lib_wait_for 10 "$scgi_load" -n 1 -T 2 "127.0.0.1:$port" ||
  { cat "$dir/scgiserver.log" >&2; die "scgiserver does not answer"; }
grep -q scgiserver "/proc/$srv/comm" || die "pid $srv is not scgiserver"
threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$srv/status")
listen_backlog=$(backlog)

nport=$(lib_free_port)
say "nginx on 127.0.0.1:$nport"
lib_nginx_start "$dir/nginx" "$nport" "
    location / {
      access_log off;
      include scgi_params;
      scgi_pass 127.0.0.1:$port;
      scgi_connect_timeout 5s;
      scgi_read_timeout 10s;
    }" || die "nginx did not start"
base=http://127.0.0.1:$nport
[ "$(curl -s --max-time 5 "$base/")" = "Hello, world!" ] ||
  die "no hello through nginx"

# load: requests through nginx for $duration s; prints the cells
# "requests | 2xx/s | mean latency | errors" of a table row (2xx/s: the
# answers with status 2xx per second; wrk's own Requests/sec also counts
# errors such as nginx's 504).
load() {
  local out
  if command -v wrk >/dev/null 2>&1; then
    out=$(timeout $((duration + 20)) wrk -t1 -c32 -d"${duration}s" \
      --timeout 2s "$base/" 2>&1) || true
    printf '%s\n' "$out" | sed 's/^/  wrk: /' >&2
    printf '%s\n' "$out" | awk '
      / requests in / { n = $1; secs = $4 + 0 }
      /Requests\/sec:/ { rps = $2 }
      $1 == "Latency" { lat = $2 }
      /Socket errors:/ { c = $4 + 0; r = $6 + 0; w = $8 + 0; t = $10 + 0 }
      /Non-2xx or 3xx/ { bad = $5 + 0 }
      END {
        e = ""
        if (bad) e = e sprintf("%d non-2xx, ", bad)
        if (t) e = e sprintf("%d timeouts, ", t)
        if (c + r + w) e = e sprintf("%d socket errors, ", c + r + w)
        sub(/, $/, "", e)
        if (e == "") e = "none"
        ok = n - bad
        printf "| %d | %.0f | %s | %s |", n, secs ? ok / secs : 0,
          ok ? lat : "-", e
      }'
  else
    local t0 end ok=0 bad=0 code
    t0=$(lib_now_ms)
    end=$((t0 + duration * 1000))
    while [ "$(lib_now_ms)" -lt "$end" ]; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/") ||
        true
      if [ "$code" = 200 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
    done
    awk -v ok="$ok" -v bad="$bad" -v ms=$(($(lib_now_ms) - t0)) \
      'BEGIN { printf "| %d | %.0f | - (curl loop) | %s |", ok + bad,
               ok * 1000 / ms, bad ? bad " failed" : "none" }'
  fi
}

# snapshot LABEL: a row of the memory table.
snapshot() {
  printf '| %s | %s | %s | %d | %d | %d |\n' "$1" \
    "$(mib "$(status_kb "$srv" VmRSS)")" "$(mib "$(workers_kb)")" \
    "$(fd_count "$srv")" "$(established)" "$(accept_queue)"
}

# ---------------------------------------------------------------- measure

say "$loader, no idle connections"
row_before=$(load)

rss_before=$(status_kb "$srv" VmRSS)
fds_before=$(fd_count "$srv")
snap_before=$(snapshot "before")

say "opening $idle_n idle connections to scgiserver ($partial bytes each)"
cookies_sent0=$(tcpext SyncookiesSent)
lib_spawn "$dir/idle.out" "$idle_conns" -t 10 "$idle_n" "127.0.0.1:$port" \
  "$partial"
idle=$lib_pid
t0=$(lib_now_ms)
accepted=0
last=
# Until idle_conns reports (all connected, or 10 s), and until scgiserver
# holds them all or 10 s have passed: a sample every 0.5 s.
for _ in $(seq 40); do
  sleep 0.5
  accepted=$(($(fd_count "$srv") - fds_before))
  now="$accepted accepted, $(accept_queue) in the accept queue"
  last_sample="after $(awk -v ms=$(($(lib_now_ms) - t0)) \
    'BEGIN { printf "%.1f", ms / 1000 }') s: $now"
  [ "$now" = "$last" ] || say "  $last_sample"
  last=$now
  if grep -q '^held' "$dir/idle.out" &&
    { [ "$accepted" -ge "$idle_n" ] ||
      [ $(($(lib_now_ms) - t0)) -ge 10000 ]; }; then
    break
  fi
  lib_alive "$idle" || break
done
held_line=$(grep -m1 '^held' "$dir/idle.out" || echo "held ? (idle_conns: $(head -c 200 "$dir/idle.out"))")
say "idle_conns: $held_line"

rss_held=$(status_kb "$srv" VmRSS)
cookies_sent=$(($(tcpext SyncookiesSent) - cookies_sent0))
fds_held=$(fd_count "$srv")
accepted=$((fds_held - fds_before))
snap_held=$(snapshot "$idle_n connections opened")

say "$loader, while they are held"
row_held=$(load)
snap_load=$(snapshot "same, after those requests")

say "releasing them"
cookies_recv0=$(tcpext SyncookiesRecv)
lib_stop "$idle"
release_line=$(grep -m1 '^released' "$dir/idle.out" || echo "(no report)")
say "idle_conns: $release_line"
t1=$(lib_now_ms)
# Until scgiserver has closed all but the orphans (10 s at most). Both are
# read in the same pass: orphans may still appear while it closes; with
# orphans, two passes in a row must agree (a connection whose client's
# FIN is still on its way would look like one).
stable=0
while :; do
  orphaned=$(orphans)
  fds_after=$(fd_count "$srv")
  if [ $((fds_after - orphaned)) -le "$fds_before" ]; then
    if [ "$orphaned" -eq 0 ] || [ "$stable" = 1 ]; then break; fi
    stable=1
  else
    stable=0
  fi
  [ $(($(lib_now_ms) - t1)) -lt 10000 ] || break
  sleep 0.2
done
back_ms=$(($(lib_now_ms) - t1))
cookies_recv=$(($(tcpext SyncookiesRecv) - cookies_recv0))
if [ "$orphaned" -gt 0 ]; then
  say "  $orphaned connections without a client after the release"
  snap_after=$(snapshot "released ($orphaned without a client)")
else
  snap_after=$(snapshot "released")
fi

say "$loader, after the release"
row_after=$(load)

# EXPIRY_WAIT=1: whether scgiserver closes the orphans at the header
# timeout (with its sweep every 250 ms).
expiry=""
if [ "${EXPIRY_WAIT:-0}" = 1 ] && [ "$orphaned" -gt 0 ]; then
  say "waiting for the header timeout ($header_timeout ms after the release)"
  while [ "$(fd_count "$srv")" -gt "$fds_before" ] &&
    [ $(($(lib_now_ms) - t1)) -lt $((header_timeout + 5000)) ]; do
    sleep 1
  done
  expiry=" $(($(lib_now_ms) - t1)) ms after the release, scgiserver had
  $(fd_count "$srv") open files and $(orphans) connections without a client
  (header timeout $header_timeout ms)."
fi

hwm=$(status_kb "$srv" VmHWM)
say "stopping scgiserver"
stop_scgiserver
srv_status=$lib_status
bad_requests=$(grep -c 'bad request' "$dir/scgiserver.log" || true)
timeouts=$(grep -c 'not complete after' "$dir/scgiserver.log" || true)
closed_early=$(grep -c 'closed before the end of the request' \
  "$dir/scgiserver.log" || true)
resets=$(grep -c 'bad request.*reset by peer (after 0 bytes)' \
  "$dir/scgiserver.log" || true)

# ---------------------------------------------------------------- report

grow=$((rss_held - rss_before))
if [ "$accepted" -ge "$idle_n" ]; then
  per_conn=$(awk -v d="$grow" -v n="$idle_n" \
    'BEGIN { printf "%.0f", d * 1024 / n }')
  if [ "$per_conn" -le 16384 ]; then verdict="within"; else verdict="over"; fi
  memory="$per_conn bytes of RSS per idle connection ($grow KiB for
  $idle_n): $verdict the target of 16 KiB."
else
  memory="Not measured: scgiserver accepted only $accepted of the $idle_n
  connections; the kernel kept $(cell "$snap_held" 7) completed ones in the
  accept queue and let the others wait for it (a SYN to a full queue is
  dropped and the client sends it again later). RSS grew by $grow KiB."
fi
rate_before=$(cell "$row_before" 3)
rate_held=$(cell "$row_held" 3)
if [ "$rate_held" -gt 0 ] && [ "$(cell "$row_held" 5)" = none ]; then
  serving="Requests were served while the connections were held: $rate_held
  2xx/s, $(awk -v a="$rate_held" -v b="$rate_before" \
    'BEGIN { printf "%.0f", b ? 100 * a / b : 0 }') % of the rate without them."
else
  serving="Requests were NOT all served while the connections were held:
  $rate_held 2xx/s (errors: $(cell "$row_held" 5)), against $rate_before
  without them."
fi
if [ $((fds_after - orphaned)) -le "$fds_before" ]; then
  back="back to the baseline $back_ms ms after the release"
else
  back="NOT back to the baseline $back_ms ms after the release"
fi
if [ "$orphaned" -gt 0 ]; then
  back="$back, not counting $orphaned connections without a client (below)"
  orphan_note="
- Connections without a client: after the release scgiserver held
  $orphaned established connections on its port whose other end is no
  socket on this host (the client ports' sockets are in TIME-WAIT). They
  are not idle_conns' connections, which scgiserver all saw close, nor
  nginx's: the kernel made them. The $idle_n connects overflowed the
  listener's SYN queue (the kernel answered $cookies_sent of them with
  SYN cookies, whole machine); for two minutes after that, an ACK that
  reaches the listener for a connection it does not know is checked as a
  SYN-cookie handshake, and a late duplicate ACK from a client in
  TIME-WAIT, after scgiserver's socket is gone, can pass the check: the
  kernel then makes a new established connection of it, which nobody
  will ever write to. Since the release the kernel took
  $cookies_recv ACKs as SYN-cookie handshakes (TcpExtSyncookiesRecv, whole
  machine). scgiserver keeps them as it keeps any connection that has not
  sent its header block, and closes them at the header timeout
  ($header_timeout ms), unless a new connection from the same client port
  resets one first (nginx's, during the requests after the release:
  scgiserver logs 'Connection reset by peer (after 0 bytes)').$expiry"
else
  orphan_note=""
fi

cat <<EOF
### scgiserver with $idle_n idle front connections

scgiserver -w 2 --header-timeout $header_timeout -- examples/hello behind nginx (1
worker); scgiserver had $threads threads at start, a listen backlog of
$listen_backlog (somaxconn $(cat /proc/sys/net/core/somaxconn 2>/dev/null ||
echo ?)) and an open files limit of $(ulimit -n). bench/idle_conns opens the idle connections straight to
scgiserver's TCP port and writes $partial bytes of a header block on each
(started requests). "established" counts scgiserver's side of them in the
kernel, accepted or not; the accept queue holds those not accepted yet.
nginx gives up connecting to scgiserver after 5 s (scgi_connect_timeout)
and answers 504.

| state | scgiserver RSS | workers RSS (2) | scgiserver fds | established | accept queue |
|---|---:|---:|---:|---:|---:|
$snap_before
$snap_held
$snap_load
$snap_after

| requests through nginx: $loader | requests | 2xx/s | mean latency | errors |
|---|---:|---:|---:|---|
| no idle connections $row_before
| $idle_n idle connections held $row_held
| after the release $row_after

- idle_conns: $held_line; scgiserver $last_sample.
- idle_conns: $release_line.
- Memory: $memory
- $serving
- Open files: $fds_before before, $fds_held while held, $fds_after
  after: $back. scgiserver's peak RSS (VmHWM) $(mib "$hwm"); it logged
  $bad_requests bad requests ($closed_early connections closed before the
  end of their header block, $timeouts header timeouts, $resets resets
  before any byte); exit status at
  SIGTERM: $srv_status.$orphan_note

Targets: at most 16 KiB per idle front connection, and requests keep being
served while $idle_n are held.
EOF
