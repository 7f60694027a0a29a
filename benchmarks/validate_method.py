"""Fit one method on a dataset's validation split and print its validation metrics (never the test split).

The fit is exactly the harness's trial 0 of ``zslbench run`` (same split, same ``rng`` stream
``[seed, 1, 0]``, the method's defaults or ``--preset``, then ``--set`` overrides), so its uncalibrated
numbers equal a record's validation trial at the same hyper-parameters. Printed: ZSL top-1, GZSL seen /
unseen / H uncalibrated, AUSUC, calibrated H at the best gamma on this split, the fit's training-health
summary (when the method records one), wall time and peak memory. Used to choose settings without
touching test data.

Usage:
    python benchmarks/validate_method.py -m f_clswgan -d synth-cub [--seed 0] [--preset fast]
        [--set n_syn=1000 --set epochs=10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from _common import measured


def parse_value(text: str):
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, anything else stays a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-m", "--method", required=True)
    parser.add_argument("-d", "--dataset", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default=None, help="a preset of the method (default: its space defaults)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one hyper-parameter (repeatable)")
    parser.add_argument("--json", default=None, help="append the result as one JSON line to this file")
    args = parser.parse_args(argv)

    os.environ.setdefault("ZSLBENCH_PROGRESS", "0")
    from zslbench.evaluation import evaluate_method
    from zslbench.data.sources import load_dataset
    from zslbench.registry import METHODS
    from zslbench.protocol import validation_split
    import torch

    from zslbench.sweep import threads_per_job

    torch.set_num_threads(threads_per_job(1))  # ZSLBENCH_THREADS, else every core
    cls = METHODS.get(args.method)
    hp = {k: p.default for k, p in cls.space.items()}
    if args.preset:
        if args.preset not in cls.presets:
            parser.error(f"--preset: {args.method} has no preset {args.preset!r} (presets: {sorted(cls.presets)})")
        hp |= cls.presets[args.preset]
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in cls.space:
            parser.error(f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(cls.space)}")
        hp[key] = parse_value(value)
    t_load = time.perf_counter()
    ds = load_dataset(args.dataset)
    split = validation_split(ds)
    load_s = time.perf_counter() - t_load
    method = cls(**hp)

    def fit_and_score():
        return evaluate_method(method, ds, split, rng=np.random.default_rng([args.seed, 1, 0]))

    ev, wall, peak, _ = measured(fit_and_score)
    gamma = ev.curve().best_gamma()
    m = ev.metrics(gamma)
    info = method.record_info() if hasattr(method, "record_info") else {}
    health = (info or {}).get("training_health") or {}
    row = {"method": args.method, "version": cls.version, "dataset": args.dataset, "seed": args.seed,
           "split": "validation", "hparams": {k: v for k, v in hp.items() if k in cls.space},
           "overrides": args.set, "metrics": m, "wall_s": wall, "load_s": load_s, "peak_rss_mb": peak,
           "training_health": health, "load_average": os.getloadavg()}
    print(f"{args.method} v{cls.version} on {args.dataset} validation split, seed {args.seed}, "
          f"overrides {args.set or 'none'}")
    print("  ZSL %.1f  GZSL seen %.1f unseen %.1f H %.1f  AUSUC %.1f  H_cs %.1f (gamma %.3g)" % (
        100 * m["zsl_top1"], 100 * m["gzsl_seen"], 100 * m["gzsl_unseen"], 100 * m["gzsl_h"],
        100 * m["ausuc"], 100 * m["gzsl_h_cs"], gamma))
    if health:
        print(f"  health: collapsed {health.get('collapsed')}, separation "
              f"{ {k: round(v, 4) for k, v in health.get('class_separation', {}).items()} }, "
              f"reasons {health.get('collapse_reasons')}")
        print(f"  losses start {health.get('loss_start')}\n  losses end   {health.get('loss_end')}")
    print(f"  fit + score {wall:.0f} s wall, peak {peak:.0f} MB, load average {os.getloadavg()}", flush=True)
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
