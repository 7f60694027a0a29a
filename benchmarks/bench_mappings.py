"""Benchmark the linear / bilinear mappings and the GCN weight predictors on built-in datasets.

For each dataset (test split, one seed, each method's ``space`` defaults) and method: fit wall time, score
wall time, peak resident memory during fit + score (sampled, zslbench.runner.PeakMemory), ZSL top-1 and
GZSL seen / unseen / H (per-class accuracies from zslbench.runner.score_split; no calibration). The GCN
methods (image-free) need the base classifier: it is trained once per dataset with
``zslbench.base_classifier.get_base_classifier`` (its time is reported separately, not in the methods').

Synthetic data: the accuracies say nothing about CUB / AWA2 / SUN. Timings depend on the machine's load
(printed at start and end).

Usage:
    python benchmarks/bench_mappings.py [--datasets synth-cub,synth-awa2,synth-sun]
        [--methods ridge_s2v,eszsl,sae,devise,ale,gcnz,sgcn,dgp] [--seed 0]
        [--base-epochs 100] [--base-lr 1e-4] [--cache-dir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

DATASETS = ("synth-cub", "synth-awa2", "synth-sun")
METHOD_NAMES = ("ridge_s2v", "eszsl", "sae", "devise", "ale", "gcnz", "sgcn", "dgp")


def run_one(name: str, ds: Any, split: Any, base: Any, seed: int) -> dict[str, Any]:
    """Fit + score one method with its defaults; timings, peak memory and metrics."""
    from zslbench.protocol import train_view
    from zslbench.registry import METHODS
    from zslbench.runner import PeakMemory, score_split

    cls = METHODS.get(name)
    method = cls()
    with PeakMemory() as mem:
        view = train_view(ds, split, access=cls.access, base=base if cls.access == "image_free" else None)
        t0 = time.perf_counter()
        method.fit(view, rng=np.random.default_rng(seed))
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ev = score_split(method, ds, split)
        score_s = time.perf_counter() - t0
    m = ev.metrics()
    row = {"dataset": ds.name, "method": name, "fit_s": fit_s, "score_s": score_s,
           "peak_mb": mem.peak_mb, **{k: m[k] for k in ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h")}}
    if hasattr(method, "record_info"):
        row["graph"] = method.record_info()["graph"]
    return row


def main() -> None:
    from zslbench.base_classifier import BaseClassifierSettings, get_base_classifier
    from zslbench.data.synthetic import make_synthetic
    from zslbench.protocol import test_split
    from zslbench.registry import METHODS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--methods", default=",".join(METHOD_NAMES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base-epochs", type=int, default=BaseClassifierSettings().epochs)
    ap.add_argument("--base-lr", type=float, default=BaseClassifierSettings().lr)
    ap.add_argument("--cache-dir", default=None, help="base-classifier cache folder (reused across runs)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()

    names = [n for n in args.methods.split(",") if n]
    print(f"load at start: {os.getloadavg()}; cpus: {os.cpu_count()}")
    rows = []
    for ds_name in [d for d in args.datasets.split(",") if d]:
        ds = make_synthetic(ds_name)
        split = test_split(ds)
        base = None
        if any(METHODS.get(n).access == "image_free" for n in names):
            settings = BaseClassifierSettings(epochs=args.base_epochs, lr=args.base_lr)
            t0 = time.perf_counter()
            base, info = get_base_classifier(ds, split, settings=settings, seed=args.seed,
                                             cache_dir=args.cache_dir)
            print(f"{ds_name}: base classifier {time.perf_counter() - t0:.1f} s "
                  f"(epochs={args.base_epochs}, lr={args.base_lr}, cache_hit={info.get('cache_hit')})",
                  flush=True)
        for name in names:
            row = run_one(name, ds, split, base, args.seed)
            rows.append(row)
            print(f"{ds_name:10s} {name:9s} fit {row['fit_s']:7.1f} s  score {row['score_s']:5.1f} s  "
                  f"peak {row['peak_mb']:7.0f} MB  ZSL {100 * row['zsl_top1']:5.1f}  "
                  f"S {100 * row['gzsl_seen']:5.1f}  U {100 * row['gzsl_unseen']:5.1f}  "
                  f"H {100 * row['gzsl_h']:5.1f}", flush=True)
    print(f"load at end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
