"""A catalogue of malformed inputs (issue 16): command-line values, config files, records, the filesystem
and data. Each is given to the real CLI (in process) and must end with the expected exit code, exactly one
line on stderr naming the option or file and the problem, no traceback, and nothing written (or exactly
what should be written: an unusable record is replaced by the run's record).

The table of the catalogue is :data:`CASES`; ``test_catalogue_is_large_enough`` keeps it at 40 or more.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from conftest import make_toy_xlsa17, toy_xlsa17_arrays, write_xlsa17_folder
from zslbench.cli import main
from zslbench.sweep import make_specs
from zslbench.records import record_path

RUN = ["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "0"]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass
class Ctx:
    tmp: Path
    results: Path
    root: Path

    def config(self, text: str) -> Path:
        path = self.tmp / "bad.toml"
        path.write_text(text)
        return path


@dataclass
class Case:
    id: str
    argv: Callable[[Ctx], list[str]]
    rc: int
    says: tuple[str, ...]
    setup: Callable[[Ctx], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    writes: str = "nothing"  # "nothing", or "one record" (the unusable record replaced by an ok one)
    as_root: Callable[[Ctx, pytest.MonkeyPatch], None] | None = None
    """A permission case: root reads and writes any folder, so under root the kernel's refusal is
    simulated (os.access / the write probe answer as they would for another user)."""


def _run(*extra: str) -> Callable[[Ctx], list[str]]:
    return lambda c: [*RUN, *extra, "--results", str(c.results)]


def _config(text: str, command: str) -> tuple[Callable[[Ctx], list[str]], int]:
    if command == "validate":
        return (lambda c: ["validate", str(c.config(text))]), 1
    return (lambda c: [*RUN, "--config", str(c.config(text)), "--results", str(c.results)]), 2


def _toy(ctx: Ctx, break_it: Callable[[dict, dict], None] | None = None, **kw) -> None:
    res101, att_splits = toy_xlsa17_arrays(**kw)
    if break_it is not None:
        break_it(res101, att_splits)
    write_xlsa17_folder(ctx.root, "TOY", res101, att_splits)


def _toy_run(*extra: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["run", "-m", "ridge_v2s", "-d", "TOY", "--seeds", "0", "--data-root", str(c.root),
                      "--results", str(c.results), *extra]


def _overlap_val(res101: dict, att: dict) -> None:
    """val_loc gets images of a train_loc class (the classes of the two overlap)."""
    labels = res101["labels"].ravel().astype(int) - 1
    train = att["train_loc"].ravel().astype(int) - 1
    first_train_class = labels[train[0]]
    extra = train[labels[train] == first_train_class][:2]
    att["val_loc"] = np.sort(np.concatenate([att["val_loc"].ravel(), extra + 1])).astype(np.uint16)[:, None]


def _zero_descriptor(res101: dict, att: dict) -> None:
    att["att"][:, 2] = 0.0


def _zero_features(res101: dict, att: dict) -> None:
    res101["features"][:] = 0.0


def _no_labels(res101: dict, att: dict) -> None:
    del res101["labels"]


def _record_at(ctx: Ctx, content: bytes) -> None:
    spec = make_specs(["ridge_v2s"], ["synth-tiny"], [0])[0]
    path = record_path(ctx.results, spec)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)


def _good_record_json(**change) -> bytes:
    spec = make_specs(["ridge_v2s"], ["synth-tiny"], [0])[0]
    rec = {"schema_version": 1, "run_id": spec.run_id, "status": "ok", "spec": spec.to_json(),
           "metrics": {"zsl_top1": 0.5}}
    rec.update(change)
    return json.dumps({k: v for k, v in rec.items() if v is not ...}).encode()


def _npz_layout(ctx: Ctx, key: str = "features", also_mat: bool = False) -> None:
    """TOY with features in res101.npz (rows = images) and labels in res101_labels.mat."""
    from zslbench.data.xlsa17 import write_mat

    res101, att_splits = toy_xlsa17_arrays()
    folder = write_xlsa17_folder(ctx.root, "TOY", res101 if also_mat else None, att_splits)
    np.savez(folder / "res101.npz", **{key: res101["features"].T})
    write_mat(folder / "res101_labels.mat", {"labels": res101["labels"], "image_files": res101["image_files"]})


def _deny_writes(ctx: Ctx, mp: pytest.MonkeyPatch) -> None:
    import tempfile

    real = tempfile.TemporaryFile

    def refuse(*args, **kwargs):
        if str(kwargs.get("dir", "")).startswith(str(ctx.results)):
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    mp.setattr(tempfile, "TemporaryFile", refuse)


def _deny_access(folder: Path, mp: pytest.MonkeyPatch) -> None:
    real = os.access
    mp.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == folder else real(p, mode, **kw))


CASES: list[Case] = [
    # ---- command-line values of `run`
    Case("set-not-a-number", _run("--set", "alpha=abc"), 2, ("--set alpha='abc'", "expects a number")),
    Case("set-negative", _run("--set", "alpha=-1"), 2, ("--set alpha=-1", "must be > 0")),
    Case("set-unknown-name", _run("--set", "nosuch=1"), 2, ("--set nosuch", "no selected method")),
    Case("set-without-equals", _run("--set", "alpha"), 2, ("--set expects KEY=VALUE",)),
    Case("set-not-a-choice", lambda c: ["run", "-m", "sae", "-d", "synth-tiny", "--seeds", "0", "--set",
                                        "direction=sideways", "--results", str(c.results)],
         2, ("--set direction='sideways'", "must be one of")),
    Case("seeds-negative", _run("--seeds", "-1"), 2, ("--seeds", "non-negative")),
    Case("seeds-not-int", _run("--seeds", "x"), 2, ("--seeds", "invalid int value")),
    Case("preset-unknown", _run("--preset", "nosuch"), 2, ("--preset 'nosuch'", "not a preset of ridge_v2s")),
    Case("images-per-class-negative", _run("--images-per-class", "-3"), 2, ("--images-per-class", ">= 0")),
    Case("descriptor-dims-negative", _run("--descriptor-dims", "-1"), 2, ("--descriptor-dims", ">= 0")),
    Case("descriptor-dims-too-large", _run("--descriptor-dims", "100000"), 2,
         ("--descriptor-dims 100000", "synth-tiny has only 16")),
    Case("seen-fraction-0", _run("--seen-fraction", "0"), 2, ("--seen-fraction", "(0, 1]")),
    Case("seen-fraction-negative", _run("--seen-fraction", "-1"), 2, ("--seen-fraction", "(0, 1]")),
    Case("seen-fraction-2", _run("--seen-fraction", "2"), 2, ("--seen-fraction", "(0, 1]", "2.0")),
    Case("seen-fraction-nan", _run("--seen-fraction", "nan"), 2, ("--seen-fraction", "nan")),
    Case("trials-0", _run("--trials", "0"), 2, ("--trials", ">= 1")),
    Case("jobs-0", _run("--jobs", "0"), 2, ("--jobs", ">= 1")),
    Case("device-bogus", _run("--device", "bogus"), 2, ("--device 'bogus'", "not a torch device")),
    Case("procedure-unknown", _run("--procedure", "nosuch"), 2, ("--procedure", "invalid choice")),
    Case("objective-unknown", _run("--objective", "nosuch"), 2, ("--objective", "invalid choice")),
    Case("overwrite-unknown", _run("--overwrite", "sometimes"), 2, ("--overwrite", "invalid choice")),
    Case("threads-env-not-int", _run(), 2, ("ZSLBENCH_THREADS='abc'", "positive integer"),
         env={"ZSLBENCH_THREADS": "abc"}),
    Case("method-unknown", lambda c: ["run", "-m", "ridge_v2z", "-d", "synth-tiny", "--results", str(c.results)],
         2, ("unknown method 'ridge_v2z'", "did you mean")),
    Case("dataset-unknown", lambda c: ["run", "-m", "ridge_v2s", "-d", "synth-tinny", "--results", str(c.results)],
         2, ("unknown dataset 'synth-tinny'",)),
    Case("descriptors-unavailable", _run("--descriptors", "sent"), 2, ("synth-tiny", "'sent'")),
    Case("sweep-unknown", lambda c: ["run", "--sweep", "nosuch", "--results", str(c.results)], 2,
         ("--sweep 'nosuch'", "no such sweep")),
    Case("no-methods", lambda c: ["run", "--results", str(c.results)], 2, ("give --all, --quick, -m/--methods or --sweep",)),
    # ---- config files (`run --config` and `validate` must agree)
    *[Case(f"config-{name}-{cmd}", *_config(text, cmd), says)
      for name, text, says in [
          ("seeds-string", '[suite]\nseeds = "abc"\n', ("suite.seeds", "list of integers")),
          ("seeds-fractional", "[suite]\nseeds = [0.5, 1.5]\n", ("suite.seeds", "got 0.5")),
          ("hparam-type", '[methods.ridge_v2s.hparams]\nalpha = "big"\n', ("methods.ridge_v2s", "alpha", "expects a number")),
          ("hparam-range", "[methods.ridge_v2s.hparams]\nalpha = -2.0\n", ("methods.ridge_v2s", "alpha", "must be > 0")),
          ("unknown-default-dataset", '[suite]\ndefault_datasets = ["synth-nosuch"]\n',
           ("suite.default_datasets", "unknown dataset 'synth-nosuch'")),
          ("per-dataset-not-table", "[methods.ridge_v2s]\nper_dataset.X = 5\n", ("methods.ridge_v2s.per_dataset.X", "must be a table")),
          ("sweep-fraction", '[sweeps.s]\nmethods = ["ridge_v2s"]\ndatasets = ["synth-tiny"]\nseen_fraction = 2.0\n',
           ("[sweeps.s]", "seen_fraction 2.0 not in (0, 1]")),
          ("unknown-method", "[methods.nosuch]\npreset = 'fast'\n", ("[methods.nosuch]", "unknown method 'nosuch'")),
          ("not-toml", "[suite\nseeds = [0]\n", ("bad.toml", "not valid TOML")),
          ("objective", '[suite]\nobjective = "accuracy"\n', ("suite.objective", "'accuracy'")),
          ("preset", "[methods.ridge_v2s]\npreset = 'nosuch'\n", ("[methods.ridge_v2s]", "unknown preset 'nosuch'")),
          ("trials", "[suite]\ntrials = 0\n", ("suite.trials", ">= 1")),
          ("base-classifier", "[base_classifier]\nepochs = -5\n", ("[base_classifier]", "epochs", ">= 0")),
      ]
      for cmd in ("validate", "run")],
    Case("config-is-a-directory", lambda c: [*RUN, "--config", str(c.tmp), "--results", str(c.results)], 2,
         ("is a directory",)),
    Case("config-missing", lambda c: [*RUN, "--config", str(c.tmp / "nope.toml"), "--results", str(c.results)], 2,
         ("nope.toml", "config file not found")),
    # ---- existing records: named, treated as missing, replaced by the run's record
    Case("record-random-bytes", _run(), 0, ("json", "not a readable JSON record"),
         setup=lambda c: _record_at(c, bytes(range(256)) * 4), writes="one record"),
    Case("record-empty-file", _run(), 0, ("json", "not a readable JSON record"),
         setup=lambda c: _record_at(c, b""), writes="one record"),
    Case("record-null", _run(), 0, ("json", "is not a JSON object"),
         setup=lambda c: _record_at(c, b"null"), writes="one record"),
    Case("record-running", _run(), 0, ("json", "has status 'running'"),
         setup=lambda c: _record_at(c, _good_record_json(status="running")), writes="one record"),
    Case("record-other-schema", _run(), 0, ("json", "has schema_version 99"),
         setup=lambda c: _record_at(c, _good_record_json(schema_version=99)), writes="one record"),
    Case("record-ok-without-metrics", _run(), 0, ("json", "is 'ok' but has no metrics"),
         setup=lambda c: _record_at(c, _good_record_json(metrics=...)), writes="one record"),
    Case("record-ok-without-metrics-overwrite-failed", _run("--overwrite", "failed"), 0,
         ("json", "is 'ok' but has no metrics"),
         setup=lambda c: _record_at(c, _good_record_json(metrics=None)), writes="one record"),
    # ---- the filesystem, checked before any run
    Case("results-is-a-file", _run(), 2, ("--results", "is a file, not a folder"),
         setup=lambda c: c.results.write_text("not a folder")),
    Case("results-below-a-file", lambda c: [*RUN, "--results", str(c.tmp / "afile" / "results")], 2,
         ("afile is a file, not a folder",), setup=lambda c: (c.tmp / "afile").write_text("x")),
    Case("results-read-only", _run(), 2, ("--results", "cannot write", "Permission denied"),
         setup=lambda c: (c.results.mkdir(), c.results.chmod(0o555)), as_root=lambda c, mp: _deny_writes(c, mp)),
    Case("dataset-folder-unreadable", _toy_run(), 2, ("TOY", "cannot read the dataset folder"),
         setup=lambda c: (make_toy_xlsa17(c.root), (c.root / "TOY").chmod(0o000)),
         as_root=lambda c, mp: _deny_access(c.root / "TOY", mp)),
    Case("data-root-missing-dataset", _toy_run(), 2, ("data/TOY", "unknown dataset 'TOY'", "no such folder")),
    # ---- data: refused with one line, no record
    Case("split-train-val-classes-overlap", _toy_run(), 1, ("att_splits.mat", "'train_loc' and 'val_loc' share"),
         setup=lambda c: _toy(c, _overlap_val)),
    Case("descriptor-row-all-zero", _toy_run(), 1, ("TOY", "descriptor of class", "all zeros"),
         setup=lambda c: _toy(c, _zero_descriptor)),
    Case("features-all-zero", _toy_run(), 1, ("TOY", "features of every image are all zeros"),
         setup=lambda c: _toy(c, _zero_features)),
    Case("res101-mat-without-labels", _toy_run(), 2, ("res101.mat", "has no 'labels', and there is no res101_labels.mat"),
         setup=lambda c: _toy(c, _no_labels)),
    Case("res101-mat-and-npz", _toy_run(), 2, ("TOY", "ambiguous features 'res101'"),
         setup=lambda c: _npz_layout(c, also_mat=True)),
    Case("npz-wrong-key", _toy_run(), 1, ("res101.npz", "missing key 'features'"),
         setup=lambda c: _npz_layout(c, key="feats")),
]


def _tree(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    if path.is_file():
        return {str(path): path.stat().st_mtime_ns}
    return {str(p): p.stat().st_mtime_ns for p in sorted(path.rglob("*"))}


def _call(argv: list[str]) -> int:
    try:
        return int(main(argv))
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code or 0)


def test_catalogue_is_large_enough():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, capsys, monkeypatch):
    ctx = Ctx(tmp=tmp_path, results=tmp_path / "results", root=tmp_path / "data")
    monkeypatch.chdir(tmp_path)  # no ./benchmark.toml: the installed default is read
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    if case.setup is not None:
        case.setup(ctx)
    if case.as_root is not None and IS_ROOT:
        case.as_root(ctx, monkeypatch)
    before = _tree(ctx.results)
    argv = case.argv(ctx)
    capsys.readouterr()
    try:
        rc = _call(argv)
    finally:
        for p in (ctx.results, ctx.root / "TOY"):
            if p.exists() and p.is_dir():
                p.chmod(0o755)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in out + err
    assert rc == case.rc, (rc, out, err)
    assert len(lines) == 1, err
    for text in case.says:
        assert text in lines[0], (text, lines[0])
    after = _tree(ctx.results)
    if case.writes == "nothing":
        assert after == before, "something was written"
    else:
        records = sorted(ctx.results.glob("runs/*/*/*.json"))
        assert len(records) == 1 and str(records[0]) in lines[0]
        rec = json.loads(records[0].read_text())
        assert rec["status"] == "ok" and rec["metrics"]["zsl_top1"] > 0.1


# ---------------------------------------------------------------------------------------------------
# `data verify` and `run` agree (one resolver for the feature files)


@pytest.mark.parametrize("layout, ok", [("npz+labels", True), ("mat+npz", False), ("npz-wrong-key", False),
                                        ("mat-without-labels", False)])
def test_verify_and_run_agree(layout, ok, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = Ctx(tmp=tmp_path, results=tmp_path / "results", root=tmp_path / "data")
    if layout == "npz+labels":
        _npz_layout(ctx)
    elif layout == "mat+npz":
        _npz_layout(ctx, also_mat=True)
    elif layout == "npz-wrong-key":
        _npz_layout(ctx, key="feats")
    else:
        _toy(ctx, _no_labels)
    verify_rc = _call(["data", "verify", str(ctx.root)])
    verify_out = capsys.readouterr().out
    run_rc = _call(_toy_run()(ctx))
    run_err = capsys.readouterr().err
    assert (verify_rc == 0) == ok == (run_rc == 0), (verify_out, run_err)
    if not ok:  # the same problem, in both
        problem = run_err.strip().split("error: ", 1)[1].split(" (1 run(s)")[0]
        assert problem in verify_out, (problem, verify_out)


# ---------------------------------------------------------------------------------------------------
# settings that change nothing get no new run id; repeats run once


def test_repeated_values_and_all_meaning_zero_plan_the_same_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    assert _call([*RUN, "--results", str(results)]) == 0
    capsys.readouterr()
    for extra in (["--images-per-class", "0"], ["--descriptor-dims", "0"], ["--seeds", "0", "0"],
                  ["-m", "ridge_v2s", "ridge_v2s"], ["-d", "synth-tiny", "synth-tiny"]):
        assert _call([*RUN, *extra, "--results", str(results), "--dry-run"]) == 0
        assert "1 runs planned: 0 to run, 1 already done" in capsys.readouterr().out, extra


def test_one_broken_dataset_costs_one_line_not_a_record_per_method_and_seed(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = Ctx(tmp=tmp_path, results=tmp_path / "results", root=tmp_path / "data")
    _toy(ctx, _zero_descriptor)
    rc = _call(["run", "-m", "ridge_v2s", "random", "-d", "TOY", "synth-tiny", "--seeds", "0", "1",
                "--data-root", str(ctx.root), "--results", str(ctx.results)])
    err = capsys.readouterr().err
    assert rc == 1
    assert [line for line in err.splitlines() if line.strip()] == [
        line for line in err.splitlines() if "all zeros" in line and "4 run(s) of TOY not made" in line]
    assert not list(ctx.results.glob("runs/TOY/*/*.json"))
    assert len(list(ctx.results.glob("runs/synth-tiny/*/*.json"))) == 4


def test_a_metric_out_of_range_fails_that_run_only(tmp_path, monkeypatch):
    from zslbench import runner

    real = runner.execute

    def bad_metric(*args, **kwargs):
        out = real(*args, **kwargs)
        out["metrics"]["gzsl_h"] = 1.5
        return out

    monkeypatch.setattr(runner, "execute", bad_metric)
    spec = make_specs(["ridge_v2s"], ["synth-tiny"], [0])[0]
    rec = runner.run(spec, results_dir=tmp_path)
    assert rec["status"] == "failed" and "gzsl_h = 1.5 outside [0, 1]" in rec["error"]["message"]
    assert json.loads(record_path(tmp_path, spec).read_text())["status"] == "failed"


def test_a_default_hyper_parameter_is_labelled_default_not_none():
    from zslbench.report.labels import row_labels

    labels = row_labels([("ridge_v2s", '{"alpha":0.5}', None), ("ridge_v2s", "{}", None)])
    assert sorted(v.split(" (")[1] for v in labels.values()) == ["alpha=0.5)", "alpha=default)"]


def test_config_lookup_order(tmp_path, monkeypatch):
    from zslbench.config import DEFAULT_CONFIG, config_path

    monkeypatch.chdir(tmp_path)
    assert config_path(None) == DEFAULT_CONFIG and DEFAULT_CONFIG.is_file()
    (tmp_path / "benchmark.toml").write_text("[suite]\nseeds = [7]\n")
    assert config_path(None) == Path("benchmark.toml")
    assert config_path(tmp_path / "other.toml") == tmp_path / "other.toml"


def test_a_harness_and_methods_from_two_checkouts_are_refused_before_any_run(tmp_path, capsys, monkeypatch):
    """PYTHONPATH naming a second checkout over an editable install of the first would run one tree's
    harness with the other's methods under one git revision: `run` and `check` refuse in one line."""
    import zslbench.methods
    from zslbench.provenance import mixed_checkout_problem

    assert mixed_checkout_problem() is None  # the tests' own install is one tree
    monkeypatch.setattr(zslbench.methods, "__file__", str(tmp_path / "other" / "methods" / "__init__.py"))
    problem = mixed_checkout_problem()
    assert problem is not None and str(tmp_path / "other" / "methods") in problem
    results = tmp_path / "results"
    for argv in ([*RUN, "--results", str(results)],
                 ["check", "--baseline", str(tmp_path / "baseline.json"), "--results", str(results)]):
        capsys.readouterr()
        rc = _call(argv)
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert rc == 2 and len(lines) == 1 and "two checkouts" in lines[0], lines
        assert not results.exists()
