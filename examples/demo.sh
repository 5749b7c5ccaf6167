#!/usr/bin/env bash
# demo.sh - builds libscgi and runs examples/echo and examples/form under
# scgiserver, behind nginx.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# On Debian or Ubuntu: installs what is missing (build tools, nginx, curl;
# with sudo when not root), builds in build/demo, starts scgiserver on a
# Unix socket with two apps of two worker processes each (examples/form
# for /form and below, examples/echo for everything else) and a private
# nginx on 127.0.0.1:8080 (PORT=... to change it) that passes every request
# to scgiserver. Then waits; Ctrl-C stops nginx and scgiserver (which
# drains and stops its workers) and removes their files.
# The system's own nginx service, if any, is not touched.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-8080}
build=$repo/build/demo

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

install_deps() {
  local missing="" sudo=""
  command -v cc >/dev/null && command -v make >/dev/null ||
    missing="$missing build-essential"
  command -v autoreconf >/dev/null || missing="$missing autoconf"
  command -v automake >/dev/null || missing="$missing automake"
  command -v libtoolize >/dev/null || missing="$missing libtool"
  command -v pkg-config >/dev/null || missing="$missing pkg-config"
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] ||
    missing="$missing nginx"
  command -v curl >/dev/null || missing="$missing curl"
  [ -n "$missing" ] || return 0
  command -v apt-get >/dev/null ||
    die "missing:$missing (install them; this script knows only apt-get)"
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing:$missing; run as root or install sudo"
    sudo=sudo
  fi
  say "installing:$missing"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # shellcheck disable=SC2086 # one word per package
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
}

build() {
  cd "$repo"
  if [ -f config.status ]; then
    die "the source tree is configured in place; run 'make distclean' here first"
  fi
  if [ ! -x configure ]; then
    say "autoreconf -fi"
    autoreconf -fi >/dev/null
  fi
  mkdir -p "$build"
  cd "$build"
  if [ ! -f Makefile ]; then
    say "configuring in $build"
    "$repo/configure" -q
  fi
  say "building"
  make -s -j"$(nproc 2>/dev/null || echo 2)" examples/echo examples/form \
    scgiserver/scgiserver scgiserver/scgi >/dev/null
}

install_deps
build

. "$repo/tests/lib.sh"
if lib_port_used "$port"; then
  die "port $port is in use; choose another: PORT=8081 $0"
fi
case $build in
  *'"'*) die "the build directory's path holds a double quote: $build" ;;
esac

srv_pid=""
# stop_scgiserver: SIGTERM to scgiserver, which finishes the requests in
# progress and stops its workers; any worker still running after it
# exits (say scgiserver had to be killed) is killed by PID.
stop_scgiserver() {
  local p workers
  [ -n "$srv_pid" ] || return 0
  workers=$(lib_children "$srv_pid")
  lib_stop "$srv_pid" TERM
  for p in $workers; do
    lib_running "$p" && kill -s KILL "$p" 2>/dev/null
  done
  srv_pid=""
}
trap 'say "stopping scgiserver (and its workers) and nginx"
  stop_scgiserver; lib_cleanup' EXIT
lib_tmpdir
dir=$lib_tmp
sock=$dir/scgiserver.sock

cat >"$dir/scgiserver.conf" <<EOF
# scgiserver's configuration for the demo (written by examples/demo.sh).
listen = unix:$sock
threads = 8
drain-timeout = 3000
status-path = /scgiserver-status

[app form]
exec = "$build/examples/form"
workers = 2
route = /form

[app echo]
exec = "$build/examples/echo"
workers = 2
route = /
EOF

lib_spawn "$dir/scgiserver.log" "$build/scgiserver/scgiserver" \
  -c "$dir/scgiserver.conf"
srv_pid=$lib_pid
lib_wait_socket "$sock" "$srv_pid" ||
  { cat "$dir/scgiserver.log" >&2; die "scgiserver did not start"; }
# Its four workers (listed below).
for _ in $(seq 100); do
  workers=$(lib_children "$srv_pid" | tr '\n' ' ')
  [ "$(wc -w <<<"$workers")" -ge 4 ] && break
  sleep 0.05
done

mkdir "$dir/nginx"
lib_nginx_start "$dir/nginx" "$port" "
    location / {
      include scgi_params;
      scgi_pass unix:$sock;
    }" || die "nginx did not start on 127.0.0.1:$port"

cat <<EOF

scgiserver (pid $srv_pid) listens on unix:$sock
and runs, as $dir/scgiserver.conf says, 2 workers of
examples/form for /form and below, 2 of examples/echo for everything else
(worker pids: ${workers% }); it hands each connection to an idle worker of
the right app. nginx (pid $lib_nginx_pid) on 127.0.0.1:$port passes every
request to scgiserver.

Open in a browser:

  http://127.0.0.1:$port/form                 a form with file uploads
  http://127.0.0.1:$port/hello?name=world     the variables nginx sends

or try:

  curl 'http://127.0.0.1:$port/hello?name=world'
  curl --data-binary @/etc/os-release http://127.0.0.1:$port/upload
  curl -F title=hello -F tags=a -F tags=b -F file=@/etc/os-release \\
    http://127.0.0.1:$port/form
  curl http://127.0.0.1:$port/scgiserver-status    scgiserver's counters
  $build/scgiserver/scgi unix:$sock /hello     SCGI without nginx

examples/echo lists the CGI variables nginx sent, then echoes the body;
examples/form answers a post with its fields, and each file's size and
CRC-32.
scgiserver supervises the workers: kill one (kill -9 ${workers%% *}) and it
starts a new one; the requests go to the others meanwhile.
Logs: $dir/scgiserver.log
  and $dir/nginx/error.log
Press Ctrl-C to stop.

EOF

# Returns when nginx or scgiserver ends; Ctrl-C runs the EXIT trap instead.
rc=0
wait -n "$srv_pid" "$lib_nginx_pid" || rc=$?
if ! lib_alive "$lib_nginx_pid"; then
  say "nginx exited (status $rc):"
  tail -n 20 "$dir/nginx/error.log" >&2 || true
fi
if ! lib_alive "$srv_pid"; then
  say "scgiserver exited (status $rc):"
  tail -n 20 "$dir/scgiserver.log" >&2 || true
fi
exit 1
