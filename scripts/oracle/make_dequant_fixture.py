#!/usr/bin/env python3
"""Builds core/tests/fixtures/gguf_dequant.json, the golden data for the Rust GGUF reader.

The expected values come from the reference Python `gguf` package (gguf.quants), not from
our own code, so the Rust dequantizers and quantizers are checked against an independent
implementation of ggml's formats.

Each dequant case holds two blocks of raw bytes: random bytes for the quantized parts and
f16 scales drawn from small random floats (random bytes there would give inf/NaN scales).

Run with an interpreter that has `gguf` and `numpy`:
    /root/oracle-venv/bin/python scripts/oracle/make_dequant_fixture.py
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf import quants

SEED = 20240611
BLOCKS_PER_CASE = 2
OUT = Path(__file__).resolve().parents[2] / "core" / "tests" / "fixtures" / "gguf_dequant.json"

# Byte offsets, inside one block, of the f16 scale fields (ggml block layouts in ggml-common.h).
F16_SCALE_OFFSETS: dict[T, tuple[int, ...]] = {
    T.Q4_0: (0,),
    T.Q4_1: (0, 2),
    T.Q5_0: (0,),
    T.Q5_1: (0, 2),
    T.Q8_0: (0,),
    T.Q2_K: (80, 82),
    T.Q3_K: (108,),
    T.Q4_K: (0, 2),
    T.Q5_K: (0, 2),
    T.Q6_K: (208,),
}


def random_quant_blocks(rng: np.random.Generator, qtype: T) -> np.ndarray:
    """Random block bytes with finite, small f16 scales patched in."""
    _, type_size = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(BLOCKS_PER_CASE, type_size), dtype=np.uint8)
    for block in blocks:
        for offset in F16_SCALE_OFFSETS[qtype]:
            scale = np.float16(rng.uniform(-0.05, 0.05))
            block[offset : offset + 2] = np.frombuffer(scale.tobytes(), dtype=np.uint8)
    return blocks.reshape(-1)


def random_float_bytes(rng: np.random.Generator, qtype: T) -> np.ndarray:
    """Random values plus the awkward ones (zeros, subnormals, extremes) for float types."""
    n = 32 * BLOCKS_PER_CASE
    values = rng.normal(0.0, 2.0, size=n).astype(np.float32)
    if qtype == T.F16:
        specials = [0.0, -0.0, 6e-8, -6e-8, 3e-5, 65504.0, -65504.0, 1.0]
        values[: len(specials)] = specials
        return values.astype(np.float16).view(np.uint8)
    if qtype == T.BF16:
        specials = [0.0, -0.0, 1e-40, -3e38, 3e38, 1.0, -1.0, 0.1]
        values[: len(specials)] = specials
        return quants.quantize(values, T.BF16).reshape(-1)
    specials = [0.0, -0.0, 1e-45, -3.4e38, 3.4e38, 1.0, -1.0, 0.1]
    values[: len(specials)] = specials
    return values.view(np.uint8)


def dequant_case(rng: np.random.Generator, qtype: T) -> dict:
    if qtype in (T.F32, T.F16, T.BF16):
        raw = random_float_bytes(rng, qtype)
    else:
        raw = random_quant_blocks(rng, qtype)
    values = np.asarray(quants.dequantize(raw, qtype), dtype=np.float32).reshape(-1)
    assert np.all(np.isfinite(values)), qtype.name
    return {
        "type": qtype.name,
        "type_id": int(qtype),
        "bytes_hex": raw.tobytes().hex(),
        "values": [float(v) for v in values],
    }


def quantize_case(rng: np.random.Generator, qtype: T) -> dict:
    """Reference quantizer output; includes an all-zero block and a block with exact ties."""
    blocks = [
        rng.normal(0.0, 1.0, size=32).astype(np.float32),
        np.zeros(32, dtype=np.float32),
        (np.arange(32, dtype=np.float32) - 16.0) * np.float32(0.25),
        rng.uniform(-1e-3, 1e-3, size=32).astype(np.float32),
    ]
    values = np.concatenate(blocks).reshape(1, -1)
    raw = quants.quantize(values, qtype).reshape(-1)
    return {
        "type": qtype.name,
        "input": [float(v) for v in values.reshape(-1)],
        "bytes_hex": raw.tobytes().hex(),
    }


def main() -> None:
    rng = np.random.default_rng(SEED)
    dequant_types = [T.F32, T.F16, T.BF16, *F16_SCALE_OFFSETS]
    fixture = {
        "about": "Golden GGUF dequant/quant data; regenerate with scripts/oracle/make_dequant_fixture.py",
        "gguf_python_version": version("gguf"),
        "seed": SEED,
        "dequant": [dequant_case(rng, t) for t in dequant_types],
        "quantize": [quantize_case(rng, t) for t in (T.Q8_0, T.Q4_0)],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
