#!/usr/bin/env python3
"""HF transformers + PEFT on the CPU, the server-side peer of reclora-bench: a static LoRA in
PEFT format (export_peft.py) on SmolLM2 dequantized to float32, scoring the per-sample
prompts of a prompts file (`reclora-bench prompts`) in right-padded batches, P(yes) from the
last position's yes/no logits.

usage: hf_peft_peer.py PROMPTS.json MODEL.gguf --peft DIR --threads 2 --json OUT.json
       [--batch 8] [--prefill-repeats 3]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prompts")
    ap.add_argument("model")
    ap.add_argument("--peft", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--json", required=True)
    ap.add_argument("--prefill-repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import peft
    import torch
    import transformers
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    prompts = common.read_prompts(args.prompts)
    yes, no = prompts["answer_ids"]
    pad = prompts["pad_id"]

    def load():
        base = AutoModelForCausalLM.from_pretrained(
            os.path.dirname(args.model), gguf_file=os.path.basename(args.model),
            dtype=torch.float32)
        model = PeftModel.from_pretrained(base, args.peft)
        model.eval()
        return model

    opened, model = common.cold_open([args.model], load)
    inner = model.get_base_model()
    head = inner.lm_head.weight[[yes, no]].detach()

    @torch.inference_mode()
    def p_yes(rows):
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        hidden = inner.model(input_ids=ids, attention_mask=mask).last_hidden_state
        last = hidden[torch.arange(len(rows)), torch.tensor([len(r) - 1 for r in rows])]
        logits = last @ head.T  # only the two answer rows of the head, as reclora does
        return torch.sigmoid(logits[:, 0] - logits[:, 1]).tolist()

    def score(request):
        rows = request["per_sample"]
        order = sorted(range(len(rows)), key=lambda i: (len(rows[i]), i))
        out = [0.0] * len(rows)
        for s in range(0, len(order), args.batch):
            chunk = order[s:s + args.batch]
            for i, p in zip(chunk, p_yes([rows[i] for i in chunk])):
                out[i] = p
        return out, sum(len(r) for r in rows)

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
        t = time.perf_counter()
        p_yes([ids])
        times.append(time.perf_counter() - t)
    median = statistics.median(times[1:])
    candidates = prompts["candidates"]
    out = common.report(
        "transformers+peft",
        f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}",
        "peft-static-lora",
        {"name": "SmolLM2-135M-Instruct", "quant": "f32", "path": args.model,
         "bytes": os.path.getsize(args.model)},
        args.threads, common.config(prompts, args.prompts, args.batch),
        open=opened, first_score_s=first_score_s,
        latency=common.latency(seconds, candidates),
        throughput=common.throughput(seconds, tokens, candidates),
        prefill={"tokens": len(ids), "repeats": args.prefill_repeats, "median_s": median,
                 "tokens_per_s": len(ids) / median, "flop_per_token": None},
        memory=common.memory(args.model),
        accuracy=common.accuracy(prompts, scores),
        scores=scores,
        notes=[f"static LoRA from {args.peft} (PEFT format), weights dequantized to float32, "
               f"batches of {args.batch}",
               "peak RSS includes the Python interpreter and torch"])
    common.write(args.json, out)
    lat = out["latency"]
    print(f"transformers+peft: {lat['per_candidate_p50_ms']:.1f} ms/candidate, "
          f"prefill {out['prefill']['tokens_per_s']:.0f} tokens/s")


if __name__ == "__main__":
    main()
