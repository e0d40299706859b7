"""Reference for metrics::paired_bootstrap_auc_difference (server-train/src/metrics.rs).

Independent of the Rust code's method: AUC by counting every (positive, negative) pair
(a tie counts one half) over the resampled rows with multiplicities, not by ranks. The
resampling stream is the same splitmix64 + Lemire multiply-shift the Rust code uses, so the
percentiles match exactly. Run: /var/tmp/venv-bench/bin/python scripts/oracle/paired_bootstrap_reference.py
"""
import numpy as np

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next() * n) >> 64


def pairwise_auc(labels, scores, counts):
    pos = labels & (counts > 0)
    neg = (~labels) & (counts > 0)
    if not pos.any() or not neg.any():
        return None
    sp, wp = scores[pos], counts[pos].astype(np.float64)
    sn, wn = scores[neg], counts[neg].astype(np.float64)
    wins = (sp[:, None] > sn[None, :]) + 0.5 * (sp[:, None] == sn[None, :])
    return float((wp[:, None] * wn[None, :] * wins).sum() / (wp.sum() * wn.sum()))


def fixture(n=60):
    # The same integers as the Rust test: label i % 3 != 1, scores k / 100.
    labels = np.array([i % 3 != 1 for i in range(n)])
    a = np.array([(i * 37 % 41 + (20 if i % 3 != 1 else 0)) / 100 for i in range(n)])
    b = np.array([(i * 53 % 43 + (30 if i % 3 != 1 else 0)) / 100 for i in range(n)])
    return labels, a, b


def main():
    labels, a, b = fixture()
    ones = np.ones(len(labels), dtype=np.int64)
    diff = pairwise_auc(labels, b, ones) - pairwise_auc(labels, a, ones)
    rng = SplitMix64(7)
    diffs = []
    for _ in range(200):
        counts = np.zeros(len(labels), dtype=np.int64)
        for _ in range(len(labels)):
            counts[rng.below(len(labels))] += 1
        da, db = pairwise_auc(labels, a, counts), pairwise_auc(labels, b, counts)
        if da is not None and db is not None:
            diffs.append(db - da)
    lo, hi = np.percentile(np.array(diffs), [2.5, 97.5])
    print(f"difference {diff!r}")
    print(f"ci {lo!r} {hi!r}")


if __name__ == "__main__":
    main()
