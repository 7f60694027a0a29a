"""Does a non-linear attribute -> appearance map put ICIS ahead of the linear image-free baselines?

Generators v3-v5 make a class's appearance linear in the attributes its images show (step 3 of
:mod:`zslbench.data.synthetic`), and on them ICIS trails Sub.Reg. (a linear descriptor -> row map). This
script tests that explanation: it runs the methods, as ``zslbench run`` runs them (validation procedure,
benchmark.toml's settings), on a built-in dataset and on a candidate copy whose appearance passes through a
fixed random ReLU layer of sparsely firing units (:class:`SynthSpecBent`; every other knob and the layout
unchanged). A candidate, never built in: nothing here is calibrated, and its numbers are not records.

    python benchmarks/appearance_nonlinearity.py [--dataset synth-cub] [--seed 0] [--bend 1.0]
        [--variants built-in bent] [--methods eszsl subreg icis smo costa]

Results (synth-cub, seed 0): results/README.md, "v5, third stop".
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from sklearn.linear_model import RidgeCV

from zslbench.data.synthetic import SYNTHETIC, dataset_from_spec
from zslbench.data.synthetic_v4 import SynthSpecV5
from zslbench.runner import execute
from zslbench.sweep import make_specs

METRICS = ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h")


@dataclass(frozen=True)
class SynthSpecBent(SynthSpecV5):
    """Generator v5 whose appearance map is bent: ``bend`` of it (in variance-normalised units) comes from
    ``relu((r - 0.3) @ W + b) @ parts2`` (``units`` hidden units, biases N(``threshold``, 1), so few fire
    at once: conjunctions of attributes), the rest from v5's linear ``r @ parts``. A class's mean
    appearance is the mean over ``class_draws`` realisations of its attributes (the map is not linear)."""

    bend: float = 1.0
    units: int = 4096
    threshold: float = -4.0
    class_draws: int = 16

    def appearance_map(self, parts: np.ndarray,
                       p_true: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
        A, d = parts.shape
        rng = np.random.default_rng([self.seed, 3])
        w = rng.standard_normal((A, self.units)) * 2.5 / np.sqrt(0.3 * A)
        b = rng.normal(self.threshold, 1.0, self.units)
        parts2 = (rng.random((self.units, d)) < self.channel_density) * rng.exponential(1.0, (self.units, d))

        def both(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return r @ parts, np.maximum((r - 0.3) @ w + b, 0.0) @ parts2

        draws = [both(p_true + self.realisation * ((rng.random(p_true.shape) < p_true) - p_true))
                 for _ in range(self.class_draws)]
        means = [np.mean([dr[k] for dr in draws], axis=0) for k in (0, 1)]
        stats = [(m.mean(0), (m - m.mean(0)).std()) for m in means]
        weights = np.array([1.0 - self.bend, self.bend]) / np.hypot(1.0 - self.bend, self.bend)

        def mix(parts_out: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            return sum(wt * (x - c) / s for wt, x, (c, s) in zip(weights, parts_out, stats))

        return (lambda r: mix(both(r))), mix(tuple(means))


def unseen_mean_r2(ds) -> float:
    """R^2 of the test-unseen classes' mean features predicted from their descriptors by a ridge map fit
    on the other classes: how linear the descriptor -> appearance relation is."""
    y, x = ds.labels, ds.features
    means = np.stack([x[y == c].mean(0) for c in range(ds.descriptors.shape[0])])
    unseen = np.unique(y[ds.splits["test_unseen"]])
    seen = np.setdiff1d(np.arange(len(means)), unseen)
    pred = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(ds.descriptors[seen], means[seen]).predict(
        ds.descriptors[unseen])
    return float(1 - ((pred - means[unseen]) ** 2).sum() / ((means[unseen] - means[unseen].mean(0)) ** 2).sum())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synth-cub", choices=[n for n, s in SYNTHETIC.items()
                                                                   if isinstance(s, SynthSpecV5)])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bend", type=float, default=1.0, help="share of the appearance from the ReLU layer")
    parser.add_argument("--variants", nargs="+", default=["built-in", "bent"], choices=["built-in", "bent"])
    parser.add_argument("--methods", nargs="+", default=["eszsl", "subreg", "icis", "smo", "costa"])
    args = parser.parse_args(argv)
    if not 0.0 <= args.bend <= 1.0:
        parser.error(f"--bend must be in [0, 1], got {args.bend}")

    base = SYNTHETIC[args.dataset]
    for variant in args.variants:
        spec = base if variant == "built-in" else SynthSpecBent(**asdict(base), bend=args.bend)
        ds = dataset_from_spec(spec)
        print(f"{args.dataset} {variant}: unseen class means from descriptors, ridge R^2 {unseen_mean_r2(ds):.3f}",
              flush=True)
        for run_spec in make_specs(args.methods, [base.name], [args.seed]):
            start = time.perf_counter()
            metrics = execute(run_spec, ds)["metrics"]
            print(f"  {run_spec.method:<8} " + " / ".join(f"{100 * metrics[k]:.1f}" for k in METRICS)
                  + f"  (ZSL / seen / unseen / H, %; {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
