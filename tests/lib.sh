# lib.sh - shell helpers for libscgi's integration tests and demo (bash).
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Source it from a bash script. It provides:
#  - TAP output: tap_ok, tap_check, tap_diag, tap_skip_all, tap_done;
#  - processes stopped by PID at exit (also on failure or a signal):
#    lib_spawn, lib_stop; commands run first at exit: lib_at_exit;
#  - processes: lib_running, lib_children; time: lib_now_ms;
#  - temporary directories removed at exit: lib_tmpdir;
#  - nginx in a private prefix: lib_find_nginx, lib_free_port,
#    lib_nginx_start.
# Nothing here ever stops a process by name.

# ---------------------------------------------------------------- TAP

tap_count=0
tap_failed=0

# tap_ok STATUS DESCRIPTION: prints "ok N - ..." when STATUS is 0.
tap_ok() {
  tap_count=$((tap_count + 1))
  if [ "$1" -eq 0 ]; then
    printf 'ok %d - %s\n' "$tap_count" "$2"
  else
    tap_failed=$((tap_failed + 1))
    printf 'not ok %d - %s\n' "$tap_count" "$2"
  fi
}

# tap_check DESCRIPTION COMMAND [ARGS...]: runs the command; ok if it
# succeeds. Its output goes to the log as diagnostics.
tap_check() {
  local what=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  tap_ok "$rc" "$what"
  if [ "$rc" -ne 0 ] && [ -n "$out" ]; then
    printf '%s\n' "$out" | head -n 40 | sed 's/^/#   /'
  fi
  return 0
}

# tap_skip DESCRIPTION REASON: a test that could not run here.
tap_skip() {
  tap_count=$((tap_count + 1))
  printf 'ok %d - %s # SKIP %s\n' "$tap_count" "$1" "$2"
}

# tap_todo STATUS DESCRIPTION REASON: a check of a known gap, reported as
# TAP "TODO" (an expected failure; passing turns it into an unexpected
# pass, which fails the run so that the TODO gets removed).
tap_todo() {
  tap_count=$((tap_count + 1))
  if [ "$1" -eq 0 ]; then
    printf 'ok %d - %s # TODO %s\n' "$tap_count" "$2" "$3"
  else
    printf 'not ok %d - %s # TODO %s\n' "$tap_count" "$2" "$3"
  fi
}

# tap_diag TEXT...: a comment line in the TAP stream.
tap_diag() {
  printf '# %s\n' "$*"
}

# tap_skip_all REASON: skips the whole script.
tap_skip_all() {
  printf '1..0 # SKIP %s\n' "$1"
  exit 0
}

# tap_bail REASON: aborts the script (TAP "Bail out!").
tap_bail() {
  printf 'Bail out! %s\n' "$1"
  exit 1
}

# tap_done: prints the plan; the exit status tells whether all passed.
tap_done() {
  printf '1..%d\n' "$tap_count"
  [ "$tap_failed" -eq 0 ]
}

# ---------------------------------------------------------------- cleanup

lib_pids=""
lib_dirs=""
lib_exit_hooks=""

lib_cleanup() {
  local pid dir hook
  # Only the script itself cleans up: a child forked by lib_spawn that is
  # signalled before its exec still has these traps.
  [ "${BASHPID:-$$}" = "$$" ] || return 0
  for hook in $lib_exit_hooks; do
    "$hook" || true
  done
  lib_exit_hooks=""
  for pid in $lib_pids; do
    lib_stop "$pid"
  done
  lib_pids=""
  for dir in $lib_dirs; do
    rm -rf -- "$dir"
  done
  lib_dirs=""
}

trap 'lib_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# lib_tmpdir: prints the path of a new 0755 temporary directory, removed at
# exit. Call it without a subshell so that the removal is registered:
# lib_tmpdir; dir=$lib_tmp
lib_tmpdir() {
  lib_tmp=$(mktemp -d "${TMPDIR:-/tmp}/libscgi-test.XXXXXX") || return 1
  chmod 0755 "$lib_tmp"
  lib_dirs="$lib_dirs $lib_tmp"
}

# lib_spawn LOGFILE COMMAND [ARGS...]: starts the command in the
# background with stdout and stderr to LOGFILE; sets lib_pid. The process
# is stopped at exit unless lib_stop stopped it before.
lib_spawn() {
  local log=$1
  shift
  "$@" </dev/null >"$log" 2>&1 &
  lib_pid=$!
  lib_pids="$lib_pids $lib_pid"
}

# lib_stop PID [SIGNAL]: sends SIGNAL (default TERM) to a process this
# script started, waits up to 5 s for it, then kills it. Sets lib_status
# to its exit status (or 128+signal).
lib_stop() {
  local pid=$1 sig=${2:-TERM}
  # shellcheck disable=SC2034 # for the caller
  lib_status=0
  if kill -0 "$pid" 2>/dev/null; then
    kill -s "$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -s KILL "$pid" 2>/dev/null || true
    fi
  fi
  # shellcheck disable=SC2034 # for the caller
  wait "$pid" 2>/dev/null || lib_status=$?
  local rest="" p
  for p in $lib_pids; do
    [ "$p" = "$pid" ] || rest="$rest $p"
  done
  lib_pids=$rest
}

# lib_wait_for TIMEOUT_S COMMAND [ARGS...]: retries the command every
# 50 ms until it succeeds; fails after TIMEOUT_S seconds.
lib_wait_for() {
  local tries=$(($1 * 20))
  shift
  while ! "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    sleep 0.05
  done
}

# lib_alive PID: true while the process runs.
lib_alive() {
  kill -0 "$1" 2>/dev/null
}

# lib_at_exit FUNCTION: runs FUNCTION (a name, no arguments) at exit,
# before the processes of lib_spawn are stopped: e.g. to stop processes
# that a spawned process started itself.
lib_at_exit() {
  lib_exit_hooks="$lib_exit_hooks $1"
}

# lib_running PID: true while the process exists and is not a zombie
# (a child of an exited process may wait a while to be reaped).
lib_running() {
  local state
  state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# lib_children PID: prints the PIDs of PID's running children, one a line
# (read from /proc: needs no pgrep).
lib_children() {
  local parent=$1 stat line fields
  for stat in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$stat" || continue
    # "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
    read -r -a fields <<<"${line##*) }"
    if [ "${fields[1]:-}" = "$parent" ] && [ "${fields[0]}" != Z ]; then
      printf '%s\n' "${line%% *}"
    fi
  done
}

# lib_now_ms: prints the time in milliseconds (for durations).
lib_now_ms() {
  date +%s%3N
}

# ---------------------------------------------------------------- nginx

# lib_find_nginx: prints the nginx binary's path; fails when absent.
lib_find_nginx() {
  local n
  for n in "$(command -v nginx 2>/dev/null || true)" /usr/sbin/nginx \
      /usr/local/sbin/nginx /usr/local/nginx/sbin/nginx; do
    if [ -n "$n" ] && [ -x "$n" ]; then
      printf '%s\n' "$n"
      return 0
    fi
  done
  return 1
}

# lib_port_used PORT: true when something on this machine binds PORT.
lib_port_used() {
  local hex
  hex=$(printf '%04X' "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -v h=":$hex" '$2 ~ h"$" { found = 1 } END { exit !found }'
}

# lib_free_port: prints a TCP port that nothing uses right now.
lib_free_port() {
  local p low=32768
  # Stay below the kernel's ephemeral range: a client connection made
  # meanwhile (curl, nginx upstreams) could otherwise take the port.
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$low" -gt 11000 ] 2>/dev/null || low=32768
  for _ in $(seq 100); do
    p=$(( (RANDOM * 32768 + RANDOM) % (low - 10000) + 10000 ))
    if ! lib_port_used "$p"; then
      printf '%d\n' "$p"
      return 0
    fi
  done
  return 1
}

# The parameters of Debian's /etc/nginx/scgi_params, for machines that
# have nginx without that file.
lib_scgi_params() {
  cat <<'EOF'
scgi_param  REQUEST_METHOD     $request_method;
scgi_param  REQUEST_URI        $request_uri;
scgi_param  QUERY_STRING       $query_string;
scgi_param  CONTENT_TYPE       $content_type;

scgi_param  DOCUMENT_URI       $document_uri;
scgi_param  DOCUMENT_ROOT      $document_root;
scgi_param  SCGI               1;
scgi_param  SERVER_PROTOCOL    $server_protocol;
scgi_param  REQUEST_SCHEME     $scheme;
scgi_param  HTTPS              $https if_not_empty;

scgi_param  REMOTE_ADDR        $remote_addr;
scgi_param  REMOTE_PORT        $remote_port;
scgi_param  SERVER_PORT        $server_port;
scgi_param  SERVER_NAME        $server_name;
EOF
}

# lib_nginx_up PREFIX SERVER_BODY: lib_nginx_start on a free port (three
# tries, since another process may take the port meanwhile); sets `port` and
# `base`. Bails out of the TAP run when nginx never starts.
lib_nginx_up() {
  local prefix=$1 body=$2
  for _ in 1 2 3; do
    port=$(lib_free_port)
    if lib_nginx_start "$prefix" "$port" "$body" 2>"$prefix.err"; then
      base=http://127.0.0.1:$port
      return 0
    fi
    [ -z "${lib_nginx_pid:-}" ] || lib_stop "$lib_nginx_pid"
  done
  sed 's/^/# /' "$prefix.err"
  tap_bail "nginx did not start"
}

# lib_nginx_start PREFIX PORT SERVER_BODY: writes PREFIX/nginx.conf with a
# server on 127.0.0.1:PORT whose body is SERVER_BODY (locations, where
# `include scgi_params;` works), starts nginx in the foreground and waits
# until it answers. Sets lib_nginx_pid. Logs go to PREFIX/error.log.
lib_nginx_start() {
  local prefix=$1 port=$2 body=$3 nginx params
  nginx=$(lib_find_nginx) || { echo "nginx not found" >&2; return 1; }
  if [ -r /etc/nginx/scgi_params ]; then
    params=/etc/nginx/scgi_params
  else
    params=$prefix/scgi_params
    lib_scgi_params >"$params"
  fi
  mkdir -p "$prefix/temp"
  chmod 0755 "$prefix" "$prefix/temp"
  cat >"$prefix/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 1024; }
http {
  access_log $prefix/access.log;
  client_body_temp_path $prefix/temp/client_body;
  proxy_temp_path $prefix/temp/proxy;
  fastcgi_temp_path $prefix/temp/fastcgi;
  uwsgi_temp_path $prefix/temp/uwsgi;
  scgi_temp_path $prefix/temp/scgi;
  client_max_body_size 1g;
  server {
    listen 127.0.0.1:$port;
    server_name localhost;
    location = /lib-sh-ping { return 204; }
$(printf '%s\n' "$body" | sed "s|include scgi_params;|include $params;|")
  }
}
EOF
  # -e (nginx >= 1.19.5) keeps nginx from opening its default log first.
  set -- -p "$prefix/" -c "$prefix/nginx.conf"
  if "$nginx" -h 2>&1 | grep -q -- '-e filename'; then
    set -- -e "$prefix/error.log" "$@"
  fi
  "$nginx" "$@" </dev/null >>"$prefix/nginx.out" 2>&1 &
  lib_nginx_pid=$!
  lib_pids="$lib_pids $lib_nginx_pid"
  for _ in $(seq 200); do
    if ! lib_alive "$lib_nginx_pid"; then
      cat "$prefix/nginx.out" "$prefix/error.log" >&2 2>/dev/null
      return 1
    fi
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/lib-sh-ping"
    then
      return 0
    fi
    sleep 0.05
  done
  echo "nginx did not answer on 127.0.0.1:$port within 10 s" >&2
  return 1
}

# lib_wait_socket PATH PID: waits up to 10 s for a Unix socket file to
# appear while PID runs.
lib_wait_socket() {
  local _
  for _ in $(seq 200); do
    [ -S "$1" ] && return 0
    lib_alive "$2" || return 1
    sleep 0.05
  done
  return 1
}
