#!/usr/bin/env bash
# The docs/perf.md table of reclora-bench in one command: reclora (per-sample, per-user) and
# its peers (llama.cpp prompt by prompt and with the prefix cache, transformers + PEFT, the
# machine's peaks) on the same token ids, the same slates and threads, run alternately for
# ROUNDS rounds, then merged (medians) by `reclora-bench report` into docs/perf.md; plus the
# llama.cpp-vs-reclora zero-shot P(yes) agreement on the same weights.
#
# usage: scripts/bench/peers/run-all.sh
# env:   RUN (a finished reclora run), Q8 and Q4 (its bundles), DATA (prepared ML-1M),
#        PYTHON (the peers' venv python, scripts/bench/peers/setup-venv.sh),
#        BIN (folder of reclora-bench and reclora-train), OUT (results folder),
#        ROUNDS (3), REQUESTS (2), WARMUP (1), CANDIDATES (50), USERS (20), THREADS (2),
#        GGUF (the original SmolLM2 GGUF), REPORT (docs/perf.md; "-" prints only).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
peers="$root/scripts/bench/peers"
bin="${BIN:-${CARGO_TARGET_DIR:-$root/target}/release}"
python="${PYTHON:-$root/.venv-peers/bin/python}"
run="${RUN:-$root/runs/bench-tool/reclora}"
q8="${Q8:-$root/bundles/bench-q8}"
q4="${Q4:-$root/bundles/bench-q4}"
data="${DATA:-$root/data/ml-1m}"
gguf="${GGUF:-$root/assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf}"
out="${OUT:-$root/runs/bench-tool/results}"
rounds="${ROUNDS:-3}"; requests="${REQUESTS:-2}"; warmup="${WARMUP:-1}"
candidates="${CANDIDATES:-50}"; users="${USERS:-20}"; threads="${THREADS:-2}"
report="${REPORT:-$root/docs/perf.md}"
models="$out/models"
mkdir -p "$out" "$models"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# The same GGUF as Q8_0 / Q4_0 / F32, from the same dequantized weights as the bundles.
for type in Q8_0 Q4_0; do
  [ -f "$models/SmolLM2-135M-Instruct.$type.gguf" ] ||
    "$python" "$peers/make_gguf.py" "$gguf" "$models/SmolLM2-135M-Instruct.$type.gguf" "$type"
done
[ -f "$out/replay.json" ] ||
  "$bin/reclora-train" replay --data "$data" --users "$users" --candidates "$candidates" --out "$out/replay.json"
select=(--replay "$out/replay.json" --candidates "$candidates" --requests "$requests" --warmup "$warmup" --threads "$threads")
# One prompts file: q8 and q4 bundles share the tokenizer and prompt spec.
"$bin/reclora-bench" prompts --bundle "$q8" "${select[@]}" --out "$out/prompts.json"
[ -d "$out/peft" ] || "$python" "$peers/export_peft.py" "$q8" "$out/peft"

# Agreement: llama.cpp and reclora on the same GGUF weights and prompts, no LoRA.
for type in Q8_0 Q4_0; do
  for mode in per-sample per-user; do
    log "zero-shot $type $mode"
    "$bin/reclora-bench" zero-shot --prompts "$out/prompts.json" --model "$models/SmolLM2-135M-Instruct.$type.gguf" \
      --mode "$mode" --threads "$threads" --json "$out/zero-$type-$mode.json" >/dev/null
  done
done

for round in $(seq 1 "$rounds"); do
  log "round $round: machine peaks"
  "$python" "$peers/machine_peak.py" --threads "$threads" --json "$out/r$round-peak.json"
  for quant in q8 q4; do
    bundle="$q8"; type=Q8_0
    if [ "$quant" = q4 ]; then bundle="$q4"; type=Q4_0; fi
    for mode in per-sample per-user; do
      log "round $round: reclora $quant $mode"
      "$bin/reclora-bench" --bundle "$bundle" "${select[@]}" --gate-mode "$mode" --quiet --scores \
        --json "$out/r$round-reclora-$quant-$mode.json" >/dev/null
    done
    for variant in prompt-by-prompt prefix-cache; do
      log "round $round: llama.cpp $type $variant"
      "$python" "$peers/llama_cpp_peer.py" "$out/prompts.json" "$models/SmolLM2-135M-Instruct.$type.gguf" \
        --variant "$variant" --threads "$threads" --json "$out/r$round-llama-$type-$variant.json"
    done
  done
  log "round $round: transformers + PEFT"
  "$python" "$peers/hf_peft_peer.py" "$out/prompts.json" "$gguf" --peft "$out/peft" \
    --threads "$threads" --json "$out/r$round-peft.json"
done

target=(); [ "$report" != "-" ] && target=(--out "$report")
"$bin/reclora-bench" report "$out"/r*-*.json "$out"/zero-*.json "${target[@]}" \
  --command "scripts/bench/peers/run-all.sh  # ROUNDS=$rounds REQUESTS=$requests WARMUP=$warmup CANDIDATES=$candidates THREADS=$threads"
