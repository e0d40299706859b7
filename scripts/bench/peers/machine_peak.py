#!/usr/bin/env python3
"""The machine's measured limits for reclora-bench: f32 sgemm (numpy / OpenBLAS) and int8
GEMM (torch `_int_mm`, oneDNN) on the projection shapes of SmolLM2 at 256 tokens, best
GFLOP/s (GOP/s) of each, median of `--repeats` per shape. Writes a reclora-bench/1 report of
variant `peak`.

usage: machine_peak.py --threads 2 --json OUT.json [--repeats 5]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# (M, K, N): 256 tokens through q/o, k/v, gate/up, down.
SHAPES = [(256, 576, 576), (256, 576, 192), (256, 576, 1536), (256, 1536, 576)]


def best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import common

    rng = np.random.default_rng(0)
    sgemm, notes = [], []
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        # 8 products per timing, so each takes well over a millisecond.
        s = best(lambda: [a @ b for _ in range(8)], args.repeats) / 8
        sgemm.append(2 * m * k * n / s / 1e9)
    int8 = []
    try:
        import torch
        torch.set_num_threads(args.threads)
        for m, k, n in SHAPES:
            a = torch.randint(-127, 127, (m, k), dtype=torch.int8)
            b = torch.randint(-127, 127, (k, n), dtype=torch.int8)
            s = best(lambda: [torch._int_mm(a, b) for _ in range(8)], args.repeats) / 8
            int8.append(2 * m * k * n / s / 1e9)
        notes.append(f"int8: torch {torch.__version__} _int_mm (int8 x int8 -> int32)")
    except Exception as error:  # noqa: BLE001 - the int8 peak is optional
        notes.append(f"int8 peak not measured: {error}")
    config = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    blas = config.get("Build Dependencies", {}).get("blas", {}).get("name", "?") if isinstance(config, dict) else "?"
    notes.append(f"f32: numpy {np.__version__} ({blas}) a @ b")
    notes.append("per shape: " + ", ".join(
        f"{m}x{k}x{n} {s:.1f}" + (f"/{i:.1f}" if int8 else "")
        for (m, k, n), s, i in zip(SHAPES, sgemm, int8 or [0.0] * len(SHAPES))) +
        " (f32 GFLOP/s / int8 GOP/s)")
    out = common.report(
        "machine", f"numpy {np.__version__}", "peak",
        {"name": "GEMM", "quant": "f32/int8", "path": "-", "bytes": 0},
        args.threads,
        {"candidates": 0, "history": None, "requests": 0, "warmup": 0, "seed": 0,
         "batch_size": None, "replay": None, "prompts": None},
        peaks={"sgemm_gflops": max(sgemm), "int8_gops": max(int8) if int8 else None,
               "shapes": [f"{m}x{k}x{n}" for m, k, n in SHAPES]},
        notes=notes)
    common.write(args.json, out)
    print(f"sgemm {max(sgemm):.1f} GFLOP/s, int8 {max(int8) if int8 else float('nan'):.1f} GOP/s")


if __name__ == "__main__":
    main()
