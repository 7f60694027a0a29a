"""Fixed, made-up run records for the reporting tests (no method is run; every number is chosen here).

Records are built with the runner's builder (:func:`zslbench.records.new_record`, ``method_meta`` from
the registered method class) and checked with :func:`zslbench.records.record_problem`.

:func:`write_fixture_results` writes a results directory in the record schema (schema_version 1) with:

- methods icis, conse, costa, ridge_v2s and the ablation variants icis_mlp, icis_cosine;
- datasets "CUB" and "AWA2" (made-up numbers under real dataset names, so that published rows line up)
  and "synth-tiny" (``synthetic: true``);
- 3 seeds per cell, with seed offsets so that std is not zero;
- a cell whose runs all failed (costa on AWA2), a cell with 1 failed run of 3 (costa on synth-tiny),
  a missing cell (ridge_v2s never ran on AWA2), a method with one dataset only (icis_cosine);
- a duplicate file of one run (same run_id), the same spec under a second run_id, a record with
  schema_version 2, a second git revision (ridge_v2s on synth-tiny, seed 2);
- paper-procedure runs of icis on CUB, and data-scarcity runs (seen_fraction, images_per_class) of icis
  and conse on synth-tiny, with curves and per-class accuracies for the plots.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.records import SCHEMA_VERSION, new_record, record_problem
from zslbench.registry import METHODS

SEEDS = (0, 1, 2)
SEED_OFFSETS = {0: -0.010, 1: 0.0, 2: 0.012, 3: 0.02}

# (zsl_top1, gzsl_seen, gzsl_unseen) per method and dataset, fractions in [0, 1].
BASE: dict[str, dict[str, tuple[float, float, float]]] = {
    "icis": {"CUB": (0.585, 0.712, 0.441), "AWA2": (0.633, 0.905, 0.342), "synth-tiny": (0.810, 0.880, 0.700)},
    "conse": {"CUB": (0.402, 0.861, 0.012), "AWA2": (0.431, 0.950, 0.031), "synth-tiny": (0.720, 0.930, 0.150)},
    "costa": {"CUB": (0.305, 0.870, 0.0), "AWA2": (0.402, 0.958, 0.0), "synth-tiny": (0.610, 0.940, 0.050)},
    "ridge_v2s": {"CUB": (0.512, 0.650, 0.221), "synth-tiny": (0.810, 0.850, 0.600)},
    "icis_mlp": {"CUB": (0.401, 0.880, 0.0), "AWA2": (0.520, 0.940, 0.010)},
    "icis_cosine": {"CUB": (0.530, 0.680, 0.380)},
}
ACCESS = {"ridge_v2s": "inductive"}
FAILED_CELLS = {("costa", "AWA2"): SEEDS, ("costa", "synth-tiny"): (2,)}


def harmonic(s: float, u: float) -> float:
    return 0.0 if s + u == 0 else 2 * s * u / (s + u)


def _clip(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def make_metrics(zsl: float, seen: float, unseen: float) -> dict[str, float]:
    """A consistent metrics block (H from S and U; calibrated numbers trade seen for unseen)."""
    s_cs, u_cs = _clip(seen - 0.08), _clip(unseen + 0.10)
    return {
        "zsl_top1": zsl, "gzsl_seen": seen, "gzsl_unseen": unseen, "gzsl_h": harmonic(seen, unseen),
        "gzsl_seen_cs": s_cs, "gzsl_unseen_cs": u_cs, "gzsl_h_cs": harmonic(s_cs, u_cs),
        "cs_gamma": round(-0.5 + seen - unseen, 6), "ausuc": _clip(0.6 * zsl * seen + 0.05),
    }


def make_curve(seen: float, unseen: float, points: int = 40) -> dict[str, list[float]]:
    """A monotone seen-unseen curve from (0, ~seen+) to (~unseen+, 0) passing near (unseen, seen)."""
    s_max, u_max = _clip(seen + 0.05), _clip(max(unseen + 0.3, 0.2))
    t = np.linspace(0.0, 1.0, points)
    return {"seen": [round(float(v), 6) for v in s_max * np.sqrt(1 - t**2)],
            "unseen": [round(float(v), 6) for v in u_max * t]}


def make_record(
    method: str, dataset: str, seed: int, metrics: dict[str, float] | None, *,
    status: str = "ok", setting: dict[str, Any] | None = None, procedure: str = "validation",
    preset: str | None = None, git_revision: str = "abc1234", schema_version: int = 1,
    run_id: str | None = None,
) -> dict[str, Any]:
    """One record in the runner's schema."""
    synthetic = dataset.startswith("synth-")
    spec = {
        "method": method, "method_version": 1, "access": ACCESS.get(method, "image_free"),
        "dataset": {"name": dataset, "split_version": "synthetic-v1" if synthetic else "PS-v2.0",
                    "feature_id": "synthetic" if synthetic else "res101_finetuned", "descriptor_id": "att",
                    "checksums": {"generator" if synthetic else "att_splits.mat": "0" * 64}},
        "setting": {"seen_fraction": 1.0, "images_per_class": None, "descriptor_dims": None, **(setting or {})},
        "procedure": procedure, "preset": preset, "seed": seed, "hparams": {},
        "search": {"trials": 4, "objective": "gzsl_h"},
    }
    if run_id is None:
        run_id = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    rng = np.random.default_rng(int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16))
    rec = new_record(spec, run_id=run_id, method_meta=_meta(method))  # the runner's builder
    rec["schema_version"], rec["status"] = schema_version, status
    rec.update({
        "selected_hparams": {}, "validation": {"objective": "gzsl_h", "score": 0.5, "trials": []},
        "metrics": None, "per_class": None, "curve": None,
        "timing": {"fit_seconds": 1.0, "score_seconds": 0.1, "total_seconds": 1.2, "peak_memory_mb": 100.0},
        "base_classifier": None,
        "provenance": {"zslbench_version": "0.1.0", "git_revision": git_revision, "python": "3.11",
                       "libraries": {}, "device": "cpu", "created": "2025-01-01T00:00:00Z"},
    })
    assert rec["synthetic"] == synthetic
    if status == "failed":
        rec["error"] = {"type": "RuntimeError", "message": "loss became NaN", "traceback": "..."}
        assert schema_version != SCHEMA_VERSION or record_problem(rec) is None, record_problem(rec)
        return rec
    assert metrics is not None
    rec["metrics"] = metrics
    n_unseen, n_seen = (4, 8) if synthetic else (10, 30)
    rec["per_class"] = {
        "unseen_classes": [f"u{i}" for i in range(n_unseen)], "seen_classes": [f"s{i}" for i in range(n_seen)],
        "zsl": [_clip(v) for v in rng.normal(metrics["zsl_top1"], 0.12, n_unseen)],
        "gzsl_unseen": [_clip(v) for v in rng.normal(metrics["gzsl_unseen"], 0.10, n_unseen)],
        "gzsl_seen": [_clip(v) for v in rng.normal(metrics["gzsl_seen"], 0.08, n_seen)],
    }
    rec["curve"] = make_curve(metrics["gzsl_seen"], metrics["gzsl_unseen"])
    assert schema_version != SCHEMA_VERSION or record_problem(rec) is None, record_problem(rec)
    return rec


def _meta(method: str) -> dict[str, Any] | None:
    """The ``method_meta`` the runner would write for a registered method (None for a made-up one)."""
    return METHODS.get(method).report_meta() if method in METHODS else None


def write_record(root: Path, rec: dict[str, Any], name: str | None = None) -> Path:
    spec = rec["spec"]
    path = Path(root) / "runs" / spec["dataset"]["name"] / spec["method"] / f"{name or rec['run_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=1))
    return path


def seeded_metrics(base: tuple[float, float, float], seed: int, scale: float = 1.0) -> dict[str, float]:
    d = SEED_OFFSETS[seed] * scale
    zsl, seen, unseen = base
    return make_metrics(_clip(zsl + d), _clip(seen - d / 2), _clip(unseen + d) if unseen else 0.0)


def write_fixture_results(root: str | Path) -> dict[str, Any]:
    """Write the fixture results directory under ``root``; returns what was written for assertions."""
    root = Path(root)
    written: dict[str, Any] = {"ok": 0, "failed": 0, "paths": {}}
    for method, per_ds in BASE.items():
        for dataset, base in per_ds.items():
            for seed in SEEDS:
                if seed in FAILED_CELLS.get((method, dataset), ()):
                    rec = make_record(method, dataset, seed, None, status="failed")
                    written["failed"] += 1
                else:
                    rev = "def5678" if (method, dataset, seed) == ("ridge_v2s", "synth-tiny", 2) else "abc1234"
                    rec = make_record(method, dataset, seed, seeded_metrics(base, seed), git_revision=rev)
                    written["ok"] += 1
                written["paths"][(method, dataset, seed)] = write_record(root, rec)
    # A duplicate file of icis/CUB/seed 0 (same run_id) and the same spec as conse/CUB/seed 1 under another id.
    dup = json.loads(written["paths"][("icis", "CUB", 0)].read_text())
    dup["metrics"] = make_metrics(0.99, 0.99, 0.99)  # would move the mean if it were merged
    written["duplicate_run_id"] = write_record(root, dup, name="zz-duplicate-of-icis-cub-0")
    copy = json.loads(written["paths"][("conse", "CUB", 1)].read_text())
    copy["run_id"] = "ffffffffffffffff"
    copy["metrics"] = make_metrics(0.0, 0.0, 0.0)
    written["duplicate_spec"] = write_record(root, copy)
    # A record of a future schema (seed 3 of icis on AWA2).
    future = make_record("icis", "AWA2", 3, seeded_metrics(BASE["icis"]["AWA2"], 3), schema_version=2)
    written["schema_mismatch"] = write_record(root, future)
    # Paper procedure (test-set selection, labelled): icis on CUB, 2 seeds.
    for seed in (0, 1):
        write_record(root, make_record("icis", "CUB", seed, seeded_metrics((0.606, 0.737, 0.458), seed),
                                       procedure="paper", preset="paper"))
    # Data scarcity on synth-tiny.
    for method, slope in (("icis", 0.25), ("conse", 0.45)):
        zsl, seen, unseen = BASE[method]["synth-tiny"]
        for frac in (0.25, 0.5, 0.75):
            for seed in SEEDS:
                loss = slope * (1 - frac)
                m = seeded_metrics((zsl - loss, seen, max(unseen - loss, 0.01)), seed, scale=2.0)
                write_record(root, make_record(method, "synth-tiny", seed, m, setting={"seen_fraction": frac}))
        for ipc in (2, 5, 10):
            for seed in SEEDS:
                loss = slope * 0.6 / ipc
                m = seeded_metrics((zsl - loss, seen - loss / 2, max(unseen - loss, 0.01)), seed, scale=2.0)
                write_record(root, make_record(method, "synth-tiny", seed, m, setting={"images_per_class": ipc}))
    return written


SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE_ENV = "ZSLBENCH_UPDATE_SNAPSHOTS"


def assert_snapshot(name: str, text: str) -> None:
    """Compare ``text`` with ``tests/snapshots/<name>``; ``ZSLBENCH_UPDATE_SNAPSHOTS=1`` rewrites it."""
    import os

    path = SNAPSHOTS / name
    if os.environ.get(UPDATE_ENV) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        raise AssertionError(f"snapshot {path} is missing; create it with {UPDATE_ENV}=1")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            f"snapshot {name}", "rendered", n=1))
        raise AssertionError(f"output differs from {path} (regenerate with {UPDATE_ENV}=1 if intended):\n"
                             f"{diff[:4000]}")
