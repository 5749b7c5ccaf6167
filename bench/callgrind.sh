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
# requests; and once with none (the base: start-up, the one request that
# tells that the server is ready, shutdown). The cost of one request is
# (profile - base) / requests: start-up and shutdown cancel out, and so
# does the first request's one-off work (lazy binding, the heap), which
# both have. The pair of N1 and N2 profiles is made twice: valgrind counts
# instructions, not time, but the path a request takes depends on timing
# (whether the next connection is already waiting), so the runs may
# differ a little; (N2 - N1) must cost N2 - N1 requests, which checks the
# method. Then the same for bench/minimal_scgi (a minimal single-threaded
# SCGI server without libscgi) when the build has it. Prints a Markdown
# section on stdout, progress on stderr.
#
# The counts are read from the callgrind out files themselves (the
# "totals:" line, and every cost line summed per object and function),
# not from callgrind_annotate's report: its call tree and annotated
# source lines ("=> fn (Nx)", "events annotated") look like function
# totals to a pattern.
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

bench_name=callgrind
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"

[ -x "$BUILD/examples/hello" ] || die "$BUILD/examples/hello not found: build first"
[ -r "$capture" ] || die "$capture is missing"
need valgrind valgrind || die "valgrind is missing"

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
# callgrind, sends it one request (to know that it is ready), then N more
# (none with N=0), stops it with SIGINT and leaves the profile in OUT and
# the counts per function in OUT.costs.
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
  # that succeeds says the server is ready (each profile has it, the base
  # too: it cancels). A refused connect costs the server nothing.
  for _ in $(seq 120); do
    "$scgi_load" -n 1 -T 5 -f "$capture" "unix:$sock" >/dev/null 2>&1 &&
      break
    lib_alive "$pid" || break
    sleep 0.5
  done
  if [ "$n" -gt 0 ]; then
    res=$("$scgi_load" -n "$n" -c 1 -T 30 -f "$capture" "unix:$sock") ||
      { printf '%s\n' "$res" >&2; die "requests to $prog failed"; }
  fi
  kill -s INT "$pid"
  for _ in $(seq 600); do
    lib_alive "$pid" || break
    sleep 0.1
  done
  lib_stop "$pid" # reaps it, or kills it after 60 s
  [ -s "$out" ] || { cat "$out.log" >&2; die "no profile from $prog"; }
  costs "$out" >"$out.costs"
}

# total OUT EVENT: the program total of an event in a callgrind profile:
# its "totals:" line (the sum of all its cost lines, which the counts per
# function add up to), else its "summary:" line.
total() {
  awk -v name="$2" '
    $1 == "events:" { for (i = 2; i <= NF; i++) if ($i == name) col = i }
    $1 == "totals:" && col { t += $col; seen = 1 }
    $1 == "summary:" && col { s = $col }
    END { printf "%.0f\n", seen ? t : s + 0 }' "$1"
}

# costs OUT: "self Ir<TAB>inclusive Ir<TAB>self sysCount<TAB>function<TAB>
# object" for every function of a callgrind profile, read from the file
# itself (format: valgrind's docs, "Callgrind Format Specification").
# Names are compressed: "fn=(id) name" defines id, "fn=(id)" reuses it
# (cfn= shares fn='s ids, cob= ob='s). A cost line is a line number
# ("+n", "-n", "*" when relative) and the events in the order of the
# "events:" line, trailing zeros left out. The line after "calls=" is the
# inclusive cost of that call: the caller's inclusive cost, not its own.
# A function's inlined parts (fi=, fe=) stay the function's. Calls of a
# function to itself are not added twice.
costs() {
  awk '
    function name(kind, s, id) {
      if (s ~ /^\([0-9]+\)/) {
        id = s
        sub(/\).*$/, "", id)
        sub(/^\(/, "", id)
        sub(/^\([0-9]+\) ?/, "", s)
        if (s != "") names[kind, id] = s
        else s = names[kind, id]
      }
      return s
    }
    $1 == "events:" {
      for (i = 2; i <= NF; i++) {
        if ($i == "Ir") ir = i
        if ($i == "sysCount") sc = i
      }
      next
    }
    /^ob=/ { ob = name("ob", substr($0, 4)); next }
    /^fn=/ { fn = name("fn", substr($0, 4)); cob = ""; cfn = ""; next }
    /^cob=/ { cob = name("ob", substr($0, 5)); next }
    /^cfn=/ { cfn = name("fn", substr($0, 5)); next }
    /^calls=/ { call = 1; next }
    /^[0-9+*-]/ {
      k = fn "\t" ob
      seen[k] = 1
      if (call) {
        if (cfn "\t" (cob != "" ? cob : ob) != k) incl[k] += $ir
        call = 0
        cob = ""
        cfn = ""
      } else {
        self[k] += $ir
        incl[k] += $ir
        if (sc) sys[k] += $sc
      }
    }
    END {
      if (!ir) exit 1
      for (k in seen)
        printf "%.0f\t%.0f\t%.0f\t%s\n", self[k], incl[k], sys[k], k
    }' "$1"
}

# per_request BASE OUT N: "self Ir<TAB>inclusive Ir<TAB>system calls<TAB>
# function<TAB>object" of one request: (OUT - BASE) / N for each function.
per_request() {
  awk -F'\t' -v n="$3" '
    FNR == NR { k = $4 "\t" $5; s[k] -= $1; i[k] -= $2; c[k] -= $3; next }
    { k = $4 "\t" $5; s[k] += $1; i[k] += $2; c[k] += $3 }
    END {
      for (k in s)
        if (s[k] != 0 || i[k] != 0 || c[k] != 0)
          printf "%.2f\t%.2f\t%.4f\t%s\n", s[k] / n, i[k] / n, c[k] / n, k
    }' "$1.costs" "$2.costs" | sort -t "$(printf '\t')" -k1,1gr
}

# The system call a libc or ld.so function makes, by its name.
sysname_awk='
  function sysname(f) {
    sub(/@.*$/, "", f)
    if (f ~ /futex|lll_lock_wait|lll_unlock_wake/) return "futex"
    sub(/^(__GI_|__libc_|__)+/, "", f)
    sub(/^(__GI_|__libc_|__)+/, "", f)
    sub(/_nocancel$/, "", f)
    if (f == "clock_gettime") return "clock_gettime*"
    return f
  }'

# syscalls PERREQ: "name<TAB>count" per request of every system call in
# a per_request list, by name. Each count is that of the profile less
# that of the base, which has the same start-up and shutdown: only the
# base's own ready-request may take another path (one call more or less
# of a kind, at most 1/N): a count is never below 0.
syscalls() {
  awk -F'\t' "$sysname_awk"'
    $3 + 0 != 0 { n[sysname($4)] += $3 }
    END { for (f in n) if (n[f] > 0) printf "%s\t%.4f\n", f, n[f] }' "$1"
}

# group OBJECT: the part of the program an object file is.
group_awk='
  function group(o) {
    if (o ~ /libscgi/) return "libscgi"
    if (o ~ /\/libc\.so|\/libc-/) return "libc"
    if (o ~ /ld-linux|\/ld-/) return "ld.so"
    if (o ~ /vgpreload|valgrind/) return "valgrind"
    return "program"
  }'

# report NAME PROGRAM [ARGS...]: profiles PROGRAM with no request (the
# base), then twice at N1 and N2, and prints its part of the section.
report() {
  local name=$1 run n p base ir sys waits
  shift
  local -a ir_n2 sys_n2 rows
  local points=""
  base=$dir/$name.base
  say "$name: the base (start-up, one request, shutdown) under callgrind"
  profile 0 "$base" "$@"
  for run in 1 2; do
    say "$name: $n1 then $n2 requests under callgrind (run $run of 2)"
    for n in "$n1" "$n2"; do
      p=$dir/$name.$run.$n
      profile "$n" "$p" "$@"
      per_request "$base" "$p" "$n" >"$p.req"
      syscalls "$p.req" >"$p.sys"
      ir=$(awk -v a="$(total "$base" Ir)" -v b="$(total "$p" Ir)" -v n="$n" \
        'BEGIN { printf "%.1f", (b - a) / n }')
      sys=$(awk -F'\t' '$1 != "clock_gettime*" { s += $2 }
        END { printf "%.2f", s }' "$p.sys")
      waits=$(awk -F'\t' '$1 ~ /^epoll_p?wait$/ { s += $2 }
        END { printf "%.2f", s }' "$p.sys")
      rows+=("| $run | $n | $ir | $sys | $waits |")
      points+="$waits $ir
"
      [ "$n" != "$n2" ] || { ir_n2+=("$ir"); sys_n2+=("$sys"); }
      say "  $n requests: Ir $(total "$p" Ir), $ir per request"
    done
    diffs+=("$(awk -v a="$(total "$dir/$name.$run.$n1" Ir)" \
      -v b="$(total "$dir/$name.$run.$n2" Ir)" -v d=$((n2 - n1)) \
      'BEGIN { printf "%.1f", (b - a) / d }')")
  done

  printf '#### %s\n\n' "$name"
  printf '| run | requests | Ir/request | system calls/request | epoll_wait/request |\n'
  printf '|---|---:|---:|---:|---:|\n'
  printf '%s\n' "${rows[@]}"
  printf '\nThe %d requests between the two profiles of a run, per request: %s Ir (run 1), %s Ir (run 2).\n' \
    $((n2 - n1)) "${diffs[-2]}" "${diffs[-1]}"
  if [ "${ir_n2[0]}" = "${ir_n2[1]}" ]; then
    printf 'Both runs count the same.\n'
  else
    printf 'At %s requests, run 2 counts %s %% of the instructions of run 1.\n' \
      "$n2" "$(awk -v a="${ir_n2[0]}" -v b="${ir_n2[1]}" \
        'BEGIN { printf "%.2f", 100 * b / a }')"
  fi
  # wait_cost: ", about N instructions a wait", the slope of Ir/request
  # over epoll_wait/request across the profiles (least squares), when
  # they waited unequally enough to tell.
  wait_cost() {
    printf '%s' "$points" | awk '
      NF == 2 { n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2
                if (n == 1 || $1 < lo) lo = $1; if (n == 1 || $1 > hi) hi = $1 }
      END {
        if (n < 2 || hi - lo < 0.1) exit
        b = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        printf " (about %.0f instructions more per wait, from the profiles above)", b
      }'
  }
  if awk -F'\t' '$1 ~ /^epoll_p?wait$/ { f = 1 } END { exit !f }' \
    "$dir/$name.2.$n2.sys" "$dir/$name.1.$n2.sys"; then
    printf '\n'
    cat <<EOT
The client sends one request after the other, but the server's path
depends on timing: after a response, scgi_accept() first tries accept4()
on the chance that the next connection is already there (it usually is:
the client has its response before the server has finished closing);
when it is not (EAGAIN), the server waits in epoll_wait(), takes it with
another accept4() and re-arms the listener with epoll_ctl(). Every
16th take goes through epoll_wait() anyway, so that the waiting room
gets its turn. How often the server had to wait is the epoll_wait column;
under valgrind, which slows the server and not the client, it varies
from profile to profile, and the instructions with it$(wait_cost).
The difference of a run's two profiles mixes them when they waited
unequally: each profile less the base is the figure to read. Valgrind
counts clock_gettime() as a system call: it hides the vDSO, through
which the call costs none natively (marked *; not in the system calls
column).
EOT
  fi
  printf '\nSystem calls per request (%s requests, less the base):\n\n' "$n2"
  printf '| system call | run 1 | run 2 |\n|---|---:|---:|\n'
  awk -F'\t' '
    FNR == NR { a[$1] = $2; k[$1] = 1; next }
    { b[$1] = $2; k[$1] = 1 }
    END {
      for (f in k)
        if (a[f] >= 0.005 || b[f] >= 0.005)
          printf "| %s | %.2f | %.2f |\n", f, a[f], b[f]
    }' "$dir/$name.1.$n2.sys" "$dir/$name.2.$n2.sys" |
    sort -t '|' -k4,4gr -k2,2
  printf '\nSelf instructions per request by object (run 2, %s requests): ' \
    "$n2"
  awk -F'\t' "$group_awk"'
    { g = group($5); s[g] += $1; t += $1 }
    END {
      n = split("libscgi program libc ld.so valgrind", order, " ")
      for (i = 1; i <= n; i++)
        if ((order[i] in s) && (s[order[i]] >= 0.5 || s[order[i]] <= -0.5))
          out = out sprintf("%s%s %.0f", out == "" ? "" : ", ", order[i],
                            s[order[i]])
      printf "%s (total %.0f).\n", out, t
    }' "$dir/$name.2.$n2.req"
  printf '\n| function | object | self Ir/request | inclusive Ir/request |\n'
  printf '|---|---|---:|---:|\n'
  # The 12 largest by self instructions and the 12 largest by inclusive
  # ones, by inclusive instructions, without those that only call others
  # (start_thread, "(below main)"): less than half an instruction of
  # their own per request.
  { head -n 12 "$dir/$name.2.$n2.req"
    sort -t "$(printf '\t')" -k2,2gr "$dir/$name.2.$n2.req" | head -n 12
  } | sort -u | sort -t "$(printf '\t')" -k2,2gr -k1,1gr |
    awk -F'\t' '$1 >= 0.5 {
      o = $5; sub(/^.*\//, "", o)
      printf "| %s | %s | %.0f | %.0f |\n", $4, o, $1, $2
    }'
  printf '\n'
}

diffs=()

cat <<EOF
### Instructions per request (callgrind)

Each server runs under valgrind --tool=callgrind on a Unix socket and gets
tests/captures/nginx-get.bin (a real nginx GET, 375 bytes) $n1 times, then,
in a second profile, $n2 times, one request after the other
(bench/scgi_load); a third profile, the base, gets none. A profile less the
base, divided by its number of requests, is one request from accept() to
close(), without start-up and shutdown (both have them, and the one
request that tells that the server is ready). System calls are counted,
not the kernel's instructions. The pair of profiles is made twice to see
how far the counts repeat.

EOF

report hello "$BUILD/examples/hello" 1
if [ -x "$BUILD/bench/minimal_scgi" ]; then
  report minimal_scgi "$BUILD/bench/minimal_scgi"
else
  printf '(bench/minimal_scgi: not in %s/bench, skipped.)\n\n' "$BUILD"
fi
