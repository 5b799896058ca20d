#!/usr/bin/env bash
# Command (2) of the README, and what CI runs: install what is needed, then
#   1. a formatting check;
#   2. one build under AddressSanitizer + UndefinedBehaviorSanitizer (clang)
#      holding every test and fuzz target, and the whole suite run once in it:
#      unit, conformance and end-to-end tests;
#   3. the engine (worker pools, queues, transfer, the S3 client) built under
#      ThreadSanitizer beside the tests, at the lowest priority (the server
#      and agent under TSan: scripts/tsan.sh, outside CI's time budget);
#   4. every fuzz target replays its committed seed corpus, then fuzzes
#      briefly, several at once;
#   5. the engine tests again under ThreadSanitizer;
#   6. a benchmark smoke run (the benchmark scripts work end to end; with
#      the sanitized `ferry`, whose times mean nothing), and the
#      agent-to-agent link's: every scenario of bench/link_bench.py (two
#      agents in network namespaces, rsync over ssh beside them; tbf,
#      nftables loss and a delay line shaping the link) on tiny trees, each
#      copy checked.
# Each stage prints how long it took. The release build is left to the
# README's first command and to bench/: CI's 2 cores have no room for a
# third build within its time budget.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${FERRY_FUZZ_SECONDS:-2}

t0=$(date +%s)
stage_start=$t0
stage() {
  local now
  now=$(date +%s)
  if [ -n "${stage_name:-}" ]; then
    echo "== ${stage_name}: $((now - stage_start)) s"
  fi
  stage_name=$1
  stage_start=$now
  [ -n "$1" ] && echo "== $1"
  return 0
}

stage "setup"
scripts/setup.sh test

stage "format check"
scripts/format.sh --check

stage "build under ASan + UBSan (tests and fuzz targets)"
scripts/build.sh asan

stage "tests under ASan + UBSan (the ThreadSanitizer build goes on beside them at the lowest priority)"
# The suite leaves a core idle most of the time (its longest test waits for
# schedules to fire); nice 19 gives the builds only what the tests leave, so
# the tests' timing is not disturbed.
background_log=$PWD/build-background.log
nice -n 19 scripts/build.sh tsan engine_test >"$background_log" 2>&1 &
background=$!
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest -j3 --output-on-failure --timeout 900)

stage "ThreadSanitizer build (what the tests left of it)"
if ! wait "$background"; then
  tail -60 "$background_log" >&2
  echo "the ThreadSanitizer build failed" >&2
  exit 1
fi

stage "fuzz targets: seed corpora replayed, then ${fuzz_seconds}s each"
scripts/fuzz.sh build-asan "$fuzz_seconds"

stage "engine tests under ThreadSanitizer"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/support/tsan.supp"
(cd build-tsan && ctest -j2 --output-on-failure --timeout 900 -L engine -E "Radosgw|Samba|Link/BackendConformance")

stage "benchmark smoke run (sanitized ferry: the scripts work; times mean nothing)"
python3 bench/run_bench.py --smoke --ferry build-asan/ferry

stage "agent-to-agent link smoke run (namespaces, shaped links; sanitized ferry)"
python3 bench/link_bench.py --smoke --no-wait --ferry build-asan/ferry

stage ""
echo "== all tests passed in $(($(date +%s) - t0)) s"
