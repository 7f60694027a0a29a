"""The ``selection`` layout: validation-class scores beside test-class scores of the same runs."""

from __future__ import annotations

import pytest
from fixtures_records import make_metrics, make_record, write_record

from zslbench.report.aggregate import collect, load_results
from zslbench.report.render import render, table_frame
from zslbench.report.selection import NOTE_NO_VALIDATION, build_selection_table
from zslbench.report.tables import NOTE_NOT_RUN

# (test ZSL, seen, unseen) and (validation ZSL, seen, unseen) per method on CUB, seeds 0-1.
RUNS = {
    "icis": [((0.50, 0.60, 0.40), (0.55, 0.62, 0.50)), ((0.52, 0.60, 0.42), (0.57, 0.64, 0.50))],
    "eszsl": [((0.45, 0.80, 0.10), (0.60, 0.70, 0.50)), ((0.45, 0.80, 0.12), (0.60, 0.70, 0.52))],
}


def _record(method, dataset, seed, test, val, **kwargs):
    rec = make_record(method, dataset, seed, make_metrics(*test), **kwargs)
    rec["validation"]["metrics"] = make_metrics(*val)
    return rec


def _records():
    recs = [_record(m, "CUB", seed, test, val) for m, runs in RUNS.items() for seed, (test, val) in enumerate(runs)]
    recs.append(_record("icis", "AWA2", 0, (0.6, 0.7, 0.5), (0.6, 0.7, 0.5)))
    # Runs the layout must leave out: the paper procedure (selects on test data) and a scarcity setting.
    recs.append(_record("eszsl", "CUB", 0, (0.9, 0.9, 0.9), (0.1, 0.1, 0.1), procedure="paper"))
    recs.append(_record("eszsl", "CUB", 0, (0.9, 0.9, 0.9), (0.1, 0.1, 0.1), setting={"seen_fraction": 0.5}))
    return recs


def _table(recs):
    return build_selection_table(collect([(f"runs/{r['spec']['dataset']['name']}/{r['spec']['method']}/"
                                           f"{r['run_id']}.json", r) for r in recs]))


def _value(table, row_label, dataset, metric):
    frame = table_frame(table)
    hit = frame[(frame["row"] == row_label) & (frame["dataset"] == dataset) & (frame["metric"] == metric)]
    assert len(hit) == 1
    return hit.iloc[0]


def _h(seen, unseen):
    return 2 * seen * unseen / (seen + unseen)


def test_gap_is_test_minus_validation_per_run_and_rows_start_with_the_largest_drop():
    table = _table(_records())
    assert [r.label for r in table.rows] == ["ESZSL", "ICIS"]  # ESZSL drops far more on CUB
    gaps = [_h(*t[1:]) - _h(*v[1:]) for t, v in RUNS["eszsl"]]
    cell = _value(table, "ESZSL", "CUB", "gap_gzsl_h")
    assert cell["mean_percent"] == pytest.approx(100 * sum(gaps) / 2)
    assert cell["n"] == 2 and cell["std_percent"] > 0
    assert _value(table, "ESZSL", "CUB", "validation_zsl_top1")["mean_percent"] == pytest.approx(60.0)
    assert _value(table, "ICIS", "CUB", "zsl_top1")["mean_percent"] == pytest.approx(51.0)


def test_paper_procedure_and_scarcity_runs_are_left_out():
    table = _table(_records())
    assert _value(table, "ESZSL", "CUB", "zsl_top1")["n"] == 2  # not the paper run, not the 50% seen run
    assert _value(table, "ESZSL", "CUB", "zsl_top1")["mean_percent"] == pytest.approx(45.0)


def test_missing_dataset_and_missing_validation_score_are_footnoted():
    recs = _records()
    bare = make_record("conse", "CUB", 0, make_metrics(0.3, 0.9, 0.0))  # no validation metrics
    table = _table([*recs, bare])
    assert _value(table, "ESZSL", "AWA2", "gzsl_h")["notes"] == NOTE_NOT_RUN
    assert _value(table, "ConSE", "CUB", "gap_gzsl_h")["notes"] == NOTE_NO_VALIDATION
    assert _value(table, "ConSE", "CUB", "gzsl_h")["mean_percent"] == pytest.approx(0.0)
    assert table.rows[-1].label == "ConSE"  # no gap anywhere: last
    assert all("H - H val" in render(table, fmt) for fmt in ("md", "latex"))
    assert "gap_gzsl_h" in render(table, "csv")


def test_a_difference_that_rounds_to_zero_prints_unsigned():
    from zslbench.report.labels import format_value

    assert format_value(-0.0004, 0.001) == "0.0 ± 0.1"
    assert format_value(-0.0006) == "-0.1"


def test_cli_writes_the_layout_and_refuses_other_procedures(tmp_path, capsys):
    from zslbench.cli import main

    for rec in _records():
        write_record(tmp_path, rec)
    out = tmp_path / "selection.md"
    assert main(["report", "--results", str(tmp_path), "--layout", "selection", "--out", str(out)]) == 0
    assert "selection gap" in out.read_text()
    capsys.readouterr()
    assert main(["report", "--results", str(tmp_path), "--layout", "selection", "--procedure", "paper"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--layout selection" in err[0]
    assert load_results(tmp_path).runs["procedure"].tolist().count("paper") == 1  # records untouched
    for extra in (["--calibrated"], ["--ausuc"], ["--no-published"], ["--published"],
                  ["--published-csv", str(tmp_path / "p.csv")]):
        assert main(["report", "--results", str(tmp_path), "--layout", "selection", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and extra[0] in err[0]
