#!/usr/bin/env python3
"""scikit-learn reference values for server-train/src/metrics.rs
(server-train/tests/fixtures/metrics_sklearn.json).

200 seeded samples: labels ~ Bernoulli(0.4), scores = a noisy function of the label rounded to
one decimal (so there are many ties), with a few scores forced to exactly 0.0 and 1.0 so the
LogLoss clipping is exercised.

- roc_auc_score(labels, scores): scores as written in the JSON (decimal, one place). Rust reads
  them as f32; rounding to f32 keeps distinct decimals distinct and equal ones equal, so the
  ranking, and the AUC, are the same.
- log_loss(labels, p): p = the f32 value of each score widened to f64 (what Rust computes
  with), clipped to [1e-7, 1 - 1e-7] here, because recent scikit-learn no longer takes an `eps`
  argument and clips at the dtype's machine epsilon instead.

Usage: python3 -m venv /tmp/skl && /tmp/skl/bin/pip install scikit-learn numpy
       /tmp/skl/bin/python scripts/oracle/make_metrics_fixture.py [--out PATH]
Deterministic: the same numpy/scikit-learn versions give a byte-identical fixture.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import log_loss, roc_auc_score

EPS = 1e-7
ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=ROOT / "server-train/tests/fixtures/metrics_sklearn.json")
    args = parser.parse_args()

    rng = np.random.default_rng(20240601)
    n = 200
    labels = (rng.random(n) < 0.4).astype(int)
    raw = 0.35 + 0.25 * labels + rng.normal(0.0, 0.22, n)
    scores = np.round(np.clip(raw, 0.0, 1.0), 1)
    scores[:3] = [0.0, 1.0, 0.0]
    scores[3:5] = [1.0, 0.0]
    score_text = [float(f"{s:.1f}") for s in scores]

    auc = roc_auc_score(labels, np.array(score_text))
    probs = np.array(score_text, dtype=np.float32).astype(np.float64)
    loss = log_loss(labels, np.clip(probs, EPS, 1.0 - EPS), labels=[0, 1])

    fixture = {
        "generator": "scripts/oracle/make_metrics_fixture.py",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "logloss_eps": EPS,
        "labels": labels.tolist(),
        "scores": score_text,
        "probs": score_text,
        "roc_auc_score": float(auc),
        "log_loss": float(loss),
    }
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in fixture.items())
    Path(args.out).write_text("{\n" + body + "\n}\n", encoding="utf-8")
    print(f"wrote {args.out}: auc={auc!r} log_loss={loss!r}")


if __name__ == "__main__":
    main()
