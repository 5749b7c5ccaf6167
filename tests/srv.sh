# srv.sh - helpers shared by the scgiserver tests that start one
# scgiserver at a time on a Unix front socket: sourced after tests/lib.sh,
# with $scgiserver, $dir and $front set.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later

# is EXPECTED ACTUAL DESCRIPTION: a check that shows both values.
is() {
  tap_ok "$([ "$1" = "$2" ]; echo $?)" "$3 (expected $1, got $2)"
}

srv_pid=""
srv_name=""
srv_seen=""

# Stops, by PID, the workers seen (at exit, also on failure).
kill_seen() {
  local p
  [ -n "$srv_pid" ] && srv_seen="$srv_seen $(lib_children "$srv_pid")"
  for p in $srv_seen; do
    lib_running "$p" && kill -s KILL "$p" 2>/dev/null
  done
  return 0
}
lib_at_exit kill_seen

# srv_start NAME ARGS...: scgiserver -l unix:$front ARGS, logging to
# $dir/NAME.log; waits for its socket and its workers (WORKERS, default 2).
srv_start() {
  srv_name=$1
  shift
  rm -f "$front"
  lib_spawn "$dir/$srv_name.log" "$scgiserver" -l "unix:$front" "$@"
  srv_pid=$lib_pid
  if ! lib_wait_socket "$front" "$srv_pid"; then
    sed 's/^/# /' "$dir/$srv_name.log" | head -n 20
    tap_bail "$srv_name: scgiserver did not start"
  fi
  lib_wait_for 5 kids_are "${WORKERS:-2}" || true
  srv_seen="$srv_seen $(lib_children "$srv_pid" | tr '\n' ' ')"
}
kids_are() { [ "$(lib_children "$srv_pid" | grep -c .)" = "$1" ]; }

# srv_stop: SIGTERM; checks the exit status.
srv_stop() {
  srv_seen="$srv_seen $(lib_children "$srv_pid" | tr '\n' ' ')"
  lib_stop "$srv_pid" TERM
  is 0 "$lib_status" "$srv_name: SIGTERM: exit status"
  srv_pid=""
}
