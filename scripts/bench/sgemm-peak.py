#!/usr/bin/env python3
"""numpy (OpenBLAS) sgemm GFLOP/s on the shapes of core/kernels/examples/gemm_bench.rs.

Alone it prints the same table as the Rust benchmark. With --rust it runs the Rust benchmark and
numpy alternately, --rounds times, and prints the medians side by side, so both see the same
machine load:

    python3 -m venv /var/tmp/venv-bench && /var/tmp/venv-bench/bin/pip install numpy
    cargo build --release -p reclora-kernels --example gemm_bench
    /var/tmp/venv-bench/bin/python scripts/bench/sgemm-peak.py --rounds 3 \\
        --rust target/release/examples/gemm_bench

OPENBLAS_NUM_THREADS is set from --threads (default 2) before numpy is imported. On a machine
busy with other work, --cpu-time (with --threads 1) times both by the thread's CPU time instead of
the wall clock, so neither is charged for the time it was descheduled.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

PROJECTIONS = [
    ("q,o      576->576", 576, 576),
    ("k,v      576->192", 576, 192),
    ("gate,up  576->1536", 576, 1536),
    ("down     1536->576", 1536, 576),
    ("dX(k,v)  192->576", 192, 576),
]
TOKENS = [8, 256, 2240]
SQUARES = [1024, 2048]


def shapes():
    for m in TOKENS:
        for label, k, n in PROJECTIONS:
            yield label, m, k, n
    for size in SQUARES:
        yield "square", size, size, size


def median_seconds(f, reps, min_sample, clock):
    f()
    start = clock()
    f()
    once = max(clock() - start, 1e-7)
    calls = max(1, int(min_sample / once + 0.999))
    samples = []
    for _ in range(max(1, reps)):
        start = clock()
        for _ in range(calls):
            f()
        samples.append((clock() - start) / calls)
    return statistics.median(samples)


def numpy_table(np, reps, min_sample, clock):
    """{(label, m, k, n): GFLOP/s} of C = A·W into a preallocated C."""
    rng = np.random.default_rng(0)
    table = {}
    for label, m, k, n in shapes():
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        w = rng.uniform(-1, 1, (k, n)).astype(np.float32)
        c = np.empty((m, n), dtype=np.float32)
        seconds = median_seconds(lambda: np.matmul(a, w, out=c), reps, min_sample, clock)
        table[(label, m, k, n)] = 2.0 * m * k * n / seconds / 1e9
    return table


def rust_table(command):
    """{(label, m, k, n): GFLOP/s} from the Rust benchmark's --tsv rows."""
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        label, m, k, n, gflops = line.split("\t")
        table[(label, int(m), int(k), int(n))] = float(gflops)
    return table


def openblas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(
        f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} "
        f"{p.get('num_threads')} threads"
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7, help="samples per shape (median)")
    parser.add_argument("--min-ms", type=float, default=25.0, help="shortest sample")
    parser.add_argument("--rounds", type=int, default=1, help="alternations with --rust")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by thread CPU time (needs --threads 1)")
    parser.add_argument("--rust", nargs=argparse.REMAINDER, help="gemm_bench binary [its args]")
    args = parser.parse_args()

    if args.cpu_time and args.threads != 1:
        parser.error("--cpu-time times one thread: use it with --threads 1")
    # With one thread OpenBLAS computes on the calling thread, so its CPU time is all of it.
    clock = time.thread_time if args.cpu_time else time.perf_counter
    clock_name = "thread CPU time" if args.cpu_time else "wall clock"
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np

    print(f"numpy {np.__version__}: {openblas_info()}", file=sys.stderr)
    min_sample = args.min_ms / 1e3
    if not args.rust:
        print(f"numpy matmul (OpenBLAS), {args.threads} threads, median of {args.reps} "
              f"({clock_name})")
        print(f"{'shape':<20} {'m':>5} {'k':>5} {'n':>5} {'GFLOP/s':>9}")
        for (label, m, k, n), gflops in numpy_table(np, args.reps, min_sample, clock).items():
            print(f"{label:<20} {m:>5} {k:>5} {n:>5} {gflops:>9.1f}")
        return

    command = args.rust + [
        "--tsv", "--no-peak", "--threads", str(args.threads),
        "--reps", str(args.reps), "--min-ms", str(int(args.min_ms)),
    ] + (["--cpu-time"] if args.cpu_time else [])
    rust_rounds, numpy_rounds = [], []
    for _ in range(args.rounds):
        rust_rounds.append(rust_table(command))
        numpy_rounds.append(numpy_table(np, args.reps, min_sample, clock))
    print(f"{args.threads} threads; medians of {args.rounds} alternating rounds, "
          f"each a median of {args.reps} samples ({clock_name})")
    print(f"{'shape':<20} {'m':>5} {'k':>5} {'n':>5} {'rust':>8} {'numpy':>8} {'ratio':>6}")
    for key in numpy_rounds[0]:
        label, m, k, n = key
        rust = statistics.median(r[key] for r in rust_rounds)
        numpy = statistics.median(r[key] for r in numpy_rounds)
        print(f"{label:<20} {m:>5} {k:>5} {n:>5} {rust:>8.1f} {numpy:>8.1f} {rust / numpy:>6.2f}")


if __name__ == "__main__":
    main()
