"""Benchmark the image-free family (ICIS Table 1) on a built-in dataset: time, peak memory and accuracy.

Trains the base classifier once (test split, default settings: last epoch, no test data), then fits and
scores each method, reporting wall time, peak resident memory of each stage, and ZSL top-1 and GZSL
seen / unseen / H (per-class accuracies, zslbench.metrics; no calibration). Synthetic data: the numbers
say nothing about CUB / AWA2 / SUN.

Usage:
    python benchmarks/bench_image_free.py [--dataset synth-cub] [--seed 0] [--threads 1]
                                          [--methods icis,conse,...] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import measured

TABLE1 = ("icis", "conse", "costa", "subreg", "wdae", "wavg", "smo")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synth-cub")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads (1 is fastest on a busy, shared machine)")
    parser.add_argument("--methods", default=",".join(TABLE1))
    parser.add_argument("--cache-dir", default=None, help="base-classifier cache (default: none, always train)")
    args = parser.parse_args(argv)

    import torch
    from tabulate import tabulate

    from zslbench.base_classifier import BaseClassifierSettings, get_base_classifier
    from zslbench.data.synthetic import make_synthetic
    from zslbench.metrics import ScoreSummary, gzsl_metrics, mean_class_accuracy
    from zslbench.protocol import test_split, train_view
    from zslbench.registry import METHODS

    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # numpy / scipy BLAS too: oversubscribed threads are 5-10x slower
    print(f"load average at start: {os.getloadavg()} on {os.cpu_count()} CPUs; torch threads {args.threads}")
    total_start = time.perf_counter()
    ds = make_synthetic(args.dataset)
    split = test_split(ds)
    (base, info), base_s, peak, before = measured(lambda: get_base_classifier(
        ds, split, settings=BaseClassifierSettings(), seed=args.seed, cache_dir=args.cache_dir))
    base_mb = max(peak - before, 0.0)
    Xs, ys = ds.features[split.eval_seen], ds.labels[split.eval_seen]
    Xu, yu = ds.features[split.eval_unseen], ds.labels[split.eval_unseen]
    base_acc = mean_class_accuracy(ys, base.classes[base.scores(Xs).argmax(1)])
    rows = [["base classifier", f"{base_s:.1f}", f"{base_mb:.0f}", "", "", f"{base_acc:.3f}", "", "",
             f"{info['epochs_per_second']:.1f} epochs/s{' (cache)' if info['cache_hit'] else ''}"]]
    candidates = split.candidates
    is_seen = np.isin(candidates, split.seen)
    for name in args.methods.split(","):
        cls = METHODS.get(name)
        view = train_view(ds, split, access=cls.access, base=base)

        def fit_and_score(cls=cls, view=view):
            method = cls().fit(view, rng=np.random.default_rng(args.seed))
            t_fit = time.perf_counter()
            zsl_pred = split.unseen[method.scores(Xu, split.unseen).argmax(1)]
            seen_sum = ScoreSummary.from_scores(method.scores(Xs, candidates), candidates, is_seen)
            unseen_sum = ScoreSummary.from_scores(method.scores(Xu, candidates), candidates, is_seen)
            return method, t_fit, zsl_pred, seen_sum, unseen_sum

        start = time.perf_counter()
        (method, t_fit, zsl_pred, seen_sum, unseen_sum), seconds, peak, before = measured(fit_and_score)
        mb = max(peak - before, 0.0)
        fit_s = t_fit - start
        g = gzsl_metrics(seen_sum, ys, unseen_sum, yu)
        zsl = mean_class_accuracy(yu, zsl_pred)
        note = getattr(method, "train_info_", "")
        if isinstance(note, dict):
            note = ", ".join(f"{k}={v}" for k, v in note.items() if k in ("epochs", "stopped_early"))
        rows.append([name, f"{seconds:.1f}", f"{mb:.0f}", f"{fit_s:.1f}", f"{zsl:.3f}", f"{g.seen:.3f}",
                     f"{g.unseen:.3f}", f"{g.h:.3f}", note])
        print(f"  {name}: {seconds:.1f} s", flush=True)
    total = time.perf_counter() - total_start
    print(f"\n{ds.name} (SYNTHETIC), test split, seed {args.seed}; chance ZSL = {1 / split.unseen.size:.3f}")
    print(tabulate(rows, headers=["stage", "wall s", "peak MB", "fit s", "ZSL", "GZSL S", "GZSL U", "GZSL H", "notes"]))
    print(f"total wall time {total:.1f} s; load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
