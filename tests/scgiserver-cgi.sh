#!/usr/bin/env bash
# scgiserver-cgi.sh - CGI mode (--cgi DIR, cgi = DIR): shell and Python CGI
# programs of tests/cgi-bin served through a real nginx with Debian's
# stock scgi_params; CGI variables, Status and Location, bodies both ways,
# standard error in the log, programs that fail (bad output, no output,
# no #!, killed, too slow), paths refused (not executable, hidden, '..',
# symbolic links out of the directory), the cap on programs running at
# once, and a config file app below a route with the path splits of
# nginx, lighttpd and Apache. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Requests that nginx would normalize away ('..') go straight to
# scgiserver's socket with tests/rawsend. Everything started is stopped by
# PID at exit.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/srv.sh"

scgiserver=$top_builddir/scgiserver/scgiserver
rawsend=$top_builddir/tests/rawsend
[ -x "$scgiserver" ] || tap_bail "$scgiserver not built"
[ -x "$rawsend" ] || tap_bail "$rawsend not built"
[ -x /usr/bin/python3 ] || tap_skip_all "no /usr/bin/python3 for the Python CGI programs"
lib_find_nginx >/dev/null || tap_skip_all "nginx is not installed"
command -v curl >/dev/null || tap_skip_all "curl is not installed"

lib_tmpdir
dir=$lib_tmp
front=$dir/front.sock
cgi=$dir/cgi-bin
log=$dir/cgi.log   # scgiserver's log (srv_start cgi)

# The programs, executable, with what the refusals need next to them.
cp -R "$top_srcdir/tests/cgi-bin" "$cgi"
chmod -R u+w "$cgi"
find "$cgi" -type f -exec chmod 0755 {} +
chmod 0644 "$cgi/plain.sh"
mkdir -p "$dir/outside" "$cgi/.hidden"
cp "$cgi/env.sh" "$dir/outside/evil.sh"
cp "$cgi/env.sh" "$cgi/.hidden/env.sh"
ln -s "$dir/outside/evil.sh" "$cgi/out.sh"
ln -s "$dir/outside" "$cgi/outdir"
ln -s sub/deep.sh "$cgi/in.sh"

# get NAME PATH [CURL ARGS...]: through nginx; head in $dir/NAME.head,
# body in $dir/NAME, curl's exit status in $dir/NAME.rc.
get() {
  local name=$1 path=$2 rc=0
  shift 2
  curl -s -H 'Expect:' -D "$dir/$name.head" -o "$dir/$name" --max-time 20 "$@" \
    "$base$path" || rc=$?
  echo "$rc" >"$dir/$name.rc"
  tr -d '\r' <"$dir/$name.head" >"$dir/$name.h" 2>/dev/null || true
}
code() { awk 'NR == 1 { print $2 }' "$dir/$1.h"; }
header() { awk -v n="$2" 'tolower($1) == tolower(n ":") { sub(/^[^:]*: /, ""); print; exit }' "$dir/$1.h"; }
has() { grep -qF -- "$2" "$dir/$1"; }
logged() { grep -qF -- "$1" "$log"; }

# raw NAME VAR VALUE...: an SCGI request with these variables (after
# CONTENT_LENGTH 0 and SCGI 1) straight to scgiserver; the answer in
# $dir/NAME.
raw() {
  local name=$1
  shift
  printf '%s\0' CONTENT_LENGTH 0 SCGI 1 REQUEST_METHOD GET "$@" >"$dir/$name.req.h"
  { printf '%d:' "$(wc -c <"$dir/$name.req.h")"; cat "$dir/$name.req.h"
    printf ','; } >"$dir/$name.req"
  "$rawsend" "unix:$front" "$dir/$name.req" --timeout-ms 10000 \
    >"$dir/$name" 2>/dev/null || true
}
raw_status() { head -n 1 "$dir/$1" | tr -d '\r'; }

# gone PID...: none of these processes exists any more.
gone() {
  local p
  for p in "$@"; do
    kill -0 "$p" 2>/dev/null && return 1
  done
  return 0
}

# --------------------------------------------------------------- (1) basics

# A variable of scgiserver's own environment, which programs must not see.
export SCGISERVER_TEST_MARK=1
# nginx connects over TCP, where a cut response can be told by a reset
# (a Unix socket has only a normal end).
sport=$(lib_free_port)
WORKERS=0 srv_start cgi --cgi "$cgi" -w 2 --app-timeout 1500 \
  --queue-timeout 300 --header-timeout 1000 --status-path /status \
  -l "127.0.0.1:$sport"
lib_nginx_up "$dir/nginx" "location / { include scgi_params; scgi_pass 127.0.0.1:$sport; }"

get hello '/hello.py?x=1&y=two'
is 200 "$(code hello)" "hello.py: 200"
is hello "$(header hello X-Script)" "  its own header line"
is "text/plain; charset=utf-8" "$(header hello Content-Type)" "  its Content-Type"
tap_ok "$(has hello 'REQUEST_METHOD=GET'; echo $?)" "  REQUEST_METHOD=GET"
tap_ok "$(has hello 'QUERY_STRING=x=1&y=two'; echo $?)" "  QUERY_STRING"
tap_ok "$(has hello 'SCRIPT_NAME=/hello.py'; echo $?)" "  SCRIPT_NAME"
tap_ok "$(has hello 'PATH_INFO=(unset)'; echo $?)" "  no PATH_INFO"
tap_ok "$(has hello 'GATEWAY_INTERFACE=CGI/1.1'; echo $?)" "  GATEWAY_INTERFACE"
tap_ok "$(has hello 'cwd=cgi-bin'; echo $?)" "  runs in its own directory"

get info /hello.py/a/b%20c
tap_ok "$(has info 'SCRIPT_NAME=/hello.py'; echo $?)" "/hello.py/a/b%20c: SCRIPT_NAME"
tap_ok "$(has info 'PATH_INFO=/a/b c'; echo $?)" "  PATH_INFO decoded (nginx's DOCUMENT_URI)"

get deep /sub/deep.sh/x
is "deep /x" "$(cat "$dir/deep")" "/sub/deep.sh/x: a program in a subdirectory"
get inlink /in.sh/y
is "deep /y" "$(cat "$dir/inlink")" "/in.sh: a symbolic link inside the directory"

get env /env.sh -H 'Proxy: http://evil.example:1' -H 'Cookie: a=1' \
  -H 'X-Custom: v'
is 200 "$(code env)" "env.sh: 200"
tap_ok "$(! grep -q '^HTTP_PROXY=' "$dir/env"; echo $?)" \
  "  no HTTP_PROXY from a Proxy: header (httpoxy)"
tap_ok "$(grep -qx 'HTTP_X_CUSTOM=v' "$dir/env"; echo $?)" "  other headers as HTTP_*"
tap_ok "$(grep -qx 'HTTP_COOKIE=a=1' "$dir/env"; echo $?)" "  HTTP_COOKIE"
tap_ok "$(! grep -q '^SCGI=' "$dir/env"; echo $?)" "  no SCGI variable"
tap_ok "$(! grep -q '^SCGISERVER_TEST_MARK=' "$dir/env"; echo $?)" \
  "  nothing of scgiserver's own environment"
tap_ok "$(grep -qx 'PATH=/usr/local/bin:/usr/bin:/bin' "$dir/env"; echo $?)" "  a fixed PATH"
tap_ok "$(grep -qx "SCRIPT_FILENAME=$(cd "$cgi" && pwd -P)/env.sh" "$dir/env"
          echo $?)" "  SCRIPT_FILENAME: its real path"
tap_ok "$(grep -q '^SERVER_SOFTWARE=scgiserver/' "$dir/env"; echo $?)" \
  "  SERVER_SOFTWARE (nginx's scgi_params sends none)"
tap_ok "$(grep -qx 'REMOTE_ADDR=127.0.0.1' "$dir/env"; echo $?)" "  REMOTE_ADDR"

get teapot /status.sh
is 418 "$(code teapot)" "Status: 418 I am a teapot: answered 418"
is "short and stout" "$(cat "$dir/teapot")" "  its body"
is 16 "$(header teapot Content-Length)" "  a short body written at once gets its Content-Length"
get moved /redirect.sh
is 302 "$(code moved)" "Location without Status: 302"
is https://example.org/moved "$(header moved Location)" "  Location passed on"

head -c 5242880 /dev/urandom >"$dir/upload"
get echo /echo.py --data-binary "@$dir/upload" -H 'Content-Type: application/octet-stream'
is 5242880 "$(header echo X-Length)" "echo.py: the program read the 5 MiB body"
tap_ok "$(cmp -s "$dir/upload" "$dir/echo"; echo $?)" "  and sent it back byte for byte"
get big /big.sh
is 3145728 "$(wc -c <"$dir/big")" "big.sh: a 3 MiB body arrives whole"
head -c 2097152 /dev/zero >"$dir/zeros"
get noread /noread.sh --data-binary "@$dir/zeros"
is 200 "$(code noread)" "noread.sh: a 2 MiB body it never reads: 200"
is "not read" "$(cat "$dir/noread")" "  its answer"

get err /stderr.sh
is ok "$(cat "$dir/err")" "stderr.sh: its response"
tap_ok "$(logged '/stderr.sh: warning: the frobnicator is low'; echo $?)" \
  "  its standard error in the log, with the program's name"
tap_ok "$(logged '/stderr.sh: a control?byte'; echo $?)" \
  "  control bytes of standard error shown as '?'"

# ------------------------------------------------------------ (2) failures

get garbage /garbage.sh
is 502 "$(code garbage)" "garbage.sh (no header block): 502"
tap_ok "$(logged 'not a CGI response'; echo $?)" "  logged"
get silent /silent.sh
is 502 "$(code silent)" "silent.sh (exits 3, no output): 502"
tap_ok "$(logged '/silent.sh: it wrote no response'; echo $?)" "  logged"
tap_ok "$(logged 'exited with status 3'; echo $?)" "  its exit status logged"
get noshebang /noshebang
is 502 "$(code noshebang)" "a program without #!: 502 (no shell runs it)"
tap_ok "$(logged 'Exec format error'; echo $?)" "  logged"
get cut /cut.sh
tap_ok "$([ "$(cat "$dir/cut.rc")" != 0 ] || [ "$(wc -c <"$dir/cut")" -lt 300000 ]
          echo $?)" "cut.sh (killed mid-body): the client sees an error, not a whole response (curl $(cat "$dir/cut.rc"), $(wc -c <"$dir/cut") bytes)"
tap_ok "$(logged 'was killed by signal 9'; echo $?)" "  logged"

started=$(lib_now_ms)
get slow '/sleep.sh?30'
took=$(($(lib_now_ms) - started))
is 504 "$(code slow)" "sleep.sh past --app-timeout 1500: 504"
tap_ok "$([ "$took" -lt 10000 ]; echo $?)" "  after the timeout, not the program's 30 s ($took ms)"
read -r sh_pid sleep_pid <"$cgi/sleep.pid"
tap_ok "$(lib_wait_for 5 gone "$sh_pid" "$sleep_pid"; echo $?)" \
  "  the program and its child are killed (process group)"
tap_ok "$(logged 'still running after 1500 ms'; echo $?)" "  logged"
get late /late.sh
tap_ok "$([ "$(cat "$dir/late.rc")" != 0 ]; echo $?)" \
  "late.sh (silent after its header block): the connection is reset at the timeout (curl $(cat "$dir/late.rc"))"

# A CONTENT_LENGTH of 100 with 10 bytes sent, then the end: the program
# must not answer as if it had the whole body.
printf '%s\0' CONTENT_LENGTH 100 SCGI 1 REQUEST_METHOD POST \
  REQUEST_URI /echo.py DOCUMENT_URI /echo.py >"$dir/short.h"
{ printf '%d:' "$(wc -c <"$dir/short.h")"; cat "$dir/short.h"; printf ',0123456789'
} >"$dir/short.req"
"$rawsend" "unix:$front" "$dir/short.req" --timeout-ms 10000 >"$dir/short" \
  2>/dev/null || true
tap_ok "$(! grep -q 'X-Length' "$dir/short"; echo $?)" \
  "a body shorter than CONTENT_LENGTH: no answer from the program ($(raw_status short))"
tap_ok "$(logged 'could not be read whole'; echo $?)" "  logged"
# The same, the connection kept open: the body stops arriving, and after
# --header-timeout (the wait allowed for each body read) the answer is 408.
"$rawsend" "unix:$front" "$dir/short.req" --keep-open --timeout-ms 10000 \
  >"$dir/stall" 2>/dev/null || true
is "Status: 408 Request Timeout" "$(raw_status stall)" \
  "a body that stops arriving: 408 after --header-timeout"

# ------------------------------------------------------------ (3) refusals

get plain /plain.sh
is 403 "$(code plain)" "not executable: 403"
get missing /nope.sh
is 404 "$(code missing)" "no such program: 404"
get subdir /sub
is 404 "$(code subdir)" "a directory: 404"
get hidden /.hidden/env.sh
is 404 "$(code hidden)" "in a hidden directory: 404"
get outlink /out.sh
is 403 "$(code outlink)" "a symbolic link out of the directory: 403"
get outdir /outdir/evil.sh
is 403 "$(code outdir)" "through a linked directory out of it: 403"
raw dotdot REQUEST_URI /../outside/evil.sh
is "Status: 400 Bad Request" "$(raw_status dotdot)" "'..' in the path (raw SCGI): 400"
raw encoded REQUEST_URI /%2e%2e/outside/evil.sh
is "Status: 400 Bad Request" "$(raw_status encoded)" "'%2e%2e' decoded, then refused: 400"
raw docuri DOCUMENT_URI /sub/../env.sh REQUEST_URI /x
is "Status: 400 Bad Request" "$(raw_status docuri)" "'..' in DOCUMENT_URI: 400"
tap_ok "$(logged "404 for /nope.sh: no such file"; echo $?)" "refusals are logged with the reason"

# ------------------------------------------------- (4) programs at once (-w 2)

for i in 1 2; do
  curl -s -o "$dir/held$i" --max-time 20 "$base/sleep.sh?1" &
  lib_pids="$lib_pids $!"
  eval "held_pid$i=$!"
done
busy_is_2() {
  curl -s -o "$dir/st" --max-time 5 "$base/status" &&
    grep -q 'mode=cgi.* busy=2 ' "$dir/st"
}
tap_ok "$(lib_wait_for 5 busy_is_2; echo $?)" "two programs running: the status page shows busy=2"
get third '/sleep.sh?1'
is 503 "$(code third)" "a third request while -w 2 are running: 503 after --queue-timeout"
is 1 "$(header third Retry-After)" "  with Retry-After"
# shellcheck disable=SC2154 # set by eval above
wait "$held_pid1" "$held_pid2" || true
is "slept slept" "$(cat "$dir/held1" "$dir/held2" | tr '\n' ' ' | sed 's/ $//')" \
  "  the two running ones finish normally"
get st /status
tap_ok "$(grep -q 'app default: mode=cgi requests=' "$dir/st"; echo $?)" "status page: mode=cgi"
tap_ok "$(grep -q 'crashes=[1-9]' "$dir/st" && grep -q '504=[1-9]' "$dir/st"
          echo $?)" "  failed programs and timeouts counted"

srv_stop
lib_stop "$lib_nginx_pid"

# ---------------------------------------- (5) config file, below a route

cat >"$dir/scgiserver.conf" <<EOF
[app scripts]
cgi = $cgi
route = /cgi-bin
workers = 3
EOF
WORKERS=0 srv_start conf -c "$dir/scgiserver.conf"
raw nginx_style DOCUMENT_URI /cgi-bin/hello.py/p REQUEST_URI /cgi-bin/hello.py/p
tap_ok "$(grep -q 'SCRIPT_NAME=/cgi-bin/hello.py' "$dir/nginx_style" &&
          grep -q 'PATH_INFO=/p' "$dir/nginx_style"; echo $?)" \
  "route /cgi-bin, nginx's DOCUMENT_URI: the program below the route, PATH_INFO /p"
raw lighttpd_style SCRIPT_NAME /cgi-bin PATH_INFO /hello.py/p REQUEST_URI /cgi-bin/hello.py/p
tap_ok "$(grep -q 'SCRIPT_NAME=/cgi-bin/hello.py' "$dir/lighttpd_style" &&
          grep -q 'PATH_INFO=/p' "$dir/lighttpd_style"; echo $?)" \
  "  lighttpd's SCRIPT_NAME + PATH_INFO split: the same"
raw apache_style SCRIPT_NAME /cgi-bin/hello.py/p REQUEST_URI /cgi-bin/hello.py/p
tap_ok "$(grep -q 'SCRIPT_NAME=/cgi-bin/hello.py' "$dir/apache_style" &&
          grep -q 'PATH_INFO=/p' "$dir/apache_style"; echo $?)" \
  "  Apache's whole path in SCRIPT_NAME: the same"
raw outside_route DOCUMENT_URI /hello.py REQUEST_URI /hello.py
is "Status: 404 Not Found" "$(raw_status outside_route)" "  a path outside the route: 404"
srv_stop

tap_done
