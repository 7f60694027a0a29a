"""Leaderboard: ranking only over datasets every ranked method has; revisions; paper runs kept apart."""

from __future__ import annotations

import json

import pytest
from fixtures_records import assert_snapshot, make_metrics, make_record, write_fixture_results, write_record

from zslbench.report.aggregate import load_results
from zslbench.report.leaderboard import build_leaderboard, choose_datasets, render_markdown, write_leaderboard


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    write_fixture_results(root)
    return build_leaderboard(load_results(root))


def _section(board, start):
    return next(s for s in board["sections"] if s["name"].startswith(start))


def test_snapshot(board):
    assert_snapshot("leaderboard.md", render_markdown(board))


def test_ranking_uses_only_datasets_every_ranked_method_has(board):
    real = _section(board, "Real datasets, validation")
    assert real["ranking_datasets"] == ["CUB", "AWA2"]
    assert [r["label"] for r in real["ranked"]] == ["ICIS", "ConSE", "ICIS: MLP (MSE)"]
    assert [r["rank"] for r in real["ranked"]] == [1, 2, 3]
    for r in real["ranked"]:
        h = [r["cells"][d]["gzsl_h"]["mean"] for d in ("CUB", "AWA2")]
        assert r["mean_gzsl_h"] == pytest.approx(sum(h) / 2)
    left = {r["label"]: r["missing"] for r in real["left_out"]}
    assert left == {"COSTA": ["AWA2 (failed)"], "ICIS: MLP + cosine": ["AWA2"], "Ridge V→S": ["AWA2"]}


def test_choose_datasets_prefers_more_coverage():
    coverage = {"a": {"X", "Y", "Z"}, "b": {"X", "Y"}, "c": {"X", "Y"}, "d": {"X"}}
    assert choose_datasets(coverage) == (["X", "Y"], ["a", "b", "c"])
    assert choose_datasets({}) == ([], [])


def test_mixed_revisions_are_flagged(board):
    synth = _section(board, "Synthetic datasets")
    assert synth["mixed_revisions"] and synth["git_revisions"] == ["abc1234", "def5678"]
    assert not _section(board, "Real datasets, validation")["mixed_revisions"]
    assert "**Mixed git revisions: abc1234, def5678**" in render_markdown(board)


def test_paper_procedure_is_a_separate_labelled_section(board):
    names = [s["name"] for s in board["sections"]]
    assert names[-1].startswith("Real datasets, PAPER procedure")
    real = _section(board, "Real datasets, validation")
    assert all(r["preset"] is None for r in real["ranked"])  # the paper runs are not in the ranking
    assert board["excluded"]["non_default_setting_runs"] == 36
    assert board["excluded"]["failed_runs"] == 4 and len(board["excluded"]["record_issues"]) == 3


def test_write_leaderboard_writes_markdown_and_json(tmp_path):
    for seed in (0, 1):
        write_record(tmp_path, make_record("icis", "CUB", seed, make_metrics(0.5, 0.6, 0.4 + seed / 100)))
    md, js = write_leaderboard(load_results(tmp_path), tmp_path / "out")
    data = json.loads(js.read_text())
    assert data["sections"][0]["ranked"][0]["cells"]["CUB"]["gzsl_h"]["n"] == 2
    assert "| 1      | ICIS" in md.read_text()


def test_a_row_that_mixes_method_versions_across_datasets_says_so(tmp_path):
    for dataset, version in (("CUB", 4), ("AWA2", 5)):
        rec = make_record("icis", dataset, 0, make_metrics(0.5, 0.6, 0.4), run_id=f"{dataset:0<16}"[:16])
        rec["spec"]["method_version"] = version
        write_record(tmp_path, rec)
    write_record(tmp_path, make_record("conse", "CUB", 0, make_metrics(0.4, 0.5, 0.3), run_id="c" * 16))
    write_record(tmp_path, make_record("conse", "AWA2", 0, make_metrics(0.4, 0.5, 0.3), run_id="d" * 16))
    board = build_leaderboard(load_results(tmp_path))
    rows = {r["label"]: r for r in board["sections"][0]["ranked"]}
    assert rows["ICIS"]["method_versions"] == {"CUB": [4], "AWA2": [5]}
    assert "**Mixed method versions within a row: ICIS (v4: CUB; v5: AWA2)**" in render_markdown(board)
    assert "ConSE (" not in render_markdown(board)


def test_a_left_out_row_that_mixes_method_versions_says_so_too(tmp_path):
    for dataset, version in (("CUB", 4), ("AWA2", 5)):
        rec = make_record("icis", dataset, 0, make_metrics(0.5, 0.6, 0.4), run_id=f"{dataset:0<16}"[:16])
        rec["spec"]["method_version"] = version
        write_record(tmp_path, rec)
    for method, tag in (("conse", "c"), ("eszsl", "e")):  # 2 x 3 cells tie 3 x 2; more datasets win
        for dataset, n in (("CUB", 1), ("AWA2", 2), ("SUN", 3)):
            rec = make_record(method, dataset, 0, make_metrics(0.4, 0.5, 0.3), run_id=f"{tag}{n}".ljust(16, "0"))
            write_record(tmp_path, rec)
    board = build_leaderboard(load_results(tmp_path))
    section = board["sections"][0]
    assert [r["label"] for r in section["left_out"]] == ["ICIS"]
    assert section["left_out"][0]["method_versions"] == {"CUB": [4], "AWA2": [5]}
    assert "**Mixed method versions within a row: ICIS (v4: CUB; v5: AWA2)**" in render_markdown(board)
