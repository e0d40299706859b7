#!/usr/bin/env bash
# Prefill throughput of reclora (CPU kernels) and HF transformers (torch, CPU) side by side:
# the same token ids, the same dequantized SmolLM2-135M weights, logits of the last
# position only on both sides, the two run alternately ROUNDS times (medians reported), so
# both see the same machine load.
#
# usage: scripts/bench/prefill.sh [TOKENS] [REPEATS] [BATCH] [ROUNDS]
#        (defaults 256 10 1 3; the issue's shapes are "256 10 1" and "280 5 8")
# needs: scripts/fetch-assets.sh; a Python with torch, transformers, gguf and accelerate
#        (PYTHON=/path/to/venv/bin/python). Prints one JSON line per run, then a summary
#        with the ratio and reclora's useful GFLOP/s.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
tokens="${1:-256}"
repeats="${2:-10}"
batch="${3:-1}"
rounds="${4:-3}"
threads="${THREADS:-$(nproc)}"
python="${PYTHON:-python3}"
gguf="assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
cargo build --release --workspace -q  # --workspace: -p alone re-resolves burn's features
bin="${CARGO_TARGET_DIR:-$root/target}/release/reclora-train"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A long English text, tokenized by reclora itself (the tokenizer is golden-checked).
text="$(for _ in 1 2 3 4 5 6; do cat scripts/bench/prefill_text.txt; done)"
"$bin" llm --model "$gguf" tokenize --text "$text" 2>/dev/null > "$work/ids.json"

for _ in $(seq 1 "$rounds"); do
  RAYON_NUM_THREADS="$threads" "$bin" llm --model "$gguf" --backend cpu bench-prefill \
    --ids-file "$work/ids.json" --tokens "$tokens" --repeats "$repeats" --batch "$batch" \
    2>/dev/null | tee -a "$work/ours.jsonl"
  OMP_NUM_THREADS="$threads" "$python" scripts/bench/prefill_hf.py "$gguf" "$work/ids.json" \
    "$tokens" "$repeats" "$threads" "$batch" 2>/dev/null | tee -a "$work/theirs.jsonl"
done
python3 - "$work/ours.jsonl" "$work/theirs.jsonl" "$tokens" <<'PY'
import json, statistics, sys
def rate(path):
    return statistics.median(json.loads(l)["tokens_per_second"] for l in open(path))
ours, theirs, t = rate(sys.argv[1]), rate(sys.argv[2]), int(sys.argv[3])
# SmolLM2-135M: d 576, 9 q heads and 3 kv heads of 64, ff 1536, 30 layers.
d, q, kv, ff, layers, hd, heads = 576, 576, 192, 1536, 30, 64, 9
projections = 2 * d * (q + 2 * kv + q) + 2 * 3 * d * ff
attention = 4 * hd * heads * (t + 1) / 2          # causal: (t + 1) / 2 keys on average
per_token = layers * (projections + attention)
print(json.dumps({"tokens": t, "reclora_tokens_per_second": ours,
                  "hf_tokens_per_second": theirs, "ratio_reclora_over_hf": ours / theirs,
                  "useful_gflop_per_token": per_token / 1e9,
                  "reclora_gflops": ours * per_token / 1e9,
                  "hf_gflops": theirs * per_token / 1e9}))
PY
