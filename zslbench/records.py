"""Run specs, run ids, and the record schema: one JSON file per run (written atomically).

A :class:`RunSpec` is frozen and holds no paths, devices or output folders; its run id is a hash of its
canonical JSON, so the same experiment always lands in the same file and re-running resumes.

This module is the one home of the record format: the runner builds records with :func:`new_record`,
the report layer reads them with :func:`record_files` / :func:`record_problem` / :func:`method_meta`,
and the test fixtures build theirs through :func:`new_record` too.

A record (schema 1) is a JSON object with ``schema_version``, ``run_id``, ``status`` ("ok" or "failed"),
``error``, ``spec`` (:meth:`RunSpec.to_json`), ``synthetic``, ``method_meta`` (optional: what reports
know about the method, :meth:`zslbench.method.Method.report_meta`; records written before it existed
lack it and read as :data:`NEUTRAL_METHOD_META`), and, once the run is done, ``selected_hparams``,
``validation``, ``metrics``, ``per_class``, ``curve``, ``timing``, ``base_classifier``, ``method_info``,
``uses_test_data_for_selection`` and ``provenance``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

SCHEMA_VERSION = 1
OVERWRITE_MODES = ("missing", "failed", "always")
REQUIRED_KEYS: tuple[str, ...] = ("run_id", "status", "spec")
REQUIRED_SPEC_KEYS: tuple[str, ...] = ("method", "dataset", "seed")
STATUSES: tuple[str, ...] = ("ok", "failed")
NEUTRAL_METHOD_META: dict[str, Any] = {"label": None, "family": "other", "table_order": {}, "published_as": None,
                                       "published_note": None, "hparam_notes": []}
"""What a record without ``method_meta`` says about its method (None: the method's registry name)."""


class RecordError(ValueError):
    """A record file is unreadable or not a record of this schema; the message names the file."""


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's numbers, and nothing else.

    Attributes:
        method, method_version, access: the registered method and its version / access level.
        dataset: the dataset identity (:meth:`DatasetIdentity.to_json`), checksums included.
        setting: data-scarcity setting (:meth:`zslbench.protocol.Setting.to_json`).
        procedure: "validation" (default: everything selected on validation data) or "paper" (the
            published procedure, which may select on test data; labelled in every record).
        preset: named hyper-parameter preset of the method ("paper", "fast") or None.
        seed: the run's seed.
        hparams: hyper-parameters fixed by the config or CLI (over the method's defaults and preset).
        search: {"trials": n, "objective": "gzsl_h"|"zsl_top1"}; trials = 1 means no search.
        base_classifier: base-classifier settings for image-free methods, else None.
        profile: None for the benchmark itself; a reduced run profile's name (``"quick"``: one seed, capped
            epochs, see :mod:`zslbench.profiles`) otherwise. Left out of the JSON when None, so the run
            ids of unprofiled specs are what they always were.
    """

    method: str
    method_version: int
    access: str
    dataset: Mapping[str, Any]
    setting: Mapping[str, Any]
    procedure: str = "validation"
    preset: str | None = None
    seed: int = 0
    hparams: Mapping[str, Any] = field(default_factory=dict)
    search: Mapping[str, Any] = field(default_factory=lambda: {"trials": 1, "objective": "gzsl_h"})
    base_classifier: Mapping[str, Any] | None = None
    profile: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if data["profile"] is None:
            del data["profile"]
        return json.loads(canonical_json(data))

    @property
    def run_id(self) -> str:
        return hashlib.sha256(canonical_json(self.to_json()).encode()).hexdigest()[:16]

    @property
    def dataset_name(self) -> str:
        return str(self.dataset["name"])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunSpec":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def describe(self) -> str:
        extra = "" if all(v in (None, 1.0) for v in self.setting.values()) else f" {dict(self.setting)}"
        preset = f" preset={self.preset}" if self.preset else ""
        proc = " [paper procedure]" if self.procedure == "paper" else ""
        profile = f" [{self.profile} profile]" if self.profile else ""
        return f"{self.method} on {self.dataset_name} seed={self.seed}{preset}{extra}{proc}{profile}"


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, floats as repr: the same spec always gives the same string."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def new_record(spec: RunSpec | Mapping[str, Any], *, method_meta: Mapping[str, Any] | None,
               run_id: str | None = None) -> dict[str, Any]:
    """The head of a record, ``status`` "failed" until the run fills in its results.

    ``spec`` is a :class:`RunSpec` or its JSON; ``run_id`` defaults to the spec's; ``method_meta`` is
    :meth:`zslbench.method.Method.report_meta` of the spec's method (None: left out).
    """
    if isinstance(spec, RunSpec):
        spec_json, default_id = spec.to_json(), spec.run_id
    else:
        spec_json, default_id = json.loads(canonical_json(spec)), None
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id or default_id or RunSpec.from_json(spec_json).run_id,
        "status": "failed",
        "error": None,
        "spec": spec_json,
        "synthetic": str(spec_json["dataset"].get("split_version", "")).startswith("synthetic"),
    }
    if method_meta is not None:
        record["method_meta"] = json.loads(canonical_json(method_meta))
    return record


def method_meta(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's ``method_meta`` over :data:`NEUTRAL_METHOD_META`, with label and published_as
    defaulting to the method's registry name."""
    method = record["spec"]["method"]
    meta = {**NEUTRAL_METHOD_META, **(record.get("method_meta") or {})}
    meta["label"] = meta["label"] or method
    meta["published_as"] = meta["published_as"] or method
    return meta


def record_path(results_dir: Path, spec: RunSpec) -> Path:
    """``<results>/runs/<dataset>/<method>/<run_id>.json``."""
    return Path(results_dir) / "runs" / spec.dataset_name / spec.method / f"{spec.run_id}.json"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()
"""Mode of written files: what ``open(path, "w")`` would give (``mkstemp`` alone gives 0600)."""


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync and rename.

    A reader never sees a half-written file, and an interrupted write leaves no temp file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(path: Path, record: Mapping[str, Any]) -> None:
    """Write one record as JSON, atomically (:func:`write_atomically`)."""
    text = json.dumps(record, indent=1, sort_keys=False, default=_json_default, allow_nan=False)
    write_atomically(path, text.encode())


def record_problem(record: Any) -> str | None:
    """Why a parsed record cannot be used (as done, as failed, or in a table), or None when it can."""
    if not isinstance(record, Mapping):
        return f"is not a JSON object (found {type(record).__name__})"
    if record.get("schema_version") != SCHEMA_VERSION:
        return f"has schema_version {record.get('schema_version')!r}, this version reads {SCHEMA_VERSION}"
    return content_problem(record)


def content_problem(record: Mapping[str, Any]) -> str | None:
    """Why a record of this schema version lacks what a reader needs (None when it has it)."""
    for key in REQUIRED_KEYS:
        if key not in record:
            return f"is not a zslbench record (no {key!r})"
    spec = record["spec"]
    if not isinstance(spec, Mapping):
        return "'spec' is not an object"
    for key in REQUIRED_SPEC_KEYS:
        if key not in spec:
            return f"has no 'spec.{key}' field"
    if not isinstance(spec["dataset"], Mapping) or "name" not in spec["dataset"]:
        return "has no 'spec.dataset.name' field"
    if record["status"] not in STATUSES:
        return f"has status {record['status']!r} (expected 'ok' or 'failed')"
    if record["status"] == "ok" and not (isinstance(record.get("metrics"), Mapping) and record["metrics"]):
        return "is 'ok' but has no metrics"
    if not isinstance(record.get("method_meta") or {}, Mapping):
        return "'method_meta' is not an object"
    return None


def read_record(path: Path) -> dict[str, Any]:
    """Load and sanity-check one record; :class:`RecordError` names the file and the problem."""
    try:
        record = json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON record ({exc})") from exc
    problem = record_problem(record)
    if problem:
        raise RecordError(f"{path}: {problem}")
    return record


def record_files(results_dir: str | Path) -> list[Path]:
    """Every ``runs/<dataset>/<method>/<run_id>.json`` under ``results_dir``, sorted by path (temp files
    of an unfinished write start with a dot and end in .tmp: never listed)."""
    return sorted((Path(results_dir) / "runs").glob("*/*/*.json"))


def iter_records(results_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every record under ``<results>/runs``, as (path, record); an unusable one raises RecordError."""
    for path in record_files(results_dir):
        yield path, read_record(path)


def record_state(path: Path) -> tuple[str, str | None]:
    """("missing" | "ok" | "failed" | "unusable", the problem of an unusable record or None)."""
    try:
        if not path.exists():
            return "missing", None
    except OSError as exc:
        return "unusable", f"{path}: cannot be read ({exc.strerror or exc})"
    try:
        return read_record(path)["status"], None
    except RecordError as exc:
        return "unusable", str(exc)


def should_run(path: Path, overwrite: str) -> bool:
    """Whether a run must (re)run given its record path and the overwrite mode.

    A record that cannot be used (unreadable, another schema, not finished, ``ok`` without metrics) is
    treated as missing: the run is made again and its record replaced.
    """
    if overwrite not in OVERWRITE_MODES:
        raise ValueError(f"--overwrite must be one of {OVERWRITE_MODES}, got {overwrite!r}")
    if overwrite == "always":
        return True
    state, _ = record_state(path)
    if state in ("missing", "unusable"):
        return True
    return overwrite == "failed" and state != "ok"
