#!/usr/bin/env bash
# scgiserver-status.sh - scgiserver's status page (status-path): text and
# JSON answers, counters that follow the requests sent, live busy/waiting/
# in-flight values under slow requests (pass and proxy), a config file with
# several apps (error counters, a reload that moves the page), bad values
# refused, and the path going to the app when no status-path is set. TAP
# output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Requests go straight to scgiserver's Unix socket with tests/rawsend; when
# nginx and curl are installed, the page is also fetched through nginx.
# Every scgiserver run is stopped with SIGTERM at the end of its section;
# everything started (workers included) is stopped by PID at exit.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/srv.sh"

scgiserver=$top_builddir/scgiserver/scgiserver
rawsend=$top_builddir/tests/rawsend
python=/usr/bin/python3
[ -x "$scgiserver" ] || tap_bail "$scgiserver not built"
[ -x "$rawsend" ] || tap_bail "$rawsend not built"
[ -x "$top_builddir/examples/echo" ] || tap_bail "examples/echo not built"
[ -x "$python" ] || tap_skip_all "no $python to check the JSON"
# Config files name PROGRAM: make it absolute.
echo_bin=$(cd "$top_builddir/examples" && pwd)/echo

lib_tmpdir
dir=$lib_tmp
front=$dir/front.sock
conf=$dir/scgiserver.conf

# ---------------------------------------------------------------- helpers

# make_request FILE URI [CONTENT_LENGTH]: an SCGI request for URI (its
# query, if any, also as QUERY_STRING), as nginx would send it.
make_request() {
  local file=$1 uri=$2 length=${3:-0} query=""
  case $uri in *\?*) query=${uri#*\?} ;; esac
  printf '%s\0' CONTENT_LENGTH "$length" SCGI 1 REQUEST_METHOD GET \
    REQUEST_URI "$uri" QUERY_STRING "$query" >"$file.h"
  { printf '%d:' "$(wc -c <"$file.h")"; cat "$file.h"; printf ','; } >"$file"
}

# send URI: the whole answer (CGI head and body) to standard output.
send() {
  make_request "$dir/req" "$1"
  "$rawsend" "unix:$front" "$dir/req" --timeout-ms 5000 2>/dev/null
}

# fetch NAME URI: the answer's head into $dir/NAME.head, its body into
# $dir/NAME.
fetch() {
  send "$2" >"$dir/$1.raw" || true
  sed -n '/^\r\{0,1\}$/q;p' "$dir/$1.raw" | tr -d '\r' >"$dir/$1.head"
  sed '1,/^\r\{0,1\}$/d' "$dir/$1.raw" >"$dir/$1"
}

# val FILE KEY: the value of a "KEY: VALUE" line of a text page.
val() {
  awk -F': ' -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# app_val FILE APP KEY: KEY=VALUE of the "app APP: ..." line.
app_val() {
  awk -v a="app $2:" -v k="$3" '
    index($0, a) == 1 {
      for (i = 3; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == k) { print kv[2]; exit }
      }
    }' "$1"
}

# json FILE EXPR: prints the Python expression EXPR on the parsed page `d`
# (fails on malformed JSON).
json() {
  "$python" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# slow N: N requests announcing a 10-byte body that never comes, held open
# (examples/echo -T gives up on each after its read timeout); their PIDs in
# slow_pids.
slow() {
  local i
  make_request "$dir/slow" /slow 10
  slow_pids=""
  for i in $(seq "$1"); do
    "$rawsend" "unix:$front" "$dir/slow" --keep-open --timeout-ms 10000 \
      >"$dir/slow$i.out" 2>&1 &
    slow_pids="$slow_pids $!"
    lib_pids="$lib_pids $!"
  done
}
slow_wait() {
  local p
  for p in $slow_pids; do
    wait "$p" 2>/dev/null || true
  done
}

# status_has APP KEY VALUE: the text page shows KEY=VALUE for APP now.
# Counts the pages fetched in `polls`.
polls=0
status_has() {
  polls=$((polls + 1))
  fetch poll /status
  [ "$(app_val "$dir/poll" "$1" "$2")" = "$3" ]
}

version=$("$scgiserver" --version | awk '{ print $NF }')

# ------------------------------------------------- (1) text page, counters

srv_start pass --status-path /status -w 2 -t 8 -- "$echo_bin" -T 1500

fetch s1 /status
is "Status: 200 OK" "$(sed -n 1p "$dir/s1.head")" "GET /status: answered 200"
tap_ok "$(grep -qx 'Content-Type: text/plain; charset=utf-8' \
          "$dir/s1.head"; echo $?)" "  Content-Type: text/plain; charset=utf-8"
tap_ok "$(grep -qx 'Cache-Control: no-store' "$dir/s1.head"; echo $?)" \
  "  Cache-Control: no-store"
is "$version" "$(val "$dir/s1" version)" "  version"
is "$srv_pid" "$(val "$dir/s1" pid)" "  pid"
now=$(date +%s)
start=$(val "$dir/s1" start_time)
tap_ok "$([ "$start" -le "$now" ] && [ "$start" -ge $((now - 60)) ]
          echo $?)" "  start_time is a recent epoch time ($start, now $now)"
tap_ok "$([ "$(val "$dir/s1" uptime)" -ge 0 ] &&
          [ "$(val "$dir/s1" uptime)" -le 60 ]; echo $?)" \
  "  uptime in seconds ($(val "$dir/s1" uptime))"
is 1 "$(val "$dir/s1" in_flight)" "  in_flight: the status request alone"
is pass "$(app_val "$dir/s1" default mode)" "  app default: mode"
is 2 "$(app_val "$dir/s1" default workers)" "  app default: workers"
is 2 "$(app_val "$dir/s1" default alive)" "  app default: alive"
is 0 "$(app_val "$dir/s1" default busy)" "  app default: busy"

sent=5
ok=0
for i in $(seq $sent); do
  send "/x$i?n=$i" | grep -q "^REQUEST_URI=/x$i?n=$i\$" && ok=$((ok + 1))
done
is $sent "$ok" "$sent requests to /xN answered by the app"
served1=$(app_val "$dir/s1" default served)
polls=0
lib_wait_for 5 status_has default served $((served1 + sent)) || true
fetch s2 /status
t1=$(val "$dir/s1" requests_total)
is $((t1 + sent + polls + 1)) "$(val "$dir/s2" requests_total)" \
  "requests_total grew by the requests sent and the $((polls + 1)) status pages"
is $(($(val "$dir/s1" requests_handed_off) + sent)) \
  "$(val "$dir/s2" requests_handed_off)" "requests_handed_off grew by $sent"
is $(($(val "$dir/s1" requests_2xx) + polls + 1)) \
  "$(val "$dir/s2" requests_2xx)" "requests_2xx: the status pages"
is $(($(app_val "$dir/s1" default requests) + sent)) \
  "$(app_val "$dir/s2" default requests)" "app default: requests grew by $sent"
is $((served1 + sent)) \
  "$(app_val "$dir/s2" default served)" "app default: served grew by $sent"

# Only the exact path is the status page.
for p in /status/ /status/x /statusx /Status; do
  is "REQUEST_URI=$p" "$(send "$p" | grep -a "^REQUEST_URI=")" \
    "$p goes to the app"
done

# ------------------------------------------------- (2) JSON

fetch j1 '/status?json'
is "Status: 200 OK" "$(sed -n 1p "$dir/j1.head")" "GET /status?json: 200"
tap_ok "$(grep -qx 'Content-Type: application/json' "$dir/j1.head"; echo $?)" \
  "  Content-Type: application/json"
tap_ok "$(grep -qx 'Cache-Control: no-store' "$dir/j1.head"; echo $?)" \
  "  Cache-Control: no-store"
tap_check "  the body parses as JSON" \
  "$python" -c 'import json, sys; json.load(sys.stdin)' <"$dir/j1"
fetch s3 /status
is "$(val "$dir/s3" requests_total)" \
  "$(($(json "$dir/j1" 'd["requests"]["total"]') + 1))" \
  "  requests.total: one less than the text page fetched next"
is "int int int int int" \
  "$(json "$dir/j1" '" ".join(type(v).__name__ for v in (d["pid"], d["uptime"], d["requests"]["2xx"], d["apps"][0]["alive"], d["apps"][0]["errors"]["502"]))')" \
  "  numbers are JSON numbers"
is "$version $srv_pid default pass 2 2" \
  "$(json "$dir/j1" '" ".join(str(x) for x in (d["version"], d["pid"], d["apps"][0]["name"], d["apps"][0]["mode"], d["apps"][0]["workers"], d["apps"][0]["alive"]))')" \
  "  version, pid, apps[0] name, mode, workers, alive"
is "0 0 0 0" \
  "$(json "$dir/j1" '" ".join(str(d["apps"][0]["errors"][k]) for k in ("503_queue_full", "503_timeout", "502", "504"))')" \
  "  apps[0].errors: none"
# Another query is the text page.
fetch q1 '/status?full'
tap_ok "$(grep -qx 'Content-Type: text/plain; charset=utf-8' "$dir/q1.head" &&
          [ -n "$(val "$dir/q1" requests_total)" ]; echo $?)" \
  "GET /status?full: the text page"

# ------------------------------------------------- (3) through nginx

if lib_find_nginx >/dev/null && command -v curl >/dev/null; then
  mkdir "$dir/nginx"
  lib_nginx_up "$dir/nginx" \
    "location / { include scgi_params; scgi_pass unix:$front; }"
  code=$(curl -sS --max-time 10 -D "$dir/n1.head" -o "$dir/n1" \
    -w '%{http_code}' "$base/status" 2>/dev/null) || true
  tap_ok "$([ "$code" = 200 ] && grep -qi '^Cache-Control: no-store' \
            "$dir/n1.head" && [ "$(val "$dir/n1" pid)" = "$srv_pid" ]
            echo $?)" "nginx: GET /status: 200, no-store, the text page"
  code=$(curl -sS --max-time 10 -D "$dir/n2.head" -o "$dir/n2" \
    -w '%{http_code}' "$base/status?json" 2>/dev/null) || true
  tap_ok "$([ "$code" = 200 ] && grep -qi '^Content-Type: application/json' \
            "$dir/n2.head" && json "$dir/n2" 'd["apps"][0]["alive"]' |
            grep -qx 2; echo $?)" \
    "nginx: GET /status?json: 200, application/json, apps[0].alive 2"
  code=$(curl -sS --max-time 10 -o "$dir/n3" -w '%{http_code}' \
    "$base/status/x" 2>/dev/null) || true
  tap_ok "$([ "$code" = 200 ] && grep -qx 'DOCUMENT_URI=/status/x' "$dir/n3"
            echo $?)" "nginx: GET /status/x goes to the app"
  lib_stop "$lib_nginx_pid"
else
  tap_skip "nginx: the page through nginx" "no nginx or curl"
fi

# ------------------------------------------------- (4) live values, pass

# 4 slow requests, 2 workers of concurrency 1: 2 in the workers (handed
# off: no longer in scgiserver's hands), 2 front threads waiting for one.
slow 4
lib_wait_for 5 status_has default waiting 2 || true
fetch l1 /status
is 2 "$(app_val "$dir/l1" default busy)" "pass, 4 slow requests: busy"
is 2 "$(app_val "$dir/l1" default waiting)" "  waiting"
is 3 "$(val "$dir/l1" in_flight)" "  in_flight: 2 waiting and the status request"
is 2 "$(app_val "$dir/l1" default alive)" "  alive"
slow_wait
lib_wait_for 5 status_has default busy 0 || true
fetch l2 /status
is "0 0 1" "$(app_val "$dir/l2" default busy) $(app_val "$dir/l2" default waiting) $(val "$dir/l2" in_flight)" \
  "  once they are through: busy, waiting, in_flight"
is $(($(val "$dir/l1" requests_handed_off) + 2)) \
  "$(val "$dir/l2" requests_handed_off)" "  the 2 waiting ones handed off since"
srv_stop

# ------------------------------------------------- (5) live values, proxy

srv_start proxy --status-path /status --handoff proxy -w 2 -t 8 \
  -- "$echo_bin" -T 1500
slow 4
lib_wait_for 5 status_has default waiting 2 || true
fetch p1 '/status?json'
is "proxy 2 2 5" \
  "$(json "$dir/p1" '" ".join(str(x) for x in (d["apps"][0]["mode"], d["apps"][0]["busy"], d["apps"][0]["waiting"], d["in_flight"]))')" \
  "proxy, 4 slow requests: mode, busy, waiting, in_flight (4 relayed or waiting, and the status request)"
slow_wait
fetch p2 /status
is "0 1" "$(app_val "$dir/p2" default busy) $(val "$dir/p2" in_flight)" \
  "  once they are through: busy, in_flight"
is 4 "$(($(val "$dir/p2" requests_5xx) + $(val "$dir/p2" requests_reset)))" \
  "  the 4 (echo gave up on their bodies) counted as 5xx or reset"
srv_stop

# ------------------------------------------------- (6) config file

cat >"$conf" <<EOF
# scgiserver-status.sh
status-path = /st

[app alpha]
exec = $echo_bin
workers = 2
route = /a

[app beta]
exec = $echo_bin
workers = 1
handoff = proxy
route = /b

[app gamma]
connect = unix:$dir/nobody-listens.sock
route = /c
EOF
WORKERS=3 srv_start conf -c "$conf"
send /a/1 >/dev/null
send /b/1 >/dev/null
send /b/2 >/dev/null
is "Status: 502 Bad Gateway" "$(send /c/1 | head -n 1 | tr -d '\r')" \
  "/c: an unreachable connect app: 502"
is "Status: 404 Not Found" "$(send /nowhere | head -n 1 | tr -d '\r')" \
  "/nowhere: 404"
fetch c1 /st
is "pass proxy connect" "$(app_val "$dir/c1" alpha mode) $(app_val \
  "$dir/c1" beta mode) $(app_val "$dir/c1" gamma mode)" \
  "three apps listed with their modes"
is "2 1" "$(app_val "$dir/c1" alpha alive) $(app_val "$dir/c1" beta alive)" \
  "  alive workers: alpha, beta"
is "1 2 1" "$(app_val "$dir/c1" alpha requests) $(app_val "$dir/c1" beta \
  requests) $(app_val "$dir/c1" gamma requests)" "  requests per app"
is "1 0" "$(app_val "$dir/c1" gamma 502) $(app_val "$dir/c1" alpha 502)" \
  "  502 counted for gamma only"
is "" "$(app_val "$dir/c1" gamma workers)" "  no worker counters for a connect app"
is "1 1 1" "$(val "$dir/c1" requests_4xx) $(val "$dir/c1" requests_5xx) $(val \
  "$dir/c1" requests_handed_off)" "  requests_4xx, _5xx, _handed_off"
fetch c2 '/st?json'
is "alpha beta gamma" \
  "$(json "$dir/c2" '" ".join(a["name"] for a in d["apps"])')" \
  "  JSON: both exec apps and the connect app, in config order"
is "1 None" \
  "$(json "$dir/c2" '" ".join(str(x) for x in (d["apps"][2]["errors"]["502"], d["apps"][2].get("busy")))')" \
  "  JSON: gamma's 502, no busy"

# A reload may move the page: /st then goes to routing (404 here).
sed -i 's|^status-path = /st$|status-path = /st2|' "$conf"
kill -s HUP "$srv_pid"
st2_is_status() { fetch r1 /st2; [ -n "$(val "$dir/r1" requests_total)" ]; }
tap_check "reload: status-path /st2 answers" lib_wait_for 10 st2_is_status
is "1 0" "$(val "$dir/r1" generation) $(app_val "$dir/r1" alpha requests)" \
  "  generation 1, the new table's app counters start at 0"
is "Status: 404 Not Found" "$(send /st | head -n 1 | tr -d '\r')" \
  "  /st is routed again (404)"
srv_stop

# ------------------------------------------------- (7) refused values

rc=0
"$scgiserver" -l "unix:$front" --status-path nostatus -- "$echo_bin" \
  >"$dir/bad1.log" 2>&1 || rc=$?
is "2 scgiserver: --status-path 'nostatus': must start with '/'" \
  "$rc $(cat "$dir/bad1.log")" "--status-path nostatus: exit 2, one line"
printf 'status-path = nostatus\n[app a]\nexec = %s\n' "$echo_bin" \
  >"$dir/bad2.conf"
rc=0
"$scgiserver" -l "unix:$front" -c "$dir/bad2.conf" >"$dir/bad2.log" 2>&1 ||
  rc=$?
is "2 scgiserver: $dir/bad2.conf:1: status-path 'nostatus': must start with '/'" \
  "$rc $(cat "$dir/bad2.log")" "config status-path = nostatus: exit 2, FILE:LINE"
printf '[app a]\nexec = %s\nstatus-path = /st\n' "$echo_bin" >"$dir/bad3.conf"
rc=0
"$scgiserver" -l "unix:$front" -c "$dir/bad3.conf" >"$dir/bad3.log" 2>&1 ||
  rc=$?
tap_ok "$([ "$rc" = 2 ] && grep -q "bad3.conf:3: 'status-path' is a global key" \
          "$dir/bad3.log"; echo $?)" \
  "status-path in an [app]: exit 2 (got $rc: $(head -c 200 "$dir/bad3.log"))"
tap_ok "$("$scgiserver" --help | grep -q -- '--status-path PATH'; echo $?)" \
  "--help lists --status-path"

# ------------------------------------------------- (8) no status-path

srv_start none -w 2 -- "$echo_bin"
fetch n1 /status
tap_ok "$(grep -qx 'REQUEST_URI=/status' "$dir/n1" &&
          [ -z "$(val "$dir/n1" requests_total)" ]; echo $?)" \
  "no status-path: /status goes to the app"
fetch n2 '/scgiserver-status?json'
tap_ok "$(grep -qx 'REQUEST_URI=/scgiserver-status?json' "$dir/n2"; echo $?)" \
  "no status-path: /scgiserver-status?json goes to the app"
srv_stop

tap_done
