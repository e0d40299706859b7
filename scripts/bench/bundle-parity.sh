#!/usr/bin/env bash
# Bundle vs server parity on real data (issue 5): exports the benchmark's reclora run as
# f32, f16, q8 and q4 bundles, scores the first 500 test rows of ML-1M through the
# on-device runtime and compares with the run's server scores (scores.csv). Per-user gate
# mode runs on the f32 bundle for its AUC cost. Resumable: finished reports are skipped.
#
# Needs: scripts/bench/few2many-cpu.sh done (runs/bench-cpu/reclora with 1000 scored rows).
# Usage: scripts/bench/bundle-parity.sh [rows]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
rows="${1:-500}"
run=runs/bench-cpu/reclora
out=runs/bench-cpu/parity
mkdir -p "$out" bundles
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/reclora-target}"
cargo build --release --workspace --locked
bin="$CARGO_TARGET_DIR/release/reclora-train"
for quant in f32 f16 q8 q4; do
  bundle="bundles/reclora-$quant"
  [ -f "$bundle/manifest.json" ] || "$bin" export --run "$run" --quant "$quant" --out "$bundle"
done
for spec in f32:per-sample q8:per-sample f16:per-sample q4:per-sample f32:per-user; do
  quant="${spec%%:*}"; mode="${spec##*:}"
  report="$out/$quant-$mode-$rows.json"
  [ -f "$report" ] && continue
  "$bin" parity --run "$run" --bundle "bundles/reclora-$quant" --test-rows "$rows" \
    --gate-mode "$mode" --threads 2 --out "$report.tmp"
  mv "$report.tmp" "$report"
done
python3 - "$out" "$rows" <<'PY'
import json, pathlib, sys
out, rows = pathlib.Path(sys.argv[1]), sys.argv[2]
print("| bundle | gate | rows | max abs diff | mean abs diff | AUC server | AUC bundle | AUC diff | open s | first score s | s/row |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for f in sorted(out.glob(f"*-{rows}.json")):
    r = json.loads(f.read_text())
    print(f"| {r['quant']} | {r['gate_mode']} | {r['rows']} | {r['max_abs_diff']:.4f} | {r['mean_abs_diff']:.5f} | "
          f"{r['auc_server']:.4f} | {r['auc_bundle']:.4f} | {r['auc_diff']:+.4f} | {r['open_seconds']:.2f} | "
          f"{r['first_score_seconds']:.2f} | {r['seconds_per_row']:.2f} |")
PY
