#!/usr/bin/env bash
# callgrind.sh - instructions per request of libscgi's accept -> parse ->
# respond path, counted by valgrind's callgrind.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Usage: BUILD=/path/to/build bench/callgrind.sh
#
# Runs examples/hello (1 thread, a Unix socket) under callgrind and sends
# it tests/captures/nginx-get.bin N1 times, one request after the other
# with bench/scgi_load, then stops it with SIGINT; then again with N2
# requests. The instructions of one request are (Ir(N2) - Ir(N1)) /
# (N2 - N1): start-up and shutdown cancel out. The same difference, per
# function, gives each function's own (self) and inclusive instructions
# per request. Each pair of runs is made twice: valgrind counts
# instructions, not time, so both must agree. Then the same for
# bench/minimal_scgi (a minimal single-threaded SCGI server without
# libscgi) when the build has it. Prints a Markdown section on stdout,
# progress on stderr.
#
# Environment: BUILD (required), N1 (default 2000), N2 (default 4000),
# BENCH_QUICK=1 (500 and 1000).
set -eu

: "${BUILD:?set BUILD to a build directory (binaries in BUILD/examples)}"
repo=$(cd "$(dirname "$0")/.." && pwd)
n1=${N1:-2000}
n2=${N2:-4000}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  n1=${N1:-500}
  n2=${N2:-1000}
fi
[ "$n2" -gt "$n1" ] || { echo "callgrind: N2 must exceed N1" >&2; exit 1; }
capture=$repo/tests/captures/nginx-get.bin

# shellcheck source-path=SCRIPTDIR/.. source=tests/lib.sh
. "$repo/tests/lib.sh"

say() { printf 'callgrind: %s\n' "$*" >&2; }
die() { printf 'callgrind: %s\n' "$*" >&2; exit 1; }

# need COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is
# missing (with sudo when not root).
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing $2"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2 ||
    { $sudo apt-get update -q >&2 &&
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2; } ||
    true
  command -v "$1" >/dev/null 2>&1
}

[ -x "$BUILD/examples/hello" ] || die "$BUILD/examples/hello not found: build first"
[ -r "$capture" ] || die "$capture is missing"
need valgrind valgrind || die "valgrind is missing"
need callgrind_annotate valgrind || die "callgrind_annotate is missing"

lib_tmpdir
dir=$lib_tmp

if [ -x "$BUILD/bench/scgi_load" ]; then
  scgi_load=$BUILD/bench/scgi_load
else
  scgi_load=$dir/scgi_load
  cc -O2 -Wall -o "$scgi_load" "$repo/bench/scgi_load.c" >&2 ||
    die "cannot build bench/scgi_load"
fi

# A libtool wrapper script runs the real program with the library's path:
# valgrind must run the program itself, through libtool.
# runner PROGRAM: prints the command prefix that runs valgrind on PROGRAM.
runner() {
  if [ "$(head -c 2 "$1")" = "#!" ] && [ -x "$BUILD/libtool" ]; then
    printf '%s\n' "$BUILD/libtool --mode=execute"
  fi
}

# profile N OUT PROGRAM [ARGS...]: runs PROGRAM unix:SOCKET ARGS under
# callgrind, sends it N requests, stops it with SIGINT and leaves the
# profile in OUT.
profile() {
  local n=$1 out=$2 prog=$3 sock pid res _
  shift 3
  sock=$dir/s.$RANDOM.sock
  # shellcheck disable=SC2046 # the runner prefix is words
  lib_spawn "$out.log" $(runner "$prog") valgrind --tool=callgrind \
    --collect-systime=yes --callgrind-out-file="$out" \
    "$prog" "unix:$sock" "$@"
  pid=$lib_pid
  for _ in $(seq 600); do
    [ -S "$sock" ] && break
    lib_alive "$pid" || break
    sleep 0.1
  done
  [ -S "$sock" ] || { cat "$out.log" >&2; die "$prog did not start"; }
  # The socket file exists from bind() on, before listen(): one request
  # that succeeds says the server is ready (each run has it: it cancels).
  for _ in $(seq 120); do
    "$scgi_load" -n 1 -T 5 -f "$capture" "unix:$sock" >/dev/null 2>&1 &&
      break
    lib_alive "$pid" || break
    sleep 0.5
  done
  res=$("$scgi_load" -n "$n" -c 1 -T 30 -f "$capture" "unix:$sock") ||
    { printf '%s\n' "$res" >&2; die "requests to $prog failed"; }
  kill -s INT "$pid"
  for _ in $(seq 600); do
    lib_alive "$pid" || break
    sleep 0.1
  done
  lib_stop "$pid" # reaps it, or kills it after 60 s
  [ -s "$out" ] || { cat "$out.log" >&2; die "no profile from $prog"; }
}

# event OUT NAME: the program total of an event in a callgrind profile.
event() {
  awk -v name="$2" '
    $1 == "events:" { for (i = 2; i <= NF; i++) if ($i == name) col = i }
    $1 == "summary:" && col { print $col + 0; exit }' "$1"
}

# functions OUT INCLUSIVE [EVENT]: "count<TAB>function<TAB>object" for
# every function of a profile: its own count of EVENT (default Ir) with
# INCLUSIVE=no, with its callees' with yes. callgrind_annotate splits a
# function by source file (inlined code from headers), naming its object
# only on some of the lines: the parts are summed here.
functions() {
  callgrind_annotate --show="${3:-Ir}" --threshold=100 --inclusive="$2" "$1" |
    awk '/^ *[0-9][0-9,]* \( *[0-9.]+%\) +[^ ]/ && !/PROGRAM TOTALS/ {
      n = $1; gsub(/,/, "", n)
      rest = $0
      sub(/^ *[0-9,]+ \( *[0-9.]+%\) +/, "", rest)
      obj = ""
      if (rest ~ / \[.*\]$/) {
        obj = rest; sub(/^.* \[/, "", obj); sub(/\]$/, "", obj)
        sub(/ \[.*$/, "", rest)
      }
      fn = rest; sub(/^.*:/, "", fn)
      if (obj != "") where[fn] = obj
      lines++; c[lines] = n; f[lines] = fn; o[lines] = obj
    }
    END {
      for (i = 1; i <= lines; i++) {
        obj = o[i] != "" ? o[i] : (f[i] in where ? where[f[i]] : "?")
        sum[f[i] "\t" obj] += c[i]
      }
      for (k in sum) printf "%s\t%s\n", sum[k], k
    }'
}

# per_request A B [EVENT]: "self<TAB>inclusive<TAB>function<TAB>object"
# per request, from the profiles A (N1 requests) and B (N2 requests), by
# self count of EVENT (default Ir).
per_request() {
  local a=$1 b=$2 e=${3:-Ir}
  {
    functions "$a" no "$e" | sed 's/^/a\tself\t/'
    functions "$b" no "$e" | sed 's/^/b\tself\t/'
    functions "$a" yes "$e" | sed 's/^/a\tincl\t/'
    functions "$b" yes "$e" | sed 's/^/b\tincl\t/'
  } | awk -F'\t' -v d=$((n2 - n1)) '
    { k = $4 "\t" $5; v[$1, $2, k] += $3; keys[k] = 1 }
    END {
      for (k in keys) {
        s = (v["b", "self", k] - v["a", "self", k]) / d
        i = (v["b", "incl", k] - v["a", "incl", k]) / d
        if (s != 0 || i != 0) printf "%.2f\t%.2f\t%s\n", s, i, k
      }
    }' | sort -t "$(printf '\t')" -k1,1gr
}

# group OBJECT: the part of the program an object file is.
group_awk='
  function group(o) {
    if (o ~ /libscgi/) return "libscgi"
    if (o ~ /\/libc\.so|\/libc-/) return "libc"
    if (o ~ /ld-linux|\/ld-/) return "ld.so"
    return "program"
  }'

# syscalls FUNCS: "name count, ..." from per_request's sysCount lines.
syscalls() {
  awk -F'\t' '$1 + 0 != 0 {
      f = $3; sub(/@.*$/, "", f); sub(/^__/, "", f); sub(/_nocancel.*$/, "", f)
      n[f] += $1
    }
    END { for (f in n) printf "%s %.2f\n", f, n[f] }' "$1" |
    sort -k2,2gr -k1,1 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }'
}

# report NAME PROGRAM [ARGS...]: profiles PROGRAM twice at N1 and N2 and
# prints its part of the section.
report() {
  local name=$1 run a b
  shift
  local -a irs syss sysfn
  for run in 1 2; do
    say "$name: $n1 then $n2 requests under callgrind (run $run of 2)"
    a=$dir/$name.$run.a
    b=$dir/$name.$run.b
    profile "$n1" "$a" "$@"
    profile "$n2" "$b" "$@"
    irs+=("$(awk -v a="$(event "$a" Ir)" -v b="$(event "$b" Ir)" \
      -v d=$((n2 - n1)) 'BEGIN { printf "%.1f", (b - a) / d }')")
    syss+=("$(awk -v a="$(event "$a" sysCount)" -v b="$(event "$b" sysCount)" \
      -v d=$((n2 - n1)) 'BEGIN { printf "%.2f", (b - a) / d }')")
    per_request "$a" "$b" sysCount >"$dir/$name.$run.sys"
    sysfn+=("$(syscalls "$dir/$name.$run.sys")")
    say "  Ir $(event "$a" Ir) and $(event "$b" Ir): ${irs[-1]} per request"
  done
  per_request "$dir/$name.2.a" "$dir/$name.2.b" >"$dir/$name.funcs"

  printf '#### %s\n\n' "$name"
  printf '| run | Ir/request | system calls/request |\n|---|---:|---:|\n'
  printf '| 1 | %s | %s |\n| 2 | %s | %s |\n\n' \
    "${irs[0]}" "${syss[0]}" "${irs[1]}" "${syss[1]}"
  if [ "${irs[0]}" = "${irs[1]}" ]; then
    printf 'Both runs count the same. System calls per request: %s.\n' \
      "${sysfn[1]}"
  else
    printf 'The runs differ by %s %% of the instructions. System calls per request, run 1: %s; run 2: %s.\n' \
      "$(awk -v a="${irs[0]}" -v b="${irs[1]}" \
        'BEGIN { printf "%.2f", 100 * (b - a) / a }')" "${sysfn[0]}" \
      "${sysfn[1]}"
  fi
  printf 'Self instructions per request by object (run 2): '
  awk -F'\t' "$group_awk"'
    { g = group($4); s[g] += $1 }
    END {
      n = split("libscgi program libc ld.so", order, " ")
      for (i = 1; i <= n; i++)
        if ((order[i] in s) && (s[order[i]] >= 0.5 || s[order[i]] <= -0.5))
          out = out sprintf("%s%s %.0f", out == "" ? "" : ", ", order[i],
                            s[order[i]])
      print out "."
    }' "$dir/$name.funcs"
  printf '\n| function | object | self Ir/request | inclusive Ir/request |\n'
  printf '|---|---|---:|---:|\n'
  # The 12 largest by self instructions and the 12 largest by inclusive
  # ones, by inclusive instructions, without those that only call others
  # (start_thread, "(below main)").
  { head -n 12 "$dir/$name.funcs"
    sort -t "$(printf '\t')" -k2,2gr "$dir/$name.funcs" | head -n 12
  } | sort -u | sort -t "$(printf '\t')" -k2,2gr -k1,1gr |
    awk -F'\t' '$1 >= 0.5 {
      o = $4; sub(/^.*\//, "", o)
      printf "| %s | %s | %.0f | %.0f |\n", $3, o, $1, $2
    }'
  printf '\n'
}

cat <<EOF
### Instructions per request (callgrind)

Each server runs under valgrind --tool=callgrind on a Unix socket and gets
tests/captures/nginx-get.bin (a real nginx GET, 375 bytes) $n1 times, then,
in a second run, $n2 times, one request after the other (bench/scgi_load);
the difference divided by $((n2 - n1)) is one request from accept() to
close(), without start-up and shutdown. System calls are counted, not the
kernel's instructions. The pair of runs is made twice to check that the
counts repeat.

EOF

report hello "$BUILD/examples/hello" 1
if [ -x "$BUILD/bench/minimal_scgi" ]; then
  report minimal_scgi "$BUILD/bench/minimal_scgi"
else
  printf '(bench/minimal_scgi: not in %s/bench, skipped.)\n\n' "$BUILD"
fi
