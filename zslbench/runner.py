"""One run: spec -> (select on validation) -> fit on trainval -> score -> metrics -> record on disk.

The harness, not the method, chooses candidates and takes the argmax:

- ZSL: ``scores(test_unseen images, unseen classes)``, argmax over unseen classes;
- GZSL: ``scores(test images, seen + unseen classes)``, reduced per image to a
  :class:`~zslbench.metrics.ScoreSummary`, from which uncalibrated and calibrated GZSL, the seen-unseen
  curve and AUSUC all follow.

Model selection (hyper-parameter trials and the calibration offset gamma) uses the validation split only;
the final model is refitted on trainval and tested once. The ``paper`` procedure reproduces published
selection that used test data (the base classifier's epoch on test-seen) and is labelled in the record.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import subprocess
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

import zslbench
from zslbench.config import family_of
from zslbench.data.dataset import Dataset, dataset_layout_sha256
from zslbench.method import Method, LinearClassifier, sample_hparams
from zslbench.metrics import (
    ScoreSummary,
    gzsl_metrics,
    per_class_accuracy,
    seen_unseen_curve,
)
from zslbench.protocol import Setting, Split, apply_setting, test_split, train_view, validation_split
from zslbench.records import RunSpec, new_record, record_path, write_record
from zslbench.registry import METHODS, RegistryError

log = logging.getLogger(__name__)

SCORE_CHUNK = 4096
"""Images scored per call to ``Method.scores``: bounds memory at SCORE_CHUNK x n_classes floats."""
CURVE_POINTS = 200
PROCEDURES = ("validation", "paper")
OBJECTIVES = ("gzsl_h", "zsl_top1")


# --------------------------------------------------------------------------------------------------
# Evaluation of a fitted method on one split
# --------------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """Metrics of a fitted method on a split's evaluation images.

    Attributes:
        zsl_pred: (m_u,) ZSL predictions for ``split.eval_unseen``.
        seen_summary / unseen_summary: GZSL score summaries of eval_seen / eval_unseen images.
        score_seconds: wall time spent in ``Method.scores``.
    """

    split: Split
    zsl_true: np.ndarray
    zsl_pred: np.ndarray
    seen_true: np.ndarray
    seen_summary: ScoreSummary
    unseen_summary: ScoreSummary
    score_seconds: float

    def metrics(self, gamma: float | None = None) -> dict[str, float]:
        """Uncalibrated metrics, plus calibrated ones (``*_cs``) when ``gamma`` is given."""
        zsl = per_class_accuracy(self.zsl_true, self.zsl_pred)
        g = gzsl_metrics(self.seen_summary, self.seen_true, self.unseen_summary, self.zsl_true)
        out = {
            "zsl_top1": float(zsl.mean()),
            "gzsl_seen": g.seen,
            "gzsl_unseen": g.unseen,
            "gzsl_h": g.h,
            "ausuc": self.curve().ausuc(),
        }
        if gamma is not None:
            c = gzsl_metrics(self.seen_summary, self.seen_true, self.unseen_summary, self.zsl_true, gamma)
            out.update(gzsl_seen_cs=c.seen, gzsl_unseen_cs=c.unseen, gzsl_h_cs=c.h, cs_gamma=float(gamma))
        return out

    def curve(self):
        return seen_unseen_curve(self.seen_summary, self.seen_true, self.unseen_summary, self.zsl_true)

    def per_class(self, class_names: tuple[str, ...]) -> dict[str, list]:
        zsl = per_class_accuracy(self.zsl_true, self.zsl_pred)
        g = gzsl_metrics(self.seen_summary, self.seen_true, self.unseen_summary, self.zsl_true)
        return {
            "unseen_classes": [class_names[c] for c in np.unique(self.zsl_true)],
            "seen_classes": [class_names[c] for c in np.unique(self.seen_true)],
            "zsl": zsl.tolist(),
            "gzsl_unseen": g.per_class_unseen.tolist(),
            "gzsl_seen": g.per_class_seen.tolist(),
        }


def _chunked_scores(method: Method, X: np.ndarray, classes: np.ndarray, reduce) -> list:
    out = []
    for start in range(0, X.shape[0], SCORE_CHUNK):
        s = np.asarray(method.scores(X[start:start + SCORE_CHUNK], classes))
        expected = (min(SCORE_CHUNK, X.shape[0] - start), len(classes))
        if s.shape != expected:
            raise ValueError(f"{method.name}.scores returned shape {s.shape}, expected {expected}")
        out.append(reduce(s))
    return out


def score_split(method: Method, ds: Dataset, split: Split) -> Evaluation:
    """Score a fitted method on a split's evaluation images (the harness picks candidates)."""
    t0 = time.perf_counter()
    unseen = split.unseen
    zsl_true = ds.labels[split.eval_unseen]
    X_unseen = ds.features[split.eval_unseen]

    def to_unseen_class(s: np.ndarray) -> np.ndarray:
        if not np.isfinite(s).all():
            raise ValueError(f"{method.name}.scores returned NaN or inf")
        return unseen[s.argmax(axis=1)]

    zsl_pred = np.concatenate(_chunked_scores(method, X_unseen, unseen, to_unseen_class) or [np.empty(0, int)])
    candidates = split.candidates
    is_seen = np.isin(candidates, split.seen)

    def summarise(X: np.ndarray) -> ScoreSummary:
        parts = _chunked_scores(method, X, candidates, lambda s: ScoreSummary.from_scores(s, candidates, is_seen))
        return ScoreSummary.concat(parts)

    seen_summary = summarise(ds.features[split.eval_seen])
    unseen_summary = summarise(X_unseen)
    return Evaluation(split, zsl_true, zsl_pred, ds.labels[split.eval_seen], seen_summary, unseen_summary,
                      time.perf_counter() - t0)


def evaluate_method(
    method: Method, ds: Dataset, split: Split, *, base: LinearClassifier | None = None,
    rng: np.random.Generator | None = None, info: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Fit ``method`` on the split's training view (as its access level allows), then score it."""
    view = train_view(ds, split, access=method.access, base=base, info=info)
    with fit_progress():
        method.fit(view, rng=rng if rng is not None else np.random.default_rng(0))
    return score_split(method, ds, split)


@contextmanager
def fit_progress() -> Iterator[None]:
    """Per-epoch progress of the fit inside the block starts timing here and is closed after it."""
    from zslbench import progress

    progress.mark_start()
    try:
        yield
    finally:
        progress.close_all()


# --------------------------------------------------------------------------------------------------
# Measuring a run
# --------------------------------------------------------------------------------------------------


class PeakMemory:
    """Peak resident memory (MiB) of this process while the block runs, sampled every 20 ms."""

    def __enter__(self) -> "PeakMemory":
        self.peak_mb = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, self._rss())

    @staticmethod
    def _rss() -> float:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except OSError:  # not Linux: the process high-water mark is the best we have
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss())


@lru_cache(maxsize=1)
def provenance_static() -> dict[str, Any]:
    import importlib.metadata as md

    libs = {}
    for name in ("numpy", "scipy", "scikit-learn", "torch", "pandas", "joblib", "h5py"):
        try:
            libs[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return {
        "zslbench_version": zslbench.__version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": libs,
    }


def git_revision() -> str | None:
    """HEAD of the checkout the package runs from, with "-dirty" when tracked files are modified."""
    root = Path(zslbench.__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def _downsample_curve(curve, n: int = CURVE_POINTS) -> dict[str, list[float]]:
    idx = np.unique(np.linspace(0, len(curve.seen) - 1, min(n, len(curve.seen))).round().astype(int))
    return {"seen": curve.seen[idx].round(6).tolist(), "unseen": curve.unseen[idx].round(6).tolist()}


# --------------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------------


def resolve_hparams(spec: RunSpec) -> dict[str, Any]:
    """Defaults <- preset <- the preset's overrides for the dataset's family <- fixed hparams of the spec.

    Unknown preset or hyper-parameter names raise.
    """
    cls = METHODS.get(spec.method)
    out = {k: p.default for k, p in cls.space.items()}
    if spec.preset is not None:
        if spec.preset not in cls.presets:
            raise ValueError(f"{spec.method} has no preset {spec.preset!r} (presets: {sorted(cls.presets)})")
        out.update(cls.presets[spec.preset])
        out.update(cls.presets_per_family.get(spec.preset, {}).get(family_of(spec.dataset_name), {}))
    unknown = sorted(set(spec.hparams) - set(cls.space))
    if unknown:
        raise ValueError(f"{spec.method}: unknown hyper-parameter(s) {unknown}; known: {sorted(cls.space)}")
    out.update(spec.hparams)
    return out


def trial_candidates(spec: RunSpec) -> list[dict[str, Any]]:
    """The hyper-parameter candidates of a run: trial 0 is the resolved defaults; further trials draw
    every searchable parameter that the spec does not fix, per name from the run seed."""
    cls = METHODS.get(spec.method)
    base = resolve_hparams(spec)
    trials = int(spec.search.get("trials", 1))
    free = {k: p for k, p in cls.space.items() if p.searchable and k not in spec.hparams}
    out = [base]
    for t in range(1, trials):
        out.append(base | sample_hparams(free, seed=spec.seed, trial=t))
    return out


def _base_classifier(ds: Dataset, split: Split, spec: RunSpec, *, device: str, cache_dir: Path | None):
    """The base classifier of an image-free run on ``split``.

    The paper procedure uses the authors' raw rows on both splits (so gamma is chosen and applied on the
    same representation), and on the test split keeps the epoch with the best test-seen accuracy, as
    their code does; the validation split never sees test images.
    """
    from zslbench.base_classifier import BaseClassifierSettings, get_base_classifier

    settings = BaseClassifierSettings(**(spec.base_classifier or {}))
    test_seen = None
    if spec.procedure == "paper":
        settings = replace(settings, center_rows=False)
        if split.kind == "test":
            settings = replace(settings, selection="test_seen")
            test_seen = (ds.features[split.eval_seen], ds.labels[split.eval_seen])
    return get_base_classifier(ds, split, settings=settings, seed=spec.seed, device=device,
                               cache_dir=cache_dir, test_seen=test_seen)


def execute(spec: RunSpec, ds: Dataset, *, device: str = "cpu", cache_dir: Path | None = None) -> dict[str, Any]:
    """Run ``spec`` on the loaded dataset and return the record's result fields (no I/O)."""
    cls = METHODS.get(spec.method)
    if spec.procedure not in PROCEDURES:
        raise ValueError(f"unknown procedure {spec.procedure!r} (known: {PROCEDURES})")
    objective = spec.search.get("objective", "gzsl_h")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown search objective {objective!r} (known: {OBJECTIVES})")
    setting = Setting(**spec.setting)
    image_free = cls.access == "image_free"
    info = {"dataset": ds.name, "descriptor_id": ds.identity.descriptor_id, "procedure": spec.procedure}
    val = apply_setting(ds, validation_split(ds), setting, spec.seed, image_free=image_free)
    test = apply_setting(ds, test_split(ds), setting, spec.seed, image_free=image_free)

    # 1. selection on the validation split: hyper-parameter trials, then gamma
    t0 = time.perf_counter()
    val_base = _base_classifier(ds, val, spec, device=device, cache_dir=cache_dir)[0] if image_free else None
    trials = []
    for t, hp in enumerate(trial_candidates(spec)):
        method = cls(device=device, **hp)
        ev = evaluate_method(method, ds, val, base=val_base, rng=np.random.default_rng([spec.seed, 1, t]),
                             info={**info, "split": "validation"})
        trials.append((ev.metrics()[objective], hp, ev))
        log.info("%s trial %d: validation %s = %.4f", spec.describe(), t, objective, trials[-1][0])
    best_score, best_hp, best_ev = max(trials, key=lambda r: r[0])
    gamma = best_ev.curve().best_gamma()
    validation = {
        "objective": objective,
        "score": best_score,
        "metrics": best_ev.metrics(gamma),
        "trials": [{"hparams": hp, "score": s} for s, hp, _ in trials],
        "seconds": time.perf_counter() - t0,
    }

    # 2. the final fit on trainval, tested once
    base_info = None
    test_base = None
    if image_free:
        test_base, base_info = _base_classifier(ds, test, spec, device=device, cache_dir=cache_dir)
    method = cls(device=device, **best_hp)
    t1 = time.perf_counter()
    view = train_view(ds, test, access=cls.access, base=test_base, info={**info, "split": "test"})
    with fit_progress():
        method.fit(view, rng=np.random.default_rng([spec.seed, 2]))
    fit_seconds = time.perf_counter() - t1
    ev = score_split(method, ds, test)
    metrics = ev.metrics(gamma)
    uses_test = spec.procedure == "paper" and image_free
    return {
        "selected_hparams": best_hp,
        "validation": validation,
        "metrics": metrics,
        "per_class": ev.per_class(ds.class_names),
        "curve": _downsample_curve(ev.curve()),
        "timing": {"fit_seconds": fit_seconds, "score_seconds": ev.score_seconds},
        "base_classifier": base_info,
        "method_info": method.record_info(),
        "uses_test_data_for_selection": uses_test,
    }


def run(
    spec: RunSpec,
    *,
    results_dir: Path,
    data_root: Path | None = None,
    device: str = "cpu",
    cache_dir: Path | None = None,
    embeddings_dir: Path | None = None,
) -> dict[str, Any]:
    """Run one spec and write its record atomically (``ok`` or ``failed``). Returns the record.

    A failure inside the run is recorded with its traceback and does not raise; KeyboardInterrupt does
    raise, and leaves no record (the write only happens once the run is complete).
    """
    from zslbench.data.sources import load_dataset

    results_dir = Path(results_dir)
    started, cpu_started = time.perf_counter(), time.process_time()
    layout: str | None = None
    try:
        meta = METHODS.get(spec.method).report_meta()
    except RegistryError:  # the run fails below, with the registry's message
        meta = None
    record = new_record(spec, method_meta=meta)
    with PeakMemory() as peak:
        try:
            ds = load_dataset(spec.dataset_name, data_root=data_root, features=spec.dataset["feature_id"],
                              descriptors=spec.dataset["descriptor_id"], embeddings_dir=embeddings_dir)
            if ds.identity.to_json() != dict(spec.dataset):
                raise RuntimeError(
                    f"dataset {spec.dataset_name} changed since the run was planned (checksums differ); "
                    "re-plan the sweep"
                )
            layout = dataset_layout_sha256(ds)
            result = execute(spec, ds, device=device, cache_dir=cache_dir)
            _check_metric_ranges({"run_id": spec.run_id, **result})  # a bad metric fails this run only
            record.update(result)
            record["status"] = "ok"
        except Exception as exc:  # one failed run must not stop a sweep: record it
            log.error("%s failed: %s", spec.describe(), exc)
            record["error"] = {"type": type(exc).__name__, "message": str(exc),
                               "traceback": traceback.format_exc()}
    timing = record.setdefault("timing", {})
    timing["total_seconds"] = time.perf_counter() - started
    timing["peak_memory_mb"] = peak.peak_mb
    timing.update(cpu_context(time.process_time() - cpu_started))
    record["provenance"] = {**provenance_static(), "device": device, "dataset_layout_sha256": layout,
                            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_record(record_path(results_dir, spec), record)
    return record


def cpu_context(cpu_seconds: float) -> dict[str, Any]:
    """What a run's wall times mean on this machine: its CPU time, thread count and the machine's load.

    ``cpu_seconds`` is the CPU time of the process that ran the spec (all its threads). With
    ``torch_threads`` threads and no contention, total_seconds is roughly cpu_seconds / torch_threads;
    a much larger wall time, or a ``load_average`` above ``cpu_count``, means the run shared the CPU
    (parallel jobs) and its wall times overstate its cost.
    """
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu_seconds": cpu_seconds, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_average": load}


def _check_metric_ranges(record: dict[str, Any]) -> None:
    """Raise ValueError when a metric (other than cs_gamma) is not a finite number in [0, 1]."""
    for key, value in (record.get("metrics") or {}).items():
        if key == "cs_gamma":
            continue
        if not isinstance(value, (int, float)) or not (0.0 <= value <= 1.0):
            raise ValueError(f"metric {key} = {value!r} outside [0, 1] in run {record['run_id']}")
