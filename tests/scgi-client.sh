#!/usr/bin/env bash
# scgi-client.sh - the scgi command-line client against our examples
# (examples/echo on a Unix socket, examples/hello on TCP), scgiserver (for
# a 404), uWSGI (an SCGI server not written here) and small Python
# listeners that misbehave: the request's variables and body as the
# application sees them, byte-exact binary bodies, the options, the exit
# statuses. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Every scgi run is bounded by timeout(1); every server runs on a Unix
# socket in the test's directory or on a free 127.0.0.1 port, and is
# stopped by PID at exit, also on failure. The uWSGI part is skipped when
# uwsgi or its python3 plugin is missing.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

scgi=$top_builddir/scgiserver/scgi
echo_bin=$top_builddir/examples/echo
hello_bin=$top_builddir/examples/hello
scgiserver=$top_builddir/scgiserver/scgiserver
python=/usr/bin/python3
for bin in "$scgi" "$echo_bin" "$hello_bin" "$scgiserver"; do
  [ -x "$bin" ] || tap_bail "$bin not built"
done
[ -x "$python" ] || tap_skip_all "$python not installed"

test_started_ms=$(lib_now_ms)
lib_tmpdir
dir=$lib_tmp

# ---------------------------------------------------------------- helpers

# run NAME ARGS...: runs scgi ARGS (20 s at most) with stdout in
# $dir/NAME.out and stderr in $dir/NAME.err; prints its exit status and
# saves the time taken (ms) in $dir/NAME.ms.
run() {
  local name=$1 rc=0 t0
  shift
  t0=$(lib_now_ms)
  timeout 20 "$scgi" "$@" >"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
  echo $(($(lib_now_ms) - t0)) >"$dir/$name.ms"
  echo "$rc"
}

# is EXPECTED ACTUAL DESCRIPTION: a check that shows both values.
is() {
  tap_ok "$([ "$1" = "$2" ]; echo $?)" "$3 (expected $1, got $2)"
}

# has NAME LINE...: the output of run NAME holds each LINE, whole.
has() {
  local name=$1 line
  shift
  for line in "$@"; do
    grep -qxF -- "$line" "$dir/$name.out" ||
      { echo "no line '$line' in $name.out"; return 1; }
  done
}

# lacks NAME LINE: the output of run NAME does not hold LINE.
lacks() {
  ! grep -qxF -- "$2" "$dir/$1.out"
}

# one_line_error NAME: run NAME wrote one line, starting "scgi: ", to
# stderr and nothing to stdout.
one_line_error() {
  [ "$(grep -c . "$dir/$1.err")" = 1 ] && grep -q '^scgi: ' "$dir/$1.err" &&
    [ ! -s "$dir/$1.out" ]
}

# vars_of FILE: the NAME=VALUE lines of an examples/echo answer.
vars_of() {
  sed -n '/^$/q;p' "$1"
}

# body_of FILE: the echoed request body (after the first empty line).
body_of() {
  local n off
  n=$(grep -a -n -m1 '^$' "$1" | cut -d: -f1)
  [ -n "$n" ] || return 1
  off=$(head -n "$n" "$1" | wc -c)
  tail -c +"$((off + 1))" "$1"
}

sha() {
  sha256sum | cut -d' ' -f1
}

# diag_err NAME: stderr of run NAME as diagnostics.
diag_err() {
  sed 's/^/#   stderr: /' "$dir/$1.err" | head -n 5
}

# listening PORT PID: PID runs and something listens on PORT.
listening() {
  lib_alive "$2" && lib_port_used "$1"
}

# tcp_up NAME COMMAND [ARGS...]: starts the command on a free port (the
# word @PORT@ in ARGS stands for it), three tries; waits until it
# listens. Sets port and up_pid; logs to $dir/NAME.log. Fails when it
# never listens.
tcp_up() {
  local name=$1 a args
  shift
  for _ in 1 2 3; do
    port=$(lib_free_port)
    args=()
    for a in "$@"; do args+=("${a//@PORT@/$port}"); done
    lib_spawn "$dir/$name.log" "${args[@]}"
    up_pid=$lib_pid
    lib_wait_for 10 listening "$port" "$up_pid" && return 0
    lib_stop "$up_pid"
  done
  sed 's/^/#   log: /' "$dir/$name.log" | tail -n 10
  return 1
}

# A listener that misbehaves, for the failures scgi must report: "close"
# accepts and closes at once; "silent" accepts and never answers; "reply
# FILE" reads the request's netstring, then sends FILE and closes.
cat >"$dir/listener.py" <<'EOF'
import socket, sys

mode, port = sys.argv[1], int(sys.argv[2])
reply = open(sys.argv[3], "rb").read() if mode == "reply" else b""
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
held = []
while True:
    c, _ = s.accept()
    if mode == "close":
        c.close()
    elif mode == "silent":
        held.append(c)
    else:
        data = b""
        while b":" not in data:
            data += c.recv(4096)
        size, rest = data.split(b":", 1)
        while len(rest) < int(size) + 1:
            rest += c.recv(4096)
        c.sendall(reply)
        c.close()
EOF

# ---------------------------------------------------------------- servers

echo_sock=$dir/echo.sock
lib_spawn "$dir/echo.log" "$echo_bin" -t 2 "unix:$echo_sock"
echo_pid=$lib_pid
lib_wait_socket "$echo_sock" "$echo_pid" ||
  { sed 's/^/# /' "$dir/echo.log"; tap_bail "examples/echo did not start"; }
echo_addr=unix:$echo_sock

tcp_up hello "$hello_bin" "127.0.0.1:@PORT@" ||
  tap_bail "examples/hello did not start"
hello_addr=127.0.0.1:$port

# ---------------------------------------------------------------- GET

rc=$(run get "$echo_addr" '/a/b?x=1&y=two%20words')
is 0 "$rc" "GET with a query: exit status"
tap_check "GET: QUERY_STRING, REQUEST_URI, DOCUMENT_URI, REQUEST_METHOD as the app sees them" \
  has get 'QUERY_STRING=x=1&y=two%20words' \
  'REQUEST_URI=/a/b?x=1&y=two%20words' 'DOCUMENT_URI=/a/b' REQUEST_METHOD=GET
is CONTENT_LENGTH=0 "$(head -n 1 "$dir/get.out")" \
  "GET: CONTENT_LENGTH first"
is SCGI=1 "$(sed -n 2p "$dir/get.out")" "GET: SCGI=1 second"
tap_check "GET: no CONTENT_TYPE without a body" \
  lacks get 'CONTENT_TYPE=application/x-www-form-urlencoded'
tap_check "GET: the web server's usual variables" \
  has get SERVER_PROTOCOL=HTTP/1.1 HTTP_HOST=localhost SERVER_NAME=localhost \
  SERVER_PORT=80 REMOTE_ADDR=127.0.0.1 SCRIPT_NAME= SERVER_SOFTWARE=scgi/"$(
  "$scgi" -V | cut -d' ' -f3)"
tap_check "GET: nothing on stderr" test ! -s "$dir/get.err"

rc=$(run root "$echo_addr")
is 0 "$rc" "no PATH: exit status"
tap_check "no PATH: REQUEST_URI=/ and an empty QUERY_STRING" \
  has root REQUEST_URI=/ QUERY_STRING= DOCUMENT_URI=/

rc=$(run hello "$hello_addr")
is 0 "$rc" "examples/hello over TCP: exit status"
tap_check "examples/hello over TCP: the body alone, byte-exact" \
  cmp "$dir/hello.out" <(printf 'Hello, world!\n')

# ---------------------------------------------------------------- methods and bodies

rc=$(run put -X PUT "$echo_addr" /put)
is 0 "$rc" "-X PUT: exit status"
tap_check "-X PUT: REQUEST_METHOD=PUT" has put REQUEST_METHOD=PUT

rc=$(run data -d 'a=1&b=2' "$echo_addr" /form)
is 0 "$rc" "-d DATA: exit status"
tap_check "-d DATA: POST, CONTENT_LENGTH=7, form CONTENT_TYPE" \
  has data REQUEST_METHOD=POST CONTENT_LENGTH=7 \
  CONTENT_TYPE=application/x-www-form-urlencoded
tap_check "-d DATA: body echoed exactly" \
  cmp <(body_of "$dir/data.out") <(printf 'a=1&b=2')

rc=$(run data-put -X PUT -d 'x' "$echo_addr" /)
tap_check "-X PUT -d: the method given wins over POST (exit $rc)" \
  has data-put REQUEST_METHOD=PUT

head -c $((5 * 1024 * 1024)) /dev/urandom >"$dir/big.bin"
big_sha=$(sha <"$dir/big.bin")
rc=$(run file -d "@$dir/big.bin" "$echo_addr" /upload)
is 0 "$rc" "-d @FILE 5 MiB binary: exit status"
tap_check "-d @FILE: CONTENT_LENGTH=5242880 first" \
  test "$(head -n 1 "$dir/file.out")" = CONTENT_LENGTH=5242880
is "$big_sha" "$(body_of "$dir/file.out" | sha)" \
  "-d @FILE: body echoed byte-exact (sha256)"
tap_diag "5 MiB through examples/echo in $(cat "$dir/file.ms") ms"
rm -f "$dir/file.out"

# shellcheck disable=SC2002 # a pipe, not a file, must be standard input
rc=$(cat "$dir/big.bin" | run pipe-big -d @- "$echo_addr" /upload)
is 0 "$rc" "-d @- 5 MiB from a pipe (spooled to a file): exit status"
is "$big_sha" "$(body_of "$dir/pipe-big.out" | sha)" \
  "-d @- 5 MiB from a pipe: body echoed byte-exact (sha256)"
rm -f "$dir/pipe-big.out"

rc=$(printf 'from\0a pipe\n' | run pipe -d @- "$echo_addr" /)
is 0 "$rc" "-d @- small, from a pipe: exit status"
tap_check "-d @- small: CONTENT_LENGTH=12" has pipe CONTENT_LENGTH=12
tap_check "-d @- small: body byte-exact (NUL included)" \
  cmp <(body_of "$dir/pipe.out") <(printf 'from\0a pipe\n')

rc=$(run empty -d '' "$echo_addr" /)
tap_check "-d '': a POST with an empty body (exit $rc)" \
  has empty REQUEST_METHOD=POST CONTENT_LENGTH=0

# ---------------------------------------------------------------- -H

rc=$(run vars -H X_TEST=yes -H HTTP_HOST=example.org -H 'X_EMPTY=' \
  -H 'X_EQ=a=b' "$echo_addr" /)
is 0 "$rc" "-H: exit status"
tap_check "-H: a new variable added (X_TEST=yes, X_EMPTY=, X_EQ=a=b)" \
  has vars X_TEST=yes X_EMPTY= X_EQ=a=b
tap_check "-H HTTP_HOST: replaced" has vars HTTP_HOST=example.org
is 1 "$(grep -c '^HTTP_HOST=' "$dir/vars.out")" "-H HTTP_HOST: sent once"
tap_check "-H: replaced in place, new ones after the defaults" \
  test "$(vars_of "$dir/vars.out" | tail -n 3 | tr '\n' ' ')" = \
  "X_TEST=yes X_EMPTY= X_EQ=a=b "

for bad in CONTENT_LENGTH=5 SCGI=0 NOEQUALS =value; do
  rc=$(run "var-$bad" -H "$bad" "$echo_addr" /)
  is 2 "$rc" "-H '$bad' refused: exit status"
  tap_check "-H '$bad': one error line" one_line_error "var-$bad"
done
diag_err var-CONTENT_LENGTH=5

# ---------------------------------------------------------------- -i, -v

rc=$(run include -i "$echo_addr" /inc)
is 0 "$rc" "-i: exit status"
is 'Status: 200 OK' "$(head -n 1 "$dir/include.out" | tr -d '\r')" \
  "-i: output starts with the Status line"
tap_check "-i: the header block then the body (the variables)" \
  grep -q '^REQUEST_URI=/inc$' "$dir/include.out"

rc=$(run include-hello -i "$hello_addr")
tap_check "-i: header block as received, CRLFs and all, then the body (exit $rc)" \
  cmp "$dir/include-hello.out" <(printf 'Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\nHello, world!\n')

rc=$(run verbose -v -d 'the-body-bytes' "$echo_addr" /v)
is 0 "$rc" "-v: exit status"
tap_check "-v: stderr shows the netstring with NULs as \\0" \
  grep -qF 'CONTENT_LENGTH\014\0SCGI\01\0' "$dir/verbose.err"
tap_check "-v: stderr shows the body bytes" \
  grep -qF 'the-body-bytes' "$dir/verbose.err"
tap_check "-v: stderr shows the response status" \
  grep -qx '< Status: 200 OK' "$dir/verbose.err"
tap_check "-v: stdout is still the body alone" \
  cmp <(body_of "$dir/verbose.out") <(printf 'the-body-bytes')

# ---------------------------------------------------------------- usage errors

rc=$(run nofile -d "@$dir/no-such-file" "$echo_addr" /)
is 2 "$rc" "-d @FILE that does not exist: exit status"
tap_check "-d @FILE that does not exist: one line naming the file" \
  eval "one_line_error nofile && grep -q 'no-such-file' '$dir/nofile.err'"
diag_err nofile

i=0
for bad in localhost 127.0.0.1: 127.0.0.1:0 127.0.0.1:65536 :80 \
    '[::1]' '[::1]80' '[nope]:80' '::1:80' unix: 127.0.0.1:8x; do
  i=$((i + 1))
  rc=$(run "addr-$i" "$bad" /)
  is 2 "$rc" "malformed ADDRESS '$bad': exit status"
done
tap_check "malformed ADDRESS: one error line" one_line_error addr-1
diag_err addr-1

rc=$(run relpath "$echo_addr" no-slash)
is 2 "$rc" "PATH not starting with '/': exit status"
tap_check "PATH not starting with '/': one error line" one_line_error relpath
rc=$(run noaddr)
is 2 "$rc" "no ADDRESS: exit status"
rc=$(run toomany "$echo_addr" / extra)
is 2 "$rc" "an extra argument: exit status"
rc=$(run unknown --no-such-option "$echo_addr")
is 2 "$rc" "unknown option: exit status"
tap_check "unknown option: one error line" one_line_error unknown
rc=$(run badtimeout -t 0 "$echo_addr")
is 2 "$rc" "-t 0: exit status"
rc=$(run twice -d a -d b "$echo_addr")
is 2 "$rc" "-d twice: exit status"
rc=$(run help --help)
is 0 "$rc" "--help: exit status"
tap_check "--help describes --request, --data, --var, --timeout" \
  eval "grep -q -- --request '$dir/help.out' && grep -q -- --data '$dir/help.out' && grep -q -- --var '$dir/help.out' && grep -q -- --timeout '$dir/help.out'"
rc=$(run version -V)
is 0 "$rc" "-V: exit status"
tap_check "-V prints a version number" \
  grep -q '[0-9]\+\.[0-9]\+' "$dir/version.out"

# ---------------------------------------------------------------- statuses

# scgiserver answers 404 itself when no route matches; behind it, echo
# (already running) serves /app.
front=$dir/front.sock
printf '[app a]\nconnect = unix:%s\nroute = /app\n' "$echo_sock" \
  >"$dir/scgiserver.conf"
lib_spawn "$dir/scgiserver.log" "$scgiserver" -l "unix:$front" \
  -c "$dir/scgiserver.conf"
srv_pid=$lib_pid
if lib_wait_socket "$front" "$srv_pid"; then
  rc=$(run via-srv "unix:$front" /app/x?q=1)
  is 0 "$rc" "through scgiserver, a routed path (200): exit status"
  tap_check "through scgiserver: echo saw the query" has via-srv QUERY_STRING=q=1
  rc=$(run not-found -i "unix:$front" /nothing-here)
  is 1 "$rc" "through scgiserver, no route (404): exit status"
  is 'Status: 404' "$(head -n 1 "$dir/not-found.out" | cut -c 1-11)" \
    "404: -i shows the Status line"
  tap_check "404: nothing on stderr" test ! -s "$dir/not-found.err"
  lib_stop "$srv_pid"
else
  tap_ok 1 "scgiserver started"
  sed 's/^/#   log: /' "$dir/scgiserver.log" | tail -n 10
fi

# reply NAME STATUS DESCRIPTION TEXT [ARGS...]: a listener answers every
# request with TEXT (printf %b escapes: \r, \n) once it has its header
# netstring, without reading any body; scgi ARGS must exit with STATUS.
# For responses that are not CGI responses, and the other status sources.
reply() {
  local name=$1 status=$2 what=$3
  printf '%b' "$4" >"$dir/$name.reply"
  shift 4
  if ! tcp_up "$name" "$python" "$dir/listener.py" reply @PORT@ \
      "$dir/$name.reply"; then
    tap_ok 1 "$what: listener started"
    return 0
  fi
  rc=$(run "$name" "$@" "127.0.0.1:$port" /)
  is "$status" "$rc" "$what: exit status"
  lib_stop "$up_pid"
}
reply location 0 "Location header alone (302)" \
  'Location: /elsewhere\r\n\r\n'
reply http-line 1 "an HTTP/1.1 404 status line (non-parsed header)" \
  'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno'
reply status-503 1 "Status: 503" 'Status: 503 Busy\nX: y\n\nbusy'
reply lf-only 0 "LF line ends, Status: 201" 'Status: 201 Created\n\nmade'
tap_check "LF line ends: the body alone" cmp "$dir/lf-only.out" <(printf made)
reply no-blank 3 "no empty line after the header block" \
  'Status: 200 OK\r\nContent-Type: text/plain\r\n'
tap_check "no empty line: one error line, nothing on stdout" \
  one_line_error no-blank
diag_err no-blank
reply bad-status 3 "malformed Status" 'Status: OK\r\n\r\nbody'
tap_check "malformed Status: one error line, nothing on stdout" \
  one_line_error bad-status
diag_err bad-status
reply not-cgi 3 "a body with no header block" 'just text\n\nmore\n'
# The application refuses the body and closes with most of it unread:
# its answer still counts, with a warning on stderr.
reply early 1 "an answer before the 5 MiB body is read (413)" \
  'Status: 413 Too Large\r\n\r\nno thanks\n' -d "@$dir/big.bin"
tap_check "early answer: its body printed" \
  cmp "$dir/early.out" <(printf 'no thanks\n')
tap_check "early answer: a warning that the request was not all read" \
  grep -q '^scgi: warning: .*before reading the whole request' \
  "$dir/early.err"
diag_err early

# ---------------------------------------------------------------- failures

port=$(lib_free_port)
rc=$(run refused "127.0.0.1:$port" /)
is 3 "$rc" "connection refused (nothing on port $port): exit status"
tap_check "connection refused: one error line" one_line_error refused
diag_err refused

rc=$(run nosock "unix:$dir/no-such.sock" /)
is 3 "$rc" "Unix socket that does not exist: exit status"

if tcp_up close "$python" "$dir/listener.py" close @PORT@; then
  rc=$(run closed "127.0.0.1:$port" /)
  is 3 "$rc" "a server that closes without answering: exit status"
  tap_check "closed without answering: one error line" one_line_error closed
  diag_err closed
  lib_stop "$up_pid"
else
  tap_ok 1 "closing listener started"
fi

if tcp_up silent "$python" "$dir/listener.py" silent @PORT@; then
  rc=$(run silent -t 300 "127.0.0.1:$port" /)
  ms=$(cat "$dir/silent.ms")
  is 3 "$rc" "-t 300 against a listener that never answers: exit status"
  tap_ok "$([ "$ms" -ge 300 ] && [ "$ms" -lt 3000 ]; echo $?)" \
    "-t 300: gave up after 300 ms and well before 3 s ($ms ms)"
  tap_check "-t 300: one error line" one_line_error silent
  diag_err silent
  lib_stop "$up_pid"
else
  tap_ok 1 "silent listener started"
fi

# A reader that goes away: scgi must not die of SIGPIPE, but report it.
status=$( (timeout 20 "$scgi" -d "@$dir/big.bin" "$echo_addr" /upload \
  2>"$dir/epipe.err"; echo $? >"$dir/epipe.rc") | head -c 10 >/dev/null
  cat "$dir/epipe.rc")
is 3 "$status" "stdout closed early: exit status (not killed by SIGPIPE)"
diag_err epipe

# ---------------------------------------------------------------- uWSGI

# An SCGI server not written here: uWSGI's SCGI socket with a WSGI app.
cat >"$dir/app.py" <<'EOF'
def application(env, start_response):
    body = env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0))
    uri = env.get("REQUEST_URI", "")
    status = "404 Not Found" if uri.startswith("/missing") else "200 OK"
    start_response(status, [("Content-Type", "application/octet-stream")])
    head = "".join("%s=%s\n" % (k, env.get(k, "")) for k in (
        "REQUEST_METHOD", "REQUEST_URI", "QUERY_STRING", "HTTP_HOST",
        "HTTP_X_TOKEN", "CONTENT_LENGTH"))
    return [head.encode() + b"\n" + body]
EOF
if ! command -v uwsgi >/dev/null; then
  tap_skip "uWSGI: an SCGI server not written here" "uwsgi not installed"
elif ! uwsgi --need-plugin python3 --version >/dev/null 2>&1; then
  tap_skip "uWSGI: an SCGI server not written here" \
    "uwsgi's python3 plugin not installed"
elif ! tcp_up uwsgi uwsgi --plugin python3 --scgi-socket "127.0.0.1:@PORT@" \
    --wsgi-file "$dir/app.py" --disable-logging; then
  tap_ok 1 "uWSGI started"
else
  uwsgi_pid=$up_pid
  rc=$(run uw-get -H HTTP_X_TOKEN=t1 "127.0.0.1:$port" '/hello?a=1&b=2')
  is 0 "$rc" "uWSGI: GET with a query: exit status"
  tap_check "uWSGI: the app saw method, URI, query, HTTP_HOST and the -H variable" \
      has uw-get REQUEST_METHOD=GET 'REQUEST_URI=/hello?a=1&b=2' \
    'QUERY_STRING=a=1&b=2' HTTP_HOST=localhost HTTP_X_TOKEN=t1
  rc=$(run uw-post -d "@$dir/big.bin" "127.0.0.1:$port" /upload)
  is 0 "$rc" "uWSGI: -d @FILE 5 MiB: exit status"
  is "$big_sha" "$(body_of "$dir/uw-post.out" | sha)" \
    "uWSGI: 5 MiB body echoed byte-exact (sha256)"
  rm -f "$dir/uw-post.out"
  rc=$(printf 'x=y' | run uw-pipe -X PATCH -d @- "127.0.0.1:$port" /p)
  tap_check "uWSGI: -X PATCH -d @-: method and body (exit $rc)" \
    eval "has uw-pipe REQUEST_METHOD=PATCH && test \"\$(body_of '$dir/uw-pipe.out')\" = x=y"
  rc=$(run uw-404 -i "127.0.0.1:$port" /missing)
  is 1 "$rc" "uWSGI: a 404: exit status"
  is 'Status: 404 Not Found' "$(head -n 1 "$dir/uw-404.out" | tr -d '\r')" \
    "uWSGI: -i shows its Status line"
  uwsgi_kids=$(lib_children "$uwsgi_pid" | tr '\n' ' ')
  lib_stop "$uwsgi_pid" INT
  # 30 is uWSGI's own status for a normal end; 137 would mean it had to
  # be killed.
  tap_ok "$([ "$lib_status" = 0 ] || [ "$lib_status" = 30 ]; echo $?)" \
    "uWSGI: stopped by SIGINT (exit status $lib_status)"
  left=""
  for p in $uwsgi_kids; do lib_running "$p" && left="$left $p"; done
  tap_ok "$([ -z "$left" ]; echo $?)" \
    "uWSGI: none of its processes left (${uwsgi_kids:-none}; left:${left:- none})"
fi

# ---------------------------------------------------------------- after

tap_check "examples/echo still runs" lib_alive "$echo_pid"
rm -f "$dir/big.bin"
tap_diag "whole test: $(($(lib_now_ms) - test_started_ms)) ms"

tap_done
