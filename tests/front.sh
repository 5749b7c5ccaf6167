# front.sh - helpers shared by the tests that put a real front server
# (tests/apache.sh, tests/lighttpd.sh) before examples/echo and
# examples/form, straight and through scgiserver, and by
# tests/connect-peers.sh: README's configuration blocks, the backends, and
# the checks made through the front server. Sourced after tests/lib.sh
# and tests/srv.sh.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later

# ---------------------------------------------------------------- setup

# front_find CANDIDATES...: prints the first candidate that is an
# executable file (empty ones skipped); fails when none is.
front_find() {
  local c
  for c in "$@"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      printf '%s\n' "$c"
      return 0
    fi
  done
  return 1
}

# front_setup: checks that scgiserver and examples/echo and form are
# built; sets scgiserver, echo_bin and form_bin (absolute: config files
# name them), test_started_ms, and dir (a temporary directory). Not in a
# subshell.
front_setup() {
  local bin
  scgiserver=$top_builddir/scgiserver/scgiserver
  [ -x "$scgiserver" ] || tap_bail "$scgiserver not built"
  for bin in echo form; do
    [ -x "$top_builddir/examples/$bin" ] || tap_bail "examples/$bin not built"
  done
  echo_bin=$(cd "$top_builddir/examples" && pwd)/echo
  form_bin=$(cd "$top_builddir/examples" && pwd)/form
  test_started_ms=$(lib_now_ms)
  lib_tmpdir
  dir=$lib_tmp
}

# ---------------------------------------------------------------- README

# readme_snippet NAME PREFIX PORT: prints the fenced block that follows the
# line "<!-- snippet: NAME -->" in README.md (empty lines may come
# between), with its "/app" replaced by PREFIX and its port 4000 by PORT.
# Fails when there is no such block, or when it has no "/app" or no 4000
# to replace: the tests then fail, as they must when README's
# configuration changes in a way they cannot follow.
readme_snippet() {
  local name=$1 prefix=$2 port=$3 block
  block=$(awk -v marker="<!-- snippet: $name -->" '
    $0 == marker { state = 1; next }
    state == 1 && /^```/ { state = 2; next }
    state == 1 && NF { exit }
    state == 2 && /^```$/ { done = 1; exit }
    state == 2 { print }
    END { exit !done }' "$top_srcdir/README.md") || {
    echo "README.md has no fenced block after '<!-- snippet: $name -->'" >&2
    return 1
  }
  case $block in
    */app*4000*|*4000*/app*) ;;
    *) echo "README.md: the $name block names no /app and port 4000" >&2
       return 1 ;;
  esac
  printf '%s\n' "$block" | sed -e "s|/app|$prefix|g" -e "s|4000|$port|g"
}

# ---------------------------------------------------------------- helpers

# wait_listening SECONDS PORT PID: waits until something listens on PORT;
# fails after SECONDS, or as soon as PID has exited.
wait_listening() {
  local tries=$(($1 * 20))
  while ! lib_port_used "$2"; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] && lib_alive "$3" || return 1
    sleep 0.05
  done
  lib_alive "$3"
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
    wait_listening 10 "$port" "$up_pid" && return 0
    lib_stop "$up_pid"
  done
  sed 's/^/#   log: /' "$dir/$name.log" | tail -n 10
  return 1
}

# get FILE CURL_ARGS...: the response body into FILE (headers into
# FILE.head); prints the HTTP status, "curl" when curl failed.
get() {
  local out=$1
  shift
  curl -sS --max-time 30 -o "$out" -D "$out.head" -w '%{http_code}' "$@" \
    2>"$out.err" || echo curl
}

# vars_of RESPONSE: the NAME=VALUE lines of an echo (before the first
# empty line).
vars_of() {
  sed -n '/^$/q;p' "$1"
}

# body_of RESPONSE: the echoed request body (after the first empty line).
body_of() {
  local n off
  n=$(grep -a -n -m1 '^$' "$1" | cut -d: -f1)
  [ -n "$n" ] || return 1
  off=$(head -n "$n" "$1" | wc -c)
  tail -c +"$((off + 1))" "$1"
}

# has FILE LINE...: FILE holds each LINE, whole.
has() {
  local file=$1 line
  shift
  for line in "$@"; do
    grep -qxF -- "$line" "$file" || { echo "no line '$line'"; return 1; }
  done
}

# lacks_var FILE NAME...: FILE has no NAME=... line.
lacks_var() {
  local file=$1 name
  shift
  for name in "$@"; do
    ! grep -q "^$name=" "$file" || { grep "^$name=" "$file"; return 1; }
  done
}

sha() {
  sha256sum | cut -d' ' -f1
}

# crc32 FILE: the CRC-32 of the file (zlib's), 8 lowercase hex digits,
# from the trailer of gzip, which stores it little-endian.
crc32() {
  gzip -1 -c <"$1" | tail -c 8 | head -c 4 | od -An -tx1 |
    awk '{ print $4 $3 $2 $1 }'
}

# no_sanitizer_report LOG: the log holds no AddressSanitizer/UBSan report.
no_sanitizer_report() {
  ! grep -q 'ERROR: \|runtime error' "$1"
}

# quiet_log LOG: scgiserver's log holds no warning or error, and its
# workers logged nothing but their stop.
quiet_log() {
  ! grep -E '^scgiserver: (warning|error)|^(echo|form|libscgi): ' "$1" |
    grep -v '^libscgi: scgiserver closed the handoff socket'
}

# ---------------------------------------------------------------- backends

# front_backends: starts the six targets the front server is put before,
# and sets `targets` to their "NAME PREFIX PORT KIND" lines (KIND: echo or
# form): examples/echo and examples/form on TCP ports of their own
# (straight), then one scgiserver with four apps of its own listeners,
# echo and form in pass mode and in proxy mode. Needs $dir, $echo_bin,
# $form_bin (absolute) and $scgiserver.
front_backends() {
  local ports p i
  tcp_up echo "$echo_bin" -t 4 "127.0.0.1:@PORT@" ||
    tap_bail "examples/echo did not start"
  echo_pid=$up_pid
  targets="echo /echo $port echo"
  tcp_up form "$form_bin" -t 2 "127.0.0.1:@PORT@" ||
    tap_bail "examples/form did not start"
  form_pid=$up_pid
  targets="$targets
form /form $port form"

  srv_name=scgiserver
  for _ in 1 2 3; do
    ports=""
    for i in 1 2 3 4; do
      p=$(lib_free_port)
      case " $ports " in *" $p "*) p=$(lib_free_port) ;; esac
      ports="$ports $p"
    done
    # shellcheck disable=SC2086 # four words
    set -- $ports
    # Two front threads per app: a proxied request holds one.
    cat >"$dir/scgiserver.conf" <<EOF
threads = 8

[app pass-echo]
exec = $echo_bin
handoff = pass
workers = 2
listen = 127.0.0.1:$1

[app pass-form]
exec = $form_bin
handoff = pass
workers = 1
listen = 127.0.0.1:$2

[app proxy-echo]
exec = $echo_bin
handoff = proxy
workers = 2
listen = 127.0.0.1:$3

[app proxy-form]
exec = $form_bin
handoff = proxy
workers = 1
listen = 127.0.0.1:$4
EOF
    lib_spawn "$dir/scgiserver.log" "$scgiserver" -c "$dir/scgiserver.conf"
    srv_pid=$lib_pid
    if wait_listening 10 "$1" "$srv_pid" &&
       wait_listening 10 "$4" "$srv_pid" && lib_wait_for 5 kids_are 6; then
      srv_seen="$srv_seen $(lib_children "$srv_pid" | tr '\n' ' ')"
      targets="$targets
pass-echo /pass-echo $1 echo
pass-form /pass-form $2 form
proxy-echo /proxy-echo $3 echo
proxy-form /proxy-form $4 form"
      return 0
    fi
    srv_seen="$srv_seen $(lib_children "$srv_pid" | tr '\n' ' ')"
    lib_stop "$srv_pid"
  done
  sed 's/^/# /' "$dir/scgiserver.log" | tail -n 20
  tap_bail "scgiserver did not start"
}

# front_stop_backends: stops scgiserver, examples/echo and examples/form
# with SIGTERM; checks their exit statuses and logs.
front_stop_backends() {
  srv_stop
  tap_check "scgiserver log: no warning or error, none from the workers" \
    quiet_log "$dir/scgiserver.log"
  lib_stop "$echo_pid" TERM
  is 0 "$lib_status" "examples/echo: SIGTERM: exit status"
  lib_stop "$form_pid" TERM
  is 0 "$lib_status" "examples/form: SIGTERM: exit status"
  tap_check "examples/echo and examples/form logged nothing" \
    test ! -s "$dir/echo.log" -a ! -s "$dir/form.log"
  tap_check "no sanitizer report in the examples' and scgiserver's logs" \
    no_sanitizer_report <(cat "$dir/echo.log" "$dir/form.log" \
    "$dir/scgiserver.log")
}

# ---------------------------------------------------------------- checks

# The front server's test defines, before calling the checks:
#   front       its name, for the descriptions;
#   base        http://127.0.0.1:PORT;
#   front_path_vars PREFIX: prints the variable lines expected for a GET of
#               PREFIX/x/y (SCRIPT_NAME, PATH_INFO, ...);
#   front_absent  variable names that must not be sent;
#   front_scgi_at "2" or "last": where the SCGI=1 line is.

query='a=1&b=two%20words&c=%C3%A9'

# one_client I: a POST whose body and query name the request; prints
# "bad I ..." unless the echo matches exactly. Uses $url.
one_client() {
  local i=$1 out
  out=$(curl -sS --max-time 30 -H 'Content-Type: application/octet-stream' \
    --data-binary "body-$i" "$url/load/$i?n=$i") ||
    { echo "bad $i (curl)"; return 0; }
  if [ "$(printf '%s' "$out" | tail -c $((5 + ${#i})))" != "body-$i" ] ||
     ! printf '%s\n' "$out" | grep -qx "QUERY_STRING=n=$i" ||
     ! printf '%s\n' "$out" | grep -qx "REQUEST_URI=$prefix/load/$i?n=$i" ||
     ! printf '%s\n' "$out" | grep -qx "CONTENT_LENGTH=$((5 + ${#i}))"; then
    echo "bad $i: $(printf '%s' "$out" | head -c 200 | tr '\n' ' ')"
  fi
}

# front_check_echo NAME PREFIX: through the front server to an echo
# target: a GET with a query string, a 5 MiB binary POST, and 32 POSTs
# 16 at a time. Needs $dir/big.bin and $big_sha.
front_check_echo() {
  local name=$1 prefix=$2 what="$front → $1" code out=$dir/$1 url vars
  code=$(get "$out.get" "$base$prefix/x/y?$query")
  is 200 "$code" "$what: GET: HTTP status"
  vars=$out.get.vars
  vars_of "$out.get" >"$vars"
  is CONTENT_LENGTH=0 "$(head -n 1 "$vars")" "$what: GET: first variable"
  if [ "$front_scgi_at" = last ]; then
    is SCGI=1 "$(tail -n 1 "$vars")" "$what: GET: last variable"
  else
    is SCGI=1 "$(sed -n "${front_scgi_at}p" "$vars")" \
      "$what: GET: variable $front_scgi_at"
  fi
  is 1 "$(grep -c '^SCGI=' "$vars")" "$what: GET: SCGI lines"
  tap_check "$what: GET: REQUEST_METHOD, QUERY_STRING, REQUEST_URI as sent" \
    has "$vars" REQUEST_METHOD=GET "QUERY_STRING=$query" \
    "REQUEST_URI=$prefix/x/y?$query"
  # shellcheck disable=SC2046 # one line each
  tap_check "$what: GET: $(front_path_vars "$prefix" | paste -s -d' ')" \
    has "$vars" $(front_path_vars "$prefix")
  if [ -n "$front_absent" ]; then
    # shellcheck disable=SC2086 # names
    tap_check "$what: GET: no $front_absent" lacks_var "$vars" $front_absent
  fi
  tap_check "$what: GET: empty body" test -z "$(body_of "$out.get")"

  code=$(get "$out.post" -H 'Content-Type: application/octet-stream' \
    --data-binary "@$dir/big.bin" "$base$prefix/upload")
  is 200 "$code" "$what: POST 5 MiB: HTTP status"
  is CONTENT_LENGTH=5242880 "$(head -n 1 "$out.post")" \
    "$what: POST 5 MiB: first variable"
  tap_check "$what: POST 5 MiB: REQUEST_METHOD and CONTENT_TYPE" \
    has "$out.post" REQUEST_METHOD=POST CONTENT_TYPE=application/octet-stream
  tap_check "$what: POST 5 MiB: body echoed byte-exact (sha256)" \
    test "$(body_of "$out.post" | sha)" = "$big_sha"
  rm -f "$out.post"

  url=$base$prefix
  export -f one_client
  export url prefix
  # shellcheck disable=SC2016 # $1 is for the inner bash
  seq 32 | xargs -P 16 -I{} bash -c 'one_client "$1"' _ {} >"$out.load"
  tap_check "$what: 32 POSTs, 16 at a time, all echoed right" \
    test ! -s "$out.load"
  head -n 5 "$out.load" | sed 's/^/# /'
}

# front_check_form NAME PREFIX: through the front server to a form
# target: a multipart upload (fields, a repeated field, a small text
# file and the 5 MiB binary one) with a query string and a cookie line.
front_check_form() {
  local name=$1 prefix=$2 what="$front → $1" code out=$dir/$1
  code=$(get "$out.mp" -H 'Cookie: session=abc123; theme=dark' \
    --form-string 'title=Café crème ✓' \
    --form-string "comment=$(printf 'line one\r\nline two')" \
    -F tags=red -F tags=blue \
    -F "small=@$dir/small.txt" \
    -F "big=@$dir/big.bin;type=application/octet-stream" \
    --form-string 'after=files' \
    "$base$prefix/upload?step=1&q=caf%C3%A9")
  is 200 "$code" "$what: multipart upload: HTTP status"
  cat >"$out.expect" <<EOF
QUERY step=1
QUERY q=café
COOKIE session=abc123
COOKIE theme=dark
FIELD title=Café crème ✓
FIELD comment=line one\\r\\nline two
FIELD tags=red
FIELD tags=blue
FILE small small.txt $small_size $small_crc
FILE big big.bin 5242880 $big_crc
FIELD after=files
EOF
  tap_check "$what: multipart upload: fields, files' sizes and CRC-32s" \
    diff -u "$out.expect" "$out.mp"
}

# front_prepare: the request bodies the checks send.
front_prepare() {
  head -c $((5 * 1024 * 1024)) /dev/urandom >"$dir/big.bin"
  big_sha=$(sha <"$dir/big.bin")
  big_crc=$(crc32 "$dir/big.bin")
  printf 'Hello, front server!\r\nSecond line.\n' >"$dir/small.txt"
  small_size=$(wc -c <"$dir/small.txt" | tr -d ' ')
  small_crc=$(crc32 "$dir/small.txt")
}

# front_check_all: every check on every target.
front_check_all() {
  local name prefix p kind
  while read -r name prefix p kind; do
    [ -n "$name" ] || continue
    if [ "$kind" = echo ]; then
      front_check_echo "$name" "$prefix"
    else
      front_check_form "$name" "$prefix"
    fi
  done <<<"$targets"
}

# front_check_cookies JOINED [TODO_REASON]: two Cookie lines sent to the
# straight echo and form targets: the front server joins them into one
# HTTP_COOKIE, JOINED; examples/form should still see both cookies (a
# known gap when TODO_REASON is given).
front_check_cookies() {
  local joined=$1 todo=${2:-} code what="$front: two Cookie lines"
  code=$(get "$dir/cookie.echo" -H 'Cookie: a=1' -H 'Cookie: b=2' \
    "$base/echo/cookies")
  is 200 "$code" "$what: HTTP status"
  tap_check "$what: one HTTP_COOKIE variable, '$joined'" \
    test "$(grep '^HTTP_COOKIE=' "$dir/cookie.echo")" = "HTTP_COOKIE=$joined"
  tap_diag "$front sends: $(grep '^HTTP_COOKIE=' "$dir/cookie.echo")"
  code=$(get "$dir/cookie.form" -H 'Cookie: a=1' -H 'Cookie: b=2' \
    --data-binary 'x=1' "$base/form/cookies")
  is 200 "$code" "$what: examples/form: HTTP status"
  printf 'COOKIE a=1\nCOOKIE b=2\nFIELD x=1\n' >"$dir/cookie.expect"
  tap_diag "examples/form sees: $(grep '^COOKIE' "$dir/cookie.form" |
    tr '\n' '|')"
  if [ -n "$todo" ]; then
    tap_todo "$(cmp -s "$dir/cookie.expect" "$dir/cookie.form"; echo $?)" \
      "$what: examples/form sees cookies a and b" "$todo"
  else
    tap_check "$what: examples/form sees cookies a and b" \
      diff -u "$dir/cookie.expect" "$dir/cookie.form"
  fi
}
