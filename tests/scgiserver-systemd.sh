#!/usr/bin/env bash
# scgiserver-systemd.sh - scgiserver under systemd, without systemd: socket
# activation (listeners passed as LISTEN_FDS from descriptor 3, no
# --listen; the example config served that way), the notify protocol
# (READY=1 once it serves, RELOADING=1 and READY=1 around a SIGHUP,
# STOPPING=1 at SIGTERM, to a path or an abstract socket, with -d, and
# with no one listening), NOTIFY_SOCKET kept from the workers, and
# `systemd-analyze verify` on the units. TAP output.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# python3 plays systemd's part (it binds the sockets, then execs
# scgiserver with the same pid, or receives the notifications); without
# it only the unit checks run. Everything started is stopped by PID at
# exit, scgiserver's workers included.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

scgiserver=$(cd "$top_builddir/scgiserver" && pwd)/scgiserver
rawsend=$top_builddir/tests/rawsend
[ -x "$scgiserver" ] || tap_bail "$scgiserver not built"
[ -x "$rawsend" ] || tap_bail "$rawsend not built"
[ -x "$top_builddir/examples/echo" ] || tap_bail "examples/echo not built"
echo_bin=$(cd "$top_builddir/examples" && pwd)/echo

python=""
for p in /usr/bin/python3 "$(command -v python3 2>/dev/null || true)"; do
  if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import socket' 2>/dev/null; then
    python=$p
    break
  fi
done

# Run under systemd itself, this script must not pass the real manager's
# variables on to the servers it starts.
unset NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES

lib_tmpdir
dir=$lib_tmp

# ---------------------------------------------------------------- helpers

# sd.py activate PORTFILE ADDRESS... -- PROGRAM ARGS: listens on each
# ADDRESS (unix:PATH or HOST:PORT; port 0: any, written to PORTFILE),
# moves the sockets to descriptors 3, 4, ..., sets LISTEN_FDS and
# LISTEN_PID (this pid, kept by exec; $SD_LISTEN_PID instead if set) and
# execs PROGRAM.
# sd.py notify ADDRESS LOG [PROBE_PATH REQUEST]: receives notifications on
# ADDRESS (a path, or @name: abstract) for up to 120 s, appending each to
# LOG as its lines, AT_USEC=<CLOCK_MONOTONIC> and "--". At the first
# READY=1 it first sends REQUEST to unix:PROBE_PATH and adds PROBE=<status
# line> and CHILDREN=<running children of MAINPID>. LOG.ready marks it bound.
cat >"$dir/sd.py" <<'EOF'
import os, socket, sys, time

def listener(addr):
    if addr.startswith('unix:'):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(addr[5:])
    else:
        host, port = addr.rsplit(':', 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((host, int(port)))
    s.listen(64)
    return s

def activate(args):
    sep = args.index('--')
    portfile, addrs, prog = args[0], args[1:sep], args[sep + 1:]
    socks = [listener(a) for a in addrs]
    with open(portfile + '.tmp', 'w') as f:
        for s in socks:
            if s.family == socket.AF_INET:
                f.write('%d\n' % s.getsockname()[1])
    os.rename(portfile + '.tmp', portfile)
    # Out of the way first, so that moving one cannot close another.
    for i, s in enumerate(socks):
        os.dup2(s.fileno(), 100 + i)
    for i in range(len(socks)):
        os.dup2(100 + i, 3 + i)  # inheritable, unlike Python's own fds
        os.close(100 + i)
    os.environ['LISTEN_FDS'] = str(len(socks))
    os.environ['LISTEN_PID'] = os.environ.get('SD_LISTEN_PID', str(os.getpid()))
    os.execv(prog[0], prog)

def children(pid):
    n = 0
    for d in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % d) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == pid and fields[0] != 'Z':
            n += 1
    return n

def probe(msg, path, request):
    pid = ''
    for line in msg.splitlines():
        if line.startswith('MAINPID='):
            pid = line[8:]
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(5)
    status = 'none'
    try:
        c.connect(path)
        with open(request, 'rb') as f:
            c.sendall(f.read())
        c.shutdown(socket.SHUT_WR)
        data = b''
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
        status = data.split(b'\r\n', 1)[0].decode(errors='replace')
    except OSError as e:
        status = 'error %s' % e
    c.close()
    return 'PROBE=%s\nCHILDREN=%d\n' % (status, children(pid))

def notify(args):
    addr, log = args[0], args[1]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind('\0' + addr[1:] if addr.startswith('@') else addr)
    s.settimeout(0.5)
    open(log + '.ready', 'w').close()
    probed = len(args) < 4
    end = time.monotonic() + 120
    while time.monotonic() < end:
        try:
            msg = s.recv(4096).decode(errors='replace')
        except socket.timeout:
            continue
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        rec = msg.rstrip('\n') + '\nAT_USEC=%d\n' % now
        if not probed and 'READY=1' in msg.splitlines():
            probed = True
            rec += probe(msg, args[2], args[3])
        with open(log, 'a') as f:
            f.write(rec + '--\n')

{'activate': activate, 'notify': notify}[sys.argv[1]](sys.argv[2:])
EOF

# request URI FILE: an SCGI GET request for URI.
request() {
  local h=$2.headers
  printf 'CONTENT_LENGTH\0000\000SCGI\0001\000REQUEST_METHOD\000GET\000REQUEST_URI\000%s\000' \
    "$1" >"$h"
  { printf '%d:' "$(wc -c <"$h")"; cat "$h"; printf ','; } >"$2"
}

# answers ADDRESS URI: echo's 200 for URI through ADDRESS.
answers() {
  request "$2" "$dir/req"
  "$rawsend" "$1" "$dir/req" --timeout-ms 5000 >"$dir/answer" 2>/dev/null &&
    head -n 1 "$dir/answer" | grep -q '^Status: 200' &&
    grep -q "^REQUEST_URI=$2\$" "$dir/answer"
}

srv_seen=""
# Workers of every scgiserver started here, killed by PID at exit if left.
kill_seen() {
  local p
  for p in $srv_seen; do
    lib_running "$p" && kill -s KILL "$p" 2>/dev/null
  done
  return 0
}
lib_at_exit kill_seen

# workers PID: prints the running children of PID (and remembers them).
workers() {
  local k
  k=$(lib_children "$1" | tr '\n' ' ')
  srv_seen="$srv_seen $k"
  printf '%s\n' "$k"
}

# env_has PID VAR: true when VAR is in PID's environment.
env_has() {
  tr '\0' '\n' <"/proc/$1/environ" | grep -q "^$2="
}

# ---------------------------------------------------------------- notify log

# msgs LOG: one line per notification: its lines joined by spaces.
msgs() {
  [ -f "$1" ] || return 0
  awk '/^--$/ { print line; line = ""; next }
       { line = line (line == "" ? "" : " ") $0 }' "$1"
}
nmsgs() { msgs "$1" | grep -c . || true; }
msgs_at_least() { [ "$(nmsgs "$1")" -ge "$2" ]; }
# msg LOG N: the Nth notification.
msg() { msgs "$1" | sed -n "$2p"; }
# has MESSAGE WORD...: every WORD is one of MESSAGE's lines.
has() {
  local m=" $1 " w
  shift
  for w in "$@"; do
    case $m in *" $w "*) ;; *) return 1 ;; esac
  done
}
# field MESSAGE KEY: the value of KEY= in MESSAGE.
field() {
  printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# notify_start ADDRESS LOG [PROBE_PATH]: the receiver, bound.
notify_start() {
  local addr=$1 log=$2
  shift 2
  if [ $# -gt 0 ]; then
    request /probe "$dir/probe.req"
    set -- "$1" "$dir/probe.req"
  fi
  lib_spawn "$log.out" "$python" "$dir/sd.py" notify "$addr" "$log" "$@"
  notify_pid=$lib_pid
  lib_wait_for 10 test -e "$log.ready" || tap_bail "the notify receiver did not start"
}

# ================================================================ activation

if [ -z "$python" ]; then
  tap_skip "socket activation and notifications" "no python3"
else
  # Two listeners: a Unix socket (fd 3) and TCP on a free port (fd 4).
  act=$dir/act.sock
  lib_spawn "$dir/act.log" "$python" "$dir/sd.py" activate "$dir/ports" \
    "unix:$act" 127.0.0.1:0 -- "$scgiserver" -w 2 -- "$echo_bin"
  act_pid=$lib_pid
  lib_wait_for 10 test -s "$dir/ports" || true
  port=$(head -n 1 "$dir/ports" 2>/dev/null || echo 0)
  lib_wait_for 10 answers "unix:$act" /sd-unix || true
  tap_check "activation: serves on the inherited Unix listener (fd 3), no --listen" \
    answers "unix:$act" /sd-unix
  tap_check "activation: and on the inherited TCP listener (fd 4, port $port)" \
    answers "127.0.0.1:$port" /sd-tcp
  # (In the build tree, libtool's wrapper execs lt-scgiserver.)
  comm=$(cat "/proc/$act_pid/comm" 2>/dev/null || true)
  tap_ok "$(case $comm in scgiserver | lt-scgiserver) echo 0 ;; *) echo 1 ;; esac)" \
    "activation: LISTEN_PID is scgiserver's own pid ($act_pid: $comm)"
  kids=$(workers "$act_pid")
  leak=""
  for p in $kids; do
    env_has "$p" LISTEN_PID && leak="$leak $p"
  done
  tap_ok "$([ -n "$kids" ] && [ -z "$leak" ]; echo $?)" \
    "activation: the workers get no LISTEN_PID (workers: $kids; leaked:${leak:- none})"
  lib_stop "$act_pid"
  tap_ok "$lib_status" "activation: SIGTERM: exit 0 (got $lib_status)"
  tap_ok "$([ -S "$act" ]; echo $?)" \
    "activation: the inherited socket file is left to its owner"
  if [ "$lib_status" -ne 0 ]; then sed 's/^/#   /' "$dir/act.log"; fi

  # LISTEN_PID naming another process: those sockets are not ours.
  rc=0
  SD_LISTEN_PID=1 timeout 10 "$python" "$dir/sd.py" activate "$dir/ports2" \
    "unix:$dir/other.sock" -- "$scgiserver" -w 1 -- "$echo_bin" \
    </dev/null >"$dir/other.log" 2>&1 || rc=$?
  tap_ok "$([ "$rc" != 0 ] && [ "$rc" != 124 ] &&
            grep -q 'listen (inherited)' "$dir/other.log"; echo $?)" \
    "activation: LISTEN_PID of another process: refused (exit $rc: $(grep -m1 error "$dir/other.log" || true))"

  # The example config, socket-activated as the units do it (its exec
  # lines made to run examples/echo).
  sed "s|^exec = .*|exec = $echo_bin|" \
    "$top_srcdir/scgiserver/scgiserver.conf.example" >"$dir/example.conf"
  lib_spawn "$dir/example.log" "$python" "$dir/sd.py" activate \
    "$dir/ports3" "unix:$dir/example.sock" -- "$scgiserver" \
    -c "$dir/example.conf"
  ex_pid=$lib_pid
  lib_wait_for 10 answers "unix:$dir/example.sock" /example || true
  tap_check "scgiserver.conf.example: accepted, serves when socket-activated" \
    answers "unix:$dir/example.sock" /example
  workers "$ex_pid" >/dev/null
  lib_stop "$ex_pid"
  tap_ok "$lib_status" "scgiserver.conf.example: SIGTERM: exit 0 (got $lib_status)"
  if [ "$lib_status" -ne 0 ]; then sed 's/^/#   /' "$dir/example.log"; fi
fi

# ================================================================ notify

if [ -n "$python" ]; then
  front=$dir/front.sock
  conf=$dir/notify.conf
  log=$dir/notify.log
  printf '[app one]\nexec = %s\nworkers = 2\nroute = /\n' "$echo_bin" >"$conf"

  notify_start "$dir/notify.sock" "$log" "$front"
  lib_spawn "$dir/srv.log" env NOTIFY_SOCKET="$dir/notify.sock" \
    "$scgiserver" -l "unix:$front" -c "$conf"
  srv=$lib_pid
  lib_wait_for 15 msgs_at_least "$log" 1 || true
  m=$(msg "$log" 1)
  tap_ok "$(has "$m" READY=1 "MAINPID=$srv" "STATUS=serving 1 app"; echo $?)" \
    "notify: READY=1 with MAINPID and STATUS ($m)"
  tap_ok "$(has "$m" "PROBE=Status: 200 OK" CHILDREN=2; echo $?)" \
    "notify: at READY=1 the listener answers and both workers run"
  kids=$(workers "$srv")
  leak=""
  for p in $kids; do
    env_has "$p" NOTIFY_SOCKET && leak="$leak $p"
  done
  tap_ok "$([ -n "$kids" ] && [ -z "$leak" ] && env_has "$srv" NOTIFY_SOCKET
            echo $?)" \
    "notify: the workers do not inherit NOTIFY_SOCKET (workers: $kids; leaked:${leak:- none})"

  # A reload that adds an app, then one that fails.
  printf '[app two]\nexec = %s\nworkers = 1\nroute = /two\n' "$echo_bin" >>"$conf"
  kill -s HUP "$srv"
  lib_wait_for 15 msgs_at_least "$log" 3 || true
  m=$(msg "$log" 2)
  mono=$(field "$m" MONOTONIC_USEC)
  at=$(field "$m" AT_USEC)
  tap_ok "$(has "$m" RELOADING=1 && [ -n "$mono" ] && [ "$mono" -le "$at" ] &&
            [ $((at - mono)) -lt 5000000 ]; echo $?)" \
    "notify: SIGHUP: RELOADING=1 with a current MONOTONIC_USEC ($m)"
  m=$(msg "$log" 3)
  tap_ok "$(has "$m" READY=1 "STATUS=serving 2 apps"; echo $?)" \
    "notify: reloaded: READY=1 again, with the new app count ($m)"
  tap_check "notify: the reloaded config serves" answers "unix:$front" /two
  kids=$(workers "$srv")
  leak=""
  for p in $kids; do
    env_has "$p" NOTIFY_SOCKET && leak="$leak $p"
  done
  tap_ok "$([ -n "$kids" ] && [ -z "$leak" ]; echo $?)" \
    "notify: nor do the reload's workers (leaked:${leak:- none})"

  echo 'bogus line' >>"$conf"
  kill -s HUP "$srv"
  lib_wait_for 15 msgs_at_least "$log" 5 || true
  tap_ok "$(has "$(msg "$log" 4)" RELOADING=1 &&
            has "$(msg "$log" 5)" READY=1; echo $?)" \
    "notify: a failed reload: RELOADING=1, then READY=1 ($(msg "$log" 5))"
  tap_ok "$(msg "$log" 5 | grep -q 'STATUS=serving 2 apps (reload failed'
            echo $?)" "notify: its STATUS says the reload failed"

  lib_stop "$srv"
  tap_ok "$lib_status" "notify: SIGTERM: exit 0 (got $lib_status)"
  lib_wait_for 5 msgs_at_least "$log" 6 || true
  m=$(msg "$log" 6)
  tap_ok "$(has "$m" STOPPING=1 && [ "$(nmsgs "$log")" = 6 ]; echo $?)" \
    "notify: SIGTERM: STOPPING=1, the last notification ($m)"
  tap_ok "$(! grep -q 'cannot notify' "$dir/srv.log"; echo $?)" \
    "notify: no sending error logged"
  lib_stop "$notify_pid"

  # The abstract namespace: NOTIFY_SOCKET=@name.
  name=@libscgi-test-$$-$RANDOM
  alog=$dir/abstract.log
  notify_start "$name" "$alog"
  lib_spawn "$dir/abstract-srv.log" env NOTIFY_SOCKET="$name" \
    "$scgiserver" -l "unix:$dir/abstract-front.sock" -w 1 -- "$echo_bin"
  srv=$lib_pid
  lib_wait_for 15 msgs_at_least "$alog" 1 || true
  tap_ok "$(has "$(msg "$alog" 1)" READY=1 "MAINPID=$srv"; echo $?)" \
    "notify: abstract socket ($name): READY=1 ($(msg "$alog" 1))"
  workers "$srv" >/dev/null
  lib_stop "$srv"
  lib_wait_for 5 msgs_at_least "$alog" 2 || true
  tap_ok "$(has "$(msg "$alog" 2)" STOPPING=1; echo $?)" \
    "notify: abstract socket: STOPPING=1"
  lib_stop "$notify_pid"

  # No one listening: served all the same, the error logged once.
  lib_spawn "$dir/nobody-srv.log" env NOTIFY_SOCKET="$dir/nobody.sock" \
    "$scgiserver" -l "unix:$dir/nobody-front.sock" -w 1 -- "$echo_bin"
  srv=$lib_pid
  lib_wait_for 10 answers "unix:$dir/nobody-front.sock" /nobody || true
  tap_check "notify: NOTIFY_SOCKET with no receiver: serves all the same" \
    answers "unix:$dir/nobody-front.sock" /nobody
  workers "$srv" >/dev/null
  kill -s HUP "$srv"
  lib_wait_for 10 grep -q 'reloaded' "$dir/nobody-srv.log" || true
  lib_stop "$srv"
  n=$(grep -c 'cannot notify' "$dir/nobody-srv.log" || true)
  tap_ok "$([ "$lib_status" = 0 ] && [ "$n" = 1 ]; echo $?)" \
    "notify: the sending error is logged once (exit $lib_status, $n lines)"

  # -d: the daemon notifies, with its own pid, before the command returns.
  dlog=$dir/daemon.log
  notify_start "$dir/daemon-notify.sock" "$dlog"
  rc=0
  NOTIFY_SOCKET=$dir/daemon-notify.sock "$scgiserver" -d -p "$dir/d.pid" \
    -l "unix:$dir/daemon-front.sock" -w 1 -- "$echo_bin" \
    </dev/null >"$dir/daemon-srv.log" 2>&1 || rc=$?
  dpid=$(cat "$dir/d.pid" 2>/dev/null || true)
  if [ -n "$dpid" ]; then
    lib_pids="$lib_pids $dpid" # stopped at exit if still there
    workers "$dpid" >/dev/null
  fi
  lib_wait_for 5 msgs_at_least "$dlog" 1 || true
  tap_ok "$([ "$rc" = 0 ] && [ -n "$dpid" ] &&
            has "$(msg "$dlog" 1)" READY=1 "MAINPID=$dpid"; echo $?)" \
    "notify: -d: READY=1 from the daemon, MAINPID=$dpid (exit $rc: $(msg "$dlog" 1))"
  if [ -n "$dpid" ]; then lib_stop "$dpid"; fi
  lib_stop "$notify_pid"
fi

# ================================================================ units

units=$dir/units
mkdir "$units"
sed -e "s|@bindir@|$(dirname "$scgiserver")|g" \
  "$top_srcdir/scgiserver/scgiserver.service.in" >"$units/scgiserver.service"
cp "$top_srcdir/scgiserver/scgiserver.socket" "$units/"
tap_ok "$(! grep -q '@[a-z]*@' "$units/scgiserver.service"; echo $?)" \
  "units: scgiserver.service.in has no substitution left but @bindir@"

if ! command -v systemd-analyze >/dev/null; then
  tap_skip "units: systemd-analyze verify" "no systemd-analyze"
else
  rc=0
  (cd "$units" && timeout 60 systemd-analyze verify \
    scgiserver.socket scgiserver.service) >"$dir/verify.log" 2>&1 || rc=$?
  if grep -q 'scgiserver\.s' "$dir/verify.log"; then
    # Something about our units: an error or a warning, either fails.
    tap_ok 1 "units: systemd-analyze verify (exit $rc)"
    sed 's/^/#   /' "$dir/verify.log"
  elif [ "$rc" -ne 0 ]; then
    tap_skip "units: systemd-analyze verify" \
      "cannot run here: $(head -n 1 "$dir/verify.log")"
  else
    tap_ok 0 "units: systemd-analyze verify"
  fi
fi

tap_done
