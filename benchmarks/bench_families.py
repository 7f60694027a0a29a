"""Fit time and peak memory of every method family on a built-in dataset, and the ICIS Table-1 set's total.

Three parts, all on this machine, one torch thread by default:

1. the base classifier: seconds per epoch of the lean trainer and of the autograd reference, side by side
   (``--epochs`` epochs each, CPU time, so other load on the machine matters less), and the ratio;
2. one fit + score per method on the test split (shared base classifier for the image-free ones): wall
   seconds of the fit, peak resident memory above the start (MB), ZSL top-1 and GZSL H; by default with the
   quick profile's epoch caps (``zslbench/profiles.py``) so it runs in a few minutes, ``--full`` for each
   method's own settings;
3. the ICIS Table-1 set (icis conse costa subreg wdae wavg smo, seed 0) end to end as ``zslbench run``
   does it (validation split, base classifiers, test split) into a temporary folder, with its wall and CPU
   time (``--full`` at the benchmark's settings; otherwise quick caps).

Synthetic data: the accuracies say nothing about CUB / AWA2 / SUN.

Usage:
    python benchmarks/bench_families.py [--dataset synth-cub] [--full] [--skip PART ...] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import measured

FAMILIES = {
    "image-free injection": ("icis", "icis_mlp", "conse", "costa", "subreg", "wdae", "wavg", "smo",
                             "ridge_injection"),
    "linear mappings": ("ridge_v2s", "ridge_s2v", "eszsl", "sae", "devise", "ale"),
    "GCN": ("gcnz", "sgcn", "dgp"),
    "generative": ("f_clswgan", "cada_vae", "tf_vaegan"),
}
TABLE1 = ("icis", "conse", "costa", "subreg", "wdae", "wavg", "smo")


def bench_base_classifier(ds, split, epochs: int) -> list[list[str]]:
    """Per-epoch CPU seconds of the lean trainer and the autograd reference, alternated twice."""
    from zslbench.base_classifier import BaseClassifierSettings, train_linear_softmax
    from zslbench.base_classifier_reference import train_linear_softmax_autograd

    seen = np.asarray(split.seen)
    X, y = ds.features[split.train], np.searchsorted(seen, ds.labels[split.train])
    settings = BaseClassifierSettings(epochs=epochs)
    times: dict[str, list[float]] = {"lean": [], "autograd": []}
    for _ in range(2):
        for name, fn in (("autograd", train_linear_softmax_autograd), ("lean", train_linear_softmax)):
            start = time.process_time()
            fn(X, y, seen.size, settings, seed=0)
            times[name].append((time.process_time() - start) / epochs)
    lean, ref = min(times["lean"]), min(times["autograd"])
    print(f"base classifier ({X.shape[0]} images, {seen.size} classes, {X.shape[1]}-d, batch 16): "
          f"autograd {ref:.3f} s/epoch, lean {lean:.3f} s/epoch (CPU time, best of 2): {ref / lean:.2f}x",
          flush=True)
    return [["base classifier", "lean trainer, 100 epochs", f"{lean * 100:.1f}", "", "", ""],
            ["base classifier", "autograd reference, 100 epochs", f"{ref * 100:.1f}", "", "", ""]]


def bench_methods(ds, split, names, seed: int, full: bool) -> list[list[str]]:
    """Fit + score each method once on ``split``; returns table rows."""
    from zslbench.base_classifier import BaseClassifierSettings, get_base_classifier
    from zslbench.metrics import ScoreSummary, gzsl_metrics, mean_class_accuracy
    from zslbench.profiles import QUICK
    from zslbench.protocol import train_view
    from zslbench.registry import METHODS

    settings = BaseClassifierSettings(**({} if full else dict(QUICK.base_classifier)))
    base = None
    Xs, ys = ds.features[split.eval_seen], ds.labels[split.eval_seen]
    Xu, yu = ds.features[split.eval_unseen], ds.labels[split.eval_unseen]
    candidates = split.candidates
    is_seen = np.isin(candidates, split.seen)
    rows = []
    for family, methods in FAMILIES.items():
        for name in methods:
            if names and name not in names:
                continue
            cls = METHODS.get(name)
            if cls.access == "image_free" and base is None:
                base = get_base_classifier(ds, split, settings=settings, seed=seed)[0]
            hp = {} if full else {k: v for k, v in QUICK.hparams.get(name, {}).items() if k in cls.space}
            view = train_view(ds, split, access=cls.access, base=base if cls.access == "image_free" else None)

            def fit(cls=cls, view=view, hp=hp):
                return cls(**hp).fit(view, rng=np.random.default_rng(seed))

            method, fit_s, peak, before = measured(fit)
            zsl = mean_class_accuracy(yu, split.unseen[method.scores(Xu, split.unseen).argmax(1)])
            g = gzsl_metrics(ScoreSummary.from_scores(method.scores(Xs, candidates), candidates, is_seen), ys,
                             ScoreSummary.from_scores(method.scores(Xu, candidates), candidates, is_seen), yu)
            rows.append([family, name, f"{fit_s:.1f}", f"{max(peak - before, 0.0):.0f}", f"{100 * zsl:.1f}",
                         f"{100 * g.h:.1f}"])
            print(f"  {family}: {name} fit {fit_s:.1f} s", flush=True)
    return rows


def bench_table1(dataset: str, full: bool) -> None:
    """The Table-1 set end to end, as ``zslbench run -m ... --seeds 0`` (fresh results folder)."""
    from zslbench.profiles import QUICK
    from zslbench.sweep import make_specs, run_specs

    specs = make_specs(list(TABLE1), [dataset], [0], profile=None if full else QUICK)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        out = run_specs(specs, results_dir=Path(tmp), progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    failed = [s["spec"]["method"] for s in out if s["status"] != "ok"]
    label = "benchmark settings" if full else "quick caps"
    print(f"\nTable-1 set ({' '.join(TABLE1)}) on {dataset}, seed 0, {label}: {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU{'; FAILED: ' + ', '.join(failed) if failed else ''}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synth-cub")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--methods", nargs="+", default=None, help="only these methods in part 2")
    parser.add_argument("--epochs", type=int, default=3, help="base-classifier epochs timed per trainer")
    parser.add_argument("--full", action="store_true", help="each method's own settings (much longer)")
    parser.add_argument("--skip", nargs="+", default=[], choices=("base", "methods", "table1"))
    args = parser.parse_args(argv)

    os.environ.setdefault("ZSLBENCH_PROGRESS", "0")
    os.environ.setdefault("ZSLBENCH_THREADS", str(args.threads))
    import torch
    from tabulate import tabulate
    from threadpoolctl import threadpool_limits

    from zslbench.data.synthetic import make_synthetic
    from zslbench.protocol import test_split

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    print(f"load average at start: {os.getloadavg()} on {os.cpu_count()} CPUs; torch threads {args.threads}")
    ds = make_synthetic(args.dataset)
    split = test_split(ds)
    rows = []
    if "base" not in args.skip:
        rows += bench_base_classifier(ds, split, args.epochs)
    if "methods" not in args.skip:
        rows += bench_methods(ds, split, args.methods, args.seed, args.full)
    if rows:
        print(f"\n{ds.name} (SYNTHETIC), test split, seed {args.seed}, "
              f"{'own settings' if args.full else 'quick-profile caps'}:")
        print(tabulate(rows, headers=["family", "method", "fit s", "peak MB", "ZSL %", "GZSL H %"]))
    if "table1" not in args.skip:
        bench_table1(args.dataset, args.full)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
