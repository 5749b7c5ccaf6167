#!/usr/bin/env bash
# replay.sh - the fuzz corpora as regression tests: each replay_NAME (a
# fuzz target with tests/fuzz/replay.c as main) runs every file of
# tests/fuzz/corpus/NAME. TAP output, one test point per target.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later
#
# A target abort()s on a broken promise (or a sanitizer stops it); the
# test point then fails and shows the end of its output, whose last
# "replay: FILE" line names the input that crashed.
set -eu

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/lib.sh"

lib_tmpdir
dir=$lib_tmp

for name in parse split multipart response address config cgi; do
  bin=$top_builddir/tests/fuzz/replay_$name
  corpus=$top_srcdir/tests/fuzz/corpus/$name
  [ -x "$bin" ] || tap_bail "$bin not built"
  rc=0
  "$bin" "$corpus" >"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
  summary=$(sed -n 's/^ok [0-9]* - .*: \([0-9]* files\)$/\1/p' "$dir/$name.out")
  tap_ok "$rc" "fuzz_$name corpus replays: ${summary:-exit status $rc}"
  if [ "$rc" -ne 0 ]; then
    cat "$dir/$name.out" "$dir/$name.err" | tail -n 15 | sed 's/^/#   /'
  fi
done
tap_done
