#!/usr/bin/env bash
# run-all.sh - every check of libscgi, the way CI runs them.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# On Debian or Ubuntu: installs what is missing (build tools, nginx, curl,
# doxygen, clang, python3, uWSGI, Apache, lighttpd, Perl's SCGI module,
# groff, valgrind; with sudo when not
# root), runs autoreconf, then builds out of tree under build/:
#   build/gcc   gcc, --enable-werror: make check (every test)
#   build/asan  clang, --enable-werror, AddressSanitizer + UBSan: make check
#   build/tsan  clang, ThreadSanitizer: the thread stress and server tests
#   (from build/gcc) the C unit tests under valgrind's memcheck, no leaks
#   (from build/gcc) tests/faults.sh: scgiserver under faults and load
#   (from build/gcc) make distcheck: the tarball builds and passes too
# Prints the logs of failed tests, and last a line "N passed, N failed"
# (", N skipped" when some were). Exit status 0 only when nothing failed.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
started=$(date +%s)
passed=0
failed=0
skipped=0

say() { printf '==> %s\n' "$*"; }
die() { printf 'run-all: %s\n' "$*" >&2; exit 1; }

install_deps() {
  local missing="" sudo=""
  command -v gcc >/dev/null && command -v make >/dev/null ||
    missing="$missing build-essential"
  command -v autoreconf >/dev/null || missing="$missing autoconf"
  command -v automake >/dev/null || missing="$missing automake"
  command -v libtoolize >/dev/null || missing="$missing libtool"
  command -v pkg-config >/dev/null || missing="$missing pkg-config"
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] ||
    missing="$missing nginx"
  command -v curl >/dev/null || missing="$missing curl"
  command -v doxygen >/dev/null || missing="$missing doxygen"
  command -v clang >/dev/null || missing="$missing clang"
  # Peers for the interoperability tests (scgi client, status page).
  [ -x /usr/bin/python3 ] || missing="$missing python3"
  command -v uwsgi >/dev/null || missing="$missing uwsgi-core"
  [ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] ||
    missing="$missing uwsgi-plugin-python3"
  # Front servers and SCGI applications not written here (interop tests).
  [ -x /usr/sbin/apache2 ] || missing="$missing apache2"
  [ -x /usr/sbin/lighttpd ] || missing="$missing lighttpd"
  perl -MSCGI -e 1 2>/dev/null || missing="$missing libscgi-perl"
  command -v groff >/dev/null || missing="$missing groff-base"
  command -v valgrind >/dev/null || missing="$missing valgrind"
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

# count OUTPUT_FILE: adds the automake test-suite summary of one make run
# to the totals; a run that printed no summary (it failed before the
# tests) counts as one failure.
count() {
  local p x s f
  if ! grep -q '^# TOTAL:' "$1"; then
    tail -n 40 "$1"
    say "$2: FAILED before any test ran"
    failed=$((failed + 1))
    return 1
  fi
  p=$(awk '/^# (PASS|XFAIL):/ {n += $3} END {print n + 0}' "$1")
  x=$(awk '/^# (FAIL|XPASS|ERROR):/ {n += $3} END {print n + 0}' "$1")
  s=$(awk '/^# SKIP:/ {n += $3} END {print n + 0}' "$1")
  passed=$((passed + p))
  failed=$((failed + x))
  skipped=$((skipped + s))
  f=$(grep -E '^(FAIL|XPASS|ERROR):' "$1" | awk '!seen[$0]++' || true)
  say "$2: $p passed, $x failed, $s skipped ($(($(date +%s) - step_started)) s)"
  [ -z "$f" ] || printf '%s\n' "$f"
}

# show_failures DIR: prints the log of every failed test under DIR.
show_failures() {
  local trs
  find "$1" -name '*.trs' -print 2>/dev/null | sort | while read -r trs; do
    if grep -qE '^:global-test-result: (FAIL|ERROR|XPASS)' "$trs"; then
      printf '\n---------- %s\n' "${trs%.trs}.log"
      cat "${trs%.trs}.log"
    fi
  done
}

# build_pass NAME CC CONFIGURE_FLAGS MAKE_CHECK_ARGS...: a fresh build in
# build/NAME, then make check.
build_pass() {
  local name=$1 cc=$2 flags=$3 dir=$repo/build/$1
  shift 3
  step_started=$(date +%s)
  say "$name: CC=$cc configure $flags"
  rm -rf "$dir"
  mkdir -p "$dir"
  cd "$dir"
  # shellcheck disable=SC2086 # flags are words
  if ! CC=$cc "$repo/configure" -q $flags >configure.out 2>&1 ||
     ! make -j"$jobs" >make.out 2>&1; then
    cat configure.out make.out 2>/dev/null | tail -n 60
    say "$name: build FAILED"
    failed=$((failed + 1))
    return 1
  fi
  make -j"$jobs" check AM_COLOR_TESTS=no "$@" >check.out 2>&1 || true
  # ThreadSanitizer cannot run with the high mmap randomization of some
  # recent kernels; retry once without address randomization.
  if grep -q 'ThreadSanitizer: unexpected memory mapping' \
       tests/*.log 2>/dev/null && command -v setarch >/dev/null; then
    say "$name: retrying without ASLR (kernel mmap randomization vs TSan)"
    setarch "$(uname -m)" -R make -j"$jobs" check AM_COLOR_TESTS=no "$@" \
      >check.out 2>&1 || true
  fi
  count check.out "$name" || return 1
  show_failures "$dir"
}

# valgrind_pass: the C unit tests of build/gcc again, each under valgrind's
# memcheck: a memory error or a leak (definite or indirect) fails it.
valgrind_pass() {
  local dir=$repo/build/gcc
  step_started=$(date +%s)
  say "valgrind: the unit tests of build/gcc under memcheck"
  if [ ! -f "$dir/Makefile" ]; then
    say "valgrind: skipped, build/gcc is not configured"
    failed=$((failed + 1))
    return
  fi
  cd "$dir"
  make -j"$jobs" check AM_COLOR_TESTS=no TESTS="$unit_tests" \
    LOG_COMPILER='valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect' \
    >valgrind.out 2>&1 || true
  count valgrind.out valgrind || return 1
  show_failures "$dir"
}

# faults_pass: tests/faults.sh once, in build/gcc (about a minute: too
# heavy for every build).
faults_pass() {
  local dir=$repo/build/gcc
  step_started=$(date +%s)
  say "faults: tests/faults.sh in build/gcc"
  if [ ! -f "$dir/Makefile" ]; then
    say "faults: skipped, build/gcc is not configured"
    failed=$((failed + 1))
    return
  fi
  cd "$dir"
  make -j"$jobs" check AM_COLOR_TESTS=no TESTS=tests/faults.sh \
    >faults.out 2>&1 || true
  count faults.out faults || return 1
  show_failures "$dir"
}

distcheck_pass() {
  local dir=$repo/build/gcc
  step_started=$(date +%s)
  say "distcheck: make distcheck in build/gcc"
  if [ ! -f "$dir/Makefile" ]; then
    say "distcheck: skipped, build/gcc is not configured"
    failed=$((failed + 1))
    return
  fi
  cd "$dir"
  if make -j"$jobs" distcheck AM_COLOR_TESTS=no >distcheck.out 2>&1; then
    count distcheck.out distcheck
  elif count distcheck.out distcheck; then
    for tree in "$dir"/libscgi-*/; do
      [ -d "$tree" ] && show_failures "$tree"
    done
    # A failure outside the tests (distclean, install) still fails.
    if ! grep -qE '^# (FAIL|ERROR|XPASS): +[1-9]' distcheck.out; then
      tail -n 40 distcheck.out
      say "distcheck: FAILED after the tests"
      failed=$((failed + 1))
    fi
  fi
}

unit_tests='tests/test_parser tests/test_request tests/test_response
  tests/test_form tests/test_multipart tests/test_server tests/test_stress
  tests/test_conf tests/test_workers tests/test_cgi'

install_deps
cd "$repo"
if [ -f config.status ]; then
  die "the source tree is configured in place; run 'make distclean' here first"
fi
mkdir -p build
say "autoreconf -fi"
autoreconf -fi >build/autoreconf.out 2>&1 ||
  { cat build/autoreconf.out; die "autoreconf failed"; }

build_pass gcc gcc --enable-werror || true
build_pass asan clang "--enable-sanitizers=asan --enable-werror" || true
build_pass tsan clang "--enable-sanitizers=tsan --enable-werror" \
  TESTS='tests/test_stress tests/test_server' || true
valgrind_pass
faults_pass
distcheck_pass

say "all done in $(($(date +%s) - started)) s"
summary="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || summary="$summary, $skipped skipped"
printf '%s\n' "$summary"
[ "$failed" -eq 0 ]
