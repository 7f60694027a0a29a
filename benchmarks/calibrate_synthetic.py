"""Choose the built-in generator's difficulty knobs by a small search against the calibration set only.

For each built-in benchmark-like dataset, every knob combination of a small grid is generated and
ESZSL and ConSE are run on it exactly as ``zslbench run`` runs them (benchmark.toml's settings, the
parameters marked ``select_on_validation`` chosen on the validation split, then tested once; ConSE's base
classifier with the settings given below; ESZSL's penalties chosen on validation, as GBU chose them). The
loss is the mean
absolute difference, in points, between their ZSL top-1 and GZSL seen / unseen accuracy and the published
ResNet-101 numbers of the real dataset (:data:`zslbench.data.synthetic.CALIBRATION_SET`); no other
published number is read. The best combination is printed and, with ``--write``, written into the
``CALIBRATED_KNOBS`` block of ``zslbench/data/synthetic.py`` (generator v5, the built-in ``synth-X``).

    python benchmarks/calibrate_synthetic.py [--datasets synth-cub ...] [--base-epochs 5] [--write]
    python benchmarks/calibrate_synthetic.py --from-log results/synthetic_calibration_v5.log   # write its best

``--noise``, ``--unexplained``, ``--realisation``, ``--noise-decay``, ``--unseen-pull`` and
``--unseen-shrink`` replace stage 1's values; the searches behind the built-in knobs are several such runs,
logged in results/synthetic_calibration_v5.log, and ``--from-log`` writes, per dataset, the knobs of the
lowest-loss line of a log (every search in it counts). ``--generator 3`` and ``--generator 4`` search the
frozen generators (``synth-X-v3``, ``synth-X-v4``; printed, never written), and ``--noise-axes`` another
variant of the built-in one (printed, never written).

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
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from zslbench.base_classifier import BaseClassifierSettings, clear_memo
from zslbench.config import load_config
from zslbench.protocol import family_of
from zslbench.data.synthetic import CALIBRATION_SET, SYNTHETIC, SynthSpecV3, dataset_from_spec
from zslbench.data.synthetic_v4 import NOISE_AXES, SynthSpecV5
from zslbench.report.published import load_published
from zslbench.runner import execute
from zslbench.sweep import make_specs

ROOT = Path(__file__).resolve().parents[1]
GRID: dict[str, tuple[float, ...]] = {
    "noise": (5.0, 8.0, 11.0),
    "unexplained": (0.7, 1.4),
    "realisation": (0.8,),
}
"""Stage 1 for generator v3: the knobs the search moves and the values it tries (6 combinations)."""
V4_GRID: dict[str, tuple[float, ...]] = {
    "noise": (1.5, 2.0, 2.5),
    "unexplained": (0.35, 0.5),
    "realisation": (0.8,),
}
"""Stage 1 for generator v4 (its noise concentrates on the class directions, so it needs far less noise
than v3 for the same accuracy; the searches that set the built-in knobs: results/README.md, "A generator
v4")."""
REFINE: dict[str, float] = {"noise": 1.5, "unexplained": 0.35}
"""Stage 2: from stage 1's best, one step up and down in each of these knobs (4 more combinations);
with ``--refine-rounds n`` repeated around the new best while it moves, at most n times."""
V4_REFINE: dict[str, float] = {"noise": 0.25, "unexplained": 0.15}
"""Stage 2's steps for generator v4 (v5 also moves ``unseen_pull`` and ``unseen_shrink`` by
:data:`V5_STEP`)."""
V5_GRID: dict[str, tuple[float, ...]] = {"unseen_pull": (0.3, 0.5), "unseen_shrink": (0.0,)}
"""Stage 1's extra knobs for generator v5."""
V5_STEP = 0.1


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
    """ESZSL's and ConSE's test metrics (percent) on the dataset ``spec`` makes, each run as
    ``zslbench run`` runs it (benchmark.toml's settings, selection on the validation split), except for
    the base classifier settings ``base``."""
    ds = dataset_from_spec(spec)
    out = {}
    for run_spec in make_specs(CALIBRATION_SET["methods"], [spec.name], [seed]):
        if run_spec.base_classifier is not None:
            run_spec = replace(run_spec, base_classifier=asdict(base))
        for metric, value in execute(run_spec, ds)["metrics"].items():
            out[(run_spec.method, metric)] = 100 * value
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


def search(dataset: str, target: dict, epochs: int | None, log=print, *, generator: int = 5,
           noise_axes: str | None = None, refine_rounds: int = 1,
           grid_values: dict[str, tuple[float, ...]] | None = None) -> tuple[dict, float, dict]:
    """Stage 1 (:data:`V4_GRID`; v3: :data:`GRID`), then stage 2 (:data:`V4_REFINE`; v3: :data:`REFINE`)
    around the best so far: the lowest loss wins.

    ``generator`` 5 searches the built-in spec ``dataset`` (``noise_axes``: another variant of it), 3 and
    4 the frozen specs ``dataset-v3`` and ``dataset-v4``; ``grid_values`` replace stage 1's values.
    """
    spec = SYNTHETIC[dataset if generator == 5 else f"{dataset}-v{generator}"]
    grid = dict(V4_GRID if generator != 3 else GRID)
    if generator == 5:
        grid.update(V5_GRID)
    if noise_axes is not None:
        spec = replace(spec, noise_axes=noise_axes)
    grid.update(grid_values or {})
    refine = {3: REFINE, 4: V4_REFINE,
              5: {**V4_REFINE, "unseen_pull": V5_STEP, "unseen_shrink": V5_STEP}}[generator]
    base = base_settings(dataset, epochs)
    best: tuple = (None, np.inf, None)
    tried: set[str] = set()

    def trial(knobs: dict) -> None:
        nonlocal best
        tried.add(json.dumps(knobs, sort_keys=True))
        t0 = time.perf_counter()
        m = measure(replace(spec, **knobs), base)
        l_ = loss(m, target)
        worst = max(abs(m[k] - target[k]) for k in target if k in m)
        log(f"{dataset} {json.dumps(knobs)} loss {l_:.2f} (max {worst:.1f}) "
            + " ".join(f"{k[0]}:{k[1]}={m[k]:.1f}/{target[k]:.1f}" for k in sorted(target))
            + f" ({time.perf_counter() - t0:.0f} s)")
        if l_ < best[1]:
            best = (knobs, l_, m)

    for values in itertools.product(*grid.values()):
        trial(dict(zip(grid, values)))
    for _ in range(refine_rounds):
        centre = dict(best[0])
        for k, step in refine.items():
            for sign in (-1, 1):
                knobs = {**centre, k: round(centre[k] + sign * step, 6)}
                in_range = 0 <= knobs[k] < 1 if k in V5_GRID else knobs[k] > 0  # v5's shares lie in [0, 1)
                if in_range and json.dumps(knobs, sort_keys=True) not in tried:
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


def best_in_log(text: str) -> dict[str, dict]:
    """Per dataset, the knobs of the lowest-loss trial line of a search log (every search in it counts)."""
    best: dict[str, tuple[float, dict]] = {}
    for line in text.splitlines():
        m = re.match(r"(synth-\S+) (\{.*\}) loss (\d+(?:\.\d+)?) ", line)
        if m and float(m.group(3)) < best.get(m.group(1), (np.inf,))[0]:
            best[m.group(1)] = (float(m.group(3)), json.loads(m.group(2)))
    return {name: knobs for name, (_, knobs) in best.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=None,
                   help="default: every built-in benchmark-like dataset with calibration-set numbers")
    p.add_argument("--base-epochs", type=int, default=None, help="cheaper base classifier during the search")
    p.add_argument("--write", action="store_true", help="write the chosen knobs into zslbench/data/synthetic.py")
    p.add_argument("--generator", type=int, choices=(3, 4, 5), default=5,
                   help="5: the built-in generator; 3, 4: the frozen v3 / v4 (synth-X-v3, synth-X-v4; never "
                        "written)")
    p.add_argument("--noise-axes", choices=NOISE_AXES, default=None,
                   help="another noise-axes variant than the built-in one (never written)")
    p.add_argument("--refine-rounds", type=int, default=1, help="stage-2 rounds (while the best moves)")
    for knob in ("noise", "unexplained", "realisation"):
        p.add_argument(f"--{knob}", type=float, nargs="+", default=None, help=f"stage 1's {knob} values")
    p.add_argument("--noise-decay", type=float, nargs="+", default=None,
                   help="stage 1's noise_decay values (v4's noise spectrum exponent; default 1)")
    p.add_argument("--unseen-pull", type=float, nargs="+", default=None,
                   help="stage 1's unseen_pull values (v5's seen-class bias; default 0)")
    p.add_argument("--unseen-shrink", type=float, nargs="+", default=None,
                   help="stage 1's unseen_shrink values (v5's blur of the test-unseen classes; default 0)")
    p.add_argument("--from-log", type=Path, default=None,
                   help="write, per dataset, the knobs of a search log's lowest-loss line instead of searching")
    args = p.parse_args(argv)
    if args.noise_decay and args.generator == 3:
        p.error("--noise-decay: generator v3 has no noise_decay")
    for knob in ("unseen_pull", "unseen_shrink"):
        if getattr(args, knob) and args.generator != 5:
            p.error(f"--{knob.replace('_', '-')}: only generator v5 has it (--generator 5)")
    if args.from_log is not None:
        chosen = best_in_log(args.from_log.read_text())
        if not chosen:
            print(f"{args.from_log}: no search line ('synth-X {{knobs}} loss L ...')", file=sys.stderr)
            return 2
        write_knobs(chosen)
        print("wrote", ", ".join(f"{k} {json.dumps(v)}" for k, v in chosen.items()))
        return 0
    tg = targets()
    names = args.datasets or [n for n, s in SYNTHETIC.items() if type(s) is SynthSpecV5]
    chosen = {}
    for name in names:
        real = family_of(name)
        if real not in tg:
            print(f"{name}: no calibration-set number for {real}; knobs left as they are", file=sys.stderr)
            continue
        knobs, l_, m = search(name, tg[real], args.base_epochs, generator=args.generator,
                              noise_axes=args.noise_axes, refine_rounds=args.refine_rounds,
                              grid_values={k: tuple(getattr(args, k))
                                           for k in ("noise", "unexplained", "realisation", "noise_decay",
                                                     "unseen_pull", "unseen_shrink")
                                           if getattr(args, k)})
        print(f"CHOSEN {name} {json.dumps(knobs)} loss {l_:.2f}")
        chosen[name] = knobs
    if args.write and chosen and (args.generator != 5 or args.noise_axes is not None):
        print("--write: only the built-in generator v5's knobs are written (v3 and v4 are frozen; other variants "
              "are not built in); nothing written", file=sys.stderr)
        return 2
    if args.write and chosen:
        write_knobs(chosen)
        print("wrote", ", ".join(chosen))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
