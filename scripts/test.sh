#!/usr/bin/env bash
# Command (2) of the README, and what CI runs: install what is needed, build,
# run the whole test suite, then the unit, conformance and end-to-end tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer, the fuzz targets
# briefly, a formatting check, and a benchmark smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
scripts/setup.sh

echo "== format check"
scripts/format.sh --check

echo "== build"
scripts/build.sh build
echo "== tests"
(cd build && ctest -j"$jobs" --output-on-failure --timeout 600)

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
# -O1 and line tables only: the usual ASan settings, and a shorter build.
scripts/build.sh build-asan -DFERRY_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
# The schedule test waits real minutes for cron and rate to fire; the code
# it drives runs under the sanitizers in the AgentService unit tests.
echo "== tests under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest -j"$jobs" --output-on-failure --timeout 900 \
     -E '^e2e_test_control_schedule$')

echo "== fuzz targets (short runs)"
FERRY_BUILD_TARGET=fuzz_all scripts/build.sh build-fuzz -DFERRY_FUZZ=ON \
  -DFERRY_TESTS=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG"
scripts/fuzz.sh build-fuzz 10

echo "== benchmark smoke run"
python3 bench/run_bench.py --smoke --ferry build/ferry

echo "== all tests passed"
