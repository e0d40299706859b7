"""Shared by the peer scripts: the prompts file, the reclora-bench/1 report (docs/bench.md),
order statistics and AUC, machine and memory figures from /proc, cold opens."""
import ctypes
import json
import math
import mmap
import os
import resource
import statistics

SCHEMA = "reclora-bench/1"
PROMPTS_FORMAT = "reclora-prompts/1"
INTERESTING = [
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16",
    "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2", "sme",
]


def read_prompts(path):
    with open(path) as f:
        prompts = json.load(f)
    if prompts.get("format") != PROMPTS_FORMAT:
        raise SystemExit(f"{path}: format {prompts.get('format')!r}, expected {PROMPTS_FORMAT}")
    if len(prompts["requests"]) <= prompts["warmup"]:
        raise SystemExit(f"{path}: no request after the warm-ups")
    return prompts


def read_reference(path, prompts_path, model_path, variant):
    """A `reclora-bench zero-shot` report, checked to be of the same prompts file, the same
    model file and the matching mode, with its scores."""
    with open(path) as f:
        ref = json.load(f)
    if ref.get("schema") != SCHEMA:
        raise SystemExit(f"{path}: schema {ref.get('schema')!r}, expected {SCHEMA}")
    problems = []
    if ref.get("variant") != variant:
        problems.append(f"variant {ref.get('variant')!r}, expected {variant!r}")
    if os.path.realpath(ref["config"].get("prompts") or "") != os.path.realpath(prompts_path):
        problems.append(f"prompts {ref['config'].get('prompts')!r}, expected {prompts_path!r}")
    if os.path.realpath(ref["model"]["path"]) != os.path.realpath(model_path):
        problems.append(f"model {ref['model']['path']!r}, expected {model_path!r}")
    if not ref.get("scores"):
        problems.append("no scores")
    if problems:
        raise SystemExit(f"{path}: not a reference for this run: " + "; ".join(problems))
    return ref


def agreement(scores, reference):
    """(max, mean) |a - b| of two equally long score lists."""
    if len(scores) != len(reference):
        raise SystemExit(f"{len(scores)} scores against {len(reference)} reference scores")
    diffs = [abs(a - b) for a, b in zip(scores, reference)]
    return max(diffs), sum(diffs) / len(diffs)


def slate_prompts(request, mode):
    """(prefix or None, rows): per-sample full prompts, or per-user prefix + suffixes."""
    split = request.get("per_user")
    if mode == "per-user" and split is not None:
        return split["prefix"], split["suffixes"]
    return None, request["per_sample"]


def p_yes(logit_yes, logit_no):
    return 1.0 / (1.0 + math.exp(logit_no - logit_yes))


def quantile(values, q):
    s = sorted(values)
    rank = max(1, min(len(s), math.ceil(q * len(s))))
    return s[rank - 1]


def auc(labels, scores):
    pairs = sorted(zip(scores, labels))
    pos = sum(1 for _, l in pairs if l)
    neg = len(pairs) - pos
    if pos == 0 or neg == 0:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2.0
        rank_sum += mean_rank * sum(1 for _, l in pairs[i:j] if l)
        i = j
    return (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)


def accuracy(prompts, scores):
    """AUC over the labelled candidates of the timed requests, each replayed user once."""
    labels, values, seen, k = [], [], set(), 0
    for request in prompts["requests"][prompts["warmup"]:]:
        n = len(request["candidates"])
        if request["replay_index"] not in seen:
            seen.add(request["replay_index"])
            for label, score in zip(request["labels"], scores[k:k + n]):
                if label is not None:
                    labels.append(bool(label))
                    values.append(score)
        k += n
    return {"auc": auc(labels, values), "labelled": len(labels), "positives": sum(labels)}


def latency(seconds, candidates):
    ms = [s * 1e3 for s in seconds]
    p50 = quantile(ms, 0.5)
    return {
        "requests": len(ms),
        "p50_ms": p50,
        "p95_ms": quantile(ms, 0.95),
        "p99_ms": quantile(ms, 0.99),
        "mean_ms": statistics.fmean(ms),
        "per_candidate_p50_ms": p50 / candidates,
    }


def throughput(seconds, tokens, candidates):
    total = sum(seconds)
    return {
        "candidates_per_s": len(seconds) * candidates / total,
        "prompt_tokens_per_s": sum(tokens) / total,
        "tokens_per_request": sum(tokens) / len(tokens),
    }


def cpu():
    model, flags = "unknown", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown":
                    model = value.strip()
                if key in ("flags", "Features") and not flags:
                    flags = value
    except OSError:
        pass
    present = set(flags.split())
    return model, [f for f in INTERESTING if f in present]


def machine(threads):
    model, isa = cpu()
    try:
        load = float(open("/proc/loadavg").read().split()[0])
    except OSError:
        load = None
    return {
        "cpu_model": model, "isa": isa, "logical_cpus": os.cpu_count() or 1, "threads": threads,
        "backend": "cpu", "adapter": None, "fallback": None, "os": "linux",
        "arch": os.uname().machine, "load_avg_1m": load,
    }


def status_kib(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def mapped_under(path):
    """(mapped, resident) bytes of this process's mappings of `path` (a file or folder)."""
    real = os.path.realpath(path)
    mapped = resident = 0
    inside = False
    try:
        with open("/proc/self/smaps") as f:
            for line in f:
                parts = line.split()
                if parts and "-" in parts[0] and all(c in "0123456789abcdef-" for c in parts[0]):
                    inside = len(parts) >= 6 and (parts[5] == real or parts[5].startswith(real + "/"))
                elif inside and parts[0] == "Size:":
                    mapped += int(parts[1]) * 1024
                elif inside and parts[0] == "Rss:":
                    resident += int(parts[1]) * 1024
    except OSError:
        return None, None
    return mapped, resident


def memory(model_path):
    mapped, resident = mapped_under(model_path)
    peak = status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "peak_rss_bytes": peak, "rss_anon_bytes": status_kib("RssAnon"),
        "rss_file_bytes": status_kib("RssFile"), "mapped_bytes": mapped,
        "mapped_resident_bytes": resident,
    }


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]


def drop_cached(files):
    for path in files:
        with open(path, "rb") as f:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def cached_fraction(files):
    cached = total = 0
    page = mmap.PAGESIZE
    for path in files:
        size = os.path.getsize(path)
        if size == 0:
            continue
        with open(path, "rb") as f:
            m = mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ)
            try:
                pages = (size + page - 1) // page
                vec = (ctypes.c_ubyte * pages)()
                address = _buffer_address(m)
                if _libc.mincore(ctypes.c_void_p(address), size, vec) != 0:
                    return None
                cached += sum(1 for b in vec if b & 1)
                total += pages
            finally:
                m.close()
    return cached / total if total else None


def _buffer_address(obj):
    """The address of an object's buffer (an mmap here), through the buffer protocol."""
    class Py_buffer(ctypes.Structure):
        _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                    ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                    ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                    ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]
    pb = Py_buffer()
    ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(obj), ctypes.byref(pb), 0)
    try:
        return pb.buf
    finally:
        ctypes.pythonapi.PyBuffer_Release(ctypes.byref(pb))


def cold_open(files, load):
    """Drops `files` from the page cache, loads (cold), loads again (warm).
    Returns (open dict, the warm object)."""
    drop_cached(files)
    fraction = cached_fraction(files)
    t = _now()
    first = load()
    cold_s = _now() - t
    del first
    t = _now()
    warm = load()
    warm_s = _now() - t
    state = "cold" if fraction is not None and fraction <= 0.05 else "warm"
    return {"cold_s": cold_s, "cold_state": state, "cold_resident_fraction": fraction,
            "warm_s": warm_s}, warm


def _now():
    import time
    return time.perf_counter()


def report(engine, version, variant, model, threads, config, **figures):
    out = {
        "schema": SCHEMA, "engine": {"name": engine, "version": version}, "variant": variant,
        "model": model, "machine": machine(threads), "config": config,
        "open": None, "first_score_s": None, "latency": None, "throughput": None,
        "prefill": None, "memory": None, "accuracy": None, "peaks": None, "scores": None,
        "notes": [],
    }
    for key, value in figures.items():
        if key not in out:
            raise KeyError(f"{key} is not a field of {SCHEMA}")
        out[key] = value
    return out


def config(prompts, prompts_path, batch=None):
    return {
        "candidates": prompts["candidates"], "history": None,
        "requests": len(prompts["requests"]) - prompts["warmup"], "warmup": prompts["warmup"],
        "seed": 0, "batch_size": batch, "replay": prompts["replay"], "prompts": prompts_path,
    }


def write(path, out):
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
