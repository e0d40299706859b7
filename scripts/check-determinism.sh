#!/usr/bin/env bash
# Runs the whole test suite N times with the default parallelism and N times with
# --test-threads=1, then checks that every run passed and that every test printed the same
# lines (its numbers) in all of them. Lines a test tags "[varies]" (kill timing, say) are
# left out of the comparison. Logs go to $DETERMINISM_LOGS (default target-dir/determinism).
#
#   scripts/check-determinism.sh [N]     N defaults to 3
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${1:-3}"
target="${CARGO_TARGET_DIR:-$root/target}"
logs="${DETERMINISM_LOGS:-$target/determinism}"
rm -rf "$logs"
mkdir -p "$logs"

cargo test --release --workspace --locked --no-run
for mode in parallel serial; do
  threads=()
  [ "$mode" = serial ] && threads=(--test-threads=1)
  for i in $(seq 1 "$runs"); do
    log="$logs/$mode-$i.log"
    echo "check-determinism: run $mode $i of $runs" >&2
    if ! cargo test --release --workspace --locked -- --show-output "${threads[@]}" >"$log" 2>&1; then
      echo "check-determinism: run $mode $i failed; see $log" >&2
      grep -E '^test .* FAILED$|panicked at' "$log" >&2 || true
      exit 1
    fi
  done
done
python3 scripts/compare-test-output.py "$logs"/*.log
