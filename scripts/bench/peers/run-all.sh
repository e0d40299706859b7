#!/usr/bin/env bash
# The docs/perf.md table of reclora-bench in one command: reclora (per-sample, per-user; exact
# and 8-bit activations) and
# its peers (llama.cpp prompt by prompt and with the prefix cache, transformers + PEFT, the
# machine's peaks) on the same token ids, the same slates and threads, run alternately for
# ROUNDS rounds, then merged (medians) by `reclora-bench report` into docs/perf.md.
#
# Before the timed rounds, llama.cpp's P(yes) on the plain (no-LoRA) prompts is checked
# against reclora's zero-shot scores of the same prompts and the same (F32 GGUF) weights:
# every prompt within 0.02, or the script stops (llama_cpp_peer.py --reference, status 3).
#
# What is missing is made first (each step skipped when its output exists): a small reclora
# run (RUN, 4 optimizer steps on 64 samples), its q8 and q4 bundles, the replay, the F32, Q8_0
# and Q4_0 GGUFs, the PEFT export.
#
# usage: scripts/bench/peers/run-all.sh
# env:   RUN (a reclora run folder), Q8 and Q4 (its bundles), DATA (prepared ML-1M),
#        CRM (the DIN run), ITEMS (the LSMR item table), GGUF (the original SmolLM2 GGUF),
#        PYTHON (the peers' venv python, scripts/bench/peers/setup-venv.sh),
#        BIN (folder of reclora-bench and reclora-train), OUT (results folder),
#        ROUNDS (2), REQUESTS (2), WARMUP (1), CANDIDATES (50), USERS (20), THREADS (2),
#        LAYOUT (the small run's prompt layout: rella or candidate-last; default rella),
#        MODES (reclora gate modes, "per-sample per-user"; llama.cpp's variants follow:
#        per-sample → prompt by prompt, per-user → the prefix cache),
#        ACTIVATIONS (reclora's, "exact q8"), PEFT (1; 0 skips transformers + PEFT, so the
#        venv needs no torch), REPORT (docs/perf.md; "-" prints only).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
peers="$root/scripts/bench/peers"
bin="${BIN:-${CARGO_TARGET_DIR:-$root/target}/release}"
python="${PYTHON:-$root/.venv-peers/bin/python}"
run="${RUN:-$root/runs/bench-tool/reclora}"
q8="${Q8:-$root/bundles/bench-q8}"
q4="${Q4:-$root/bundles/bench-q4}"
data="${DATA:-$root/data/ml-1m}"
crm="${CRM:-$root/runs/din-final}"
items="${ITEMS:-$root/runs/items}"
gguf="${GGUF:-$root/assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf}"
out="${OUT:-$root/runs/bench-tool/results}"
rounds="${ROUNDS:-2}"; requests="${REQUESTS:-2}"; warmup="${WARMUP:-1}"
candidates="${CANDIDATES:-50}"; users="${USERS:-20}"; threads="${THREADS:-2}"
layout="${LAYOUT:-rella}"
modes="${MODES:-per-sample per-user}"; activations="${ACTIVATIONS:-exact q8}"; peft="${PEFT:-1}"
report="${REPORT:-$root/docs/perf.md}"
models="$out/models"
mkdir -p "$out" "$models"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
started=$(date +%s)

if [ ! -f "$run/adapter.bpk" ]; then
  log "fine-tuning a small reclora run into $run"
  "$bin/reclora-train" finetune --model "$gguf" --data "$data" --crm "$crm" --items "$items" \
    --mode reclora --train-size 64 --micro-batch 4 --grad-accum 4 --epochs 1 --seed 42 \
    --layout "$layout" --out "$run"
fi
for quant in q8 q4; do
  bundle="$q8"; [ "$quant" = q4 ] && bundle="$q4"
  if [ ! -f "$bundle/manifest.json" ]; then
    log "exporting the $quant bundle $bundle"
    "$bin/reclora-train" export --run "$run" --quant "$quant" --out "$bundle"
  fi
done
# The same GGUF as Q8_0 / Q4_0 (the bundles' blocks) and F32, from the same dequantized weights.
for type in F32 Q8_0 Q4_0; do
  [ -f "$models/SmolLM2-135M-Instruct.$type.gguf" ] ||
    "$python" "$peers/make_gguf.py" "$gguf" "$models/SmolLM2-135M-Instruct.$type.gguf" "$type"
done
[ -f "$out/replay.json" ] ||
  "$bin/reclora-train" replay --data "$data" --users "$users" --candidates "$candidates" --out "$out/replay.json"
select=(--replay "$out/replay.json" --candidates "$candidates" --requests "$requests" --warmup "$warmup" --threads "$threads")
# One prompts file: q8 and q4 bundles share the tokenizer and prompt spec.
"$bin/reclora-bench" prompts --bundle "$q8" "${select[@]}" --out "$out/prompts.json"
[ "$peft" = 0 ] || [ -d "$out/peft" ] || "$python" "$peers/export_peft.py" "$q8" "$out/peft"

# Agreement, no LoRA, the same prompts: llama.cpp on the F32 GGUF against reclora's zero-shot
# scores of the same file must agree within 0.02 on every prompt, or the script stops here
# (llama_cpp_peer.py --reference exits with status 3). On the Q8_0 and Q4_0 files llama.cpp
# also quantizes the activations to 8 bits in every matmul (reclora keeps them in f32), so
# their |ΔP| (the rounds' llama.cpp scores against zero-shot-Q8_0-*/Q4_0-*) is reported in the
# table, not enforced.
for type in F32 Q8_0 Q4_0; do
  model="$models/SmolLM2-135M-Instruct.$type.gguf"
  for mode in $modes; do
    log "zero-shot $type $mode"
    "$bin/reclora-bench" zero-shot --prompts "$out/prompts.json" --model "$model" \
      --mode "$mode" --threads "$threads" --json "$out/zero-$type-$mode.json" >/dev/null
    if [ "$type" = F32 ]; then
      variant=prompt-by-prompt; [ "$mode" = per-user ] && variant=prefix-cache
      log "llama.cpp $type $variant checked against it"
      "$python" "$peers/llama_cpp_peer.py" "$out/prompts.json" "$model" --variant "$variant" \
        --threads "$threads" --reference "$out/zero-$type-$mode.json" --tolerance 0.02 \
        --json "$out/check-llama-$type-$variant.json"
    fi
  done
done

for round in $(seq 1 "$rounds"); do
  log "round $round: machine peaks"
  "$python" "$peers/machine_peak.py" --threads "$threads" --json "$out/r$round-peak.json"
  for quant in q8 q4; do
    bundle="$q8"; type=Q8_0
    if [ "$quant" = q4 ]; then bundle="$q4"; type=Q4_0; fi
    for mode in $modes; do
      # exact: two int8 passes per projection (the default); q8: one, llama.cpp's activations.
      for act in $activations; do
        suffix=""; [ "$act" = q8 ] && suffix="-q8act"
        log "round $round: reclora $quant $mode, $act activations"
        "$bin/reclora-bench" --bundle "$bundle" "${select[@]}" --gate-mode "$mode" \
          --activations "$act" --quiet --scores --json "$out/r$round-reclora-$quant-$mode$suffix.json"
      done
    done
    for mode in $modes; do
      variant=prompt-by-prompt; [ "$mode" = per-user ] && variant=prefix-cache
      log "round $round: llama.cpp $type $variant"
      "$python" "$peers/llama_cpp_peer.py" "$out/prompts.json" "$models/SmolLM2-135M-Instruct.$type.gguf" \
        --variant "$variant" --threads "$threads" --json "$out/r$round-llama-$type-$variant.json"
    done
  done
  if [ "$peft" != 0 ]; then
    log "round $round: transformers + PEFT"
    "$python" "$peers/hf_peft_peer.py" "$out/prompts.json" "$gguf" --peft "$out/peft" \
      --threads "$threads" --json "$out/r$round-peft.json"
  fi
done

target=(); [ "$report" != "-" ] && target=(--out "$report")
"$bin/reclora-bench" report "$out"/r*-*.json "$out"/zero-*.json "$out"/check-*.json "${target[@]}" \
  --command "scripts/bench/peers/run-all.sh  # LAYOUT=$layout MODES='$modes' ACTIVATIONS='$activations' PEFT=$peft ROUNDS=$rounds REQUESTS=$requests WARMUP=$warmup CANDIDATES=$candidates THREADS=$threads"
log "done in $(( $(date +%s) - started )) s"
