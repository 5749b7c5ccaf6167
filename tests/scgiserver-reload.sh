#!/usr/bin/env bash
# scgiserver-reload.sh - SIGHUP reload of scgiserver behind a real nginx:
# 20 reloads under load with no failed request, old workers gone and the
# descriptor count back to normal afterwards; an invalid config kept out
# (error with FILE:LINE, the old apps still serve); a new app and route
# taken in. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Needs nginx and curl; skipped when either is absent. Everything started
# is stopped by PID at exit, workers of scgiserver included.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

lib_find_nginx >/dev/null || tap_skip_all "nginx not installed"
command -v curl >/dev/null || tap_skip_all "curl not installed"

scgiserver=$top_builddir/scgiserver/scgiserver
echo_bin=$(cd "$(dirname "$top_builddir/examples/echo")" && pwd)/echo
[ -x "$scgiserver" ] || tap_bail "$scgiserver not built"
[ -x "$echo_bin" ] || tap_bail "$echo_bin not built"
badapp=$(cd "$(dirname "$top_builddir/tests/badapp")" && pwd)/badapp
[ -x "$badapp" ] || tap_bail "$badapp not built"

lib_tmpdir
dir=$lib_tmp
front=$dir/front.sock
conf=$dir/scgiserver.conf

mkdir "$dir/nginx"
body="location / { include scgi_params; scgi_pass unix:$front; }"
lib_nginx_up "$dir/nginx" "$body"

# is EXPECTED ACTUAL DESCRIPTION: a check that shows both values.
is() {
  tap_ok "$([ "$1" = "$2" ]; echo $?)" "$3 (expected $1, got $2)"
}

srv_pid=""
srv_seen=""
# Stops, by PID, every worker seen (at exit, also on failure).
kill_seen() {
  local p
  for p in $srv_seen; do
    lib_running "$p" && kill -s KILL "$p" 2>/dev/null
  done
  return 0
}
lib_at_exit kill_seen

kids() {
  local k
  k=$(lib_children "$srv_pid" | sort -n | tr '\n' ' ')
  srv_seen="$srv_seen $k"
  printf '%s\n' "${k% }"
}
nkids() { lib_children "$srv_pid" | grep -c . || true; }
nfds() { find "/proc/$srv_pid/fd" -mindepth 1 -maxdepth 1 | grep -c . || true; }
log_count() { grep -c -- "$1" "$dir/srv.log" || true; }
# For lib_wait_for, which runs its command again and again:
kids_are() { [ "$(nkids)" = "$1" ]; }
fds_at_most() { [ "$(nfds)" -le "$1" ]; }
logged_more() { [ "$(log_count "$1")" -ge "$2" ]; }

# get PATH: prints the HTTP status; the body goes to $dir/get.out.
get() {
  curl -sS --max-time 10 -o "$dir/get.out" -w '%{http_code}' \
    "$base$1" 2>/dev/null || true
}

# A pass app on /a (3 workers) and a proxy app on /p (2 workers).
write_conf() {
  cat >"$conf" <<EOF
# scgiserver-reload.sh
drain-timeout = 5000

[app a]
exec = $echo_bin
workers = 3
route = /a

[app p]
exec = $echo_bin
workers = 2
handoff = proxy
route = /p
EOF
}
write_conf
nworkers=5

lib_spawn "$dir/srv.log" "$scgiserver" -l "unix:$front" -c "$conf"
srv_pid=$lib_pid
lib_wait_socket "$front" "$srv_pid" ||
  { sed 's/^/# /' "$dir/srv.log"; tap_bail "scgiserver did not start"; }
lib_wait_for 5 kids_are "$nworkers" || true
is 200 "$(get /a/x)" "GET /a before any reload"
is 200 "$(get /p/x)" "GET /p before any reload"
is 404 "$(get /b/x)" "GET /b before any reload: no such route"
kids_before=$(kids)
fds_before=$(nfds)
tap_diag "workers: $kids_before; scgiserver fds: $fds_before"

# ------------------------------------------------- (1) reloads under load

# client N END_MS: requests until END_MS, alternating /a and /p; prints
# one line per request: "ok" or "bad ...".
client() {
  local n=$1 end=$2 i=0 code out path
  while [ "$(date +%s%3N)" -lt "$end" ]; do
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ]; then path=/a; else path=/p; fi
    out=$(curl -sS --max-time 10 -w '\n%{http_code}' \
      "$base$path/c$n?n=$n-$i" 2>&1) || true
    code=${out##*$'\n'}
    if [ "$code" = 200 ] &&
       [[ $out == *$'\n'"QUERY_STRING=n=$n-$i"$'\n'* ]]; then
      echo ok
    else
      echo "bad $path $n-$i: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
    fi
  done
}

reloads_before=$(log_count 'reloaded: ')
end=$(($(lib_now_ms) + 5000))
cpids=""
for n in 1 2 3 4 5 6 7 8; do
  client "$n" "$end" >"$dir/client$n.out" 2>&1 &
  cpids="$cpids $!"
done
sleep 0.5
for _ in $(seq 20); do
  kill -s HUP "$srv_pid"
  sleep "0.1$((RANDOM % 10))"
done
for p in $cpids; do wait "$p" || true; done
cat "$dir"/client*.out >"$dir/load.out"
total=$(grep -c . "$dir/load.out" || true)
bad=$(grep -vcx ok "$dir/load.out" || true)
# Signals coalesce: a SIGHUP that arrives while the previous reload is
# still being applied merges with the pending one, so a loaded machine logs
# fewer than 20 reloads. What must hold: reloads happened during the load,
# and the last SIGHUP was acted on (lib_wait_for lets it finish).
lib_wait_for 10 logged_more 'reloaded: ' $((reloads_before + 20)) || true
reloads=$(($(log_count 'reloaded: ') - reloads_before))
tap_ok "$([ "$reloads" -ge 2 ] && [ "$reloads" -le 20 ]; echo $?)" \
  "20 SIGHUPs under load: reloads happened ($reloads logged; coalescing allowed)"
# The request count depends on how loaded the machine is; a handful is
# enough to show that requests overlapped the reloads.
tap_ok "$([ "$bad" -eq 0 ] && [ "$total" -ge 16 ]; echo $?)" \
  "20 reloads under load: no failed request ($total requests, $bad failed)"
grep -v -x ok "$dir/load.out" | head -n 5 | sed 's/^/#   /'
tap_diag "$(grep -c 'reloaded: ' "$dir/srv.log") reloads, $total requests in 5 s by 8 clients"

# The old generations go away: workers and descriptors back to normal.
lib_wait_for 15 kids_are "$nworkers" || true
is "$nworkers" "$(nkids)" "after the reloads: scgiserver's children = configured workers"
kids_after=$(kids)
tap_ok "$([ "$kids_after" != "$kids_before" ]; echo $?)" \
  "after the reloads: the workers are new processes ($kids_after)"
same=$(comm -12 <(tr ' ' '\n' <<<"$kids_before" | sort) \
  <(tr ' ' '\n' <<<"$kids_after" | sort) | grep -c . || true)
is 0 "$same" "after the reloads: no worker of the first generation left"
lib_wait_for 5 fds_at_most $((fds_before + 2)) || true
fds_after=$(nfds)
tap_ok "$([ "$fds_after" -le $((fds_before + 2)) ]; echo $?)" \
  "after the reloads: scgiserver's fds back near baseline ($fds_before before, $fds_after after)"
tap_ok "$(lib_alive "$srv_pid"; echo $?)" "scgiserver still running"
is 0 "$(find "$dir" -maxdepth 1 -name 'core*' | grep -c . || true)" "no core file"
[ "$(log_count 'ERROR')" = 0 ] || grep ERROR "$dir/srv.log" | head -n 5 | sed 's/^/#   log: /'

# ------------------------------------------------- (2) an invalid config

kids_ok=$(kids)
reloads_before=$(log_count 'reloaded: ')
errors_before=$(log_count 'reload failed')
write_conf
printf 'workers = 2\nthis line is not valid\n' >>"$conf"
bad_line=$(grep -n 'this line is not valid' "$conf" | cut -d: -f1)
kill -s HUP "$srv_pid"
lib_wait_for 5 logged_more 'reload failed' $((errors_before + 1)) || true
tap_check "invalid config: error logged with FILE:LINE ($conf:$bad_line)" \
  grep -q -- "reload failed.*$conf:$bad_line:" "$dir/srv.log"
grep 'reload failed' "$dir/srv.log" | tail -n 1 | sed 's/^/#   log: /'
is "$reloads_before" "$(log_count 'reloaded: ')" "invalid config: nothing reloaded"
is 200 "$(get /a/y)" "invalid config: GET /a still served"
is 200 "$(get /p/y)" "invalid config: GET /p still served"
is "$kids_ok" "$(kids)" "invalid config: the same workers still run"

# ------------------------------------------------- (3) a new app and route

write_conf
cat >>"$conf" <<EOF

[app b]
exec = $echo_bin
workers = 1
route = /b
EOF
kill -s HUP "$srv_pid"
lib_wait_for 5 logged_more 'reloaded: ' $((reloads_before + 1)) || true
tap_check "new app: 'reloaded: 3 apps' logged" grep -q 'reloaded: 3 apps' "$dir/srv.log"
is 200 "$(get /b/z)" "new app: GET /b served"
tap_check "new app: by an echo worker (SCRIPT_NAME or DOCUMENT_URI /b/z)" \
  grep -q '=/b/z$' "$dir/get.out"
is 200 "$(get /a/z)" "new app: GET /a still served"
lib_wait_for 10 kids_are $((nworkers + 1)) || true
is $((nworkers + 1)) "$(nkids)" "new app: children = configured workers"
kids >/dev/null

# ------------------------------------------------- stop

# The final drain follows the drain-timeout of the last reload (5000 at
# startup, 300 now): a request of 2 s in progress at SIGTERM outlasts it.
reloads_before=$(log_count 'reloaded: ')
write_conf
sed -i 's/^drain-timeout = 5000$/drain-timeout = 300/' "$conf"
cat >>"$conf" <<EOF

[app s]
exec = $badapp slow 2000
workers = 1
route = /s
EOF
kill -s HUP "$srv_pid"
lib_wait_for 5 logged_more 'reloaded: ' $((reloads_before + 1)) || true
lib_wait_for 10 kids_are $((nworkers + 1)) || true
curl -s -o /dev/null --max-time 10 "$base/s/x" &
slow_curl=$!
lib_pids="$lib_pids $slow_curl"
sleep 0.5
lib_stop "$srv_pid" TERM
wait "$slow_curl" 2>/dev/null || true
tap_check "SIGTERM after a reload: the reloaded drain-timeout (300 ms) applies" \
  grep -q 'app s: 1 connections still in progress after the drain timeout' \
  "$dir/srv.log"
is 0 "$lib_status" "SIGTERM: exit status"
left=""
for p in $srv_seen; do
  lib_running "$p" && left="$left $p"
done
is "" "$left" "no worker left after exit"
if [ "$tap_failed" -ne 0 ]; then
  tail -n 30 "$dir/srv.log" | sed 's/^/#   log: /'
fi
tap_done
