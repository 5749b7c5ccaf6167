#!/usr/bin/env bash
# apache.sh - Apache httpd 2.4 with mod_proxy_scgi, configured with
# README's "apache" block, in front of examples/echo and examples/form,
# straight and through scgiserver in pass and in proxy mode: the variables
# of a GET as Apache sends them, a 5 MiB binary POST echoed byte-exact, a
# multipart upload, 16 clients at a time, and what becomes of two Cookie
# lines. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Needs apache2 (Debian's package: apache2 -f CONF with the modules in
# /usr/lib/apache2/modules) and curl; skipped when either is absent.
# Apache runs in the foreground from a config of the test's own, on
# 127.0.0.1; everything started is stopped by PID at exit, also on
# failure.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/srv.sh"
. "$top_srcdir/tests/front.sh"

apache=$(front_find "$(command -v apache2 2>/dev/null || true)" \
  /usr/sbin/apache2 "$(command -v httpd 2>/dev/null || true)" /usr/sbin/httpd) ||
  tap_skip_all "apache2 not installed"
modules=${APACHE_MODULES:-/usr/lib/apache2/modules}
for m in mpm_event authz_core proxy proxy_scgi; do
  [ -r "$modules/mod_$m.so" ] ||
    tap_skip_all "no $modules/mod_$m.so (set APACHE_MODULES)"
done
command -v curl >/dev/null || tap_skip_all "curl not installed"

front_setup

front=Apache
front_path_vars() { printf '%s\n' "SCRIPT_NAME=$1/x/y"; }
front_absent=PATH_INFO
front_scgi_at=2

front_prepare
front_backends

# ---------------------------------------------------------------- Apache

# apache_conf PORT: the whole config, README's block once per target.
apache_conf() {
  local name prefix p kind user="" group=""
  if [ "$(id -u)" = 0 ]; then
    user="User nobody"
    group="Group $(id -gn nobody 2>/dev/null || echo nogroup)"
  fi
  cat <<EOF
ServerRoot "$dir/apache"
PidFile "$dir/apache/httpd.pid"
DefaultRuntimeDir "$dir/apache"
ErrorLog "$dir/apache/error.log"
LogLevel warn
Listen 127.0.0.1:$1
ServerName 127.0.0.1
DocumentRoot "$dir/apache"
$user
$group
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule proxy_module $modules/mod_proxy.so
LoadModule proxy_scgi_module $modules/mod_proxy_scgi.so
StartServers 1
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
EOF
  while read -r name prefix p kind; do
    echo "# $name ($kind)"
    readme_snippet apache "$prefix" "$p" || return 1
  done <<<"$targets"
}

mkdir "$dir/apache"
apache_up() {
  local try
  for try in 1 2 3; do
    port=$(lib_free_port)
    apache_conf "$port" >"$dir/apache/httpd.conf" ||
      tap_bail "README.md's apache block cannot be used"
    lib_spawn "$dir/apache/httpd.out" "$apache" -f "$dir/apache/httpd.conf" \
      -DFOREGROUND
    apache_pid=$lib_pid
    if wait_listening 10 "$port" "$apache_pid"; then
      base=http://127.0.0.1:$port
      return 0
    fi
    lib_stop "$apache_pid"
    tap_diag "Apache did not start (try $try)"
  done
  cat "$dir/apache/httpd.out" "$dir/apache/error.log" 2>/dev/null |
    sed 's/^/# /' | tail -n 20
  tap_bail "Apache did not start"
}
apache_up
tap_ok 0 "Apache starts with README's block for each of the 6 targets"
tap_diag "$("$apache" -v | head -n 1)"

# ---------------------------------------------------------------- checks

front_check_all
front_check_cookies "a=1, b=2" \
  "Apache joins Cookie lines with ', ', scgi_form_cookies() splits at ';'"

# ---------------------------------------------------------------- after

lib_stop "$apache_pid" TERM
is 0 "$lib_status" "Apache: SIGTERM: exit status"
# Its lines are "[module:level] ...".
quiet_apache_log() {
  ! grep -E '\[[a-z_0-9]+:(warn|error|crit|alert|emerg)\]' \
    "$dir/apache/error.log"
}
tap_check "Apache error log: no warning or error" quiet_apache_log
front_stop_backends
tap_diag "whole test: $(($(lib_now_ms) - test_started_ms)) ms"

tap_done
