#!/usr/bin/env bash
# Installs the Debian 12 packages ferry needs to build, test and benchmark.
# Idempotent and quiet when everything is already there. Run as root (or with
# sudo available).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ccache pkg-config git
  # libraries
  libssl-dev libxxhash-dev nlohmann-json3-dev libcli11-dev libzstd-dev
  libacl1-dev libattr1-dev libcpp-httplib-dev libpcre2-dev libsqlite3-dev libpq-dev
  # tests (PostgreSQL is started by the tests themselves, on 127.0.0.1)
  libgtest-dev libgmock-dev python3 attr acl rsync postgresql
  # sanitizers and fuzzing
  clang libclang-rt-14-dev
  # benchmarks: the peers ferry is measured against
  rclone time
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ferry-apt.log 2>&1; then
  $SUDO apt-get update -qq >/tmp/ferry-apt.log 2>&1
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/ferry-apt.log 2>&1 || {
    cat /tmp/ferry-apt.log >&2
    exit 1
  }
fi
