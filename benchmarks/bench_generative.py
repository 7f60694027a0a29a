"""Benchmark the generative feature baselines (f-CLSWGAN, CADA-VAE) on built-in datasets.

For each dataset (test split, one seed) and method:

- ``fast`` preset (the ``space`` defaults): a full fit + score, with wall time, peak resident memory
  during fit + score (Linux VmHWM, reset before each run), ZSL top-1 and GZSL seen / unseen / H
  (per-class accuracies from zslbench.metrics, no calibration);
- ``paper`` preset: a full run is hours on a CPU, so by default it is *extrapolated*: the method's own
  training loop runs ``--paper-steps`` batches at paper sizes, and the per-batch time is multiplied by the
  batches of a full run (f-CLSWGAN: ceil(n / 64) generator steps per epoch, each with 5 critic steps,
  times the authors' epochs for that dataset; CADA-VAE: ceil(n / 50) batches times 100 epochs). The
  cheap stages (pre-classifier, synthesis, softmax) are not included in the estimate; the table says so.
  ``--paper-full`` runs the real paper preset instead (with the authors' per-dataset epochs and counts).

Synthetic data: the accuracies say nothing about CUB / AWA2 / SUN. Timings depend on the machine's load
(printed at start and end).

Usage:
    python benchmarks/bench_generative.py [--datasets synth-cub,synth-awa2,synth-sun]
        [--methods f_clswgan,cada_vae] [--seed 0] [--threads 2] [--skip-fast] [--skip-paper]
        [--paper-steps 3] [--paper-full] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

import numpy as np
from _common import measured

DATASETS = ("synth-cub", "synth-awa2", "synth-sun")
METHOD_NAMES = ("f_clswgan", "cada_vae")
REAL_NAME = {"synth-cub": "CUB", "synth-awa2": "AWA2", "synth-sun": "SUN"}


def run_full(name: str, ds, split, seed: int, params: dict[str, Any] | None = None,
             preset: str = "fast") -> dict[str, Any]:
    """Full fit + score with ``params`` (default: the space defaults, i.e. the fast preset)."""
    from zslbench.metrics import ScoreSummary, gzsl_metrics, mean_class_accuracy
    from zslbench.protocol import train_view
    from zslbench.registry import METHODS

    cls = METHODS.get(name)
    view = train_view(ds, split, access=cls.access)
    Xs, ys = ds.features[split.eval_seen], ds.labels[split.eval_seen]
    Xu, yu = ds.features[split.eval_unseen], ds.labels[split.eval_unseen]
    cand = split.candidates
    is_seen = np.isin(cand, split.seen)

    def fit_and_score():
        t0 = time.perf_counter()
        method = cls(**(params or {})).fit(view, rng=np.random.default_rng(seed))
        t1 = time.perf_counter()
        zsl_pred = split.unseen[method.scores(Xu, split.unseen).argmax(1)]
        s_sum = ScoreSummary.from_scores(method.scores(Xs, cand), cand, is_seen)
        u_sum = ScoreSummary.from_scores(method.scores(Xu, cand), cand, is_seen)
        return t1 - t0, time.perf_counter() - t1, zsl_pred, s_sum, u_sum

    (fit_s, score_s, zsl_pred, s_sum, u_sum), wall, peak, rss_before = measured(fit_and_score)
    g = gzsl_metrics(s_sum, ys, u_sum, yu)
    return {"dataset": ds.name, "method": name, "preset": preset, "mode": "full run", "fit_s": fit_s,
            "score_s": score_s, "wall_s": wall, "peak_rss_mb": peak, "rss_before_mb": rss_before,
            "zsl_top1": mean_class_accuracy(yu, zsl_pred), "gzsl_seen": g.seen, "gzsl_unseen": g.unseen,
            "gzsl_h": g.h, "chance_zsl": 1 / split.unseen.size}


def paper_params(name: str, dataset: str) -> dict[str, Any]:
    from zslbench.registry import METHODS

    cls = METHODS.get(name)
    return dict(cls.presets["paper"]) | dict(cls.paper_per_dataset.get(REAL_NAME.get(dataset, ""), {}))


def estimate_paper(name: str, ds, split, seed: int, steps: int) -> dict[str, Any]:
    """Time ``steps`` training batches at paper sizes and extrapolate to a full paper run."""
    import torch

    from zslbench.methods import cada_vae, f_clswgan
    from zslbench.methods.generative import MinMax, seeded_torch, to_tensor
    from zslbench.protocol import train_view
    from zslbench.registry import METHODS

    cls = METHODS.get(name)
    params = paper_params(name, ds.name)
    method = cls(**params)
    view = train_view(ds, split, access="inductive")
    feats, labels = method.check_view(view)
    n, d = feats.shape
    att = to_tensor(view.descriptors, "cpu")
    cond = att[torch.as_tensor(labels)]
    rng = np.random.default_rng(seed)
    batch = int(params["batch_size"])
    k = steps * batch  # a subsample of k rows gives exactly `steps` batches per epoch
    with seeded_torch(rng):
        if name == "f_clswgan":
            X = to_tensor(MinMax().fit(feats).transform(feats), "cpu")
            A = att.shape[1]
            G = f_clswgan.ConditionalGenerator(A, A, int(params["hidden"]), d)
            D = f_clswgan.ConditionalCritic(d, A, int(params["hidden"]))
            pre = torch.nn.Linear(d, len(view.seen))
            y = torch.as_tensor(np.searchsorted(view.seen, labels))
            method.epochs = 1
            method.train_gan(G, D, pre, X[:batch], y[:batch], cond[:batch])  # warm-up (allocations)
            t0 = time.perf_counter()
            method.train_gan(G, D, pre, X[:k], y[:k], cond[:k])
        else:
            X = to_tensor(feats, "cpu")
            model = cada_vae.CadaModel(d, att.shape[1], int(params["latent"]), int(params["img_enc_hidden"]),
                                       int(params["img_dec_hidden"]), int(params["att_enc_hidden"]),
                                       int(params["att_dec_hidden"]))
            method.epochs = 1
            method.train_vae(model, X[:batch], cond[:batch])
            t0 = time.perf_counter()
            method.train_vae(model, X[:k], cond[:k])
        per_step = (time.perf_counter() - t0) / steps
    total_steps = math.ceil(n / batch) * int(params["epochs"])
    return {"dataset": ds.name, "method": name, "preset": "paper",
            "mode": f"extrapolated from {steps} batches", "per_batch_s": per_step,
            "epochs": int(params["epochs"]), "batches": total_steps,
            "train_estimate_s": per_step * total_steps}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--methods", default=",".join(METHOD_NAMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--skip-fast", action="store_true")
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--paper-steps", type=int, default=3, help="batches timed for the paper estimate")
    parser.add_argument("--paper-full", action="store_true", help="run the paper preset fully (hours)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)

    import torch
    from tabulate import tabulate

    from zslbench.data.synthetic import make_synthetic
    from zslbench.protocol import test_split

    os.environ.setdefault("ZSLBENCH_PROGRESS", "0")
    torch.set_num_threads(args.threads)
    print(f"load average at start: {os.getloadavg()} on {os.cpu_count()} CPUs; torch threads {args.threads}",
          flush=True)
    rows: list[dict[str, Any]] = []
    for dataset in args.datasets.split(","):
        ds = make_synthetic(dataset)
        split = test_split(ds)
        for name in args.methods.split(","):
            if not args.skip_fast:
                rows.append(run_full(name, ds, split, args.seed))
                print(f"  {dataset} {name} fast: {rows[-1]['wall_s']:.1f} s, ZSL {rows[-1]['zsl_top1']:.3f}",
                      flush=True)
            if not args.skip_paper:
                if args.paper_full:
                    rows.append(run_full(name, ds, split, args.seed, paper_params(name, dataset), "paper"))
                else:
                    rows.append(estimate_paper(name, ds, split, args.seed, args.paper_steps))
                print(f"  {dataset} {name} paper: {rows[-1]}", flush=True)

    def fmt(row: dict[str, Any], key: str, spec: str) -> str:
        return format(row[key], spec) if key in row else ""

    table = [[r["dataset"], r["method"], r["preset"], r["mode"], fmt(r, "fit_s", ".0f"),
              fmt(r, "score_s", ".1f"), fmt(r, "peak_rss_mb", ".0f"),
              fmt(r, "per_batch_s", ".3f"), fmt(r, "train_estimate_s", ".0f"),
              fmt(r, "zsl_top1", ".3f"), fmt(r, "gzsl_seen", ".3f"), fmt(r, "gzsl_unseen", ".3f"),
              fmt(r, "gzsl_h", ".3f"), fmt(r, "chance_zsl", ".3f")] for r in rows]
    print(f"\nSYNTHETIC data, test split, seed {args.seed}, torch threads {args.threads}")
    print(tabulate(table, headers=["dataset", "method", "preset", "mode", "fit s", "score s", "peak MB",
                                   "s/batch", "train est. s", "ZSL", "GZSL S", "GZSL U", "GZSL H",
                                   "chance"]))
    print("paper estimates cover the GAN / VAE training loop only (pre-classifier, synthesis and softmax "
          "excluded); peak MB is the process peak RSS during fit + score (includes the loaded dataset)")
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
