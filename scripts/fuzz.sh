#!/usr/bin/env bash
# Runs the fuzz targets built in BUILD_DIR/fuzz (a FERRY_FUZZ=ON build):
# each first replays its committed seed corpus (fuzz/corpus/<target>/; any
# crash there fails at once), then fuzzes for SECONDS (default 30) from a
# copy of it. JOBS targets run at once (default: the number of cores).
#   scripts/fuzz.sh [BUILD_DIR] [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-asan}
secs=${2:-30}
shift 2 || shift $# || true
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$dir"/fuzz/fuzz_*; do
    [ -x "$bin" ] && [ -f "$bin" ] && targets+=("$(basename "$bin")")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets in $dir/fuzz (configure with -DFERRY_FUZZ=ON and build fuzz_all)" >&2
  exit 1
fi

run_one() {
  local dir=$1 secs=$2 name=$3
  local bin=$dir/fuzz/$name seeds=fuzz/corpus/$name log=$dir/fuzz/$name.log
  if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
    echo "fuzz: $name has no seed corpus in $seeds" >&2
    return 1
  fi
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # 1. Replay every committed seed once.
  if ! "$bin" -runs=0 "$seeds" >"$log" 2>&1; then
    echo "fuzz: $name FAILED replaying its seed corpus:" >&2
    tail -40 "$log" >&2
    return 1
  fi
  local seeds_run
  seeds_run=$(ls "$seeds" | wc -l)
  # 2. Fuzz briefly from a copy of the seeds (what it finds stays in $work).
  cp -r "$seeds/." "$work/"
  if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$dir/fuzz/$name-" "$work" >>"$log" 2>&1; then
    echo "fuzz: $name FAILED (crash input saved as $dir/fuzz/$name-*):" >&2
    tail -60 "$log" >&2
    return 1
  fi
  local stats
  stats=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 || true)
  echo "fuzz: $name ok: $seeds_run seeds replayed, ${stats:-fuzzed} in ${secs}s"
}
export -f run_one

printf '%s\n' "${targets[@]}" |
  xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ "$dir" "$secs" {}
