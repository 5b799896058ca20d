#!/usr/bin/env bash
# The concurrent parts under ThreadSanitizer: the engine, server and agent
# tests, built in build-tsan and run there. CI (scripts/test.sh) runs the
# engine's alone, to stay within its time budget; run this after changing
# the server, the agent or anything they share with the engine.
#   scripts/tsan.sh [AREA_REGEX]     default: 'engine|control|agent'
set -euo pipefail
cd "$(dirname "$0")/.."
areas=${1:-engine|control|agent}
targets=()
for area in engine control agent; do
  [[ $area =~ ^($areas)$ ]] && targets+=("${area}_test")
done
[ ${#targets[@]} -gt 0 ] || { echo "tsan.sh: no area matches '$areas'" >&2; exit 2; }
scripts/build.sh tsan "${targets[@]}"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/support/tsan.supp"
# The live S3 tests need the radosgw fixture and add nothing TSan sees that
# the in-memory object store does not.
cd build-tsan && ctest -j2 --output-on-failure --timeout 900 -L "$areas" -E "Radosgw|Samba"
