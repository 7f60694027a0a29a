"""Choose generator v3's difficulty knobs by a small search against the calibration set only.

For each built-in benchmark-like dataset, every knob combination of a small grid is generated and
ESZSL and ConSE are run on its test split exactly as ``zslbench run`` runs them (default hyper-parameters,
validation procedure; ConSE's base classifier with the settings given below). The loss is the mean
absolute difference, in points, between their ZSL top-1 and GZSL seen / unseen accuracy and the published
ResNet-101 numbers of the real dataset (:data:`zslbench.data.synthetic.CALIBRATION_SET`); no other
published number is read. The best combination is printed and, with ``--write``, written into the
``CALIBRATED_KNOBS`` block of ``zslbench/data/synthetic.py``.

    python benchmarks/calibrate_synthetic.py [--datasets synth-cub ...] [--base-epochs 10] [--write]
    python benchmarks/calibrate_synthetic.py --from-log results/synthetic_calibration.log   # write its choice

With ``--generator 4`` the same search runs on the candidate generator v4 (:class:`SynthSpecV4`, not built
in; ``--noise-axes`` picks its variant), with its own noise grid (:data:`V4_NOISE_GRID`); its choice is
printed, never written.

    python benchmarks/calibrate_synthetic.py --generator 4 --datasets synth-cub --base-epochs 5 --refine-rounds 3

During the search, ConSE's base classifier may be trained with fewer epochs (``--base-epochs``, with the
learning rate scaled so Adam moves about as far); the chosen knobs are then checked at the real settings
by ``zslbench run``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from zslbench.base_classifier import BaseClassifierSettings, get_base_classifier, clear_memo
from zslbench.config import load_config
from zslbench.protocol import family_of
from zslbench.data.synthetic import CALIBRATION_SET, SYNTHETIC, SynthSpecV3, dataset_from_spec
from zslbench.data.synthetic_v4 import NOISE_AXES, candidate_v4
from zslbench.protocol import test_split
from zslbench.registry import METHODS
from zslbench.report.published import load_published
from zslbench.runner import evaluate_method

ROOT = Path(__file__).resolve().parents[1]
GRID: dict[str, tuple[float, ...]] = {
    "noise": (5.0, 8.0, 11.0),
    "unexplained": (0.7, 1.4),
    "realisation": (0.8,),
}
"""Stage 1: the knobs the search moves and the values it tries (6 combinations per dataset: 2 CPU cores)."""
REFINE: dict[str, float] = {"noise": 1.5, "unexplained": 0.35}
"""Stage 2: from stage 1's best, one step up and down in each of these knobs (4 more combinations);
with ``--refine-rounds n`` repeated around the new best while it moves, at most n times."""
V4_NOISE_GRID: dict[str, tuple[float, ...]] = {
    "synth-cub": (10.0, 13.0, 16.0),
    "synth-sun": (4.0, 7.0, 10.0),
    "synth-awa2": (12.0, 15.0, 18.0),
}
"""Stage 1's noise values for the candidate v4 (random noise axes), which needs more noise than v3 for the
same accuracy. Set from ESZSL-only probes against ESZSL's published numbers (part of the calibration
set): ESZSL ZSL on synth-cub 71.0 / 29.0 at noise 9.5 / 20 (published 53.9), synth-sun 59.1 / 40.7 at
5 / 10 (54.5), synth-awa2 68.2 / 63.7 at 10 / 14 (58.6)."""


def targets(published_csv: Path | None = None) -> dict[str, dict[tuple[str, str], float]]:
    """Calibration-set numbers per real dataset: {(method, metric): percent}."""
    pub = load_published(published_csv)
    sel = pub[pub["method"].isin(CALIBRATION_SET["methods"]) & pub["metric"].isin(CALIBRATION_SET["metrics"])
              & pub["features"].isin(CALIBRATION_SET["features"]) & pub["seen_classes"].isna()]
    out: dict[str, dict[tuple[str, str], float]] = {}
    for r in sel.itertuples():
        out.setdefault(r.dataset, {})[(r.method, r.metric)] = 100 * r.value
    return out


def measure(spec: SynthSpecV3, base: BaseClassifierSettings, seed: int = 0) -> dict[tuple[str, str], float]:
    """ESZSL's and ConSE's test metrics (percent) on the dataset ``spec`` makes."""
    ds = dataset_from_spec(spec)
    split = test_split(ds)
    out = {}
    for name in CALIBRATION_SET["methods"]:
        cls = METHODS.get(name)
        clf = None
        if cls.access == "image_free":
            clf, _ = get_base_classifier(ds, split, settings=base, seed=seed)
        ev = evaluate_method(cls(), ds, split, base=clf, rng=np.random.default_rng([seed, 2]))
        for metric, value in ev.metrics().items():
            out[(name, metric)] = 100 * value
    clear_memo()
    return out


def loss(measured: dict, target: dict) -> float:
    keys = [k for k in target if k in measured]
    return float(np.mean([abs(measured[k] - target[k]) for k in keys]))


def base_settings(dataset: str, epochs: int | None) -> BaseClassifierSettings:
    """The base classifier ``zslbench run`` trains for ``dataset`` (benchmark.toml), optionally cheaper."""
    s = BaseClassifierSettings(**load_config(None).base_classifier_for(family_of(dataset)))
    if epochs is not None and epochs != s.epochs:
        s = replace(s, epochs=epochs, lr=s.lr * s.epochs / epochs)
    return s


def search(dataset: str, target: dict, epochs: int | None, log=print, *, generator: int = 3,
           noise_axes: str = "random", refine_rounds: int = 1,
           grid_values: dict[str, tuple[float, ...]] | None = None) -> tuple[dict, float, dict]:
    """Stage 1 (:data:`GRID`), then stage 2 (:data:`REFINE` around the best so far): the lowest loss wins.

    ``generator`` 4 searches the candidate v4 (:class:`SynthSpecV4` with ``noise_axes``) built from the
    dataset's v3 spec, with :data:`V4_NOISE_GRID`'s noise values; ``grid_values`` replace stage 1's values.
    """
    spec = SYNTHETIC[dataset]
    grid = dict(GRID)
    if generator == 4:
        spec = candidate_v4(spec, noise_axes=noise_axes)
        grid["noise"] = V4_NOISE_GRID.get(dataset, grid["noise"])
    grid.update(grid_values or {})
    base = base_settings(dataset, epochs)
    best: tuple = (None, np.inf, None)
    tried: set[str] = set()

    def trial(knobs: dict) -> None:
        nonlocal best
        tried.add(json.dumps(knobs, sort_keys=True))
        t0 = time.perf_counter()
        m = measure(replace(spec, **knobs), base)
        l_ = loss(m, target)
        log(f"{dataset} {json.dumps(knobs)} loss {l_:.2f} "
            + " ".join(f"{k[0]}:{k[1]}={m[k]:.1f}/{target[k]:.1f}" for k in sorted(target))
            + f" ({time.perf_counter() - t0:.0f} s)")
        if l_ < best[1]:
            best = (knobs, l_, m)

    for values in itertools.product(*grid.values()):
        trial(dict(zip(grid, values)))
    for _ in range(refine_rounds):
        centre = dict(best[0])
        for k, step in REFINE.items():
            for sign in (-1, 1):
                knobs = {**centre, k: round(centre[k] + sign * step, 6)}
                if knobs[k] > 0 and json.dumps(knobs, sort_keys=True) not in tried:
                    trial(knobs)
        if best[0] == centre:
            break
    return best


def write_knobs(knobs: dict[str, dict[str, float]]) -> None:
    path = ROOT / "zslbench" / "data" / "synthetic.py"
    text = path.read_text()
    m = re.search(r"CALIBRATED_KNOBS: dict\[str, dict\[str, float\]\] = \{\n(.*?)\n\}\n# END", text, re.S)
    current = {}
    for line in m.group(1).splitlines():
        name, body = line.strip().rstrip(",").split(": ", 1)
        current[json.loads(name)] = json.loads(body)
    current.update(knobs)
    body = "\n".join(f"    {json.dumps(k)}: {json.dumps(v)}," for k, v in current.items())
    path.write_text(text[:m.start(1)] + body + text[m.end(1):])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=None, help="default: every built-in v3 dataset with targets")
    p.add_argument("--base-epochs", type=int, default=None, help="cheaper base classifier during the search")
    p.add_argument("--write", action="store_true", help="write the chosen knobs into zslbench/data/synthetic.py")
    p.add_argument("--generator", type=int, choices=(3, 4), default=3,
                   help="4: search the candidate generator v4 (not built in; never written)")
    p.add_argument("--noise-axes", choices=NOISE_AXES, default="random", help="the candidate v4's variant")
    p.add_argument("--refine-rounds", type=int, default=1, help="stage-2 rounds (while the best moves)")
    for knob in ("noise", "unexplained", "realisation"):
        p.add_argument(f"--{knob}", type=float, nargs="+", default=None, help=f"stage 1's {knob} values")
    p.add_argument("--noise-decay", type=float, nargs="+", default=None,
                   help="stage 1's noise_decay values (the candidate v4's noise spectrum exponent; default 1)")
    p.add_argument("--from-log", type=Path, default=None,
                   help="write the knobs a finished search chose (its 'CHOSEN' lines) instead of searching")
    args = p.parse_args(argv)
    if args.noise_decay and args.generator != 4:
        p.error("--noise-decay: only the candidate generator v4 has it (add --generator 4)")
    if args.from_log is not None:
        chosen = {}
        for line in args.from_log.read_text().splitlines():
            m = re.match(r"CHOSEN (\S+) (\{.*\}) loss", line)
            if m:
                chosen[m.group(1)] = json.loads(m.group(2))
        if not chosen:
            print(f"{args.from_log}: no 'CHOSEN' line", file=sys.stderr)
            return 2
        write_knobs(chosen)
        print("wrote", ", ".join(chosen))
        return 0
    tg = targets()
    names = args.datasets or [n for n, s in SYNTHETIC.items() if isinstance(s, SynthSpecV3)]
    chosen = {}
    for name in names:
        real = name[len("synth-"):].upper()
        if real not in tg:
            print(f"{name}: no calibration-set number for {real}; knobs left as they are", file=sys.stderr)
            continue
        knobs, l_, m = search(name, tg[real], args.base_epochs, generator=args.generator,
                              noise_axes=args.noise_axes, refine_rounds=args.refine_rounds,
                              grid_values={k: tuple(getattr(args, k))
                                           for k in ("noise", "unexplained", "realisation", "noise_decay")
                                           if getattr(args, k)})
        print(f"CHOSEN {name} {json.dumps(knobs)} loss {l_:.2f}")
        chosen[name] = knobs
    if args.write and chosen and args.generator == 4:
        print("--write: the candidate generator v4 is not built in; nothing written", file=sys.stderr)
        return 2
    if args.write and chosen:
        write_knobs(chosen)
        print("wrote", ", ".join(chosen))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
