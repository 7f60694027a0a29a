"""``zslbench data verify``: the report, its counts and its exit code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SHARED_XLSA17, toy_xlsa17_arrays, write_xlsa17_folder
from zslbench.data.cli import main
from zslbench.data.verify import verify_root


def test_valid_toy_root_is_ok(toy_root, capsys):
    report = verify_root(toy_root)
    assert report.ok and [d.name for d in report.datasets] == ["TOY"]
    check = report.datasets[0]
    assert check.counts["images"] == 60 and check.counts["classes"] == 6
    assert check.counts["seen"] == 4 and check.counts["unseen"] == 2 and check.counts["feature_dim"] == 8
    assert "features (res101.mat, 60 x 8)" in check.loaded
    assert main(["verify", str(toy_root)]) == 0
    out = capsys.readouterr().out
    assert "TOY" in out and "OK" in out and "Summary: 1 of 1 dataset folder(s) OK" in out


def test_broken_folder_exits_1_and_names_the_problem(tmp_path, capsys):
    res, att = toy_xlsa17_arrays()
    write_xlsa17_folder(tmp_path, "TOY", res, att)
    for key in ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc"):
        att[key] = att[key].astype(np.int64) - 1
    write_xlsa17_folder(tmp_path, "BAD", res, att)
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "BAD" in out and "PROBLEMS" in out and "att_splits.mat" in out and "contains index 0" in out
    assert "Summary: 1 of 2 dataset folder(s) OK" in out


def test_standard_name_with_wrong_sizes(tmp_path):
    res, att = toy_xlsa17_arrays()
    write_xlsa17_folder(tmp_path, "CUB", res, att)
    check = verify_root(tmp_path).datasets[0]
    assert not check.ok
    assert any("images is 60, the published PS v2.0 value is 11788" in p for p in check.problems)
    assert "images 60 (EXPECTED 11788)" in verify_root(tmp_path).format()


def test_missing_or_misplaced_roots(tmp_path, toy_root):
    assert "folder not found" in verify_root(tmp_path / "nope").problems[0]
    report = verify_root(toy_root / "TOY")
    assert not report.ok and "this is a dataset folder itself" in report.problems[0]
    (tmp_path / "empty").mkdir()
    assert "no dataset folder found" in verify_root(tmp_path / "empty").problems[0]
    assert main(["verify", str(tmp_path / "empty")]) == 1


def test_embeddings_are_checked(toy_root):
    emb = toy_root / "class_embeddings"
    emb.mkdir()
    np.save(emb / "TOY_wiki2vec.npy", np.ones((6, 3), np.float32))
    (emb / "TOY_classnames.txt").write_text("\n".join(f"wrong_{i}" for i in range(6)))
    check = verify_root(toy_root).datasets[0]
    assert not check.ok and any("TOY_classnames.txt: row 0 is 'wrong_0'" in p for p in check.problems)


def test_json_output(toy_root, capsys):
    assert main(["verify", str(toy_root), "--json", "--no-features"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["datasets"][0]["counts"]["classes"] == 6
    assert "feature_dim" not in data["datasets"][0]["counts"]


@pytest.mark.realdata
def test_shared_folder_reports_missing_features_and_the_quirk(shared_data):
    report = verify_root(SHARED_XLSA17)
    by_name = {d.name: d for d in report.datasets}
    assert set(by_name) == {"CUB", "AWA2", "SUN", "AWA1", "APY", "FLO"}
    assert not report.ok  # no features there: no dataset can be run
    cub = by_name["CUB"]
    assert cub.counts["images"] == 11788 and cub.counts["seen"] == 150 and cub.counts["unseen"] == 50
    assert any("res101.mat: feature file not found" in p for p in cub.problems)
    assert any("train_loc overlaps test_seen_loc by 1173 images" in n for n in cub.notes)
    assert by_name["FLO"].counts["descriptor_dim"] == 1024
    # every count that could be read matches the published sizes
    for check in report.datasets:
        assert not any("published PS v2.0 value" in p for p in check.problems), check.problems


@pytest.mark.realdata
def test_real_cub_root_is_ok(xlsa17_root_factory, capsys):
    root = xlsa17_root_factory(feature_dim=8)
    assert main(["verify", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    counts = data["datasets"][0]["counts"]
    assert data["ok"] and counts == {**data["datasets"][0]["expected"], "feature_dim": 8}
