#!/bin/sh
# Runs a profile script (scripts/profile-*.mjs) from two checkouts alternately, N rounds, so both
# see the same machine load: scripts/profile-compare.sh BASE_DIR N SCRIPT [ARGS...]
# BASE_DIR is another built checkout of netstack (e.g. `git archive REV | tar -x -C DIR` + tsc).
base=$1; n=$2; script=$3; shift 3
here=$(cd "$(dirname "$0")/.." && pwd)
cp "$here/scripts/$script" "$base/scripts/$script"
i=0
while [ $i -lt "$n" ]; do
  printf 'base: '; node "$base/scripts/$script" "$@"
  printf 'new:  '; node "$here/scripts/$script" "$@"
  i=$((i + 1))
done
