#!/usr/bin/env bash
# demo.sh - builds libscgi and runs examples/echo and examples/form behind
# nginx.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# On Debian or Ubuntu: installs what is missing (build tools, nginx, curl;
# with sudo when not root), builds in build/demo, starts examples/echo and
# examples/form on two Unix sockets and a private nginx on 127.0.0.1:8080
# (PORT=... to change it) in front of them: /form and below go to
# examples/form, everything else to examples/echo. Then waits; Ctrl-C stops
# all three and removes their files.
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
    >/dev/null
}

install_deps
build

. "$repo/tests/lib.sh"
if lib_port_used "$port"; then
  die "port $port is in use; choose another: PORT=8081 $0"
fi
trap 'say "stopping echo, form and nginx"; lib_cleanup' EXIT
lib_tmpdir
dir=$lib_tmp
echo_sock=$dir/echo.sock
form_sock=$dir/form.sock

lib_spawn "$dir/echo.log" "$build/examples/echo" -t 4 "unix:$echo_sock"
echo_pid=$lib_pid
lib_wait_socket "$echo_sock" "$echo_pid" ||
  { cat "$dir/echo.log" >&2; die "examples/echo did not start"; }
lib_spawn "$dir/form.log" "$build/examples/form" -t 4 "unix:$form_sock"
form_pid=$lib_pid
lib_wait_socket "$form_sock" "$form_pid" ||
  { cat "$dir/form.log" >&2; die "examples/form did not start"; }

mkdir "$dir/nginx"
lib_nginx_start "$dir/nginx" "$port" "
    location / {
      include scgi_params;
      scgi_pass unix:$echo_sock;
    }
    location = /form {
      include scgi_params;
      scgi_pass unix:$form_sock;
    }
    location /form/ {
      include scgi_params;
      scgi_pass unix:$form_sock;
    }" || die "nginx did not start on 127.0.0.1:$port"

cat <<EOF

examples/echo (pid $echo_pid, 4 threads) listens on unix:$echo_sock
examples/form (pid $form_pid, 4 threads) listens on unix:$form_sock
nginx (pid $lib_nginx_pid) on 127.0.0.1:$port forwards /form and below to
examples/form, everything else to examples/echo.

Open in a browser:

  http://127.0.0.1:$port/form                 a form with file uploads
  http://127.0.0.1:$port/hello?name=world     the variables nginx sends

or try:

  curl 'http://127.0.0.1:$port/hello?name=world'
  curl --data-binary @/etc/os-release http://127.0.0.1:$port/upload
  curl -F title=hello -F tags=a -F tags=b -F file=@/etc/os-release \\
    http://127.0.0.1:$port/form

examples/echo lists the CGI variables nginx sent, then echoes the body;
examples/form answers a post with its fields, and each file's size and
CRC-32.
Logs: $dir/echo.log, $dir/form.log and $dir/nginx/error.log
Press Ctrl-C to stop.

EOF

# Returns when any process ends; Ctrl-C runs the EXIT trap instead.
rc=0
wait -n "$echo_pid" "$form_pid" "$lib_nginx_pid" || rc=$?
if ! lib_alive "$lib_nginx_pid"; then
  say "nginx exited (status $rc):"
  tail -n 20 "$dir/nginx/error.log" >&2 || true
fi
for name in echo form; do
  pid=${name}_pid
  if ! lib_alive "${!pid}"; then
    say "examples/$name exited (status $rc):"
    tail -n 20 "$dir/$name.log" >&2 || true
  fi
done
exit 1
