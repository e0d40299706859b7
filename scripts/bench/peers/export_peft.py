#!/usr/bin/env python3
"""A bundle's trained PLoRA as one static LoRA in PEFT format, for the transformers + PEFT
peer: the meta-LoRAs mixed with fixed uniform gates (α_k = 1/N_m). For the paper's
sum-of-products mixture, ΔW = Σ_k α_k A_k B_kᵀ is exactly a LoRA of rank N_m·r
(A = A_cat, B = diag(α)·B_cat), so PEFT computes what reclora computes for one gate; for
product-of-sums it is a rank-r LoRA of the mixed A and B. PEFT's scaling lora_alpha / r is
set to reclora's alpha / rank.

usage: export_peft.py BUNDLE_DIR OUT_DIR
"""
import json
import os
import re
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

HF = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
      "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
      "down": "mlp.down_proj"}


def main():
    bundle, out = sys.argv[1:3]
    manifest = json.load(open(os.path.join(bundle, "manifest.json")))
    cfg = manifest["plora"]
    n, rank, alpha = cfg["num_meta"], cfg["rank"], cfg["alpha"]
    targets = [t.lower() for t in cfg["targets"]]
    mixture = cfg.get("mixture", "SumOfProducts")
    tensors = load_file(os.path.join(bundle, "plora.safetensors"))
    pattern = re.compile(r"layers\.(\d+)\.projections\.(\d+)\.bank\.(a|b)$")
    banks = {}
    for name, value in tensors.items():
        m = pattern.search(name)
        if m:
            banks.setdefault((int(m[1]), int(m[2])), {})[m[3]] = value.astype(np.float32)
    if not banks:
        raise SystemExit(f"no meta-LoRA banks in {bundle}/plora.safetensors: {sorted(tensors)[:8]}")
    weights = np.full(n, 1.0 / n, dtype=np.float32)
    out_tensors = {}
    for (layer, j), bank in sorted(banks.items()):
        a, b = bank["a"], bank["b"]  # [d_in, N·r], [N·r, d_out]
        if "product" in mixture.lower():
            a = sum(weights[k] * a[:, k * rank:(k + 1) * rank] for k in range(n))
            b = sum(weights[k] * b[k * rank:(k + 1) * rank] for k in range(n))
        else:
            b = b * np.repeat(weights, rank)[:, None]
        key = f"base_model.model.model.layers.{layer}.{HF[targets[j]]}"
        out_tensors[f"{key}.lora_A.weight"] = np.ascontiguousarray(a.T)
        out_tensors[f"{key}.lora_B.weight"] = np.ascontiguousarray(b.T)
    r = a.shape[1]
    os.makedirs(out, exist_ok=True)
    save_file(out_tensors, os.path.join(out, "adapter_model.safetensors"))
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": None,
        "r": r, "lora_alpha": alpha / rank * r, "lora_dropout": 0.0, "bias": "none",
        "target_modules": sorted({HF[t].split(".")[1] for t in targets}),
        "fan_in_fan_out": False, "inference_mode": True,
    }
    json.dump(config, open(os.path.join(out, "adapter_config.json"), "w"), indent=2)
    print(f"{out}: rank {r} static LoRA on {config['target_modules']} ({mixture}, uniform gates)")


if __name__ == "__main__":
    main()
