#!/usr/bin/env bash
# Few2Many throughput on CPU, side by side: reclora's static LoRA (lora-last) and PyTorch +
# PEFT static LoRA on the same SmolLM2 weights and the very same token ids (train
# micro-batches and test prompts from `reclora-train prompts`), reclora's gated PLoRA too,
# and optionally reclora on burn's generic operations (RECLORA_CPU_KERNELS=off, the code
# path before the CPU kernels). The implementations run alternately ROUNDS times, so they
# share the machine's load; medians are reported, with each run's peak RSS.
#
# usage: scripts/bench/peft-throughput.sh
# env:   PYTHON (a venv with torch, transformers, gguf, accelerate, peft), BIN (reclora-train),
#        TRAIN_SIZE (default 32 = 2 steps of 4 × 4), TEST_ROWS (default 32), HISTORY_K (10),
#        ROUNDS (default 3), GENERIC=1 to add the generic-ops rows.
# needs: data/ml-1m (prepare); for the PLoRA row also runs/din-final and runs/items.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
bin="${BIN:-${CARGO_TARGET_DIR:-$root/target}/release/reclora-train}"
model=assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf
train_size="${TRAIN_SIZE:-32}"
test_rows="${TEST_ROWS:-32}"
history_k="${HISTORY_K:-10}"
rounds="${ROUNDS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
threads="$(nproc)"

ours() {  # label mode [env...] → appends {label, train, score, rss_kb} to results.jsonl
  local label="$1" mode="$2"; shift 2
  local run="$work/run-$label"
  rm -rf "$run"
  env "$@" /usr/bin/time -f "%M" -o "$work/rss" "$bin" finetune --model "$model" \
    --data data/ml-1m --crm runs/din-final --items runs/items --mode "$mode" \
    --train-size "$train_size" --history-k "$history_k" --out "$run" 2>/dev/null > "$work/train.json"
  env "$@" "$bin" eval --run "$run" --test-rows "$test_rows" --batch 8 2>/dev/null > "$work/eval.json"
  python3 - "$label" "$work/train.json" "$work/eval.json" "$(cat "$work/rss")" \
    "$run/train-state.json" >> "$work/results.jsonl" <<'PY'
import json, sys
label, train, evaluation, rss, state = sys.argv[1:6]
last = lambda p: [json.loads(l) for l in open(p) if l.startswith("{")][-1]
print(json.dumps({"label": label, "train": last(train)["samples_per_second"],
                  "score": last(evaluation)["rows_per_second"], "rss_kb": int(rss),
                  "first_loss": json.load(open(state))["step_losses"][0]}))
PY
  [ -f "$work/prompts.json" ] || "$bin" prompts --run "$run" --steps 1000 \
    --test-rows "$test_rows" --out "$work/prompts.json" 2>/dev/null
}

theirs() {
  OMP_NUM_THREADS="$threads" /usr/bin/time -f "%M" -o "$work/rss" "$python" \
    scripts/bench/peft_lora.py "$model" "$work/prompts.json" --threads "$threads" --batch 8 \
    2>/dev/null > "$work/peft.json"
  python3 - "$work/peft.json" "$(cat "$work/rss")" >> "$work/results.jsonl" <<'PY'
import json, sys
t = json.loads(open(sys.argv[1]).read())
print(json.dumps({"label": t["impl"] + " LoRA", "train": t["train_samples_per_second"],
                  "score": t["score_rows_per_second"], "rss_kb": int(sys.argv[2]),
                  "first_loss": t["step_losses"][0],
                  "mean_prompt_tokens": t["mean_prompt_tokens"]}))
PY
}

for round in $(seq 1 "$rounds"); do
  echo "peft-throughput: round $round of $rounds" >&2
  ours "reclora lora-last" lora-last
  theirs
  if [ -d runs/din-final ] && [ -d runs/items ]; then ours "reclora PLoRA + DIN gates" reclora; fi
  if [ "${GENERIC:-0}" = 1 ]; then
    ours "reclora lora-last, generic ops" lora-last RECLORA_CPU_KERNELS=off
  fi
done
python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
labels = list(dict.fromkeys(r["label"] for r in runs))
med = {l: {k: statistics.median(r[k] for r in runs if r["label"] == l)
           for k in ("train", "score", "rss_kb")} for l in labels}
peft = next(l for l in labels if l.endswith(" LoRA") and not l.startswith("reclora"))
print("| implementation | train prompts/s | scoring rows/s | peak RSS (MB) | train / PEFT | scoring / PEFT |")
print("| --- | --- | --- | --- | --- | --- |")
for l in labels:
    m = med[l]
    print(f"| {l} | {m['train']:.3f} | {m['score']:.3f} | {m['rss_kb'] / 1024:.0f} | "
          f"{m['train'] / med[peft]['train']:.2f} | {m['score'] / med[peft]['score']:.2f} |")
first = {l: next(r["first_loss"] for r in runs if r["label"] == l) for l in labels}
print(json.dumps({"rounds": len(runs) // len(labels), "first_step_loss": first,
                  "mean_prompt_tokens": next(r.get("mean_prompt_tokens") for r in runs
                                             if r["label"] == peft)}))
PY
