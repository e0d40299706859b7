#!/usr/bin/env bash
# Few2Many throughput on CPU, side by side: reclora's static LoRA (lora-last) and PyTorch +
# PEFT static LoRA on the same SmolLM2 weights and the very same token ids (train
# micro-batches and test prompts from `reclora-train prompts`); reclora's gated PLoRA too.
#
# usage: scripts/bench/peft-throughput.sh
# env:   PYTHON (a venv with torch, transformers, gguf, accelerate, peft), BIN (reclora-train),
#        TRAIN_SIZE (default 32 = 2 steps of 4 × 4), TEST_ROWS (default 32), HISTORY_K (10).
# needs: data/ml-1m (prepare); for the reclora row also runs/din-final and runs/items.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
bin="${BIN:-${CARGO_TARGET_DIR:-$root/target}/release/reclora-train}"
model=assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
train_size="${TRAIN_SIZE:-32}"
test_rows="${TEST_ROWS:-32}"
history_k="${HISTORY_K:-10}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
threads="$(nproc)"

ours() {  # mode → two JSON lines (finetune, eval)
  "$bin" finetune --model "$model" --data data/ml-1m --crm runs/din-final --items runs/items \
    --mode "$1" --train-size "$train_size" --history-k "$history_k" --out "$work/$1" 2>/dev/null
  "$bin" eval --run "$work/$1" --test-rows "$test_rows" --batch 8 2>/dev/null
}
ours_lora="$(ours lora-last)"
"$bin" prompts --run "$work/lora-last" --steps 1000 --test-rows "$test_rows" \
  --out "$work/prompts.json" 2>/dev/null
theirs="$(OMP_NUM_THREADS="$threads" "$python" scripts/bench/peft_lora.py "$model" \
  "$work/prompts.json" --threads "$threads" --batch 8 2>/dev/null)"
ours_reclora=""
if [ -d runs/din-final ] && [ -d runs/items ]; then ours_reclora="$(ours reclora)"; fi
python3 - "$ours_lora" "$theirs" "$ours_reclora" "$work/lora-last/train-state.json" <<'PY'
import json, sys
def lines(text):
    return [json.loads(l) for l in text.splitlines() if l.startswith("{")]
lora, theirs, reclora = lines(sys.argv[1]), json.loads(sys.argv[2]), lines(sys.argv[3])
rows = [("reclora lora-last (burn-flex)", lora[0]["samples_per_second"], lora[1]["rows_per_second"]),
        (theirs["impl"] + " LoRA", theirs["train_samples_per_second"], theirs["score_rows_per_second"])]
if reclora:
    rows.append(("reclora PLoRA + DIN gates (burn-flex)", reclora[0]["samples_per_second"],
                 reclora[1]["rows_per_second"]))
print(f"| implementation | train prompts/s | scoring rows/s |")
print(f"| --- | --- | --- |")
for name, train, score in rows:
    print(f"| {name} | {train:.3f} | {score:.3f} |")
print(json.dumps({
    "mean_prompt_tokens": theirs["mean_prompt_tokens"],
    "train_ratio_reclora_over_peft": lora[0]["samples_per_second"] / theirs["train_samples_per_second"],
    "score_ratio_reclora_over_peft": lora[1]["rows_per_second"] / theirs["score_rows_per_second"],
    # B = 0 at step 1 in both, so the first loss is the frozen model's: a parity check.
    "first_step_loss": {"reclora": json.load(open(sys.argv[4]))["step_losses"][0],
                        "peft": theirs["step_losses"][0]},
}))
PY
