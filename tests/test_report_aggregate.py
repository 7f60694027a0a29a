"""Records -> tidy frame -> summaries: failed runs counted, duplicates and schema mismatches reported."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from fixtures_records import BASE, make_metrics, make_record, seeded_metrics, write_fixture_results, write_record

from zslbench.report.aggregate import TIDY_COLUMNS, collect, load_results, summarize


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    write_fixture_results(root)
    return root


def test_tidy_frame_has_one_row_per_run_and_metric(fixture_dir):
    res = load_results(fixture_dir)
    assert list(res.tidy.columns) == list(TIDY_COLUMNS)
    assert not res.tidy.duplicated(["run_id", "metric"]).any()
    assert len(res.tidy) == len(res.runs) * 9  # every fixture record carries the 9 metrics
    assert res.tidy["value"].between(-1, 1).all()


def test_failed_runs_are_excluded_and_counted(fixture_dir):
    res = load_results(fixture_dir)
    assert res.n_failed == 4  # costa: 3 on AWA2, 1 on synth-tiny
    assert set(zip(res.failed["method"], res.failed["dataset"])) == {("costa", "AWA2"), ("costa", "synth-tiny")}
    assert not ((res.runs["method"] == "costa") & (res.runs["dataset"] == "AWA2")).any()
    assert (res.failed["error_type"] == "RuntimeError").all()


def test_duplicates_and_schema_mismatch_are_reported_not_merged(fixture_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="zslbench.report.aggregate"):
        res = load_results(fixture_dir)
    kinds = sorted(i.kind for i in res.issues)
    assert kinds == ["duplicate_run_id", "duplicate_spec", "schema_version"]
    for kind in kinds:
        assert f"[{kind}]" in caplog.text  # logged, not only returned
    # The duplicate (0.99 everywhere) and the copy (0.0) did not move the means.
    summary = summarize(res.default_setting().tidy)
    icis_cub = summary[(summary["method"] == "icis") & (summary["dataset"] == "CUB")
                       & (summary["metric"] == "zsl_top1") & (summary["procedure"] == "validation")].iloc[0]
    expected = [seeded_metrics(BASE["icis"]["CUB"], s)["zsl_top1"] for s in (0, 1, 2)]
    assert icis_cub["n"] == 3
    assert icis_cub["mean"] == pytest.approx(np.mean(expected))
    assert icis_cub["std"] == pytest.approx(np.std(expected, ddof=1))
    # The schema-2 record (seed 3) is not among icis/AWA2's seeds.
    icis_awa = summary[(summary["method"] == "icis") & (summary["dataset"] == "AWA2")].iloc[0]
    assert icis_awa["seeds"] == (0, 1, 2)


def test_summary_records_git_revisions(fixture_dir):
    summary = summarize(load_results(fixture_dir).default_setting().tidy)
    ridge = summary[(summary["method"] == "ridge_v2s") & (summary["dataset"] == "synth-tiny")].iloc[0]
    assert ridge["git_revisions"] == ("abc1234", "def5678")


def test_single_seed_has_nan_std():
    rec = make_record("icis", "CUB", 0, make_metrics(0.5, 0.6, 0.4))
    res = collect([("runs/CUB/icis/a.json", rec)])
    summary = summarize(res.tidy)
    assert (summary["n"] == 1).all() and summary["std"].isna().all()


def test_mixed_configurations_are_not_averaged(tmp_path):
    old = make_record("icis", "CUB", 0, make_metrics(0.1, 0.1, 0.1))
    new = make_record("icis", "CUB", 1, make_metrics(0.5, 0.6, 0.4))
    new["spec"]["method_version"] = 2
    new["run_id"] = "b" * 16
    write_record(tmp_path, old)
    write_record(tmp_path, new)
    res = load_results(tmp_path)
    assert [i.kind for i in res.issues] == ["mixed_config"]
    assert "method_version" in res.issues[0].message
    assert list(res.runs["run_id"]) == ["b" * 16]


def test_invalid_and_unreadable_files_are_reported(tmp_path):
    folder = tmp_path / "runs" / "CUB" / "icis"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text("{not json")
    bad = make_record("icis", "CUB", 0, make_metrics(0.5, 0.6, 0.4))
    del bad["spec"]["seed"]
    (folder / "noseed.json").write_text(json.dumps(bad))
    res = load_results(tmp_path)
    messages = {i.kind: i.message for i in res.issues}
    assert set(messages) == {"unreadable", "invalid"}
    assert "spec.seed" in messages["invalid"]
    assert res.runs.empty


def test_missing_results_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_results(tmp_path / "nowhere")


def test_per_dataset_hyper_parameters_do_not_split_a_method_into_rows():
    """batch_size=20 on AWA2 only (a per-dataset config) is one row; two lr values on one dataset are two."""
    from fixtures_records import make_metrics, make_record

    from zslbench.report.aggregate import collect

    recs = []
    for dataset, hp in (("CUB", {}), ("AWA2", {"batch_size": 20})):
        for seed in (0, 1):
            r = make_record("icis", dataset, seed, make_metrics(0.5, 0.6, 0.4))
            r["spec"]["hparams"] = dict(hp)
            r["run_id"] = f"{dataset}{seed}"
            recs.append(r)
    for lr in (0.1, 0.01):
        r = make_record("eszsl", "CUB", 0, make_metrics(0.5, 0.6, 0.4))
        r["spec"]["hparams"] = {"lr": lr, "gamma": 1.0}
        r["run_id"] = f"eszsl{lr}"
        recs.append(r)
    res = collect([(f"runs/{r['spec']['dataset']['name']}/{r['spec']['method']}/{r['run_id']}.json", r)
                   for r in recs])
    assert set(res.runs.loc[res.runs["method"] == "icis", "hparams"]) == {"{}"}
    assert set(res.runs.loc[res.runs["method"] == "eszsl", "hparams"]) == {'{"lr":0.1}', '{"lr":0.01}'}
    assert set(res.tidy.loc[res.tidy["method"] == "icis", "hparams"]) == {"{}"}


def test_records_made_on_another_data_instance_are_reported_and_left_out():
    records = []
    for seed in range(4):
        rec = make_record("icis", "CUB", seed, make_metrics(0.5 + seed / 100, 0.7, 0.4))
        rec["provenance"]["dataset_layout_sha256"] = "b" * 64 if seed == 3 else "a" * 64
        records.append((f"runs/CUB/icis/{rec['run_id']}.json", rec))
    old = make_record("icis", "CUB", 4, make_metrics(0.6, 0.7, 0.4))  # an older record, without the field
    records.append((f"runs/CUB/icis/{old['run_id']}.json", old))
    res = collect(records)
    assert sorted(res.runs["seed"]) == [0, 1, 2, 4]
    (issue,) = [i for i in res.issues if i.kind == "other_data"]
    assert issue.path == records[3][0] and "bbbbbbbbbbbb, not aaaaaaaaaaaa as in 3 other record(s)" in issue.message
