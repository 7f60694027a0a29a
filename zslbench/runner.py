"""One run: spec -> (select on validation) -> fit on trainval -> score -> metrics -> record on disk.

Scoring a fitted method is :mod:`zslbench.evaluation`; the record's provenance is :mod:`zslbench.provenance`;
the hyper-parameters of a run are :mod:`zslbench.hparams`.

Model selection (hyper-parameter trials, the values of :func:`~zslbench.hparams.validation_grid` and the
calibration offset gamma) uses the validation split only; the final model is refitted on trainval and
tested once. What the ``paper`` procedure changes is its
:class:`~zslbench.protocol.Procedure` object; its records are labelled.
"""

from __future__ import annotations

import itertools
import logging
import time
import traceback
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from zslbench.data.dataset import Dataset, dataset_layout_sha256
from zslbench.evaluation import SCORE_CHUNK, Evaluation, evaluate_method, fit_progress, score_split
from zslbench.hparams import resolve_hparams, trial_candidates, validation_grid
from zslbench.protocol import (
    OBJECTIVES,
    PROCEDURES,
    Setting,
    Split,
    apply_setting,
    procedure,
    test_split,
    train_view,
    validation_split,
    without_family,
)
from zslbench.provenance import PeakMemory, cpu_context, git_revision, provenance_static
from zslbench.records import RunSpec, new_record, record_path, write_record
from zslbench.registry import METHODS, RegistryError
from zslbench.torch_runtime import torch_threads

__all__ = [  # the evaluation, provenance and hyper-parameter names are re-exported for existing callers
    "OBJECTIVES", "PROCEDURES", "SCORE_CHUNK", "Evaluation", "PeakMemory", "cpu_context", "evaluate_method",
    "execute", "fit_progress", "git_revision", "provenance_static", "resolve_hparams", "run", "score_split",
    "trial_candidates",
]

log = logging.getLogger(__name__)

CURVE_POINTS = 200
"""Points of the seen-unseen curve kept in a record."""


def _downsample_curve(curve, n: int = CURVE_POINTS) -> dict[str, list[float]]:
    idx = np.unique(np.linspace(0, len(curve.seen) - 1, min(n, len(curve.seen))).round().astype(int))
    return {"seen": curve.seen[idx].round(6).tolist(), "unseen": curve.unseen[idx].round(6).tolist()}


# --------------------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------------------


def _base_classifier(ds: Dataset, split: Split, spec: RunSpec, *, device: str, cache_dir: Path | None):
    """The base classifier of an image-free run on ``split``.

    The spec's procedure may fix settings per split (:meth:`Procedure.base_classifier_overrides`: the
    paper procedure's raw rows on both splits, and on the test split the epoch with the best test-seen
    accuracy); test-seen images are passed only when the settings select on them, never on validation.
    """
    from zslbench.base_classifier import BaseClassifierSettings, get_base_classifier

    settings = BaseClassifierSettings(**(spec.base_classifier or {}))
    overrides = procedure(spec.procedure).base_classifier_overrides(split.kind)
    settings = replace(settings, **overrides)
    test_seen = None
    if overrides.get("selection") == "test_seen":  # only a procedure hands test images to the trainer
        test_seen = (ds.features[split.eval_seen], ds.labels[split.eval_seen])
    return get_base_classifier(ds, split, settings=settings, seed=spec.seed, device=device,
                               cache_dir=cache_dir, test_seen=test_seen)


def execute(spec: RunSpec, ds: Dataset, *, device: str = "cpu", cache_dir: Path | None = None,
            parallel_splits: bool = False) -> dict[str, Any]:
    """Run ``spec`` on the loaded dataset and return the record's result fields (no I/O).

    With ``parallel_splits`` and a single trial (nothing to select before the final fit), the validation
    fit runs in a second process while this one makes the final fit, each with one torch thread: the
    numbers are those of a sequential run with ``ZSLBENCH_THREADS=1``.
    """
    cls = METHODS.get(spec.method)
    proc = procedure(spec.procedure)
    objective = spec.search.get("objective", "gzsl_h")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown search objective {objective!r} (known: {OBJECTIVES})")
    setting = Setting(**spec.setting)
    image_free = cls.access == "image_free"
    info = {"dataset": ds.name, "descriptor_id": ds.identity.descriptor_id, "procedure": spec.procedure}
    val = apply_setting(ds, validation_split(ds), setting, spec.seed, image_free=image_free)
    test = apply_setting(ds, test_split(ds), setting, spec.seed, image_free=image_free)
    candidates = trial_candidates(spec)
    grid = validation_grid(spec)
    parallel = parallel_splits and len(candidates) == 1 and not grid

    # 1. selection on the validation split: hyper-parameter trials, then gamma
    t0 = time.perf_counter()
    val_base = _base_classifier(ds, val, spec, device=device, cache_dir=cache_dir)[0] if image_free else None
    val_info = {**info, "split": "validation"}
    pending = None
    trials = []
    if parallel:  # the final fit's settings are known: start the validation fit beside it
        pending = _split_executor().submit(_validation_trial, cls, candidates[0], ds, val, val_base,
                                           [spec.seed, 1, 0], val_info, device)
    else:
        for t, trial_hp in enumerate(candidates):
            for hp, ev, _ in _grid_evaluations(cls, trial_hp, grid, ds, val, val_base, [spec.seed, 1, t],
                                            val_info, device):
                trials.append((ev.metrics()[objective], hp, ev))
                log.info("%s trial %d%s: validation %s = %.4f", spec.describe(), t,
                         "".join(f" {k}={hp[k]}" for k in grid), objective, trials[-1][0])
    val_seconds = time.perf_counter() - t0

    # 2. the final fit on trainval, tested once
    best_hp = candidates[0] if parallel else max(trials, key=lambda r: r[0])[1]
    with torch_threads(1 if parallel else None):
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
    if pending is not None:
        val_ev, val_seconds = pending.result()
        trials = [(val_ev.metrics()[objective], best_hp, val_ev)]
    best_score, best_hp, best_ev = max(trials, key=lambda r: r[0])
    for name in grid_edges(grid, best_hp):
        log.warning("%s: validation chose %s=%s, the edge of its grid %s; the best value may lie beyond it",
                    spec.describe(), name, best_hp[name], list(grid[name]))
    gamma = best_ev.curve().best_gamma()
    validation = {
        "objective": objective,
        "score": best_score,
        "metrics": best_ev.metrics(gamma),
        "trials": [{"hparams": hp, "score": s} for s, hp, _ in trials],
        "seconds": val_seconds,
    }
    ev = score_split(method, ds, test)
    metrics = ev.metrics(gamma)
    uses_test = proc.uses_test_data(cls.access)
    timing = {"fit_seconds": fit_seconds, "score_seconds": ev.score_seconds}
    if parallel:
        timing["parallel_splits"] = True
    return {
        "selected_hparams": best_hp,
        "validation": validation,
        "metrics": metrics,
        "per_class": ev.per_class(ds.class_names),
        "curve": _downsample_curve(ev.curve()),
        "timing": timing,
        "base_classifier": base_info,
        "method_info": method.record_info(),
        "uses_test_data_for_selection": uses_test,
    }


def grid_edges(grid: dict[str, tuple[Any, ...]], chosen: dict[str, Any]) -> list[str]:
    """Names of numeric validation-grid parameters (three or more values) whose chosen value is the grid's
    smallest or largest."""
    return [k for k, values in grid.items()
            if len(values) > 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            and chosen.get(k) in (min(values), max(values))]


def _grid_evaluations(cls, hp, grid, ds, split, base, rng_seed, info, device) -> Iterator[tuple[dict, Evaluation, Any]]:
    """(hyper-parameters, evaluation on ``split``, fitted method) of trial ``hp`` and of each of its ``grid``
    variants (a refitted method is the same object, changed in place).

    All use the trial's rng seed. The variants are refits of the trial's fit when the method can change
    every grid name in ``refit``, fresh fits otherwise.
    """
    method = cls(device=device, **hp)
    yield hp, evaluate_method(method, ds, split, base=base, rng=np.random.default_rng(rng_seed), info=info), method
    refit = set(grid) <= cls.refit_params
    for values in itertools.product(*grid.values()):
        changes = dict(zip(grid, values))
        if all(hp[k] == v for k, v in changes.items()):
            continue
        if refit:
            method.refit(**changes)
            yield hp | changes, score_split(method, ds, split), method
        else:
            other = cls(device=device, **(hp | changes))
            yield hp | changes, evaluate_method(other, ds, split, base=base, rng=np.random.default_rng(rng_seed),
                                                info=info), other


def _validation_trial(cls, hp, ds, split, base, rng_seed, info, device) -> tuple[Evaluation, float]:
    """Worker side of ``parallel_splits``: one validation trial with one torch thread, no progress output.

    Returns the evaluation and its wall seconds.
    """
    import os

    import torch

    from zslbench.progress import PROGRESS_ENV

    os.environ[PROGRESS_ENV] = "0"
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ev = evaluate_method(cls(device=device, **hp), ds, split, base=base, rng=np.random.default_rng(rng_seed),
                         info=info)
    return ev, time.perf_counter() - t0


def _split_executor():
    """The one-worker process pool of ``parallel_splits`` (loky's, kept alive between runs)."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=1, timeout=300)


def run(
    spec: RunSpec,
    *,
    results_dir: Path,
    data_root: Path | None = None,
    device: str = "cpu",
    cache_dir: Path | None = None,
    embeddings_dir: Path | None = None,
    parallel_splits: bool = False,
) -> dict[str, Any]:
    """Run one spec and write its record atomically (``ok`` or ``failed``). Returns the record.

    A failure inside the run is recorded with its traceback and does not raise; KeyboardInterrupt does
    raise, and leaves no record (the write only happens once the run is complete). ``parallel_splits``:
    see :func:`execute` (the record's ``cpu_seconds`` and peak memory are then this process's only).
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
            if ds.identity.to_json() != without_family(spec.dataset):
                raise RuntimeError(
                    f"dataset {spec.dataset_name} changed since the run was planned (checksums differ); "
                    "re-plan the sweep"
                )
            layout = dataset_layout_sha256(ds)
            result = execute(spec, ds, device=device, cache_dir=cache_dir, parallel_splits=parallel_splits)
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


def _check_metric_ranges(record: dict[str, Any]) -> None:
    """Raise ValueError when a metric (other than cs_gamma) is not a finite number in [0, 1]."""
    for key, value in (record.get("metrics") or {}).items():
        if key == "cs_gamma":
            continue
        if not isinstance(value, (int, float)) or not (0.0 <= value <= 1.0):
            raise ValueError(f"metric {key} = {value!r} outside [0, 1] in run {record['run_id']}")
