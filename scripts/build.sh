#!/usr/bin/env bash
# Configures and builds ferry: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# The binary lands at BUILD_DIR/ferry (default build/ferry).
# FERRY_BUILD_TARGET=NAME builds only that target (and what it needs).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.cmake.log" 2>&1 || {
  cat "$dir.cmake.log" >&2
  exit 1
}
cmake --build "$dir" -j"$jobs" ${FERRY_BUILD_TARGET:+--target "$FERRY_BUILD_TARGET"}
