#!/usr/bin/env bash
# lighttpd.sh - lighttpd 1.4 with mod_scgi, configured with README's
# "lighttpd" block, in front of examples/echo and examples/form, straight
# and through scgiserver in pass and in proxy mode: the variables of a GET
# as lighttpd sends them (SCGI last), a 5 MiB binary POST echoed
# byte-exact, a multipart upload, 16 clients at a time, and what becomes of
# two Cookie lines. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Needs lighttpd and curl; skipped when either is absent. lighttpd runs in
# the foreground from a config of the test's own, on 127.0.0.1; everything
# started is stopped by PID at exit, also on failure.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/srv.sh"
. "$top_srcdir/tests/front.sh"

lighttpd=$(front_find "$(command -v lighttpd 2>/dev/null || true)" \
  /usr/sbin/lighttpd /usr/local/sbin/lighttpd) ||
  tap_skip_all "lighttpd not installed"
command -v curl >/dev/null || tap_skip_all "curl not installed"

front_setup

front=lighttpd
front_path_vars() { printf '%s\n' "SCRIPT_NAME=$1" PATH_INFO=/x/y; }
front_absent=""
front_scgi_at=last

front_prepare
front_backends

# ---------------------------------------------------------------- lighttpd

# lighttpd_conf PORT: the whole config, README's block once per target.
lighttpd_conf() {
  local name prefix p kind
  cat <<EOF
server.bind = "127.0.0.1"
server.port = $1
server.document-root = "$dir/lighttpd/html"
server.pid-file = "$dir/lighttpd/lighttpd.pid"
server.errorlog = "$dir/lighttpd/error.log"
server.upload-dirs = ( "$dir/lighttpd/upload" )
EOF
  if [ "$(id -u)" = 0 ]; then
    printf 'server.username = "nobody"\nserver.groupname = "%s"\n' \
      "$(id -gn nobody 2>/dev/null || echo nogroup)"
  fi
  while read -r name prefix p kind; do
    echo "# $name ($kind)"
    readme_snippet lighttpd "$prefix" "$p" || return 1
  done <<<"$targets"
}

mkdir -p "$dir/lighttpd/html" "$dir/lighttpd/upload"
chmod 0777 "$dir/lighttpd" "$dir/lighttpd/upload"
lighttpd_up() {
  local try
  for try in 1 2 3; do
    port=$(lib_free_port)
    lighttpd_conf "$port" >"$dir/lighttpd/lighttpd.conf" ||
      tap_bail "README.md's lighttpd block cannot be used"
    lib_spawn "$dir/lighttpd/lighttpd.out" "$lighttpd" -D \
      -f "$dir/lighttpd/lighttpd.conf"
    lighttpd_pid=$lib_pid
    if wait_listening 10 "$port" "$lighttpd_pid"; then
      base=http://127.0.0.1:$port
      return 0
    fi
    lib_stop "$lighttpd_pid"
    tap_diag "lighttpd did not start (try $try)"
  done
  cat "$dir/lighttpd/lighttpd.out" "$dir/lighttpd/error.log" 2>/dev/null |
    sed 's/^/# /' | tail -n 20
  tap_bail "lighttpd did not start"
}
lighttpd_up
tap_ok 0 "lighttpd starts with README's block for each of the 6 targets"
tap_diag "$("$lighttpd" -v | head -n 1)"

# ---------------------------------------------------------------- checks

front_check_all
front_check_cookies "a=1; b=2"

# ---------------------------------------------------------------- after

lib_stop "$lighttpd_pid" TERM
is 0 "$lib_status" "lighttpd: SIGTERM: exit status"
quiet_lighttpd_log() {
  ! grep -v -E '\(server\.c\.[0-9]+\) server (started|stopped)' \
    "$dir/lighttpd/error.log"
}
tap_check "lighttpd error log: only its start and stop" quiet_lighttpd_log
front_stop_backends
tap_diag "whole test: $(($(lib_now_ms) - test_started_ms)) ms"

tap_done
