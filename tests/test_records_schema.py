"""The record schema lives in zslbench.records: the runner, the reader and the fixtures share it; the
method_meta block is the method class's declaration, copied by the runner (and, for records written
before it existed, by the one-off migration, which changes nothing else)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from zslbench.records import (NEUTRAL_METHOD_META, RunSpec, content_problem, method_meta, new_record, read_record,
                              record_path, record_problem)
from zslbench.registry import METHODS
from zslbench.report.aggregate import collect
from zslbench.sweep import make_specs, run_specs

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_a_run_record_carries_its_method_class_declaration(tmp_path):
    [spec] = make_specs(["wavg"], ["synth-tiny"], [0], test_params=True)
    [summary] = run_specs([spec], results_dir=tmp_path, progress=False)
    rec = read_record(record_path(tmp_path, spec))
    assert summary["status"] == "ok" and record_problem(rec) is None
    assert rec["method_meta"] == METHODS.get("wavg").report_meta()
    assert rec["method_meta"]["label"] == "VGSE-WAvg" and rec["method_meta"]["published_as"] == "vgse_crm"
    assert rec["run_id"] == spec.run_id  # the block is not part of the spec, so not of the run id


def test_record_info_is_declared_on_the_contract():
    from zslbench.method import Method

    assert Method.record_info(object.__new__(Method)) is None
    assert all(callable(cls.record_info) for _, cls in METHODS.items())


def test_new_record_is_the_schema_head_and_a_record_without_meta_reads_as_neutral():
    spec = RunSpec(method="nope", method_version=1, access="inductive",
                   dataset={"name": "synth-tiny", "split_version": "synthetic-v3"}, setting={})
    rec = new_record(spec, method_meta=None)
    assert list(rec) == ["schema_version", "run_id", "status", "error", "spec", "synthetic"]
    assert rec["status"] == "failed" and rec["synthetic"] is True and record_problem(rec) is None
    assert method_meta(rec) == {**NEUTRAL_METHOD_META, "label": "nope", "published_as": "nope"}
    assert content_problem({**rec, "method_meta": ["ICIS"]}) == "'method_meta' is not an object"
    res = collect([("runs/synth-tiny/nope/x.json", rec)])
    assert res.method_meta == {} and res.label("nope") == "nope"


def _migration():
    spec = importlib.util.spec_from_file_location("add_method_meta", RESULTS / "add_method_meta.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("rel", ["synth-cub/eszsl", "synth-cub/conse", "synth-sun/sae", "synth-awa2/random"])
def test_the_migration_adds_only_the_method_meta_block(tmp_path, rel):
    """Strip the block from committed records, migrate again: the committed records come back (the same
    content; records written since the block exists may order its keys differently)."""
    committed = sorted((RESULTS / "runs" / rel).glob("*.json"))
    assert committed
    for path in committed:
        rec = json.loads(path.read_text())
        assert rec["method_meta"] == METHODS.get(rec["spec"]["method"]).report_meta()
        del rec["method_meta"]
        out = tmp_path / "runs" / rel / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rec, indent=1))
    changed, had, problems = _migration().migrate(tmp_path)
    assert (changed, had, problems) == (len(committed), 0, [])
    for path in committed:
        assert json.loads((tmp_path / "runs" / rel / path.name).read_text()) == json.loads(path.read_text())
    assert _migration().migrate(tmp_path) == (0, len(committed), [])  # re-running changes nothing


def test_the_migration_leaves_a_record_it_cannot_rewrite_exactly(tmp_path):
    src = sorted((RESULTS / "runs" / "synth-cub" / "sae").glob("*.json"))[0]
    rec = json.loads(src.read_text())
    del rec["method_meta"]
    out = tmp_path / "runs" / "synth-cub" / "sae" / src.name
    out.parent.mkdir(parents=True)
    text = json.dumps(rec, indent=2)  # not how the runner writes
    out.write_text(text)
    changed, _, problems = _migration().migrate(tmp_path)
    assert changed == 0 and len(problems) == 1 and "left as it is" in problems[0]
    assert out.read_text() == text
