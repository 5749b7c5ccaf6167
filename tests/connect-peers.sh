#!/usr/bin/env bash
# connect-peers.sh - scgiserver --connect in front of SCGI applications not
# written here: a Perl one on the SCGI module (tests/peers/echo.pl) and a
# WSGI one under uWSGI's SCGI socket (tests/peers/echo_wsgi.py). The
# response fetched through scgiserver with the scgi client is byte for byte
# the one fetched from the application directly (GET, a 3 MiB binary POST,
# a 404), and nginx, configured with README's "nginx" block, gets the same
# through scgiserver. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The Perl part needs perl with SCGI (libscgi-perl), the uWSGI part uwsgi
# with its python3 plugin; each is skipped without them, the whole test
# when neither is there. The nginx part is skipped without nginx or curl.
# Everything runs on 127.0.0.1 and is stopped by PID at exit, also on
# failure.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/srv.sh"
. "$top_srcdir/tests/front.sh"

scgi=$top_builddir/scgiserver/scgi
scgiserver=$top_builddir/scgiserver/scgiserver
for bin in "$scgi" "$scgiserver"; do
  [ -x "$bin" ] || tap_bail "$bin not built"
done

peers=""
perl_why=""
if ! command -v perl >/dev/null; then
  perl_why="perl not installed"
elif ! perl -MSCGI -e 1 2>/dev/null; then
  perl_why="Perl's SCGI module not installed (libscgi-perl)"
else
  peers="perl"
fi
uwsgi_why=""
if ! command -v uwsgi >/dev/null; then
  uwsgi_why="uwsgi not installed"
elif ! uwsgi --need-plugin python3 --version >/dev/null 2>&1; then
  uwsgi_why="uwsgi's python3 plugin not installed (uwsgi-plugin-python3)"
else
  peers="$peers uwsgi"
fi
[ -n "$peers" ] || tap_skip_all "$perl_why; $uwsgi_why"

test_started_ms=$(lib_now_ms)
lib_tmpdir
dir=$lib_tmp

head -c $((3 * 1024 * 1024)) /dev/urandom >"$dir/big.bin"
big_sha=$(sha <"$dir/big.bin")

# ---------------------------------------------------------------- helpers

# run NAME ARGS...: scgi -i ARGS (20 s at most), output in $dir/NAME.out,
# stderr in $dir/NAME.err; prints its exit status.
run() {
  local name=$1 rc=0
  shift
  timeout 20 "$scgi" -i "$@" >"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
  echo "$rc"
}

# body_after_head FILE: what follows the CGI header block of a response
# saved by scgi -i.
body_after_head() {
  local n off
  n=$(grep -a -n -m1 $'^\r\\?$' "$1" | cut -d: -f1)
  [ -n "$n" ] || return 1
  off=$(head -n "$n" "$1" | wc -c)
  tail -c +"$((off + 1))" "$1"
}

# same_answer PEER NAME WHAT EXPECTED_STATUS SCGI_ARGS...: the request
# SCGI_ARGS (without the address) straight to the peer and through
# scgiserver, the responses saved in $dir/PEER-NAME.{direct,relayed}.out:
# the same exit status, EXPECTED_STATUS, both times, and the same bytes.
same_answer() {
  local peer=$1 name=$2 what="$1: $3" status=$4 rc1 rc2
  shift 4
  rc1=$(run "$peer-$name.direct" "$peer_addr" "$@")
  rc2=$(run "$peer-$name.relayed" "$srv_addr" "$@")
  is "$status" "$rc1" "$what: straight to $peer: scgi exit status"
  is "$status" "$rc2" "$what: through scgiserver: scgi exit status"
  tap_check "$what: through scgiserver, the very bytes $peer answers ($(
    wc -c <"$dir/$peer-$name.direct.out" | tr -d ' ') bytes)" \
    cmp "$dir/$peer-$name.direct.out" "$dir/$peer-$name.relayed.out"
}

# ---------------------------------------------------------------- peers

perl_up() {
  tcp_up perl perl "$top_srcdir/tests/peers/echo.pl" @PORT@
}
uwsgi_up() {
  tcp_up uwsgi uwsgi --plugin python3 --scgi-socket "127.0.0.1:@PORT@" \
    --wsgi-file "$top_srcdir/tests/peers/echo_wsgi.py" --disable-logging
}

nginx_locations=""
for peer in perl uwsgi; do
  case " $peers " in
    *" $peer "*) ;;
    *) why=${peer}_why
       tap_skip "$peer: scgiserver --connect relays it" "${!why}"
       continue ;;
  esac
  "${peer}_up" || tap_bail "$peer did not start"
  eval "${peer}_pid=\$up_pid"
  peer_addr=127.0.0.1:$port
  tcp_up "srv-$peer" "$scgiserver" -l "127.0.0.1:@PORT@" \
    --connect "$peer_addr" ||
    tap_bail "scgiserver --connect $peer did not start"
  eval "srv_${peer}_pid=\$up_pid srv_${peer}_port=\$port"
  srv_addr=127.0.0.1:$port

  same_answer "$peer" get GET 0 '/peer/x/y?a=1&b=two%20words' \
    -H HTTP_X_TOKEN=t1
  tap_check "$peer: GET: the app saw the method, query, URI and -H variable" \
    has "$dir/$peer-get.direct.out" REQUEST_METHOD=GET \
    'QUERY_STRING=a=1&b=two%20words' 'REQUEST_URI=/peer/x/y?a=1&b=two%20words' \
    HTTP_X_TOKEN=t1 SCGI=1
  tap_check "$peer: GET: its own header came through (X-Peer: $peer)" \
    grep -qx "X-Peer: $peer"$'\r' "$dir/$peer-get.relayed.out"

  same_answer "$peer" post "POST 3 MiB" 0 -d "@$dir/big.bin" \
    -H CONTENT_TYPE=application/octet-stream /peer/upload
  tap_check "$peer: POST 3 MiB: CONTENT_LENGTH=3145728 reached the app" \
    has "$dir/$peer-post.direct.out" CONTENT_LENGTH=3145728
  tap_check "$peer: POST 3 MiB: body echoed byte-exact, relayed (sha256)" \
    test "$(body_after_head "$dir/$peer-post.relayed.out" |
      sed '1,/^$/d' | sha)" = "$big_sha"
  rm -f "$dir/$peer-post.direct.out" "$dir/$peer-post.relayed.out"

  same_answer "$peer" missing 404 1 /missing/page
  tap_check "$peer: 404: its Status line relayed" \
    grep -q '^Status: 404 Not Found' "$dir/$peer-missing.relayed.out"

  nginx_locations="$nginx_locations
$(readme_snippet nginx "/$peer" "$port")" ||
    tap_bail "README.md's nginx block cannot be used"
done

# ---------------------------------------------------------------- nginx

# through_nginx PEER: GET and POST through nginx, README's block, to
# scgiserver, to the peer.
through_nginx() {
  local peer=$1 code what="nginx → scgiserver → $1"
  code=$(get "$dir/ngx-$peer.get" "$base/$peer/x/y?a=1&b=two%20words")
  is 200 "$code" "$what: GET: HTTP status"
  tap_check "$what: GET: the app saw the method, query, URI and DOCUMENT_URI" \
    has "$dir/ngx-$peer.get" REQUEST_METHOD=GET \
    'QUERY_STRING=a=1&b=two%20words' \
    "REQUEST_URI=/$peer/x/y?a=1&b=two%20words" "DOCUMENT_URI=/$peer/x/y"
  tap_check "$what: GET: its own header came through" \
    grep -qi "^X-Peer: $peer" "$dir/ngx-$peer.get.head"
  code=$(get "$dir/ngx-$peer.post" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$dir/big.bin" "$base/$peer/upload")
  is 200 "$code" "$what: POST 3 MiB: HTTP status"
  tap_check "$what: POST 3 MiB: body echoed byte-exact (sha256)" \
    test "$(sed '1,/^$/d' "$dir/ngx-$peer.post" | sha)" = "$big_sha"
  rm -f "$dir/ngx-$peer.post"
}

if ! lib_find_nginx >/dev/null || ! command -v curl >/dev/null; then
  tap_skip "nginx → scgiserver → peers" "nginx or curl not installed"
else
  mkdir "$dir/nginx"
  lib_nginx_up "$dir/nginx" "$nginx_locations"
  for peer in $peers; do
    through_nginx "$peer"
  done
  lib_stop "$lib_nginx_pid"
fi

# ---------------------------------------------------------------- after

for peer in $peers; do
  pid_var=srv_${peer}_pid
  srv_pid=${!pid_var}
  srv_name="scgiserver --connect $peer"
  srv_stop
  tap_check "scgiserver --connect $peer: no warning or error in its log" \
    quiet_log "$dir/srv-$peer.log"
done
if [ -n "${perl_pid:-}" ]; then
  lib_stop "$perl_pid" TERM
  tap_check "perl app: nothing in its log" test ! -s "$dir/perl.log"
  sed 's/^/#   perl log: /' "$dir/perl.log" | head -n 5
fi
if [ -n "${uwsgi_pid:-}" ]; then
  uwsgi_kids=$(lib_children "$uwsgi_pid" | tr '\n' ' ')
  lib_stop "$uwsgi_pid" INT
  # 30 is uWSGI's own status for a normal end.
  tap_ok "$([ "$lib_status" = 0 ] || [ "$lib_status" = 30 ]; echo $?)" \
    "uWSGI: stopped by SIGINT (exit status $lib_status)"
  left=""
  for p in $uwsgi_kids; do lib_running "$p" && left="$left $p"; done
  tap_ok "$([ -z "$left" ]; echo $?)" "uWSGI: none of its processes left"
fi
tap_diag "whole test: $(($(lib_now_ms) - test_started_ms)) ms"

tap_done
