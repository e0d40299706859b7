#!/usr/bin/env bash
# Few2Many benchmark on this CPU (issue: RecLoRA proper): the four LLM modes on the same
# seeded few-shot subset, evaluated on the first TEST_ROWS test rows, then the report.
# Resumable: rerun the script and every step continues where it stopped (checkpoints,
# scores.csv). Needs: data/ml-1m (prepare), runs/din-final (crm), runs/items (embed-items).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/reclora-train}
[ -x "$BIN" ] || BIN=${CARGO_TARGET_DIR:-target}/release/reclora-train
MODEL=assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
OUT=${OUT:-runs/bench-cpu}
TRAIN_SIZE=${TRAIN_SIZE:-512}
TEST_ROWS=${TEST_ROWS:-1000}
HISTORY_K=${HISTORY_K:-10}
MODES=${MODES:-"zero-shot reclora lora-retrieved lora-last"}
for mode in $MODES; do
  run="$OUT/$mode"
  resume=()
  [ -f "$run/config.json" ] && resume=(--resume)
  "$BIN" finetune --model "$MODEL" --data data/ml-1m --crm runs/din-final --items runs/items \
    --mode "$mode" --train-size "$TRAIN_SIZE" --history-k "$HISTORY_K" --out "$run" "${resume[@]}"
  "$BIN" eval --run "$run" --test-rows "$TEST_ROWS" --batch 8
done
"$BIN" report runs/din-final "$OUT"/* --out "$OUT/report"
