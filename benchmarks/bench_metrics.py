"""Benchmark: the metrics on 1,000,000 predictions over 1,000 classes (time and peak memory).

    python benchmarks/bench_metrics.py [--n 1000000] [--classes 1000]

Measures (tracemalloc peak covers numpy allocations):
1. per-class top-1 on n predictions;
2. GZSL seen/unseen/H + the full seen-unseen curve + AUSUC + best gamma from n per-image summaries;
3. reducing an (n x classes) score matrix to summaries, streamed in the harness's chunks (the matrix
   is never held whole); random scores are generated per chunk, and that generation is timed apart.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from zslbench.metrics import ScoreSummary, gzsl_metrics, per_class_accuracy, seen_unseen_curve
from zslbench.runner import SCORE_CHUNK


def measure(label, fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"{label:<62} {seconds:8.3f} s   peak {peak:8.1f} MiB")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=1000)
    args = ap.parse_args()
    n, C = args.n, args.classes
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, C, n))
    print(f"n = {n:,} predictions, {C:,} classes")
    measure("per-class top-1", lambda: per_class_accuracy(y, pred))

    n_seen = C * 3 // 4
    seen_imgs = y < n_seen
    def summaries():
        cls = lambda lo, hi: rng.integers(lo, hi, n)  # noqa: E731
        s = ScoreSummary(np.where(rng.random(n) < .5, y, cls(0, n_seen)), rng.normal(size=n),
                         np.where(rng.random(n) < .5, y, cls(n_seen, C)), rng.normal(size=n))
        return s
    s = summaries()
    ss = ScoreSummary(*(getattr(s, f)[seen_imgs] for f in ("seen_class", "seen_score", "unseen_class", "unseen_score")))
    su = ScoreSummary(*(getattr(s, f)[~seen_imgs] for f in ("seen_class", "seen_score", "unseen_class", "unseen_score")))
    measure("GZSL seen/unseen/H (uncalibrated)", lambda: gzsl_metrics(ss, y[seen_imgs], su, y[~seen_imgs]))
    measure("seen-unseen curve (every gamma) + AUSUC + best gamma",
                    lambda: (c := seen_unseen_curve(ss, y[seen_imgs], su, y[~seen_imgs]), c.ausuc(), c.best_gamma()))

    candidates = np.arange(C)
    is_seen = candidates < n_seen
    def reduce_stream(reduce: bool):
        parts = []
        for start in range(0, n, SCORE_CHUNK):
            scores = rng.standard_normal((min(SCORE_CHUNK, n - start), C), dtype=np.float32)
            if reduce:
                parts.append(ScoreSummary.from_scores(scores, candidates, is_seen))
        return ScoreSummary.concat(parts) if reduce else None
    measure(f"generate {n:,} x {C:,} random scores in {SCORE_CHUNK}-row chunks", lambda: reduce_stream(False))
    measure("generate + reduce to per-image summaries", lambda: reduce_stream(True))
    print(f"(a dense {n:,} x {C:,} float64 score matrix would take {n * C * 8 / 2**30:.1f} GiB)")


if __name__ == "__main__":
    main()
