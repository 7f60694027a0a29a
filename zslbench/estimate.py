"""Wall-time estimates for a sweep from recorded timings (``run --dry-run``)."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Iterable, Sequence

from zslbench.records import RunSpec, record_path


def recorded_seconds(results_dir: Path) -> dict[tuple[str, str, str | None], list[tuple[int | None, float]]]:
    """(method_version, total_seconds) of every ok record under ``results_dir/runs``, keyed by (dataset,
    method, profile)."""
    out: dict[tuple[str, str, str | None], list[tuple[int | None, float]]] = {}
    for path in sorted(Path(results_dir).glob("runs/*/*/*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            seconds = float(rec["timing"]["total_seconds"])
            spec = rec["spec"]
            key = (str(spec["dataset"]["name"]), str(spec["method"]), spec.get("profile"))
            version = spec.get("method_version")
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if rec.get("status") == "ok":
            out.setdefault(key, []).append((version, seconds))
    return out


def estimate(specs: Sequence[RunSpec], results_dirs: Iterable[Path]) -> tuple[float, int, int, int]:
    """(estimated seconds run one after another, specs with an estimate, specs without, estimates taken
    from records of another version of the method).

    A spec's own record gives its time; otherwise the median of the ok records of the same dataset,
    method, version and profile under any of ``results_dirs``; failing that, of any version (a new
    version may cost more or less: counted in the last number).
    """
    recorded: dict[tuple[str, str, str | None], list[tuple[int | None, float]]] = {}
    dirs = list(dict.fromkeys(Path(d) for d in results_dirs))
    for d in dirs:
        for key, values in recorded_seconds(d).items():
            recorded.setdefault(key, []).extend(values)
    total, known, unknown, other_version = 0.0, 0, 0, 0
    for spec in specs:
        own = None
        for d in dirs:
            path = record_path(d, spec)
            if path.exists():
                try:
                    rec = json.loads(path.read_text(encoding="utf-8"))
                    if rec.get("status") == "ok":
                        own = float(rec["timing"]["total_seconds"])
                        break
                except (OSError, ValueError, KeyError, TypeError):
                    pass
        values = recorded.get((spec.dataset_name, spec.method, spec.profile), [])
        same = [s for v, s in values if v == spec.method_version]
        if own is None and (same or values):
            own = statistics.median(same or [s for _, s in values])
            other_version += not same
        if own is None:
            unknown += 1
        else:
            known += 1
            total += own
    return total, known, unknown, other_version


def format_hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def print_estimate(specs: Sequence[RunSpec], todo: Sequence[RunSpec], dirs: Sequence[Path], jobs: int) -> None:
    """Print the estimated wall time of all planned runs and of those still to make, from recorded timings."""
    jobs = max(1, jobs)
    for label, subset in ((f"all {len(specs)} planned runs", specs), (f"the {len(todo)} runs to make now", todo)):
        seconds, known, unknown, other_version = estimate(subset, dirs)
        extra = f", {other_version} from another version of the method" if other_version else ""
        extra += f"; {unknown} without a recorded timing" if unknown else ""
        print(f"estimated wall time of {label}: {format_hours(seconds / jobs)} at --jobs {jobs} "
              f"on {os.cpu_count()} CPUs (recorded run times of {known} of them{extra})")
