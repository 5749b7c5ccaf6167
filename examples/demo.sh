#!/usr/bin/env bash
# demo.sh - builds libscgi and runs examples/echo behind nginx.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# On Debian or Ubuntu: installs what is missing (build tools, nginx, curl;
# with sudo when not root), builds in build/demo, starts examples/echo on a
# Unix socket and a private nginx on 127.0.0.1:8080 (PORT=... to change it)
# in front of it, then waits. Ctrl-C stops both and removes their files.
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
  make -s -j"$(nproc 2>/dev/null || echo 2)" examples/echo >/dev/null
}

install_deps
build

. "$repo/tests/lib.sh"
if lib_port_used "$port"; then
  die "port $port is in use; choose another: PORT=8081 $0"
fi
trap 'say "stopping echo and nginx"; lib_cleanup' EXIT
lib_tmpdir
dir=$lib_tmp
sock=$dir/echo.sock

lib_spawn "$dir/echo.log" "$build/examples/echo" -t 4 "unix:$sock"
echo_pid=$lib_pid
lib_wait_socket "$sock" "$echo_pid" ||
  { cat "$dir/echo.log" >&2; die "examples/echo did not start"; }

mkdir "$dir/nginx"
lib_nginx_start "$dir/nginx" "$port" "
    location / {
      include scgi_params;
      scgi_pass unix:$sock;
    }" || die "nginx did not start on 127.0.0.1:$port"

cat <<EOF

examples/echo (pid $echo_pid, 4 threads) listens on unix:$sock
nginx (pid $lib_nginx_pid) forwards http://127.0.0.1:$port/ to it.

Open http://127.0.0.1:$port/hello?name=world or try:

  curl 'http://127.0.0.1:$port/hello?name=world'
  curl --data-binary @/etc/os-release http://127.0.0.1:$port/upload

Each answer lists the CGI variables nginx sent, then echoes the body.
Logs: $dir/echo.log and $dir/nginx/error.log
Press Ctrl-C to stop.

EOF

# Returns when either process ends; Ctrl-C runs the EXIT trap instead.
rc=0
wait -n "$echo_pid" "$lib_nginx_pid" || rc=$?
if lib_alive "$echo_pid"; then
  say "nginx exited (status $rc):"
  tail -n 20 "$dir/nginx/error.log" >&2 || true
else
  say "examples/echo exited (status $rc):"
  tail -n 20 "$dir/echo.log" >&2 || true
fi
exit 1
