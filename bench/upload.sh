#!/usr/bin/env bash
# upload.sh - a 1 GiB multipart upload through nginx -> scgiserver ->
# examples/form: the memory of each process on the way, which should stay
# flat, and the size and CRC-32 that form computed.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Usage: BUILD=/path/to/build bench/upload.sh
#
# Starts two scgiserver instances on Unix sockets, one worker of
# examples/form each, one handing connections over (--handoff pass, the
# default) and one relaying their bytes (--handoff proxy), behind a private
# nginx (1 worker, client_max_body_size 2g). Uploads a sparse file of
# zeros (no disk space) with curl -F, which streams it from the file,
# through each; nginx buffers the request body in its temporary directory
# first, then sends it on. Meanwhile it samples VmRSS of the nginx worker,
# scgiserver and the form worker every 0.2 s. With nginx >= 1.29 it also
# uploads with scgi_request_buffering off (older versions send a wrong
# CONTENT_LENGTH then). Prints a Markdown section on stdout, progress on
# stderr.
#
# Environment: BUILD (required), SIZE (bytes, default 1073741824),
# BENCH_QUICK=1 (256 MiB).
set -eu

: "${BUILD:?set BUILD to a build directory (binaries in BUILD/examples, BUILD/scgiserver)}"
repo=$(cd "$(dirname "$0")/.." && pwd)
size=${SIZE:-1073741824}
[ "${BENCH_QUICK:-0}" != 1 ] || size=${SIZE:-268435456}

# shellcheck source-path=SCRIPTDIR/.. source=tests/lib.sh
. "$repo/tests/lib.sh"

bench_name=upload
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"

for f in examples/form scgiserver/scgiserver; do
  [ -x "$BUILD/$f" ] || die "$BUILD/$f not found: build first"
done
need nginx nginx || [ -x /usr/sbin/nginx ] || die "nginx is missing"
need curl curl || die "curl is missing"

lib_tmpdir
dir=$lib_tmp

# The expected CRC-32 of `size` zero bytes.
if command -v python3 >/dev/null 2>&1; then
  crc=$(python3 -c '
import sys, zlib
n, c, z = int(sys.argv[1]), 0, bytes(1 << 20)
while n > 0:
    c = zlib.crc32(z[:min(n, len(z))], c)
    n -= len(z)
print("%08x" % c)' "$size")
else
  # gzip's trailer: the CRC-32 then the size, both little-endian.
  crc=$(head -c "$size" /dev/zero | gzip -1 | tail -c 8 | od -An -tx4 -N4 |
    tr -d ' ')
fi
file=$dir/zeros.bin
truncate -s "$size" "$file"
chmod 0644 "$file"

# status_kb PID FIELD: a field of /proc/PID/status in kB (0 when gone).
status_kb() {
  awk -v k="$2:" '$1 == k { v = $2 } END { print v + 0 }' \
    "/proc/$1/status" 2>/dev/null || echo 0
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---------------------------------------------------------------- start

# At exit: each scgiserver first, then any worker it left behind.
servers=""
stop_servers() {
  local s w p
  for s in $servers; do
    lib_alive "$s" || continue
    w=$(lib_children "$s")
    lib_stop "$s" TERM
    for p in $w; do
      if lib_running "$p"; then kill -s KILL "$p" 2>/dev/null || true; fi
    done
  done
}
lib_at_exit stop_servers

declare -A srv
for mode in pass proxy; do
  sock=$dir/form-$mode.sock
  say "scgiserver --handoff $mode on $sock, 1 worker of examples/form"
  lib_spawn "$dir/scgiserver-$mode.log" "$BUILD/scgiserver/scgiserver" \
    -l "unix:$sock" -w 1 --handoff "$mode" -- "$BUILD/examples/form"
  srv[$mode]=$lib_pid
  servers="$servers $lib_pid"
  lib_wait_socket "$sock" "$lib_pid" ||
    { cat "$dir/scgiserver-$mode.log" >&2; die "scgiserver did not start"; }
done

nginx_version=$(nginx -v 2>&1 | sed 's|^.*/||; s| .*||')
unbuffered=0
if [ "$(printf '1.29\n%s\n' "$nginx_version" | sort -V | head -n 1)" = 1.29 ]
then
  unbuffered=1
fi
locations="
    client_max_body_size 2g;
    location /pass/ {
      include scgi_params;
      scgi_pass unix:$dir/form-pass.sock;
    }
    location /proxy/ {
      include scgi_params;
      scgi_pass unix:$dir/form-proxy.sock;
    }
    location /unbuffered/ {
      include scgi_params;
      scgi_pass unix:$dir/form-pass.sock;
      scgi_request_buffering off;
    }"
[ "$unbuffered" = 1 ] ||
  locations=$(printf '%s\n' "$locations" | grep -v scgi_request_buffering)
port=$(lib_free_port)
say "nginx $nginx_version on 127.0.0.1:$port"
lib_nginx_start "$dir/nginx" "$port" "$locations" || die "nginx did not start"
base=http://127.0.0.1:$port
ngx_worker=$(lib_children "$lib_nginx_pid" | head -n 1)
[ -n "$ngx_worker" ] || die "no nginx worker"
curl -s --max-time 5 "$base/pass/" | grep -q '<form' ||
  die "no form page through nginx"

# ---------------------------------------------------------------- upload

# spool_size PID: bytes of the request body nginx has in its temporary
# file (already unlinked, so only /proc/PID/fd shows it).
spool_size() {
  local fd s max=0
  for fd in "/proc/$1/fd/"*; do
    case $(readlink "$fd" 2>/dev/null) in
    *client_body*)
      s=$(stat -L -c %s "$fd" 2>/dev/null) || s=0
      [ "$s" -le "$max" ] || max=$s
      ;;
    esac
  done
  echo "$max"
}

# sampler FILE PIDS...: a line "time in ms, VmRSS of each PID, then the
# spool size" every 0.2 s until stopped.
sampler() {
  local out=$1 p line
  shift
  while :; do
    line=$(lib_now_ms)
    for p in "$@"; do
      line="$line $(status_kb "$p" VmRSS)"
    done
    echo "$line $(spool_size "$ngx_worker")" >>"$out"
    sleep 0.2
  done
}

# upload PATH LABEL MODE: one upload; appends its rows to $rows and a line
# to $notes.
rows=""
notes=""
upload() {
  local path=$1 label=$2 mode=$3 s worker p i before after peak hwm0 hwm1
  s=${srv[$mode]}
  worker=$(lib_children "$s" | head -n 1)
  local pids=("$ngx_worker" "$s" "$worker")
  local names=("nginx worker" "scgiserver ($mode)" "form worker")
  before=() hwm0=()
  for p in "${pids[@]}"; do
    before+=("$(status_kb "$p" VmRSS)")
    hwm0+=("$(status_kb "$p" VmHWM)")
  done

  say "uploading $size bytes to $path ($label)"
  : >"$dir/samples"
  lib_spawn /dev/null sampler "$dir/samples" "${pids[@]}"
  local sampler_pid=$lib_pid res code secs t0
  t0=$(lib_now_ms)
  res=$(curl -sS --max-time 900 -o "$dir/answer" \
    -w '%{http_code} %{time_total}' -F "file=@$file" "$base$path") ||
    res="curl-failed 0"
  lib_stop "$sampler_pid"
  sleep 1
  read -r code secs <<<"$res"

  for i in 0 1 2; do
    after=$(status_kb "${pids[$i]}" VmRSS)
    hwm1=$(status_kb "${pids[$i]}" VmHWM)
    peak=$(awk -v c=$((i + 2)) -v m="${before[$i]}" \
      '$c > m { m = $c } END { print m }' "$dir/samples")
    rows="$rows| $label | ${names[$i]} | $(mib "${before[$i]}") | \
$(mib "$peak") | $(mib "${hwm0[$i]}") → $(mib "$hwm1") | $(mib "$after") | \
$(awk -v a="$peak" -v b="${before[$i]}" 'BEGIN { printf "%+.1f", (a - b) / 1024 }') |
"
  done

  local spool spooled want got verdict
  spool=$(awk '$5 > m { m = $5 } END { print m + 0 }' "$dir/samples")
  # When nginx had the whole body: the first sample with the largest spool.
  spooled=$(awk -v m="$spool" -v t0="$t0" '$5 == m && m > 0 {
      printf "%.1f s", ($1 - t0) / 1000; exit }' "$dir/samples")
  want="FILE file zeros.bin $size $crc"
  got=$(grep -m1 '^FILE ' "$dir/answer" 2>/dev/null || true)
  if [ "$code" = 200 ] && [ "$got" = "$want" ]; then
    verdict="size and CRC-32 right"
  else
    verdict="WRONG: HTTP $code, \`${got:-$(head -c 200 "$dir/answer" 2>/dev/null | tr '\n' ' ')}\`"
  fi
  notes="$notes- $label: HTTP $code in \
$(awk -v n="$size" -v t="$secs" \
  'BEGIN { printf "%.1f s (%.0f MiB/s)", t, (t > 0 ? n / t / 1048576 : 0) }'); \
form answered \`${got:-nothing}\` (expected CRC-32 $crc): $verdict; the largest \
request body file seen in nginx's temporary directory: \
$(awk -v n="$spool" 'BEGIN { printf "%.0f MiB", n / 1048576 }')${spooled:+, \
complete after $spooled}.
"
}

upload /pass/ "pass" pass
upload /proxy/ "proxy" proxy
if [ "$unbuffered" = 1 ]; then
  upload /unbuffered/ "pass, unbuffered" pass
fi

# ---------------------------------------------------------------- report

status=""
for mode in pass proxy; do
  s=${srv[$mode]}
  lib_alive "$s" || continue
  w=$(lib_children "$s")
  lib_stop "$s" TERM
  status="$status $mode: $lib_status,"
  for p in $w; do
    if lib_running "$p"; then kill -s KILL "$p" 2>/dev/null || true; fi
  done
done

human=$(awk -v n="$size" 'BEGIN {
  if (n % 1073741824 == 0) printf "%d GiB", n / 1073741824
  else printf "%.0f MiB", n / 1048576 }')
cat <<EOF
### A $human upload through nginx, scgiserver and examples/form

curl -F file=@zeros.bin (a sparse file of $size zero bytes) to nginx
$nginx_version (1 worker, client_max_body_size 2g), which buffers the
request body in a file of its temporary directory and then sends it to
scgiserver on a Unix socket (1 worker of examples/form). With --handoff
pass the form worker reads the body from nginx's connection itself; with
--handoff proxy scgiserver relays it. form parses the multipart body as it
streams in and only computes each file's size and CRC-32. RSS in MiB:
before the upload, the largest of the 0.2 s samples, VmHWM (the peak since
the process started) before → after, after the upload, and the growth
(peak − before).

| handoff | process | before | peak | VmHWM | after | growth |
|---|---|---:|---:|---:|---:|---:|
$rows
$notes- scgiserver exit status at SIGTERM:${status%,}.
EOF
if [ "$unbuffered" = 0 ]; then
  cat <<EOF
- Not tried: scgi_request_buffering off, which sends the body as it
  arrives; nginx $nginx_version (< 1.29) sends a wrong CONTENT_LENGTH then.
EOF
fi
cat <<EOF

Target: constant memory, a growth far below the upload's size.
EOF
