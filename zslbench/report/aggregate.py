"""Run records on disk -> a tidy DataFrame (one row per run and metric) -> summaries over seeds.

Nothing here formats a number: accuracies stay floats in [0, 1] until a renderer turns them into text.

What is *not* silently merged:

- failed records are excluded from the numbers and counted (``Results.failed`` keeps one row per failed
  run, so a table can say why a cell is empty);
- the same ``run_id`` in two files, or the same spec under two run ids, is reported as an :class:`Issue`
  and only the first file (in path order) is used;
- a ``schema_version`` other than :data:`SCHEMA_VERSION`, unreadable JSON and records missing required
  fields are reported and skipped;
- runs that would land in the same table cell but differ in anything else than the seed (method version,
  search budget, data checksums, ...) are reported; only the newest configuration is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from zslbench.records import SCHEMA_VERSION, canonical_json, content_problem, method_meta, record_files

log = logging.getLogger(__name__)

METRICS: tuple[str, ...] = (
    "zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h",
    "gzsl_seen_cs", "gzsl_unseen_cs", "gzsl_h_cs", "cs_gamma", "ausuc",
)
"""Metric keys of a record's ``metrics`` (all but ``cs_gamma`` are accuracies / areas in [0, 1])."""

SETTING_COLUMNS: tuple[str, ...] = ("seen_fraction", "images_per_class", "descriptor_dims")

CONFIG_COLUMNS: tuple[str, ...] = (
    "method", "hparams", "preset", "procedure", "dataset", "feature_id", "descriptor_id",
    *SETTING_COLUMNS, "synthetic",
)
"""What makes a table cell (with ``metric``): runs that agree on these are seeds of the same cell."""

RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "method", "method_version", "access", "dataset", "split_version", "feature_id",
    "descriptor_id", *SETTING_COLUMNS, "procedure", "preset", "seed", "hparams", "selected_hparams",
    "config_id", "synthetic", "git_revision", "created", "path",
)
TIDY_COLUMNS: tuple[str, ...] = (
    "run_id", "method", "method_version", "access", "dataset", "feature_id", "descriptor_id",
    *SETTING_COLUMNS, "procedure", "preset", "seed", "hparams", "config_id", "metric", "value",
    "synthetic", "git_revision",
)


@dataclass(frozen=True)
class Issue:
    """Something wrong with the records that a reader of the numbers must know about.

    Attributes:
        kind: "unreadable", "invalid", "schema_version", "duplicate_run_id", "duplicate_spec",
            "mixed_config", "misplaced" or "other_data" (made on another instance of the dataset).
        path: the record file concerned (the one that was skipped, where one was).
        message: a sentence saying what is wrong and what was done about it.
        run_id: the record's run id, where known.
    """

    kind: str
    path: str
    message: str
    run_id: str | None = None

    def __str__(self) -> str:
        return f"[{self.kind}] {self.path}: {self.message}"


@dataclass
class Results:
    """Everything read from a results directory.

    Attributes:
        tidy: one row per ok run and metric (:data:`TIDY_COLUMNS`), values in [0, 1] (cs_gamma: an offset).
        runs: one row per ok run (:data:`RUN_COLUMNS`).
        failed: one row per failed run (:data:`RUN_COLUMNS` plus ``error_type``, ``error_message``).
        issues: duplicates, schema mismatches, unreadable files, mixed configurations.
        records: run_id -> the full record (ok runs only), for curves and per-class accuracies.
        root: the results directory, if read from disk.
        method_meta: method -> its records' ``method_meta`` (the newest record's; methods whose records
            have none are left out; see :meth:`meta`).
    """

    tidy: pd.DataFrame
    runs: pd.DataFrame
    failed: pd.DataFrame
    issues: list[Issue] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    root: str | None = None
    method_meta: dict[str, dict[str, Any]] = field(default_factory=dict)

    def meta(self, method: str) -> dict[str, Any]:
        """What the records say about ``method`` (label, family, table order ...); a method without a
        record, or whose records predate ``method_meta``, gets :data:`zslbench.records.NEUTRAL_METHOD_META`."""
        return self.method_meta.get(method) or method_meta({"spec": {"method": method}})

    def label(self, method: str) -> str:
        return str(self.meta(method)["label"])

    @property
    def n_failed(self) -> int:
        return int(len(self.failed))

    def select(self, **conditions: Any) -> "Results":
        """A copy keeping only runs whose columns equal the given values (None matches a missing value)."""
        keep_runs = _mask(self.runs, conditions)
        keep_failed = _mask(self.failed, conditions)
        run_ids = set(self.runs.loc[keep_runs, "run_id"])
        return Results(
            tidy=self.tidy[self.tidy["run_id"].isin(run_ids)].reset_index(drop=True),
            runs=self.runs[keep_runs].reset_index(drop=True),
            failed=self.failed[keep_failed].reset_index(drop=True),
            issues=list(self.issues),
            records={k: v for k, v in self.records.items() if k in run_ids},
            root=self.root,
            method_meta=self.method_meta,
        )

    def default_setting(self) -> "Results":
        """Only full-data runs (every seen class, every image, every descriptor dimension)."""
        return self.select(seen_fraction=1.0, images_per_class=None, descriptor_dims=None)


def _mask(df: pd.DataFrame, conditions: Mapping[str, Any]) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for col, value in conditions.items():
        if col not in df.columns:
            raise KeyError(f"unknown run column {col!r} (known: {', '.join(df.columns)})")
        mask &= df[col].isna() if value is None else (df[col] == value)
    return mask


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def iter_record_files(results_dir: str | Path) -> list[Path]:
    """Every record file under ``results_dir`` (:func:`zslbench.records.record_files`); the folder must exist."""
    if not Path(results_dir).is_dir():
        raise FileNotFoundError(f"results directory {str(results_dir)!r} does not exist")
    return record_files(results_dir)


def read_records(results_dir: str | Path) -> tuple[list[tuple[str, dict[str, Any]]], list[Issue]]:
    """Parse every record file; unreadable files become issues. Returns ([(path, record)], issues)."""
    records: list[tuple[str, dict[str, Any]]] = []
    issues: list[Issue] = []
    for path in iter_record_files(results_dir):
        try:
            with open(path, encoding="utf-8") as fh:
                rec = json.load(fh)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            issues.append(Issue("unreadable", str(path), f"cannot be parsed as JSON ({exc}); skipped"))
            continue
        if not isinstance(rec, dict):
            issues.append(Issue("invalid", str(path), "is not a JSON object; skipped"))
            continue
        records.append((str(path), rec))
    return records, issues


def load_results(results_dir: str | Path) -> Results:
    """Read, check and tidy every record under ``results_dir`` (see the module docstring)."""
    records, issues = read_records(results_dir)
    res = collect(records, issues=issues)
    res.root = str(results_dir)
    return res


def _short_hash(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:12]


def _run_row(path: str, rec: Mapping[str, Any]) -> dict[str, Any]:
    spec = rec["spec"]
    ds = spec["dataset"]
    setting = {**{"seen_fraction": 1.0, "images_per_class": None, "descriptor_dims": None},
               **(spec.get("setting") or {})}
    prov = rec.get("provenance") or {}
    config = {k: v for k, v in spec.items() if k != "seed"}
    return {
        "run_id": str(rec["run_id"]),
        "method": spec["method"],
        "method_version": spec.get("method_version"),
        "access": spec.get("access"),
        "dataset": ds["name"],
        "split_version": ds.get("split_version"),
        "feature_id": ds.get("feature_id"),
        "descriptor_id": ds.get("descriptor_id"),
        "seen_fraction": float(setting["seen_fraction"]),
        "images_per_class": setting["images_per_class"],
        "descriptor_dims": setting["descriptor_dims"],
        "procedure": spec.get("procedure", "validation"),
        "preset": spec.get("preset"),
        "seed": int(spec["seed"]),
        "hparams": canonical_json(spec.get("hparams") or {}),
        "selected_hparams": canonical_json(rec.get("selected_hparams") or {}),
        "config_id": _short_hash(config),
        "synthetic": bool(rec.get("synthetic", False)),
        "git_revision": prov.get("git_revision"),
        "created": prov.get("created"),
        "path": path,
    }


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys at which two JSON-like objects differ."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "<root>"]


def collect(
    records: Iterable[tuple[str, Mapping[str, Any]]], *, issues: Sequence[Issue] = ()
) -> Results:
    """Check and tidy parsed records ``[(path, record)]``; pure (no file access).

    Records are taken in path order, so "the first" of two duplicates is well defined.
    """
    issues = list(issues)
    by_run_id: dict[str, tuple[str, Mapping[str, Any]]] = {}
    by_spec: dict[str, tuple[str, Mapping[str, Any]]] = {}
    kept: list[tuple[str, Mapping[str, Any]]] = []
    for path, rec in sorted(records, key=lambda pr: pr[0]):
        version = rec.get("schema_version")
        if version != SCHEMA_VERSION:
            issues.append(Issue("schema_version", path, f"has schema_version {version!r}, this reader "
                                f"understands {SCHEMA_VERSION}; skipped", rec.get("run_id")))
            continue
        problem = content_problem(rec)
        if problem:
            issues.append(Issue("invalid", path, f"{problem}; skipped", rec.get("run_id")))
            continue
        run_id = str(rec["run_id"])
        if run_id in by_run_id:
            first_path, first = by_run_id[run_id]
            same = canonical_json(first.get("spec")) == canonical_json(rec.get("spec"))
            what = "the same spec" if same else "a DIFFERENT spec"
            issues.append(Issue("duplicate_run_id", path, f"repeats run_id {run_id} of {first_path} with "
                                f"{what}; only {first_path} is used", run_id))
            continue
        spec_key = canonical_json(rec["spec"])
        if spec_key in by_spec:
            first_path, first = by_spec[spec_key]
            issues.append(Issue("duplicate_spec", path, f"has the same spec as {first_path} (run_id "
                                f"{first['run_id']}) under run_id {run_id}; only {first_path} is used",
                                run_id))
            continue
        by_run_id[run_id] = (path, rec)
        by_spec[spec_key] = (path, rec)
        parts = Path(path).parts
        spec = rec["spec"]
        if len(parts) >= 3 and (parts[-3], parts[-2]) != (spec["dataset"]["name"], spec["method"]):
            issues.append(Issue("misplaced", path, f"holds a run of {spec['method']} on "
                                f"{spec['dataset']['name']} but sits under {parts[-3]}/{parts[-2]}; "
                                "used anyway", run_id))
        kept.append((path, rec))

    kept = _drop_other_data_instances(kept, issues)
    newest_first = sorted(kept, key=lambda pr: (str((pr[1].get("provenance") or {}).get("created")), pr[0]),
                          reverse=True)
    metas: dict[str, dict[str, Any]] = {}  # the newest record with a method_meta block speaks for its method
    for _, rec in newest_first:
        if rec.get("method_meta"):
            metas.setdefault(rec["spec"]["method"], method_meta(rec))
    ok_rows, failed_rows, ok_records = [], [], {}
    for path, rec in kept:
        row = _run_row(path, rec)
        if rec["status"] == "ok":
            ok_rows.append(row)
            ok_records[row["run_id"]] = dict(rec)
        else:
            err = rec.get("error") or {}
            failed_rows.append({**row, "error_type": err.get("type"), "error_message": err.get("message")})

    runs = pd.DataFrame(ok_rows, columns=list(RUN_COLUMNS))
    runs, ok_records = _resolve_mixed_configs(runs, ok_records, issues)
    failed = pd.DataFrame(failed_rows, columns=[*RUN_COLUMNS, "error_type", "error_message"])
    runs, failed = _row_hparams(runs, failed)

    tidy_rows = []
    for row in runs.to_dict("records"):
        metrics = ok_records[row["run_id"]]["metrics"]
        for metric, value in metrics.items():
            if value is None:
                continue
            tidy_rows.append({**{c: row[c] for c in TIDY_COLUMNS if c in row},
                              "metric": metric, "value": float(value)})
    tidy = pd.DataFrame(tidy_rows, columns=list(TIDY_COLUMNS))
    for issue in issues:
        log.warning("%s", issue)
    if len(failed):
        log.info("%d failed run(s) excluded from the numbers", len(failed))
    return Results(tidy=tidy, runs=runs, failed=failed, issues=issues, records=ok_records, method_meta=metas)


def _drop_other_data_instances(
    kept: list[tuple[str, Mapping[str, Any]]], issues: list[Issue]
) -> list[tuple[str, Mapping[str, Any]]]:
    """Within one dataset spec, leave out (and report) records whose ``provenance.dataset_layout_sha256``
    differs from that of most records: they were made on another instance of the data (e.g. a generator
    whose output depends on the machine). Records without the field (older ones) are kept as they are."""
    layouts: dict[str, dict[str, list[str]]] = {}  # dataset spec -> layout -> paths
    for path, rec in kept:
        layout = (rec.get("provenance") or {}).get("dataset_layout_sha256")
        if layout:
            layouts.setdefault(canonical_json(rec["spec"]["dataset"]), {}).setdefault(layout, []).append(path)
    drop: set[str] = set()
    for groups in layouts.values():
        if len(groups) < 2:
            continue
        main = min(groups, key=lambda h: (-len(groups[h]), min(groups[h])))
        for layout, paths in groups.items():
            if layout == main:
                continue
            drop.update(paths)
            issues.extend(Issue("other_data", path, f"was made on another instance of its dataset "
                                f"(dataset_layout_sha256 {layout[:12]}, not {main[:12]} as in "
                                f"{len(groups[main])} other record(s)); left out") for path in paths)
    return [(path, rec) for path, rec in kept if path not in drop]


def _preset_key(preset: Any) -> str:
    """A preset as a grouping key: "" for none (None or NaN)."""
    return "" if preset is None or preset != preset else str(preset)


def _row_hparams(runs: pd.DataFrame, failed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep in ``hparams`` only what tells a method's rows apart; per-dataset settings go.

    A hyper-parameter is row-defining for a (method, preset) when it takes two values among the runs of
    one cell (same dataset, setting and procedure). One that changes only from dataset to dataset (e.g.
    ``[methods.icis.per_dataset.AWA2] batch_size = 20`` in benchmark.toml) is that dataset's setting, and
    must not split the method into one row per dataset.
    """
    both = pd.concat([runs[list(RUN_COLUMNS)], failed[list(RUN_COLUMNS)]], ignore_index=True)
    if both.empty:
        return runs, failed
    both = both.assign(_preset=both["preset"].map(_preset_key))
    cell = [c for c in CONFIG_COLUMNS if c not in ("method", "hparams", "preset")]
    defining: dict[tuple[str, str], set[str]] = {}
    for (method, preset), group in both.groupby(["method", "_preset"], sort=False):
        keys = defining.setdefault((method, preset), set())
        for _, runs_of_cell in group.groupby(cell, dropna=False, sort=False):
            variants = [json.loads(h) for h in runs_of_cell["hparams"].unique()]
            names = {n for hp in variants for n in hp}
            keys |= {n for n in names if len({canonical_json(hp.get(n)) for hp in variants}) > 1}

    def restrict(df: pd.DataFrame) -> pd.DataFrame:
        if df.empty:
            return df
        def one(row: Mapping[str, Any]) -> str:
            keep = defining.get((row["method"], _preset_key(row["preset"])), set())
            return canonical_json({k: v for k, v in json.loads(row["hparams"]).items() if k in keep})
        return df.assign(hparams=[one(r) for r in df.to_dict("records")])

    return restrict(runs), restrict(failed)


def _resolve_mixed_configs(
    runs: pd.DataFrame, records: dict[str, dict[str, Any]], issues: list[Issue]
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Within one cell, keep runs of a single configuration (highest method version, then most seeds)."""
    if runs.empty:
        return runs, records
    drop: set[str] = set()
    for _, cell in runs.groupby(list(CONFIG_COLUMNS), dropna=False, sort=True):
        if cell["config_id"].nunique() < 2:
            continue
        ranked = (cell.groupby("config_id")
                  .agg(version=("method_version", lambda v: max((x for x in v if x is not None),
                                                                   default=-1)),
                       n=("run_id", "size"), created=("created", lambda v: max(map(str, v))))
                  .sort_values(["version", "n", "created"], ascending=False))
        keep_id = ranked.index[0]
        keep_run = cell[cell["config_id"] == keep_id].iloc[0]
        for config_id in ranked.index[1:]:
            other = cell[cell["config_id"] == config_id]
            diff = _differences(records[keep_run["run_id"]]["spec"], records[other.iloc[0]["run_id"]]["spec"])
            diff = [d for d in diff if d != "seed"]
            issues.append(Issue(
                "mixed_config", str(other.iloc[0]["path"]),
                f"{len(other)} run(s) of {keep_run['method']} on {keep_run['dataset']} differ from "
                f"{keep_run['path']} in {', '.join(diff)}; they are not averaged together, only the "
                f"configuration with the newest method version / most seeds is used",
                str(other.iloc[0]["run_id"])))
            drop.update(other["run_id"])
    runs = runs[~runs["run_id"].isin(drop)].reset_index(drop=True)
    return runs, {k: v for k, v in records.items() if k not in drop}


# --------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------


def summarize(tidy: pd.DataFrame, keys: Sequence[str] = (*CONFIG_COLUMNS, "metric")) -> pd.DataFrame:
    """Mean, sample std (ddof=1; NaN for one seed) and n over seeds, one row per ``keys``.

    Extra columns: ``seeds`` (sorted tuple), ``git_revisions`` (sorted tuple of distinct revisions),
    ``method_versions`` (sorted tuple of distinct method versions).
    """
    out_cols = [*keys, "mean", "std", "n", "seeds", "git_revisions", "method_versions"]
    if tidy.empty:
        return pd.DataFrame(columns=out_cols)
    grouped = tidy.groupby(list(keys), dropna=False, sort=True)
    summary = grouped["value"].agg(mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1
                                   else float("nan"), n="size").reset_index()
    extra = grouped.agg(
        seeds=("seed", lambda s: tuple(sorted(int(x) for x in s))),
        git_revisions=("git_revision", lambda s: tuple(sorted({str(x) for x in s if x is not None
                                                              and x == x}))),
        method_versions=("method_version", lambda s: tuple(sorted({int(x) for x in s if x is not None
                                                                  and x == x}))),
    ).reset_index(drop=True)
    summary["seeds"] = extra["seeds"].to_numpy()
    summary["git_revisions"] = extra["git_revisions"].to_numpy()
    summary["method_versions"] = extra["method_versions"].to_numpy()
    return summary[out_cols]


def failed_counts(failed: pd.DataFrame, keys: Sequence[str] = CONFIG_COLUMNS) -> pd.DataFrame:
    """Number of failed runs and their distinct error types, one row per ``keys``."""
    cols = [*keys, "n_failed", "error_types"]
    if failed.empty:
        return pd.DataFrame(columns=cols)
    grouped = failed.groupby(list(keys), dropna=False, sort=True)
    out = grouped.agg(n_failed=("run_id", "size"),
                      error_types=("error_type", lambda s: tuple(sorted({str(x) for x in s
                                                                          if x is not None and x == x})))
                      ).reset_index()
    return out[cols]
