#!/usr/bin/env bash
# Issue 15's runs (RecLoRA that beats its own CRM), one after another, resumable: rerun the
# script and every step continues where it stopped (step checkpoints, score files), and a
# finished step is skipped. Every LLM run shares the few-shot subset (--train-size, seed 42)
# and is scored on the same seeded valid sample (selection) and test sample (the report).
# Run from the repository root (data/, assets/, runs/ present), e.g.
#   nohup nice -n 5 scripts/bench/quality-runs.sh >> runs/quality/driver.log 2>&1 &
set -uo pipefail
BIN=${BIN:-/var/tmp/reclora-train-quality}
MODEL=${MODEL:-assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf}
OUT=${OUT:-runs/quality}
TRAIN_SIZE=${TRAIN_SIZE:-1024}
TEST_SAMPLE=${TEST_SAMPLE:-2000}
VALID_SAMPLE=${VALID_SAMPLE:-400}
SEED=${SEED:-1}
mkdir -p "$OUT"
log() { echo "[$(date -u +%FT%TZ)] $*"; }

# finetune NAME MODE [FLAGS...]: trains runs/quality/NAME unless it has finished.
finetune() {
  local name=$1 mode=$2
  shift 2
  local run="$OUT/$name"
  if [ -f "$run/train-state.json" ] && grep -q '"finished": *true' "$run/train-state.json"; then
    log "skip finetune $name (finished)"
    return 0
  fi
  local resume=()
  [ -f "$run/config.json" ] && resume=(--resume)
  log "finetune $name ${resume[*]}"
  "$BIN" finetune --model "$MODEL" --data data/ml-1m --crm runs/din-final --items runs/items \
    --mode "$mode" --train-size "$TRAIN_SIZE" --out "$run" "${resume[@]}" "$@"
}

# evaluate NAME valid|test: scores the seeded sample unless its metrics file exists.
evaluate() {
  local name=$1 split=$2 run="$OUT/$1"
  local metrics=metrics.json flags=(--test-sample "$TEST_SAMPLE")
  if [ "$split" = valid ]; then
    metrics=metrics-valid.json
    flags=(--valid-sample "$VALID_SAMPLE")
  fi
  if [ -f "$run/$metrics" ]; then
    log "skip eval $name $split (done)"
    return 0
  fi
  log "eval $name $split"
  "$BIN" eval --run "$run" "${flags[@]}" --seed "$SEED" --batch 8
}

step() { "$@" || { log "FAILED: $*"; exit 1; }; }

# (a) zero-shot on the test sample (DIN's scores.csv covers the whole test split).
step finetune zero-shot zero-shot
step evaluate zero-shot test
# (b) RecLoRA-fused: (logit_yes - logit_no) + w * DIN logit, w learned from 1, DIN frozen.
step finetune reclora-fused-1k reclora-fused --loss yes-no
step evaluate reclora-fused-1k valid
step evaluate reclora-fused-1k test
# (d, trained first) the static LoRA with retrieved history: (c)'s warm-start source.
step finetune lora-retrieved-1k lora-retrieved --loss yes-no
# (c) RecLoRA, paper form, warm-started from it, with a 10x gate learning rate.
step finetune reclora-warm-1k reclora --loss yes-no --warm-start "$OUT/lora-retrieved-1k" \
  --gate-lr 1e-2
step evaluate reclora-warm-1k valid
step evaluate reclora-warm-1k test
step evaluate lora-retrieved-1k valid
step evaluate lora-retrieved-1k test
log "all done"
# Then: reclora-train report runs/din-final runs/quality/{zero-shot,lora-retrieved-1k,reclora-warm-1k,reclora-fused-1k} --out runs/quality/report
