#!/usr/bin/env bash
# Command (1) of the README: install what building ferry needs, build `ferry`
# alone (optimized, no tests), and run a demo `ferry sync` of a generated
# sample tree, then run it again (nothing to do).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
echo "== building ferry (build/ferry)"
scripts/build.sh release ferry >build.log 2>&1 || {
  tail -50 build.log >&2
  exit 1
}
work=$(mktemp -d /tmp/ferry-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 bench/gen_tree.py --kind demo --out "$work/source"
echo "== ferry sync $work/source $work/destination"
build/ferry sync "$work/source" "$work/destination"
echo
echo "== again: nothing changed, nothing to transfer"
build/ferry sync "$work/source" "$work/destination" --verify-mode ONLY_FILES_TRANSFERRED
