"""Wall-time estimates for a sweep from recorded timings (``run --dry-run``)."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Iterable, Sequence

from zslbench.records import RunSpec, record_path


def _setting_key(setting: object) -> str:
    return json.dumps(setting or {}, sort_keys=True)


def recorded_seconds(results_dir: Path) -> dict[tuple[str, str, str | None], list[tuple[int | None, str, float]]]:
    """(method_version, data setting as JSON, total_seconds) of every ok record under ``results_dir/runs``,
    keyed by (dataset, method, profile)."""
    out: dict[tuple[str, str, str | None], list[tuple[int | None, str, float]]] = {}
    for path in sorted(Path(results_dir).glob("runs/*/*/*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            seconds = float(rec["timing"]["total_seconds"])
            spec = rec["spec"]
            key = (str(spec["dataset"]["name"]), str(spec["method"]), spec.get("profile"))
            version = spec.get("method_version")
            setting = _setting_key(spec.get("setting"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if rec.get("status") == "ok":
            out.setdefault(key, []).append((version, setting, seconds))
    return out


def estimate(specs: Sequence[RunSpec], results_dirs: Iterable[Path]) -> tuple[float, int, int, int, int]:
    """(estimated seconds run one after another, specs with an estimate, specs without, estimates taken
    from records of another version of the method, estimates taken from records of another data setting).

    A spec's own record gives its time; otherwise the median of the ok records of the same dataset,
    method and profile under any of ``results_dirs``, preferring the same version and data setting, then
    the same version with any setting (a reduced sweep setting then borrows full-data timings: usually an
    overestimate), then the same setting of any version (a new version may cost more or less), then any.
    """
    recorded: dict[tuple[str, str, str | None], list[tuple[int | None, str, float]]] = {}
    dirs = list(dict.fromkeys(Path(d) for d in results_dirs))
    for d in dirs:
        for key, values in recorded_seconds(d).items():
            recorded.setdefault(key, []).extend(values)
    total, known, unknown, other_version, other_setting = 0.0, 0, 0, 0, 0
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
        if own is None:
            values = recorded.get((spec.dataset_name, spec.method, spec.profile), [])
            setting = _setting_key(spec.setting)
            for same_version, same_setting in ((True, True), (True, False), (False, True), (False, False)):
                match = [sec for v, st, sec in values
                         if (v == spec.method_version or not same_version) and (st == setting or not same_setting)]
                if match:
                    own = statistics.median(match)
                    other_version += not same_version
                    other_setting += not same_setting
                    break
        if own is None:
            unknown += 1
        else:
            known += 1
            total += own
    return total, known, unknown, other_version, other_setting


def format_hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def print_estimate(specs: Sequence[RunSpec], todo: Sequence[RunSpec], dirs: Sequence[Path], jobs: int) -> None:
    """Print the estimated wall time of all planned runs and of those still to make, from recorded timings."""
    jobs = max(1, jobs)
    for label, subset in ((f"all {len(specs)} planned runs", specs), (f"the {len(todo)} runs to make now", todo)):
        seconds, known, unknown, other_version, other_setting = estimate(subset, dirs)
        extra = f", {other_version} from another version of the method" if other_version else ""
        extra += f", {other_setting} from another data setting" if other_setting else ""
        extra += f"; {unknown} without a recorded timing" if unknown else ""
        print(f"estimated wall time of {label}: {format_hours(seconds / jobs)} at --jobs {jobs} "
              f"on {os.cpu_count()} CPUs (recorded run times of {known} of them{extra})")
