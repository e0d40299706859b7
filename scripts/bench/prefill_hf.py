#!/usr/bin/env python3
"""HF transformers baseline for `reclora-train llm bench-prefill`: the same ids, the same
dequantized SmolLM2 weights in float32, on CPU, one forward over the whole prompt.

usage: prefill_hf.py GGUF_PATH IDS_JSON TOKENS REPEATS THREADS
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
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(gguf), gguf_file=os.path.basename(gguf), dtype=torch.float32)
    model.eval()
    with open(ids_file) as f:
        ids = json.load(f)[:tokens]
    assert len(ids) == tokens, f"only {len(ids)} ids"
    batch = torch.tensor([ids])
    model(batch, use_cache=False)  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(batch, use_cache=False)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    print(json.dumps({"impl": "hf-transformers", "torch": torch.__version__, "threads": threads,
                      "tokens": tokens, "repeats": repeats, "median_seconds": median,
                      "tokens_per_second": tokens / median}))


if __name__ == "__main__":
    main()
