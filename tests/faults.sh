#!/usr/bin/env bash
# faults.sh - scgiserver under faults and load, with real processes on
# Unix sockets and 127.0.0.1: slow clients (slowloris, trickling or
# stalling bodies), clients that vanish mid-body or mid-response,
# CONTENT_LENGTH that lies either way, applications that die, are killed,
# stay silent or are overloaded, scgiserver and a worker out of
# descriptors, 10 000 idle connections, 100 reloads in 10 s under load, a
# 1 GiB upload in each handoff mode, and a draining SIGTERM during uploads.
# TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Every scenario runs on a scgiserver of its own, talked to directly over
# SCGI (tests/slowpeer, bench/idle_conns), and normal requests go on
# meanwhile: none of them may fail. Before each scenario (after a warm-up)
# scgiserver's open descriptors, threads and RSS are read from /proc;
# afterwards the descriptors, threads and workers must come back to
# exactly those figures (waited for, within 10 s) and the RSS to within
# RSS_TOLERANCE_KB (4 MiB: memory the allocator keeps for reuse). The
# figures go to the log as "# " lines. Every wait has a deadline; time
# bounds are generous (a normal request under a slowloris: < 1 s).
#
# The soft limit of open files is raised to the hard one (as root, the
# hard one to 11 024 first) for the 10 000 connections; below that, that
# scenario is skipped. Needs no front server. It is heavier than the
# other tests (about a minute on two cores, 2 GiB moved over Unix
# sockets) and runs once, on its own: make check TESTS=tests/faults.sh.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

# abs PATH: PATH made absolute (config files name programs).
abs() {
  printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"
}

scgiserver=$top_builddir/scgiserver/scgiserver
for f in scgiserver/scgiserver examples/hello examples/echo examples/form \
    tests/badapp tests/slowpeer bench/idle_conns; do
  [ -x "$top_builddir/$f" ] || tap_bail "$top_builddir/$f not built"
done
hello=$(abs "$top_builddir/examples/hello")
echo_bin=$(abs "$top_builddir/examples/echo")
form=$(abs "$top_builddir/examples/form")
badapp=$(abs "$top_builddir/tests/badapp")
slowpeer=$top_builddir/tests/slowpeer
idle_conns=$top_builddir/bench/idle_conns

RSS_TOLERANCE_KB=4096
IDLE_N=10000

# Open files: the 10 000 idle connections, in scgiserver and in the client.
want_fds=$((IDLE_N + 1024))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want_fds" ]; then
  ulimit -Hn "$want_fds" 2>/dev/null || true
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

test_started_ms=$(lib_now_ms)
lib_tmpdir
dir=$lib_tmp
front=$dir/front.sock
. "$top_srcdir/tests/srv.sh"
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ---------------------------------------------------------------- helpers

fd_count() {
  find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}
# status_kb PID FIELD: a number of /proc/PID/status (VmRSS, Threads...).
status_kb() {
  awk -v k="$2:" '$1 == k { v = $2 } END { print v + 0 }' \
    "/proc/$1/status" 2>/dev/null || echo 0
}
# cpu_ticks PID: user + system time so far, in clock ticks.
cpu_ticks() {
  local line f
  read -r line <"/proc/$1/stat" || { echo 0; return; }
  read -r -a f <<<"${line##*) }"
  echo $((f[11] + f[12]))
}
# field KEY LINE: the value of KEY=VALUE in a summary line of slowpeer, or
# -1.
field() {
  local w
  for w in $2; do
    if [ "${w%%=*}" = "$1" ]; then
      printf '%s\n' "${w#*=}"
      return 0
    fi
  done
  echo -1
}
# summary FILE: the summary line of a slowpeer run (KEY=VALUE words).
summary() {
  grep -a -m1 '^[a-z_]*=' "$1" 2>/dev/null || echo "none=1"
}
# wait_pid PID: waits for a process started with lib_spawn to end by itself.
wait_pid() {
  local rest="" p
  wait "$1" 2>/dev/null || true
  for p in $lib_pids; do
    [ "$p" = "$1" ] || rest="$rest $p"
  done
  lib_pids=$rest
}
# ok_if DESCRIPTION COMMAND...: a check that passes when COMMAND does.
ok_if() {
  local what=$1
  shift
  if "$@"; then tap_ok 0 "$what"; else tap_ok 1 "$what"; fi
}
# between LOW X HIGH: LOW <= X <= HIGH, for integers (-1 fails).
between() {
  [ "$2" -ge "$1" ] 2>/dev/null && [ "$2" -le "$3" ] 2>/dev/null
}
# logged NAME PATTERN: lines of the current scgiserver log matching.
logged() {
  grep -c -a -- "$2" "$dir/$1.log" 2>/dev/null || true
}

# show_log NAME [N]: the last lines of a scgiserver log.
show_log() {
  tail -n "${2:-8}" "$dir/$1.log" | sed 's/^/#   log: /'
}

# error_or_close LINE: the request ended within 5 s with an error status
# or no answer at all, and the server closed (or reset) the connection.
error_or_close() {
  local st end
  st=$(field status "$1")
  end=$(field end "$1")
  { [ "$end" = eof ] || [ "$end" = reset ]; } &&
    [ "$(field total_ms "$1")" -lt 5000 ] &&
    { [ "$st" = none ] || [ "$st" -ge 400 ]; }
}

# base: scgiserver's figures before a scenario (call after a warm-up).
base() {
  base_fds=$(fd_count "$srv_pid")
  base_thr=$(status_kb "$srv_pid" Threads)
  base_rss=$(status_kb "$srv_pid" VmRSS)
  base_kids=$(lib_children "$srv_pid" | grep -c . || true)
}
settled() {
  [ "$(fd_count "$srv_pid")" -eq "$base_fds" ] &&
    [ "$(status_kb "$srv_pid" Threads)" -eq "$base_thr" ] &&
    [ "$(lib_children "$srv_pid" | grep -c . || true)" -eq "$base_kids" ]
}
# back NAME: descriptors, threads and workers back to the baseline (waited
# for, up to 10 s), RSS within the tolerance; the figures as diagnostics.
back() {
  local name=$1 t0 ms fds thr rss kids
  t0=$(lib_now_ms)
  lib_wait_for 10 settled || show_log "$srv_name"
  ms=$(($(lib_now_ms) - t0))
  fds=$(fd_count "$srv_pid")
  thr=$(status_kb "$srv_pid" Threads)
  rss=$(status_kb "$srv_pid" VmRSS)
  kids=$(lib_children "$srv_pid" | grep -c . || true)
  is "$base_fds" "$fds" "$name: scgiserver's open descriptors back to the baseline"
  is "$base_thr" "$thr" "$name: scgiserver's threads back to the baseline"
  is "$base_kids" "$kids" "$name: worker processes back to the configured count"
  tap_ok "$([ "$rss" -le $((base_rss + RSS_TOLERANCE_KB)) ]; echo $?)" \
    "$name: scgiserver's RSS back to the baseline within $RSS_TOLERANCE_KB KiB ($base_rss -> $rss KiB)"
  tap_diag "$name: scgiserver fds $base_fds -> $fds, threads $base_thr -> $thr," \
    "workers $base_kids -> $kids, RSS $base_rss -> $rss KiB" \
    "($((rss - base_rss)) KiB), settled ${ms} ms after the scenario"
}

# probe_start NAME URI: normal GET requests, one at a time, 20 ms apart,
# until probe_stop (each must answer 200 within 3 s).
probe_start() {
  probe_name=$1
  lib_spawn "$dir/$1.probe" "$slowpeer" load "unix:$front" -c 1 -g 20 \
    -T 3000 -d 600000 -u "${2:-/}"
  probe_pid=$lib_pid
}
# probe_stop [MAX_MS]: checks that every probe request was answered 200
# (and, with MAX_MS, each within it); the figures as diagnostics.
probe_stop() {
  local line n failed max
  lib_stop "$probe_pid" TERM
  line=$(summary "$dir/$probe_name.probe")
  n=$(field requests "$line")
  failed=$(field failed "$line")
  max=$(field max_ms "$line")
  tap_ok "$([ "$n" -ge 10 ] && [ "$failed" -eq 0 ]; echo $?)" \
    "$probe_name: normal requests during the scenario all answered 200 ($n sent, $failed failed)"
  if [ -n "${1:-}" ]; then
    tap_ok "$([ "$max" -ge 0 ] && [ "$max" -lt "$1" ]; echo $?)" \
      "$probe_name: each normal request answered within $1 ms (slowest $max ms)"
  fi
  tap_diag "$probe_name: normal requests: $n, failed $failed, latency mean" \
    "$(field mean_ms "$line") ms, p99 $(field p99_ms "$line") ms, max $max ms"
  if [ "$failed" -ne 0 ]; then
    grep -v '^requests=' "$dir/$probe_name.probe" | head -n 5 | sed 's/^/#   /'
    show_log "$srv_name"
  fi
}

# req NAME ARGS...: one slowpeer request to the front socket (ARGS:
# slowpeer's request options, and -A ADDRESS first for another address);
# its answer goes to $dir/NAME.out, its summary to $req_line.
req() {
  local name=$1 address=unix:$front
  shift
  if [ "${1:-}" = -A ]; then
    address=$2
    shift 2
  fi
  "$slowpeer" request "$address" -o "$dir/$name.out" "$@" \
    >"$dir/$name.res" 2>"$dir/$name.err" || true
  req_line=$(summary "$dir/$name.res")
}

# warm NAME URI...: a few requests to each URI, so that the allocator and
# the workers reach their steady state before the baseline.
warm() {
  local name=$1 u
  shift
  for u in "$@"; do
    "$slowpeer" load "unix:$front" -c 2 -d 300 -u "$u" >"$dir/$name.warm" \
      2>&1 || true
  done
}

scenario_start() {
  scenario=$1
  scenario_t0=$(lib_now_ms)
}
scenario_end() {
  tap_diag "$scenario: scenario took $(($(lib_now_ms) - scenario_t0)) ms"
}

# ---------------------------------------------------------------- slowloris

# 300 connections each sending a byte of their header block a second (and
# opening again when closed), with a 3 s header timeout: every one of them
# gets its 400 in time, and normal requests are answered promptly.
scenario_start slowloris
WORKERS=2 srv_start loris --header-timeout 3000 -t 4 -w 2 -- "$hello"
warm loris /
base
cpu0=$(cpu_ticks "$srv_pid")
probe_start loris /
"$slowpeer" loris "unix:$front" -n 300 -i 1000 -d 7000 -r >"$dir/loris.res" \
  2>&1 || true
probe_stop 1000
cpu=$(($(cpu_ticks "$srv_pid") - cpu0))
line=$(summary "$dir/loris.res")
is 300 "$(field held_max "$line")" "slowloris: 300 connections held at once"
is 0 "$(field connect_failed "$line")" "slowloris: no connection refused"
tap_ok "$([ "$(field answered_400 "$line")" -ge 300 ]; echo $?)" \
  "slowloris: the header timeout answered each connection 400 ($(field answered_400 "$line") answers, $(field closed_by_server "$line") closes)"
tap_ok "$(between 2900 "$(field first_close_ms "$line")" 6000; echo $?)" \
  "slowloris: no connection closed before the 3 s header timeout (first after $(field first_close_ms "$line") ms)"
tap_diag "slowloris: $line"
tap_diag "slowloris: scgiserver CPU over the 7 s: $((cpu * 1000 / clk_tck)) ms;" \
  "$(logged loris 'header not complete after') header timeouts logged"
back slowloris
srv_stop
scenario_end

# ---------------------------------------------------------------- bodies

# Request bodies, to echo and form in both handoff modes: trickling in,
# cut by the client, answers the client stops reading, and CONTENT_LENGTH
# lying in either direction.
cat >"$dir/bodies.conf" <<EOF
threads = 4
[app hello]
exec = $hello
workers = 2
route = /
[app ep]
exec = $echo_bin -T 1500
workers = 2
route = /ep
[app eq]
exec = $echo_bin
workers = 2
handoff = proxy
app-timeout = 1500
route = /eq
[app fp]
exec = $form
workers = 1
route = /fp
[app fq]
exec = $form
workers = 1
handoff = proxy
route = /fq
EOF
mkdir "$dir/rt"
chmod 0755 "$dir/rt"
WORKERS=8 srv_start bodies -c "$dir/bodies.conf" --runtime-dir "$dir/rt"
warm bodies / /ep /eq
req warm-fp -u /fp -M -l 1000
req warm-fq -u /fq -M -l 1000
base
probe_start bodies /

# A slow POST: 6000 bytes at 1500 bytes/s into each mode, side by side.
scenario_start slow-body
for m in p q; do
  lib_spawn "$dir/slow-$m.res" "$slowpeer" request "unix:$front" -u "/f$m" \
    -M -l 6000 -b 1500 -T 20000 -o "$dir/slow-$m.out"
  eval "slow_$m=\$lib_pid"
done
# shellcheck disable=SC2154 # set by eval
for m in p q; do
  eval "wait_pid \"\$slow_$m\""
  line=$(summary "$dir/slow-$m.res")
  crc=$(field crc "$line")
  tap_ok "$([ "$(field status "$line")" = 200 ] &&
            grep -q "^FILE file data.bin 6000 $crc\$" "$dir/slow-$m.out"
          echo $?)" \
    "slow body, $([ $m = p ] && echo pass || echo proxy): 6000 bytes at 1500 B/s arrive whole (size and CRC-32 $crc; answer: $(grep -a '^FILE' "$dir/slow-$m.out" || echo none))"
  tap_diag "slow body ($m): $line"
done
scenario_end

# The client goes away mid-body (1 MiB of 8 sent), and mid-response (64 KiB
# of an 8 MiB echo read, then a close, or a reset).
scenario_start disconnect
for m in p q; do
  req "cut-body-$m" -u "/e$m" -l 8000000 -s 1000000 -a close -T 10000
  tap_diag "client gone mid-body (e$m): $req_line"
  req "cut-resp-$m" -u "/e$m" -l 8000000 -R 65536 -T 10000
  tap_ok "$([ "$(field status "$req_line")" = 200 ] &&
            [ "$(field end "$req_line")" = closed ]; echo $?)" \
    "client gone mid-response (e$m): it had the start of a 200 when it closed ($req_line)"
  req "rst-resp-$m" -u "/e$m" -l 8000000 -R 65536 -x -T 10000
  tap_diag "client reset mid-response (e$m): $req_line"
done
ok_if "client gone mid-body (proxy): scgiserver logged the front connection that ended early" \
  test "$(logged bodies 'front connection for /eq ended early')" -ge 3
ok_if "client gone (pass): the worker logged the cut body and the broken response" \
  test "$(logged bodies 'echo: /ep: ')" -ge 3
scenario_end

# CONTENT_LENGTH longer than the body sent (the client then shuts down its
# writing side and waits): an error answer or a close, quickly. Shorter
# than the bytes sent: the answer covers CONTENT_LENGTH bytes, the rest is
# ignored. Longer, with the connection kept open: the body stalls; the
# worker's read timeout (echo -T 1500) answers in pass mode, scgiserver's
# app-timeout (1500) in proxy mode, with a 408 that does not blame the app.
scenario_start lying-length
for m in p q; do
  lib_spawn "$dir/stall-$m.res" "$slowpeer" request "unix:$front" -u "/e$m" \
    -l 100000 -s 50000 -a keep -T 10000 -o "$dir/stall-$m.out"
  eval "stall_$m=\$lib_pid"
done
for m in p q; do
  mode=$([ $m = p ] && echo pass || echo proxy)
  req "long-$m" -u "/e$m" -l 100000 -s 50000 -a shut -T 10000
  end=$(field end "$req_line")
  st=$(field status "$req_line")
  tap_ok "$(error_or_close "$req_line"; echo $?)" \
    "CONTENT_LENGTH 100000, 50000 bytes sent, then EOF ($mode): an error answer or a close, no hang (status $st, $end, $(field total_ms "$req_line") ms)"
  req "short-$m" -u "/e$m" -l 10 -s 200000 -T 10000
  body=$(sed -n '/^CONTENT_LENGTH=/,$p' "$dir/short-$m.out" | sed '1,/^$/d' |
    wc -c)
  tap_ok "$([ "$(field status "$req_line")" = 200 ] && [ "$body" = 10 ] &&
          [ "$(field total_ms "$req_line")" -lt 5000 ]; echo $?)" \
    "CONTENT_LENGTH 10, 200000 bytes sent ($mode): answered 200 with the 10 bytes echoed ($body), no hang ($(field end "$req_line"), $(field total_ms "$req_line") ms)"
  tap_diag "CONTENT_LENGTH lies ($mode): longer: $(cat "$dir/long-$m.res")"
  tap_diag "CONTENT_LENGTH lies ($mode): shorter: $req_line"
done
# shellcheck disable=SC2154 # set by eval
for m in p q; do
  eval "wait_pid \"\$stall_$m\""
  line=$(summary "$dir/stall-$m.res")
  tap_diag "CONTENT_LENGTH lies, body stalls (e$m): $line"
done
line=$(summary "$dir/stall-p.res")
tap_ok "$([ "$(field status "$line")" -ge 400 ] 2>/dev/null &&
          between 1400 "$(field first_ms "$line")" 6000; echo $?)" \
  "body stalls, connection open (pass): the worker's read timeout answers ($(field status "$line") after $(field first_ms "$line") ms)"
line=$(summary "$dir/stall-q.res")
tap_ok "$([ "$(field status "$line")" = 408 ] &&
          between 1400 "$(field first_ms "$line")" 6000; echo $?)" \
  "body stalls, connection open (proxy): 408 once app-timeout ran out ($(field status "$line") after $(field first_ms "$line") ms)"
ok_if "body stalls (proxy): not blamed on the app (no 504, no failed worker logged)" \
  test "$(logged bodies '504 for /eq')" = 0 -a \
  "$(logged bodies 'app eq: worker [0-9]* (pid [0-9]*) failed a request')" = 0
ok_if "CONTENT_LENGTH longer than the body: logged (worker in pass mode, scgiserver in proxy mode)" \
  test "$(logged bodies 'echo: /ep: connection closed before the end')" -ge 2 -a \
  "$(logged bodies 'front connection for /eq ended early')" -ge 4
ok_if "CONTENT_LENGTH shorter than the bytes sent: logged by scgiserver" \
  test "$(logged bodies 'more bytes than its CONTENT_LENGTH')" -ge 2
scenario_end

probe_stop
back bodies
srv_stop

# ---------------------------------------------------------------- apps

# Applications that die before answering, are killed mid-request, die
# mid-response, stay silent, or are too busy, next to a healthy one.
tcp_port=$(lib_free_port)
cat >"$dir/apps.conf" <<EOF
threads = 4
queue = 1
queue-timeout = 300
[app hello]
exec = $hello
workers = 2
route = /
[app dieb]
exec = $badapp die-before
workers = 1
handoff = proxy
route = /dieb
[app kill]
exec = $badapp slow 8000
workers = 1
handoff = proxy
route = /kill
[app diea]
exec = $badapp die-after
workers = 1
handoff = proxy
route = /diea
[app dieap]
exec = $badapp die-after
workers = 1
route = /dieap
[app silent]
exec = $badapp silent
workers = 1
handoff = proxy
app-timeout = 1000
route = /silent
[app slow]
exec = $badapp slow 1500
workers = 1
route = /slow
EOF
WORKERS=8 srv_start apps -c "$dir/apps.conf" --runtime-dir "$dir/rt" \
  -l "127.0.0.1:$tcp_port"
warm apps /
base
probe_start apps /
tcp=127.0.0.1:$tcp_port

scenario_start app-dies
req dieb -u /dieb -T 10000
tap_ok "$([ "$(field status "$req_line")" = 502 ] &&
          grep -q '502 Bad Gateway' "$dir/dieb.out"; echo $?)" \
  "app exits before its answer (proxy): 502 from scgiserver ($req_line)"

# SIGKILL from outside while the app holds the request.
lib_spawn "$dir/kill.res" "$slowpeer" request "unix:$front" -u /kill \
  -T 10000 -o "$dir/kill.out"
kill_req=$lib_pid
killed_pid() { grep -a -o 'badapp\[[0-9]*\]: /kill' "$dir/apps.log" |
  head -n 1 | tr -dc '0-9'; }
has_victim() { [ -n "$(killed_pid)" ]; }
lib_wait_for 5 has_victim || true
victim=$(killed_pid)
t0=$(lib_now_ms)
[ -n "$victim" ] && kill -s KILL "$victim"
lib_wait_for 10 grep -q '^status=' "$dir/kill.res" || true
ms=$(($(lib_now_ms) - t0))
wait_pid "$kill_req"
line=$(summary "$dir/kill.res")
tap_ok "$([ -n "$victim" ] && [ "$(field status "$line")" = 502 ] &&
          [ "$ms" -lt 5000 ]; echo $?)" \
  "app SIGKILLed before its answer (proxy): 502, $ms ms after the kill of ${victim:-nothing} ($line)"

# die-after: "Status: 200", headers, "partial-", then _exit. The client
# must not get a clean end: over TCP the front connection is reset.
for u in /diea '/diea?cl' /dieap '/dieap?cl'; do
  mode=proxy
  case $u in /dieap*) mode=pass ;; esac
  req dieafter -A "$tcp" -u "$u" -T 10000
  tap_ok "$([ "$(field end "$req_line")" = reset ] &&
            [ "$(field got "$req_line")" -le 200 ]; echo $?)" \
    "app dies after partial output ($mode, $u, TCP): the connection is reset, not ended cleanly ($(field status "$req_line"), $(field got "$req_line") bytes, $(field end "$req_line"))"
done
req dieafter-unix -u '/diea?cl' -T 10000
tap_diag "die-after over the Unix socket (proxy, ?cl): $req_line (a close" \
  "is all a Unix socket has; the length announced shows the cut)"
ok_if "app dies: scgiserver logged the 502s and the cut responses" \
  test "$(logged apps '502 for /dieb')" -ge 1 -a \
  "$(logged apps '502 for /kill')" -ge 1 -a \
  "$(logged apps 'front connection reset')" -ge 2
scenario_end

scenario_start app-silent
req silent -u /silent -T 10000
tap_ok "$([ "$(field status "$req_line")" = 504 ] &&
          between 900 "$(field first_ms "$req_line")" 5000; echo $?)" \
  "silent app, app-timeout 1000: 504 once the timeout ran out ($(field first_ms "$req_line") ms)"
ok_if "silent app: logged" test "$(logged apps 'silent for 1000 ms')" -ge 1
scenario_end

scenario_start queue-full
for i in 1 2 3 4 5; do
  lib_spawn "$dir/queue-$i.res" "$slowpeer" request "unix:$front" \
    -u "/slow/$i" -T 10000 -o "$dir/queue-$i.out"
  eval "queue_$i=\$lib_pid"
done
n200=0 n503=0 ra=0
# shellcheck disable=SC2154 # set by eval
for i in 1 2 3 4 5; do
  eval "wait_pid \"\$queue_$i\""
  line=$(summary "$dir/queue-$i.res")
  case $(field status "$line") in
  200) n200=$((n200 + 1)) ;;
  503)
    n503=$((n503 + 1))
    grep -q '^Retry-After: 1' "$dir/queue-$i.out" && ra=$((ra + 1))
    ;;
  esac
  tap_diag "queue full: request $i: $line"
done
tap_ok "$([ "$n200" -ge 1 ] && [ "$n503" -ge 3 ] &&
          [ $((n200 + n503)) = 5 ]; echo $?)" \
  "queue full (1 worker, queue 1, queue-timeout 300): 5 at once: 200s and 503s only ($n200 and $n503)"
is "$n503" "$ra" "queue full: every 503 has Retry-After: 1"
ok_if "queue full: logged" test "$(logged apps '503 for /slow')" -ge 3
scenario_end

probe_stop
back apps
srv_stop

# ---------------------------------------------------------------- descriptors

# scgiserver with 64 open files at most; 200 clients hold connections open
# with a partial header. While it is out of descriptors its CPU stays low
# (no busy loop); once they go, it serves again.
scenario_start emfile
real_scgiserver=$scgiserver
scgiserver=$dir/lowfd
printf '#!/usr/bin/env bash\nulimit -n 64 || exit 1\nexec %q "$@"\n' \
  "$real_scgiserver" >"$scgiserver"
chmod +x "$scgiserver"
WORKERS=2 srv_start emfile --header-timeout 60000 -t 4 -w 2 -- "$hello"
scgiserver=$real_scgiserver
warm emfile /
base
limit=$(awk '/^Max open files/ { print $4 }' "/proc/$srv_pid/limits")
lib_spawn "$dir/emfile.idle" "$idle_conns" -t 10 200 "unix:$front" 3
idle=$lib_pid
near_limit() { [ "$(fd_count "$srv_pid")" -ge $((limit - 2)) ]; }
lib_wait_for 10 near_limit || true
lib_wait_for 10 grep -q '^held' "$dir/emfile.idle" || true
fds_full=$(fd_count "$srv_pid")
cpu0=$(cpu_ticks "$srv_pid")
t0=$(lib_now_ms)
req emfile-blocked -T 1500
sleep 1.5 # a window to measure the CPU in (not a synchronisation)
cpu=$(($(cpu_ticks "$srv_pid") - cpu0))
window=$(($(lib_now_ms) - t0))
tap_ok "$([ "$fds_full" -ge $((limit - 2)) ]; echo $?)" \
  "ulimit -n $limit: 200 idle clients take scgiserver's descriptors ($fds_full open)"
tap_ok "$([ $((cpu * 1000 / clk_tck)) -le $((window / 10)) ]; echo $?)" \
  "out of descriptors: no busy loop (CPU $((cpu * 1000 / clk_tck)) ms in $window ms, at most 10%)"
ok_if "out of descriptors: logged, not flooded ($(logged emfile 'cannot accept connections') lines)" \
  between 1 "$(logged emfile 'cannot accept connections')" 3
tap_diag "emfile: a request while out of descriptors: $req_line"
tap_diag "emfile: $(head -n 1 "$dir/emfile.idle")"
lib_stop "$idle"
t0=$(lib_now_ms)
serves() {
  "$slowpeer" request "unix:$front" -T 1000 2>/dev/null | grep -q '^status=200'
}
lib_wait_for 10 serves || true
ms=$(($(lib_now_ms) - t0))
ok_if "out of descriptors: requests are served again once the clients go ($ms ms)" serves
"$slowpeer" load "unix:$front" -c 2 -d 1000 >"$dir/emfile.after" 2>&1 || true
line=$(summary "$dir/emfile.after")
tap_ok "$([ "$(field requests "$line")" -ge 10 ] &&
          [ "$(field failed "$line")" = 0 ]; echo $?)" \
  "out of descriptors: then 1 s of load, all answered ($(field requests "$line") requests, $(field failed "$line") failed)"
back emfile
srv_stop
scenario_end

# The worker out of descriptors: one echo worker (64 open files, like
# scgiserver) takes up to 100 connections at once; 80 bodies trickle in,
# so it cannot receive some of the connections handed to it. Each one
# lost must still be reported done, or scgiserver would count its slot
# busy for good.
scenario_start emfile-worker
scgiserver=$dir/lowfd
WORKERS=1 srv_start emfile-worker --status-path /status -w 1 \
  --concurrency 100 --queue-timeout 1000 -- "$echo_bin" -t 100
scgiserver=$real_scgiserver
warm emfile-worker /
base
pids=""
for i in $(seq 80); do
  "$slowpeer" request "unix:$front" -u "/lost/$i" -l 1500 -b 1000 -T 10000 \
    >"$dir/lost-$i.res" 2>/dev/null &
  pids="$pids $!"
done
for p in $pids; do wait "$p" || true; done
ok=$(cat "$dir"/lost-*.res | grep -c '^status=200' || true)
lost=$(logged emfile-worker 'a connection was lost')
busy() {
  "$slowpeer" request "unix:$front" -u /status -o "$dir/status.out" \
    >/dev/null 2>&1 || true
  sed -n 's/^app default:.* busy=\([0-9]*\).*/\1/p' "$dir/status.out"
}
idle_again() { [ "$(busy)" = 0 ]; }
lib_wait_for 5 idle_again || true
tap_ok "$([ "$lost" -ge 1 ]; echo $?)" \
  "worker out of descriptors: it lost connections handed to it ($lost lost, $ok of 80 answered 200)"
is 0 "$(busy)" "worker out of descriptors: each lost connection frees its slot (busy slots once all ended)"
"$slowpeer" load "unix:$front" -c 2 -d 500 >"$dir/emfile-worker.after" 2>&1 ||
  true
line=$(summary "$dir/emfile-worker.after")
tap_ok "$([ "$(field requests "$line")" -ge 10 ] &&
          [ "$(field failed "$line")" = 0 ]; echo $?)" \
  "worker out of descriptors: then served again ($(field requests "$line") requests, $(field failed "$line") failed)"
back emfile-worker
srv_stop
scenario_end

# ---------------------------------------------------------------- 10 000 idle

scenario_start idle-10k
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
  tap_skip "10 000 idle connections" "open files limited to $(ulimit -n)"
else
  WORKERS=2 srv_start idle --header-timeout 60000 -t 4 -w 2 -- "$hello"
  warm idle /
  base
  lib_spawn "$dir/idle.idle" "$idle_conns" -t 20 "$IDLE_N" "unix:$front" 3
  idle=$lib_pid
  all_held() { [ "$(fd_count "$srv_pid")" -ge $((base_fds + IDLE_N)) ]; }
  t0=$(lib_now_ms)
  lib_wait_for 30 all_held || true
  held_ms=$(($(lib_now_ms) - t0))
  fds_held=$(fd_count "$srv_pid")
  rss_held=$(status_kb "$srv_pid" VmRSS)
  tap_ok "$([ "$fds_held" -ge $((base_fds + IDLE_N)) ]; echo $?)" \
    "$IDLE_N idle connections held by scgiserver ($((fds_held - base_fds)) more descriptors after $held_ms ms)"
  "$slowpeer" load "unix:$front" -c 1 -g 10 -T 3000 -d 2000 \
    >"$dir/idle.load" 2>&1 || true
  line=$(summary "$dir/idle.load")
  tap_ok "$([ "$(field requests "$line")" -ge 10 ] &&
            [ "$(field failed "$line")" = 0 ] &&
            [ "$(field max_ms "$line")" -lt 1000 ]; echo $?)" \
    "$IDLE_N idle connections: requests still served, each within 1 s ($(field requests "$line") requests, $(field failed "$line") failed, slowest $(field max_ms "$line") ms)"
  tap_diag "idle-10k: RSS $base_rss -> $rss_held KiB while held:" \
    "$(((rss_held - base_rss) * 1024 / IDLE_N)) bytes per connection;" \
    "requests meanwhile: $line"
  lib_stop "$idle"
  tap_diag "idle-10k: $(tr '\n' ' ' <"$dir/idle.idle")"
  back idle-10k
  srv_stop
fi
scenario_end

# ---------------------------------------------------------------- reloads

# 100 SIGHUPs in 10 s while clients keep asking both handoff modes.
scenario_start reload
cat >"$dir/reload.conf" <<EOF
drain-timeout = 3000
threads = 4
[app a]
exec = $hello
workers = 2
route = /
[app p]
exec = $hello
workers = 2
handoff = proxy
route = /p
EOF
WORKERS=4 srv_start reload -c "$dir/reload.conf" --runtime-dir "$dir/rt"
warm reload / /p
base
lib_spawn "$dir/reload-a.load" "$slowpeer" load "unix:$front" -c 2 -T 5000 \
  -d 600000 -u /
load_a=$lib_pid
lib_spawn "$dir/reload-p.load" "$slowpeer" load "unix:$front" -c 2 -T 5000 \
  -d 600000 -u /p
load_p=$lib_pid
t0=$(lib_now_ms)
for i in $(seq 100); do
  kill -s HUP "$srv_pid"
  # Signal i at t0 + i * 100 ms at the latest.
  left=$((t0 + i * 100 - $(lib_now_ms)))
  [ "$left" -le 0 ] || sleep "$(printf '0.%03d' "$left")"
done
hup_ms=$(($(lib_now_ms) - t0))
# Until the last reload is done and every old generation retired.
reloads() { logged reload 'reloaded: '; }
retired() { [ "$(logged reload 'retired')" -ge "$(reloads)" ]; }
sleep 0.2
lib_wait_for 20 retired || true
lib_stop "$load_a" TERM
lib_stop "$load_p" TERM
n=$(reloads)
tap_ok "$(between 10 "$n" 100; echo $?)" \
  "100 SIGHUPs in $hup_ms ms: $n reloads (signals that come during one merge)"
for m in a p; do
  line=$(summary "$dir/reload-$m.load")
  tap_ok "$([ "$(field requests "$line")" -ge 100 ] &&
            [ "$(field failed "$line")" = 0 ]; echo $?)" \
    "reloads under load ($([ $m = a ] && echo pass || echo proxy)): no request failed ($(field requests "$line") requests, $(field failed "$line") failed, slowest $(field max_ms "$line") ms)"
  tap_diag "reload ($m): $line"
  [ "$(field failed "$line")" = 0 ] ||
    grep -v '^requests=' "$dir/reload-$m.load" | head -n 5 | sed 's/^/#   /'
done
is "$n" "$(logged reload 'retired')" "reloads: every old generation retired"
is 1 "$(find "$dir/rt" -mindepth 1 -maxdepth 1 | grep -c . || true)" \
  "reloads: one proxy runtime directory left (the current generation's)"
back reload
srv_stop
scenario_end

# ---------------------------------------------------------------- uploads

cat >"$dir/uploads.conf" <<EOF
drain-timeout = 10000
threads = 4
[app fp]
exec = $form
workers = 2
route = /
[app fq]
exec = $form
workers = 2
handoff = proxy
route = /p
EOF
WORKERS=4 srv_start uploads -c "$dir/uploads.conf" --runtime-dir "$dir/rt"
for u in / / /p /p; do req warm-up -u "$u" -M -l 100000; done

# 1 GiB through each mode: the growth of scgiserver's and the workers'
# peak RSS (VmHWM after, less VmRSS before) stays under 8 MiB. Normal
# requests (form's page) go to the other worker meanwhile.
scenario_start upload-1g
probe_start uploads /
for m in pass proxy; do
  u=/
  [ $m = pass ] || u=/p
  declare -A rss0=()
  for p in "$srv_pid" $(lib_children "$srv_pid"); do
    rss0[$p]=$(status_kb "$p" VmRSS)
  done
  req "big-$m" -u "$u" -M -l 1073741824 -T 120000
  crc=$(field crc "$req_line")
  tap_ok "$([ "$(field status "$req_line")" = 200 ] &&
            grep -q "^FILE file data.bin 1073741824 $crc\$" "$dir/big-$m.out"
          echo $?)" \
    "1 GiB upload ($m): size and CRC-32 right ($crc; $(field total_ms "$req_line") ms)"
  worst=0 worst_of="" figures=""
  for p in "${!rss0[@]}"; do
    hwm=$(status_kb "$p" VmHWM)
    grow=$((hwm - rss0[$p]))
    [ "$grow" -le "$worst" ] || { worst=$grow; worst_of=$p; }
    if [ "$p" = "$srv_pid" ]; then
      figures="scgiserver ${rss0[$p]} -> $hwm;$figures"
    else
      figures="$figures worker $p ${rss0[$p]} -> $hwm;"
    fi
  done
  tap_ok "$([ "$worst" -lt 8192 ]; echo $?)" \
    "1 GiB upload ($m): peak RSS growth of scgiserver and its workers under 8 MiB (largest: $worst KiB, pid ${worst_of:-none})"
  tap_diag "upload-1g ($m): RSS before -> peak (VmHWM), KiB: ${figures%;}"
  unset rss0
done
probe_stop
scenario_end

# SIGTERM while two uploads per mode are under way (8 MiB each at 4 MB/s):
# they all complete, then scgiserver exits 0.
scenario_start drain
for i in 1 2 3 4; do
  u=/
  [ "$i" -le 2 ] || u=/p
  lib_spawn "$dir/drain-$i.res" "$slowpeer" request "unix:$front" -u "$u" \
    -M -l 8388608 -b 4000000 -T 30000 -o "$dir/drain-$i.out"
  eval "drain_$i=\$lib_pid"
done
started() {
  local i
  for i in 1 2 3 4; do
    grep -q 'body started' "$dir/drain-$i.res" || return 1
  done
}
lib_wait_for 10 started || true
sleep 0.3 # well into the bodies
t0=$(lib_now_ms)
kill -s TERM "$srv_pid"
sleep 0.2
req drain-late -T 3000
tap_ok "$([ "$(field status "$req_line")" != 200 ]; echo $?)" \
  "SIGTERM: a new request after it is not served ($(field status "$req_line"), $(field end "$req_line"))"
good=0
# shellcheck disable=SC2154 # set by eval
for i in 1 2 3 4; do
  eval "wait_pid \"\$drain_$i\""
  line=$(summary "$dir/drain-$i.res")
  crc=$(field crc "$line")
  if [ "$(field status "$line")" = 200 ] &&
     grep -q "^FILE file data.bin 8388608 $crc\$" "$dir/drain-$i.out"; then
    good=$((good + 1))
  fi
  tap_diag "drain: upload $i: $line"
done
is 4 "$good" "SIGTERM during 4 uploads (2 pass, 2 proxy): all complete, size and CRC-32 right"
not_running() { ! lib_running "$srv_pid"; }
lib_wait_for 15 not_running || true
ms=$(($(lib_now_ms) - t0))
srv_stop
scenario_end
tap_ok "$([ "$ms" -lt 10000 ]; echo $?)" \
  "SIGTERM: scgiserver gone within the drain timeout ($ms ms)"

# ---------------------------------------------------------------- after

# The worker SIGKILLed on purpose is logged as crashed: no other crash.
crashes=$(grep -a -h 'ERROR: \|runtime error\|Segmentation\|crashed' \
  "$dir"/*.log 2>/dev/null |
  grep -v "app kill: worker 0 (pid ${victim:-none}) crashed (signal 9)" || true)
tap_ok "$([ -z "$crashes" ]; echo $?)" \
  "no crash or sanitizer report in any log (but the worker killed on purpose)"
[ -z "$crashes" ] || printf '%s\n' "$crashes" | head -n 5 | sed 's/^/#   /'
tap_diag "whole test: $(($(lib_now_ms) - test_started_ms)) ms"

tap_done
