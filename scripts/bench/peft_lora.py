#!/usr/bin/env python3
"""PyTorch + PEFT baseline for Few2Many throughput: static LoRA (q, v; r 8, alpha 16) on
SmolLM2 dequantized to float32, trained and scored on the exact token ids that
`reclora-train prompts` wrote for a lora-last run (same micro-batches, same test prompts).

usage: peft_lora.py GGUF_PATH PROMPTS_JSON --threads N [--batch 8] [--lr 1e-3]
prints one JSON line: train samples/s, scoring rows/s, step losses.
"""
import argparse
import json
import os
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM


def right_pad(rows, pad_id):
    """ids [b, L] and attention mask [b, L] for right-padded rows."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def hidden_states(model, ids, mask):
    """Last hidden state after the final norm (LoRA layers active)."""
    return model.get_base_model().model(input_ids=ids, attention_mask=mask).last_hidden_state


def train(model, head, dump, lr):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    losses, samples, seconds = [], 0, 0.0
    for step in dump["steps"]:
        started = time.perf_counter()
        supervised = 2 * sum(len(micro) for micro in step)
        total = 0.0
        for micro in step:
            ids, mask = right_pad([p["input"] for p in micro], dump["pad_id"])
            hidden = hidden_states(model, ids, mask)
            rows = torch.tensor([i for i, p in enumerate(micro) for _ in p["supervised"]])
            positions = torch.tensor([pos for p in micro for pos, _ in p["supervised"]])
            targets = torch.tensor([t for p in micro for _, t in p["supervised"]])
            # Only the supervised positions go through the head, as reclora does.
            logits = head(hidden[rows, positions])
            loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum") / supervised
            loss.backward()
            total += loss.item()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds += time.perf_counter() - started
        samples += sum(len(micro) for micro in step)
        losses.append(total)
    return samples / seconds, losses


@torch.no_grad()
def score(model, head, dump, batch):
    model.eval()
    answer_rows = head.weight[dump["answer_ids"]]  # [2, d]
    tests = sorted(dump["test"], key=lambda t: (len(t["prompt"]), t["row"]))
    started = time.perf_counter()
    p_yes = {}
    for start in range(0, len(tests), batch):
        chunk = tests[start : start + batch]
        ids, mask = right_pad([t["prompt"] for t in chunk], dump["pad_id"])
        hidden = hidden_states(model, ids, mask)
        last = torch.tensor([len(t["prompt"]) - 1 for t in chunk])
        logits = hidden[torch.arange(len(chunk)), last] @ answer_rows.T
        for t, p in zip(chunk, torch.softmax(logits, dim=-1)[:, 0].tolist()):
            p_yes[t["row"]] = p
    return len(tests) / (time.perf_counter() - started), p_yes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("gguf")
    parser.add_argument("prompts")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.prompts) as f:
        dump = json.load(f)
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(args.gguf), gguf_file=os.path.basename(args.gguf), dtype=torch.float32)
    for p in model.parameters():
        p.requires_grad_(False)
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none",
                      target_modules=["q_proj", "v_proj"])
    model = get_peft_model(model, lora)
    head = model.get_base_model().lm_head
    train_rate, losses = train(model, head, dump, args.lr)
    score_rate, p_yes = score(model, head, dump, args.batch)
    print(json.dumps({
        "impl": f"torch {torch.__version__} + peft",
        "threads": args.threads,
        "train_prompts": sum(len(m) for s in dump["steps"] for m in s),
        "train_samples_per_second": train_rate,
        "step_losses": losses,
        "scored_rows": len(p_yes),
        "score_rows_per_second": score_rate,
        "mean_prompt_tokens": sum(len(t["prompt"]) for t in dump["test"]) / len(dump["test"]),
    }))


if __name__ == "__main__":
    main()
