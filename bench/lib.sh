# lib.sh - shared by the bench/*.sh scripts: progress and error lines, and
# installing a missing tool. Set bench_name before sourcing it.
#
# Copyright (C) 2026 The libscgi authors.
# SPDX-License-Identifier: GPL-3.0-or-later

say() { printf '%s: %s\n' "$bench_name" "$*" >&2; }
die() { printf '%s: %s\n' "$bench_name" "$*" >&2; exit 1; }

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
