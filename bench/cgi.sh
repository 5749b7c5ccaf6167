#!/usr/bin/env bash
# cgi.sh - scgiserver's CGI mode against fcgiwrap, the usual way to run
# CGI programs behind nginx: requests/s and CPU per request, side by side
# in one run.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Usage: BUILD=/path/to/build bench/cgi.sh
#
# One private nginx (1 worker) serves /scgi/NAME through scgiserver
# --cgi (a config file app with the route /scgi) and /fcgi/NAME through
# fcgiwrap (SCRIPT_FILENAME set by nginx), both on Unix sockets, both
# allowed 4 programs at once. Two programs: a /bin/sh script that prints
# a short response, and the same response from a small C program built
# here (so that the server's own cost shows, not the shell's). For each,
# wrk -t1 -c4 runs ROUNDS rounds of SECONDS seconds, alternating scgiserver
# and fcgiwrap; the table gives the medians of requests/s and of the CPU
# per request of the server process alone (utime + stime) and with the
# programs it reaped (cutime + cstime), from /proc/PID/stat (fcgiwrap:
# its preforked processes too; the times of the programs they run never
# reach their cutime, so that column is scgiserver's only). Prints a
# Markdown section on stdout, progress on stderr.
#
# Environment: BUILD (required), ROUNDS (default 3), SECONDS_EACH
# (default 5).
set -eu

: "${BUILD:?set BUILD to a build directory (binaries in BUILD/scgiserver)}"
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-3}
secs=${SECONDS_EACH:-5}

# shellcheck source-path=SCRIPTDIR/.. source=tests/lib.sh
. "$repo/tests/lib.sh"

bench_name=cgi
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"

[ -x "$BUILD/scgiserver/scgiserver" ] || die "$BUILD/scgiserver/scgiserver not found: build first"
need nginx nginx || [ -x /usr/sbin/nginx ] || die "nginx is missing"
need wrk wrk || die "wrk is missing"
need cc build-essential || die "a C compiler is missing"
[ -x /usr/sbin/fcgiwrap ] || need fcgiwrap fcgiwrap || [ -x /usr/sbin/fcgiwrap ] ||
  die "fcgiwrap is missing"
[ -r /etc/nginx/fastcgi_params ] || die "/etc/nginx/fastcgi_params is missing"

lib_tmpdir
dir=$lib_tmp
cgi=$dir/cgi-bin
mkdir -p "$cgi"
printf '#!/bin/sh\nprintf '"'"'Content-Type: text/plain\\n\\nhello\\n'"'"'\n' >"$cgi/hello.sh"
cat >"$dir/hello.c" <<'EOF'
#include <stdio.h>
int main(void)
{
  fputs("Content-Type: text/plain\n\nhello\n", stdout);
  return 0;
}
EOF
cc -O2 -o "$cgi/hello" "$dir/hello.c" || die "cannot build the C program"
chmod 0755 "$cgi" "$cgi/hello.sh" "$cgi/hello"

cat >"$dir/scgiserver.conf" <<EOF
[app cgi]
cgi = $cgi
route = /scgi
workers = 4
EOF
lib_spawn "$dir/scgiserver.log" "$BUILD/scgiserver/scgiserver" \
  -l "unix:$dir/scgi.sock" -c "$dir/scgiserver.conf" -t 8
scgi_pid=$lib_pid
lib_wait_socket "$dir/scgi.sock" "$scgi_pid" || die "scgiserver did not start"
# fcgiwrap -s binds the socket itself; nginx's workers connect as nobody.
lib_spawn "$dir/fcgiwrap.log" /usr/sbin/fcgiwrap -c 4 -s "unix:$dir/fcgi.sock"
fcgi_pid=$lib_pid
lib_wait_socket "$dir/fcgi.sock" "$fcgi_pid" || die "fcgiwrap did not start"
chmod 0666 "$dir/fcgi.sock"

port=$(lib_free_port)
lib_nginx_start "$dir/nginx" "$port" "
    location /scgi/ { include scgi_params; scgi_pass unix:$dir/scgi.sock; }
    location ~ ^/fcgi(/.*)\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $cgi\$1;
      fastcgi_pass unix:$dir/fcgi.sock;
    }" || die "nginx did not start"
base=http://127.0.0.1:$port
for v in scgi fcgi; do
  for p in hello.sh hello; do
    [ "$(curl -s "$base/$v/$p")" = hello ] || die "$v/$p does not answer hello"
  done
done

# cpu PID: "self children" clock ticks of PID and its own children
# (fcgiwrap's preforked processes do the work; they reap the programs).
cpu() {
  local p self=0 kids=0 s c
  for p in "$1" $(lib_children "$1"); do
    read -r s c < <(awk '{ print $14 + $15, $16 + $17 }' "/proc/$p/stat" 2>/dev/null || echo 0 0)
    self=$((self + s))
    kids=$((kids + c))
  done
  echo "$self $kids"
}
hz=$(getconf CLK_TCK)

# run VARIANT PROGRAM PID: one wrk round; appends "rps self_us total_us"
# to $dir/VARIANT-PROGRAM.
run() {
  local v=$1 p=$2 pid=$3 out s0 c0 s1 c1 n rps
  read -r s0 c0 < <(cpu "$pid")
  out=$(wrk -t1 -c4 -d"${secs}s" "$base/$v/$p")
  read -r s1 c1 < <(cpu "$pid")
  n=$(awk '/requests in/ { print $1 }' <<<"$out")
  rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  grep -q 'Non-2xx' <<<"$out" && die "$v/$p: errors: $(grep Non-2xx <<<"$out")"
  awk -v n="$n" -v rps="$rps" -v s="$((s1 - s0))" -v c="$((c1 - c0))" \
    -v hz="$hz" 'BEGIN { printf "%s %.1f %.1f\n", rps, s * 1e6 / hz / n,
                         (s + c) * 1e6 / hz / n }' >>"$dir/$v-$p"
}

for r in $(seq "$rounds"); do
  for p in hello.sh hello; do
    say "round $r/$rounds: $p"
    run scgi "$p" "$scgi_pid"
    run fcgi "$p" "$fcgi_pid"
  done
done

# median FILE COLUMN
median() { awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "### CGI mode: scgiserver --cgi and fcgiwrap behind nginx"
echo
echo "wrk -t1 -c4, $rounds rounds of $secs s alternating, medians; CPU per request"
echo "of the server's processes alone, and with the CGI programs they reaped"
echo "(fcgiwrap's programs never show in its children's times: n/a)."
echo
echo "| program | server | requests/s | server CPU µs/req | with programs µs/req |"
echo "|---|---|---:|---:|---:|"
for p in hello.sh hello; do
  for v in scgi fcgi; do
    name=$([ "$v" = scgi ] && echo "scgiserver --cgi" || echo fcgiwrap)
    total=$(median "$dir/$v-$p" 3)
    [ "$v" = scgi ] || total=n/a
    echo "| $p | $name | $(median "$dir/$v-$p" 1) | $(median "$dir/$v-$p" 2) | $total |"
  done
done
echo
echo "nginx $(nginx -v 2>&1 | sed 's|.*/||'), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')."
