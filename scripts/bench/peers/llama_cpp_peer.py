#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) as reclora-bench's raw LLM-scoring peer: P(yes) of the very
token ids of a prompts file (`reclora-bench prompts`), no LoRA, on a GGUF.

Variants (one report each, schema reclora-bench/1):
- prompt-by-prompt: every candidate's full per-sample prompt from an empty cache;
- prefix-cache: per-user prompts; the user's shared prefix is evaluated once and its KV
  state kept (the KV-sequence API: the cache is cut back to the prefix before each
  candidate's suffix), as reclora's per-user mode does;
- both also time a plain prefill of the prompts file's 256 ids, as llama-bench's `pp`.

With `--reference Z.json` (`reclora-bench zero-shot` of the same prompts file, mode and GGUF)
the run checks that both engines compute the same thing: every P(yes) within `--tolerance`
(0.02) of reclora's no-LoRA score of the same token ids. It prints and records max and mean
|ΔP|, and exits with status 3 (after writing the report) when the check fails.

usage: llama_cpp_peer.py PROMPTS.json MODEL.gguf --variant prompt-by-prompt|prefix-cache
       --threads 2 --json OUT.json [--prefill-repeats 3] [--kv-type f16|f32]
       [--reference Z.json [--tolerance 0.02]]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


# ggml_type of the KV cache.
KV_TYPES = {"f32": 0, "f16": 1}


def quant_name(path):
    stem = os.path.basename(path).rsplit(".gguf", 1)[0]
    return stem.rsplit(".", 1)[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prompts")
    ap.add_argument("model")
    ap.add_argument("--variant", choices=["prompt-by-prompt", "prefix-cache"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", required=True)
    ap.add_argument("--prefill-repeats", type=int, default=3)
    ap.add_argument("--reference", help="reclora-bench zero-shot report of the same prompts")
    ap.add_argument("--tolerance", type=float, default=0.02)
    ap.add_argument("--kv-type", choices=["f16", "f32"], default="f16",
                    help="KV cache type (llama.cpp's default f16)")
    args = ap.parse_args()
    reference = common.read_reference(args.reference, args.prompts, args.model,
                                      "zero-shot-per-user" if args.variant == "prefix-cache"
                                      else "zero-shot-per-sample") if args.reference else None

    import llama_cpp
    prompts = common.read_prompts(args.prompts)
    yes, no = prompts["answer_ids"]

    def load():
        return llama_cpp.Llama(
            model_path=args.model, n_ctx=2048, n_batch=512, n_ubatch=512,
            n_threads=args.threads, n_threads_batch=args.threads, logits_all=False,
            type_k=KV_TYPES[args.kv_type], type_v=KV_TYPES[args.kv_type], verbose=False)

    opened, llm = common.cold_open([args.model], load)
    n_vocab = llm.n_vocab()

    def last_logits():
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))
        return common.p_yes(float(logits[yes]), float(logits[no]))

    def score(request):
        """P(yes) of a slate, and the tokens run."""
        mode = "per-user" if args.variant == "prefix-cache" else "per-sample"
        prefix, rows = common.slate_prompts(request, mode)
        out, tokens = [], 0
        if prefix is not None:
            llm.reset()
            llm.eval(prefix)
            tokens += len(prefix)
            for suffix in rows:
                llm.n_tokens = len(prefix)  # eval() cuts the KV cache back to here
                llm.eval(suffix)
                out.append(last_logits())
                tokens += len(suffix)
        else:
            for row in rows:
                llm.reset()
                llm.eval(row)
                out.append(last_logits())
                tokens += len(row)
        return out, tokens

    started = time.perf_counter()
    seconds, tokens, scores = [], [], []
    for k, request in enumerate(prompts["requests"]):
        t = time.perf_counter()
        slate, n = score(request)
        elapsed = time.perf_counter() - t
        if k == 0:
            first_score_s = opened["warm_s"] + (time.perf_counter() - started)
        if k >= prompts["warmup"]:
            seconds.append(elapsed)
            tokens.append(n)
            scores.extend(slate)

    ids = prompts["prefill_ids"]
    times = []
    for _ in range(args.prefill_repeats + 1):
        llm.reset()
        t = time.perf_counter()
        llm.eval(ids)
        times.append(time.perf_counter() - t)
    median = statistics.median(times[1:])
    candidates = prompts["candidates"]
    out = common.report(
        "llama.cpp", f"llama-cpp-python {llama_cpp.__version__}", args.variant,
        {"name": "SmolLM2-135M-Instruct", "quant": quant_name(args.model), "path": args.model,
         "bytes": os.path.getsize(args.model)},
        args.threads, common.config(prompts, args.prompts),
        open=opened, first_score_s=first_score_s,
        latency=common.latency(seconds, candidates),
        throughput=common.throughput(seconds, tokens, candidates),
        prefill={"tokens": len(ids), "repeats": args.prefill_repeats, "median_s": median,
                 "tokens_per_s": len(ids) / median, "flop_per_token": None},
        memory=common.memory(args.model),
        accuracy=common.accuracy(prompts, scores),
        scores=scores,
        notes=["no LoRA: the raw LLM's P(yes) of the same token ids",
               f"KV cache {args.kv_type}",
               "prefix-cache: the prefix's KV kept, the cache cut back to it per candidate"
               if args.variant == "prefix-cache" else "every prompt from an empty KV cache",
               "peak RSS includes the Python interpreter"])
    agreement = None
    if reference is not None:
        agreement = common.agreement(scores, reference["scores"])
        out["notes"].append(
            f"P(yes) vs reclora zero-shot ({args.reference}): max |ΔP| {agreement[0]:.4f}, "
            f"mean {agreement[1]:.4f} over {len(scores)} prompts, tolerance {args.tolerance}")
    common.write(args.json, out)
    lat = out["latency"]
    print(f"llama.cpp {args.variant} {out['model']['quant']}: {lat['per_candidate_p50_ms']:.1f} ms/candidate, "
          f"prefill {out['prefill']['tokens_per_s']:.0f} tokens/s")
    if agreement is not None:
        verdict = "ok" if agreement[0] <= args.tolerance else "FAILED"
        print(f"  P(yes) vs reclora zero-shot: max |ΔP| {agreement[0]:.4f}, mean {agreement[1]:.4f} "
              f"(tolerance {args.tolerance}): {verdict}")
        if agreement[0] > args.tolerance:
            sys.exit(3)


if __name__ == "__main__":
    main()
