"""The regression check's suite and its ``check`` command: run a small fixed suite, then compare.

The suite: every registered method on synth-tiny and a few selected methods on synth-cub, each with its
``test_params``, seed 0 (seeds 0-4 for methods that declare ``seed_sensitive``, compared as their
mean), one hyper-parameter trial (the defaults), the validation procedure. The runs go through the
sweep; the records are handed to :mod:`zslbench.report.check`, which only compares.

A method with no baseline entry (one added since the baseline was made, e.g. a file dropped into the
methods folder) is run with the others and its values are listed as "new": they do not fail the check.
``zslbench check --update`` adds them to the baseline deliberately.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

CHECK_SEEDS: tuple[int, ...] = (0,)
SEED_SENSITIVE_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
"""Seeds of the methods that declare ``seed_sensitive`` (their synth-tiny numbers move by up to 18 points
(std) from one seed to the next, and so also from one CPU to another: floating-point noise in their
training acts like a new seed). They are checked as the mean over these seeds against the tolerances of
:func:`zslbench.report.check.spread_tolerances`; the other methods reproduce within 2 points on
different CPUs with seed 0."""
SYNTH_CUB_METHODS: tuple[str, ...] = ("ridge_v2s", "eszsl", "sae")
"""Methods also checked on synth-cub (those that are registered): closed-form ones, seconds each. An
image-free method there trains its base classifier on 2048-d synth-cub features (icis with test_params
did not finish in 10 minutes on 2 shared cores), so none is in the default check."""


def seed_sensitive_methods() -> list[str]:
    """Registered methods that declare ``seed_sensitive``."""
    from zslbench.registry import METHODS

    return [name for name, cls in METHODS.items() if cls.seed_sensitive]


def suite_description() -> dict[str, Any]:
    return {"synth-tiny": "every registered method", "synth-cub": list(SYNTH_CUB_METHODS),
            "seeds": list(CHECK_SEEDS),
            "seed_sensitive": {"methods": seed_sensitive_methods(), "seeds": list(SEED_SENSITIVE_SEEDS)},
            "hparams": "test_params, one trial (defaults)",
            "procedure": "validation"}


def suite_specs(*, data_root: Path | None = None, methods: Sequence[str] | None = None) -> list[Any]:
    """The run specs of the check suite (see the module docstring); ``methods``: only these."""
    from zslbench.registry import METHODS
    from zslbench.sweep import make_specs

    names = METHODS.names() if methods is None else [METHODS.get(m).name for m in methods]
    sensitive = set(seed_sensitive_methods())
    steady = [m for m in names if m not in sensitive]
    multi = [m for m in names if m in sensitive]
    specs = []
    if steady:
        specs += make_specs(steady, ["synth-tiny"], CHECK_SEEDS, procedure="validation", test_params=True,
                            trials=1, data_root=data_root)
    if multi:
        specs += make_specs(multi, ["synth-tiny"], SEED_SENSITIVE_SEEDS, procedure="validation",
                            test_params=True, trials=1, data_root=data_root)
    cub = [m for m in SYNTH_CUB_METHODS if m in METHODS and m in names]
    if cub:
        specs += make_specs(cub, ["synth-cub"], CHECK_SEEDS, procedure="validation", test_params=True,
                            trials=1, data_root=data_root)
    return specs


def run_suite(results_dir: Path, *, jobs: int = 1, data_root: Path | None = None, device: str = "cpu",
              methods: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the suite afresh (overwrite="always") into ``results_dir``; returns the run summaries."""
    from zslbench.sweep import run_specs

    specs = suite_specs(data_root=data_root, methods=methods)
    log.info("regression check: %d runs", len(specs))
    return run_specs(specs, results_dir=results_dir, data_root=data_root, jobs=jobs, overwrite="always",
                     device=device)


def records_for_check(results: Path) -> list[dict[str, Any]]:
    """Deduplicated ok records plus minimal failed ones, from a results folder."""
    from zslbench.report.aggregate import load_results

    res = load_results(results)
    recs = list(res.records.values())
    for row in res.failed.to_dict("records"):
        recs.append({"spec": {"method": row["method"], "dataset": {"name": row["dataset"]}}, "status": "failed"})
    return recs


def add_check_command(subparsers: Any) -> None:
    """Add ``check`` to the main parser's ``subparsers``."""
    ck = subparsers.add_parser("check", help="regression check of a small fixed suite against a baseline")
    ck.add_argument("--baseline", type=Path, required=True, help="baseline JSON (e.g. results/baseline.json)")
    ck.add_argument("--update", action="store_true",
                    help="rewrite the baseline from this run (deliberately) and print what changed")
    ck.add_argument("--results", type=Path, default=None,
                    help="where the suite's runs are written (default: a fresh temporary folder)")
    ck.add_argument("--no-run", action="store_true",
                    help="compare the records already under --results instead of running the suite")
    ck.add_argument("-m", "--methods", nargs="+", default=None,
                    help="check only these methods (their runs and their baseline entries)")
    ck.add_argument("--tolerance", type=float, default=None,
                    help="absolute tolerance (fraction, e.g. 0.02) for entries new to the baseline on --update")
    ck.add_argument("--jobs", type=int, default=1)
    ck.add_argument("--data-root", type=Path, default=None)
    ck.add_argument("--all", action="store_true", help="list every compared value, not only the changes")
    ck.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from zslbench.report import check

    if args.update and args.methods:
        print("error: --update rewrites the whole baseline; run it without -m/--methods", file=sys.stderr)
        return 2
    if args.no_run:
        if args.results is None:
            print("error: --no-run needs --results DIR", file=sys.stderr)
            return 2
        records = records_for_check(args.results)
    else:
        from zslbench.provenance import mixed_checkout_problem

        problem = mixed_checkout_problem()
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        results = args.results or Path(tempfile.mkdtemp(prefix="zslbench-check-"))
        print(f"running the check suite into {results}", file=sys.stderr)
        records = run_suite(results, jobs=args.jobs, data_root=args.data_root, methods=args.methods)
    current = check.current_values(records)
    if not current:
        print("error: the check suite produced no values", file=sys.stderr)
        return 1
    if args.update:
        default = args.tolerance or check.DEFAULT_TOLERANCE
        changes = check.update_baseline(args.baseline, current, suite=suite_description(),
                                        default_tolerance=default,
                                        spread=check.spread_tolerances(records, default_tolerance=default))
        print(f"baseline {args.baseline} rewritten: {len(changes)} change(s)")
        for line in changes:
            print("  " + line)
        return 0
    try:
        baseline = check.load_baseline(args.baseline)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = check.compare(check.baseline_values(baseline), current, methods=args.methods)
    print(check.render_diff(result, all_rows=args.all), end="")
    return 0 if result.passed else 1
