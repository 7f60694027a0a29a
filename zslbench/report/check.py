"""The regression check's comparison: run records -> values -> compared with a committed baseline.

Nothing here runs an experiment: the suite (which methods, datasets and seeds) and its runs are
:mod:`zslbench.check_suite`, which hands the records to these pure functions.

Baseline file (JSON)::

    {"schema_version": 1, "description": ..., "suite": {...},
     "entries": [{"method", "dataset", "metric", "value": float | null (the run failed), "tolerance"}]}

Comparison (pure functions, tested on fixed records): a metric that moved by more than its absolute
tolerance, a baseline entry with no current value, or a run that now fails is a regression (exit code
1). A new (method, dataset, metric) - e.g. every value of a method added since the baseline was made -
or a run that recovered is reported as "new" / "recovered" but does not fail the check; ``--update``
rewrites the baseline deliberately and lists what changed.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from zslbench.records import write_atomically

BASELINE_SCHEMA = 1
CHECK_METRICS: tuple[str, ...] = ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h", "gzsl_h_cs", "ausuc")
DEFAULT_TOLERANCE = 0.02
"""Absolute tolerance on a metric in [0, 1] (2 points): synth-tiny's test sets are small, so one image
changing class moves a per-class accuracy by about a point."""
SPREAD_Z = 2.5
"""A multi-seed entry's tolerance, in standard deviations of the difference between two n-seed means."""

Key = tuple[str, str, str]  # (method, dataset, metric)
FAILING_STATUSES = ("moved", "missing", "failed", "invalid")


# --------------------------------------------------------------------------------------------------
# Values from records
# --------------------------------------------------------------------------------------------------


def current_values(records: Iterable[Mapping[str, Any]], metrics: Iterable[str] = CHECK_METRICS
                   ) -> dict[Key, float | None]:
    """(method, dataset, metric) -> mean over the records' seeds; None where every run failed.

    Accepts full records or the sweep's run summaries (both carry spec, status, metrics).
    """
    metrics = tuple(metrics)
    values: dict[Key, list[float]] = {}
    failed: set[tuple[str, str]] = set()
    for rec in records:
        spec = rec["spec"]
        method, dataset = spec["method"], spec["dataset"]["name"]
        if rec.get("status") != "ok":
            failed.add((method, dataset))
            continue
        for metric in metrics:
            value = (rec.get("metrics") or {}).get(metric)
            if value is not None:
                values.setdefault((method, dataset, metric), []).append(float(value))
    out: dict[Key, float | None] = {k: sum(v) / len(v) for k, v in values.items()}
    for method, dataset in failed:
        for metric in metrics:
            out.setdefault((method, dataset, metric), None)
    return out


def spread_tolerances(records: Iterable[Mapping[str, Any]], metrics: Iterable[str] = CHECK_METRICS,
                      default_tolerance: float = DEFAULT_TOLERANCE) -> dict[Key, float]:
    """(method, dataset, metric) -> tolerance, for entries measured over several seeds: SPREAD_Z standard
    deviations of the difference between two n-seed means (sqrt(2 / n) x the seeds' sample std), never
    below ``default_tolerance``. Single-seed entries get none (their tolerance stays as it was)."""
    metrics = tuple(metrics)
    per_seed: dict[Key, list[float]] = {}
    for rec in records:
        if rec.get("status") != "ok":
            continue
        spec = rec["spec"]
        for metric in metrics:
            value = (rec.get("metrics") or {}).get(metric)
            if value is not None:
                per_seed.setdefault((spec["method"], spec["dataset"]["name"], metric), []).append(float(value))
    return {k: round(max(default_tolerance, SPREAD_Z * math.sqrt(2 / len(v)) * statistics.stdev(v)), 4)
            for k, v in per_seed.items() if len(v) > 1}


# --------------------------------------------------------------------------------------------------
# Baseline file
# --------------------------------------------------------------------------------------------------


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read and check a baseline file; errors name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"baseline {str(path)!r} not found (create it with --update)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"baseline {path}: not valid JSON ({exc})") from exc
    if data.get("schema_version") != BASELINE_SCHEMA:
        raise ValueError(f"baseline {path}: schema_version {data.get('schema_version')!r}, expected "
                         f"{BASELINE_SCHEMA}")
    for i, e in enumerate(data.get("entries", [])):
        missing = [k for k in ("method", "dataset", "metric", "value", "tolerance") if k not in e]
        if missing:
            raise ValueError(f"baseline {path}: entry {i} lacks {', '.join(missing)}")
        if not (isinstance(e["tolerance"], (int, float)) and e["tolerance"] >= 0):
            raise ValueError(f"baseline {path}: entry {i} has a negative or non-numeric tolerance")
    return data


def baseline_values(baseline: Mapping[str, Any]) -> dict[Key, tuple[float | None, float]]:
    """(method, dataset, metric) -> (value or None, tolerance)."""
    return {(e["method"], e["dataset"], e["metric"]): (e["value"], float(e["tolerance"]))
            for e in baseline.get("entries", [])}


def make_baseline(values: Mapping[Key, float | None], *, tolerances: Mapping[Key, float] | None = None,
                  default_tolerance: float = DEFAULT_TOLERANCE, suite: Mapping[str, Any] | None = None
                  ) -> dict[str, Any]:
    """A baseline dict from current values; existing per-entry tolerances are kept."""
    tolerances = tolerances or {}
    entries = [{"method": k[0], "dataset": k[1], "metric": k[2],
                "value": None if v is None else round(float(v), 6),
                "tolerance": float(tolerances.get(k, default_tolerance))}
               for k, v in sorted(values.items())]
    return {"schema_version": BASELINE_SCHEMA,
            "description": "zslbench regression baseline: metric values in [0, 1] of the check suite "
                           "(value null: the run failed). Rewrite only with `zslbench check --update`.",
            "suite": dict(suite or {}), "entries": entries}


# --------------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """One row per (method, dataset, metric) in the baseline or the current run."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] in FAILING_STATUSES]

    @property
    def passed(self) -> bool:
        return not self.failures

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.rows)


def compare(baseline: Mapping[Key, tuple[float | None, float]], current: Mapping[Key, float | None], *,
            methods: Iterable[str] | None = None) -> CheckResult:
    """Compare current values with baseline (value, tolerance) pairs; see the module docstring.

    ``methods``: compare only the entries of these methods (a check of part of the suite)."""
    if methods is not None:
        keep = set(methods)
        baseline = {k: v for k, v in baseline.items() if k[0] in keep}
        current = {k: v for k, v in current.items() if k[0] in keep}
    rows = []
    for key in sorted(set(baseline) | set(current)):
        base, tol = baseline.get(key, (None, float("nan")))
        cur = current.get(key, None)
        row = {"method": key[0], "dataset": key[1], "metric": key[2], "baseline": base, "current": cur,
               "delta": None, "tolerance": tol}
        if key not in baseline:
            row["status"] = "new"
        elif key not in current:
            row["status"] = "missing" if base is not None else "ok"
        elif base is None:
            row["status"] = "ok" if cur is None else "recovered"
        elif cur is None:
            row["status"] = "failed"
        elif not math.isfinite(cur):
            row["status"] = "invalid"
        else:
            row["delta"] = cur - base
            row["status"] = "ok" if abs(cur - base) <= tol + 1e-12 else "moved"
        rows.append(row)
    return CheckResult(rows)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.2f}"


def render_diff(result: CheckResult, *, all_rows: bool = False) -> str:
    """A readable table of what moved beyond tolerance (and new / recovered entries), percent units."""
    from tabulate import tabulate

    rows = result.rows if all_rows else [r for r in result.rows if r["status"] != "ok"]
    n_ok = result.count("ok")
    head = (f"regression check: {'PASSED' if result.passed else 'FAILED'} - {n_ok} of {len(result.rows)} "
            f"values within tolerance, {len(result.failures)} regression(s)")
    if not rows:
        return head + "\n"
    table = [[r["status"].upper() if r["status"] in FAILING_STATUSES else r["status"], r["method"], r["dataset"],
              r["metric"], _pct(r["baseline"]), _pct(r["current"]),
              "–" if r["delta"] is None else f"{r['delta'] * 100:+.2f}",
              "–" if r["tolerance"] != r["tolerance"] else f"±{r['tolerance'] * 100:.2f}"]
             for r in rows]
    grid = tabulate(table, headers=["status", "method", "dataset", "metric", "baseline %", "current %",
                                    "delta", "tolerance"], tablefmt="github", disable_numparse=True)
    legend = ("MOVED: beyond tolerance; MISSING: no current value; FAILED: the run failed; new / recovered: "
              "not in the baseline / no longer failing (run with --update to accept).")
    return f"{head}\n\n{grid}\n\n{legend}\n"


def baseline_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """Human-readable lines: entries added, removed or changed between two baselines."""
    before = baseline_values(old) if old else {}
    after = baseline_values(new)
    lines = []
    for key in sorted(set(before) | set(after)):
        name = "/".join(key)
        if key not in before:
            lines.append(f"added   {name} = {_pct(after[key][0])}")
        elif key not in after:
            lines.append(f"removed {name} (was {_pct(before[key][0])})")
        else:
            if before[key][0] != after[key][0]:
                lines.append(f"changed {name}: {_pct(before[key][0])} -> {_pct(after[key][0])}")
            if before[key][1] != after[key][1]:
                lines.append(f"tolerance {name}: ±{_pct(before[key][1])} -> ±{_pct(after[key][1])}")
    return lines


def update_baseline(path: str | Path, current: Mapping[Key, float | None], *,
                    default_tolerance: float = DEFAULT_TOLERANCE, suite: Mapping[str, Any] | None = None,
                    spread: Mapping[Key, float] | None = None) -> list[str]:
    """Rewrite the baseline at ``path`` from ``current``; returns changes. Per-entry tolerances are kept,
    except that ``spread`` (from :func:`spread_tolerances`) sets those of multi-seed entries."""
    path = Path(path)
    old = load_baseline(path) if path.exists() else None
    tolerances = {k: tol for k, (_, tol) in baseline_values(old).items()} if old else {}
    tolerances.update(spread or {})
    new = make_baseline(current, tolerances=tolerances, default_tolerance=default_tolerance, suite=suite)
    write_atomically(path, (json.dumps(new, indent=1) + "\n").encode())
    return baseline_changes(old, new)
