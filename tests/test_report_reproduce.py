"""Reproduction report: made-up records beside a made-up published table; every number is chosen here."""

from __future__ import annotations

import json

import pytest

from fixtures_records import make_metrics, make_record, write_record
from zslbench.report.aggregate import load_results
from zslbench.report.published import load_published
from zslbench.report.reproduce import build_reproduction, render_markdown, spearman

PUBLISHED = """method,features,setting,dataset,metric,value,source
eszsl,res101,inductive,CUB,zsl_top1,50.0,t
eszsl,res101,inductive,CUB,gzsl_h,20.0,t
ale,res101,inductive,CUB,zsl_top1,55.0,t
ale,res101,inductive,CUB,gzsl_h,30.0,t
sae,res101,inductive,CUB,zsl_top1,30.0,t
sae,res101,inductive,CUB,gzsl_h,10.0,t
ale,res101_finetuned,inductive,CUB,zsl_top1,70.0,t
"""
# (zsl, seen, unseen) of ours on synth-cub: ZSL order ale > eszsl > sae as published
OURS = {"eszsl": (0.48, 0.60, 0.12), "ale": (0.60, 0.62, 0.20), "sae": (0.20, 0.50, 0.05)}


@pytest.fixture()
def results(tmp_path):
    for method, (z, s, u) in OURS.items():
        for seed, off in ((0, 0.0), (1, 0.02)):
            rec = make_record(method, "synth-cub", seed, make_metrics(z + off, s, u))
            rec["spec"]["access"] = "inductive"
            write_record(tmp_path / "res", rec)
    rec = make_record("ale", "CUB", 0, make_metrics(0.65, 0.7, 0.4))
    write_record(tmp_path / "res", rec)  # res101_finetuned features: compares with the 70.0 row only
    csv = tmp_path / "published.csv"
    csv.write_text(PUBLISHED)
    return tmp_path / "res", csv


def test_rows_put_ours_beside_published_with_roles(results):
    res_dir, csv = results
    rep = build_reproduction(load_results(res_dir), load_published(csv))
    rows = rep.rows.set_index(["dataset", "method", "metric"])
    eszsl = rows.loc[("synth-cub", "eszsl", "zsl_top1")]
    assert eszsl["mean"] == pytest.approx(0.49) and eszsl["published"] == pytest.approx(0.50)
    assert eszsl["diff"] == pytest.approx(-0.01) and eszsl["n"] == 2 and eszsl["role"] == "calibration"
    assert eszsl["published_dataset"] == "CUB" and eszsl["features"] == "res101"
    assert rows.loc[("synth-cub", "eszsl", "gzsl_h"), "role"] == "held-out"  # H is never fitted
    assert rows.loc[("synth-cub", "ale", "zsl_top1"), "role"] == "held-out"
    real = rows.loc[("CUB", "ale", "zsl_top1")]
    assert real["published"] == pytest.approx(0.70) and real["role"] == "reference"
    assert ("CUB", "eszsl", "zsl_top1") not in rows.index  # no record


def test_summary_rank_correlation_and_errors(results):
    res_dir, csv = results
    rep = build_reproduction(load_results(res_dir), load_published(csv))
    s = {x["dataset"]: x for x in rep.summary}["synth-cub"]
    assert s["spearman_zsl_all"]["spearman"] == pytest.approx(1.0)
    assert s["spearman_zsl_all"]["methods"] == ["ale", "eszsl", "sae"]
    # held-out ZSL rows: ale (+5.5 points), sae (-9.5 points); eszsl's is calibration
    assert s["mean_abs_zsl_error_held_out"] == pytest.approx((0.055 + 0.095) / 2)
    md = render_markdown(rep)
    assert "realism measure" in md and "Calibration rows" in md and "| linear | eszsl | zsl_top1 | 49.0 ± 1.4 (2)" in md


def test_spearman_handles_short_and_flat_input():
    assert spearman([1.0, 2.0], [2.0, 1.0]) != spearman([1.0, 2.0], [2.0, 1.0])  # NaN below 3 pairs
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert spearman([1.0, 1.0, 1.0], [3.0, 2.0, 1.0]) != spearman([1.0, 1.0, 1.0], [3.0, 2.0, 1.0])


def test_cli_writes_markdown_and_json(results, tmp_path):
    from zslbench.cli import main

    res_dir, csv = results
    out = tmp_path / "out" / "reproduction"
    assert main(["reproduce", "--results", str(res_dir), "--published-csv", str(csv), "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert {r["method"] for r in data["rows"]} == {"eszsl", "ale", "sae"}
    assert data["calibration_set"]["methods"] == ["eszsl", "conse"]
    assert out.with_suffix(".md").read_text().startswith("# Reproduction report")


def test_one_seed_below_twice_chance_is_flagged_even_when_the_mean_is_not(results):
    res_dir, csv = results
    n_unseen = len(json.loads(next((res_dir / "runs").rglob("*.json")).read_text())["per_class"]["unseen_classes"])
    bar = 2.0 / n_unseen
    for seed, zsl in ((0, 0.9), (1, 0.9), (2, bar / 2)):  # the mean clears the bar, seed 2 does not
        rec = make_record("icis_cosine", "synth-cub", seed, make_metrics(zsl, 0.6, 0.2))
        write_record(res_dir, rec)
    rep = build_reproduction(load_results(res_dir), load_published(csv))
    flagged = {b["method"]: b for b in {x["dataset"]: x for x in rep.summary}["synth-cub"]["below_twice_chance"]}
    assert flagged["icis_cosine"]["seeds_below"] == [(2, pytest.approx(bar / 2))]
    assert flagged["icis_cosine"]["zsl_top1"] > bar
    assert f"(seed 2: {100 * bar / 2:.1f})" in render_markdown(rep)
