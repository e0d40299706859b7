#!/usr/bin/env bash
# Prefill throughput of reclora (burn, CPU backend) and HF transformers (torch, CPU) side by
# side on the same 256 token ids and the same dequantized SmolLM2-135M weights.
#
# usage: scripts/bench/prefill.sh [TOKENS] [REPEATS]
# needs: scripts/fetch-assets.sh; a Python with torch, transformers, gguf and accelerate
#        (PYTHON=/path/to/venv/bin/python); the release build of reclora-train.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
tokens="${1:-256}"
repeats="${2:-5}"
python="${PYTHON:-python3}"
gguf="assets/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
cargo build --release --workspace -q  # --workspace: -p alone re-resolves burn's features
bin="${CARGO_TARGET_DIR:-$root/target}/release/reclora-train"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A long English text, tokenized by reclora itself (the tokenizer is golden-checked).
text="$(for _ in 1 2 3 4 5 6; do cat scripts/bench/prefill_text.txt; done)"
"$bin" llm --model "$gguf" tokenize --text "$text" 2>/dev/null > "$work/ids.json"

ours="$("$bin" llm --model "$gguf" --backend cpu bench-prefill --ids-file "$work/ids.json" \
  --tokens "$tokens" --repeats "$repeats" 2>/dev/null)"
theirs="$(OMP_NUM_THREADS="$(nproc)" "$python" scripts/bench/prefill_hf.py "$gguf" "$work/ids.json" \
  "$tokens" "$repeats" "$(nproc)" 2>/dev/null)"
echo "$ours"
echo "$theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = (json.loads(a) for a in sys.argv[1:3])
print(json.dumps({"ratio_reclora_over_hf": ours["tokens_per_second"] / theirs["tokens_per_second"]}))
PY
