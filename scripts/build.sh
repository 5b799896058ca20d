#!/usr/bin/env bash
# Configures and builds one of ferry's build configurations with Ninja:
#   scripts/build.sh release [TARGET...]  build/: optimized, no tests (the
#                                         demo and the benchmarks; build/ferry)
#   scripts/build.sh asan [TARGET...]     build-asan/: clang, AddressSanitizer
#                                         + UBSan, every test and fuzz target
#   scripts/build.sh tsan [TARGET...]     build-tsan/: clang, ThreadSanitizer
#   scripts/build.sh debug [TARGET...]    build-debug/: -O0 -g, every test
# Without targets, everything the configuration has is built. Extra CMake
# arguments go in FERRY_CMAKE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-release}
shift || true
args=()
jobs=$(nproc 2>/dev/null || echo 2)
# The sanitized builds: -O0 and line tables only. -O1 doubles their build
# time (CI builds two of them) for tests that wait on processes and disks
# more than on the CPU.
san_flags="-O0 -gline-tables-only -DNDEBUG"
case $config in
  release)
    dir=build
    # clang builds ferry about a third faster than GCC 12; GCC where it is not.
    if command -v clang++ >/dev/null 2>&1; then
      args=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
    fi
    # -O2: GCC 12 at -O3 reports stringop-overflow in std::string that is not there.
    args+=(-DCMAKE_BUILD_TYPE=Release -DFERRY_TESTS=OFF
          "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG")
    ;;
  asan)
    dir=build-asan
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_SANITIZE=address -DFERRY_FUZZ=ON
          -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
          "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$san_flags"
          "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$san_flags")
    ;;
  tsan)
    dir=build-tsan
    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_SANITIZE=thread
          -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
          "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$san_flags"
          "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$san_flags")
    ;;
  debug)
    dir=build-debug
    args=(-DCMAKE_BUILD_TYPE=Debug)
    ;;
  *)
    echo "build: unknown configuration '$config' (release, asan, tsan or debug)" >&2
    exit 2
    ;;
esac
# shellcheck disable=SC2206
extra=(${FERRY_CMAKE_ARGS:-})
mkdir -p "$dir"
cmake -G Ninja -S . -B "$dir" "${args[@]}" "${extra[@]}" >"$dir/cmake.log" 2>&1 || {
  cat "$dir/cmake.log" >&2
  exit 1
}
ninja -C "$dir" -j"$jobs" "$@"
