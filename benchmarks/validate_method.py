"""Fit one method on a dataset's validation split and print its validation metrics (never the test split).

The fit is exactly the harness's trial 0 of ``zslbench run`` (same split, same ``rng`` stream
``[seed, 1, 0]``, the method's defaults or ``--preset``, then ``--set`` overrides), so its uncalibrated
numbers equal a record's validation trial at the same hyper-parameters: hyper-parameters resolve as in
the harness (defaults < preset < ``benchmark.toml`` < ``--set``), and image-free methods get the
harness's validation base classifier (from ``results/cache`` when it is there). Printed: ZSL top-1, GZSL seen /
unseen / H uncalibrated, AUSUC, calibrated H at the best gamma on this split, the fit's training-health
summary (when the method records one), wall time and peak memory. A method with parameters that every run
compares on validation (:func:`zslbench.hparams.validation_grid`) gets one line per value, as the run's
trials. Used to choose settings without touching test data.

``--row-scale SIGMA`` (image-free methods) multiplies each seen class's base-classifier row ``[w_c | b_c]``
by ``exp(SIGMA * z_c)``, z_c ~ N(0, 1) from a fixed draw: a per-class scale the descriptors cannot predict,
directions unchanged (how MSE and cosine injections cope with it: results/README.md, "v5, fourth stop").

Usage:
    python benchmarks/validate_method.py -m f_clswgan -d synth-cub [--seed 0] [--preset fast]
        [--set n_syn=1000 --set epochs=10] [--row-scale 0.5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from _common import measured


def scaled_rows(base, sigma: float, seed: int = 123):
    """``base`` (a LinearClassifier) with row c, weight and bias, multiplied by exp(sigma * z_c), z (k,) ~
    N(0, 1) drawn from ``seed``."""
    from dataclasses import replace

    scale = np.exp(sigma * np.random.default_rng(seed).standard_normal(len(base.classes)))
    return replace(base, weight=base.weight * scale[:, None], bias=base.bias * scale)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-m", "--method", required=True)
    parser.add_argument("-d", "--dataset", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default=None, help="a preset of the method (default: its space defaults)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one hyper-parameter (repeatable)")
    parser.add_argument("--row-scale", type=float, default=0.0, metavar="SIGMA",
                        help="image-free methods: scale each seen base-classifier row by exp(SIGMA * z_c)")
    parser.add_argument("--json", default=None, help="append the result as one JSON line to this file")
    args = parser.parse_args(argv)

    os.environ.setdefault("ZSLBENCH_PROGRESS", "0")
    import torch

    from zslbench.cli import _parse_set
    from zslbench.data.sources import load_dataset
    from zslbench.hparams import trial_candidates, validation_grid
    from zslbench.protocol import Setting, apply_setting, validation_split
    from zslbench.registry import METHODS
    from zslbench.runner import _base_classifier, _grid_evaluations
    from zslbench.sweep import make_specs, threads_per_job

    torch.set_num_threads(threads_per_job(1))  # ZSLBENCH_THREADS, else every core
    cls = METHODS.get(args.method)
    overrides = _parse_set(args.set)
    unknown = sorted(set(overrides) - set(cls.space))
    if unknown:
        parser.error(f"--set {', '.join(unknown)}: not hyper-parameters of {args.method} ({sorted(cls.space)})")
    if args.row_scale and cls.access != "image_free":
        parser.error(f"--row-scale: {args.method} is not image-free (it never sees the base classifier's rows)")
    if args.row_scale < 0:
        parser.error(f"--row-scale must be >= 0, got {args.row_scale}")
    # the harness's own resolution: defaults < preset < benchmark.toml (per dataset family) < --set
    [spec] = make_specs([args.method], [args.dataset], [args.seed], preset=args.preset, hparams_overrides=overrides)
    hp = trial_candidates(spec)[0]
    t_load = time.perf_counter()
    ds = load_dataset(args.dataset)
    image_free = cls.access == "image_free"
    split = apply_setting(ds, validation_split(ds), Setting(**spec.setting), spec.seed, image_free=image_free)
    base = _base_classifier(ds, split, spec, device="cpu", cache_dir=Path("results/cache"))[0] if image_free else None
    if args.row_scale:
        base = scaled_rows(base, args.row_scale)
    load_s = time.perf_counter() - t_load
    if base is not None:
        norms = np.linalg.norm(base.augmented, axis=1)
        print(f"base classifier: {len(norms)} rows [w | b], norm mean {norms.mean():.3g}, "
              f"spread (std / mean) {norms.std() / norms.mean():.2f}")

    def fit_and_score():  # (hyper-parameters, evaluation, the fit's record_info) per compared value
        return [(h, ev, method.record_info() or {}) for h, ev, method in
                _grid_evaluations(cls, hp, validation_grid(spec), ds, split, base, [args.seed, 1, 0], {}, "cpu")]

    evaluations, wall, peak, _ = measured(fit_and_score)
    print(f"{args.method} v{cls.version} on {args.dataset} validation split, seed {args.seed}, "
          f"overrides {args.set or 'none'}{f', row scale {args.row_scale}' if args.row_scale else ''}; "
          f"fit + score {wall:.0f} s wall, peak {peak:.0f} MB, "
          f"load average {os.getloadavg()}")
    rows = []
    for trial_hp, ev, info in evaluations:
        gamma = ev.curve().best_gamma()
        m = ev.metrics(gamma)
        compared = {k: trial_hp[k] for k in validation_grid(spec)}
        print("  %sZSL %.1f  GZSL seen %.1f unseen %.1f H %.1f  AUSUC %.1f  H_cs %.1f (gamma %.3g)" % (
            "".join(f"{k}={v} " for k, v in compared.items()), 100 * m["zsl_top1"], 100 * m["gzsl_seen"],
            100 * m["gzsl_unseen"], 100 * m["gzsl_h"], 100 * m["ausuc"], 100 * m["gzsl_h_cs"], gamma))
        if "epochs" in info:
            print(f"    {info['epochs']} epochs" + (", stopped early" if info.get("stopped_early") else ""))
        health = info.get("training_health") or {}
        if health:
            print(f"    health: collapsed {health.get('collapsed')}, separation "
                  f"{ {k: round(v, 4) for k, v in health.get('class_separation', {}).items()} }, "
                  f"reasons {health.get('collapse_reasons')}")
            print(f"    losses start {health.get('loss_start')}\n    losses end   {health.get('loss_end')}")
        rows.append({"method": args.method, "version": cls.version, "dataset": args.dataset, "seed": args.seed,
                     "split": "validation", "hparams": {k: v for k, v in trial_hp.items() if k in cls.space},
                     "overrides": args.set, "row_scale": args.row_scale, "metrics": m, "wall_s": wall, "load_s": load_s,
                     "peak_rss_mb": peak, "training_health": health, "load_average": os.getloadavg()})
    if args.json:
        with open(args.json, "a") as fh:
            fh.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    main()
