#!/usr/bin/env python3
"""HF transformers baseline for `reclora-train llm bench-prefill`: the same ids, the same
dequantized SmolLM2 weights in float32, on CPU, one forward over the whole prompt.

usage: prefill_hf.py GGUF_PATH IDS_JSON TOKENS REPEATS THREADS [BATCH]

Like reclora, it computes the logits of the last position only (`logits_to_keep=1`): the
full [tokens, vocab] head would add ~14.5 GFLOP at 256 tokens that scoring never needs.
Row r of a batch is the ids from offset 31·r, as `bench-prefill --batch`.
"""
import json
import os
import statistics
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    gguf, ids_file, tokens, repeats, threads = sys.argv[1:6]
    tokens, repeats, threads = int(tokens), int(repeats), int(threads)
    batch_size = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(gguf), gguf_file=os.path.basename(gguf), dtype=torch.float32)
    model.eval()
    with open(ids_file) as f:
        ids = json.load(f)
    stride = 31
    assert len(ids) >= (batch_size - 1) * stride + tokens, f"only {len(ids)} ids"
    batch = torch.tensor([ids[r * stride:r * stride + tokens] for r in range(batch_size)])
    model(batch, use_cache=False, logits_to_keep=1)  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(batch, use_cache=False, logits_to_keep=1)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    print(json.dumps({"impl": "hf-transformers", "torch": torch.__version__, "threads": threads,
                      "tokens": tokens, "batch": batch_size, "repeats": repeats,
                      "median_seconds": median,
                      "tokens_per_second": batch_size * tokens / median}))


if __name__ == "__main__":
    main()
