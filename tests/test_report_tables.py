"""Tables: snapshots of Markdown / LaTeX, bold best, dashes with footnotes, no mean over a missing cell."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
from fixtures_records import SNAPSHOTS, assert_snapshot, make_metrics, make_record, write_fixture_results

from zslbench.report.aggregate import collect, load_results
from zslbench.report.published import load_published
from zslbench.report.render import latex_escape, render, render_markdown, table_frame
from zslbench.report.tables import NOTE_INCOMPLETE, NOTE_NO_RECORDS, NOTE_NOT_RUN, build_table


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    write_fixture_results(root)
    return load_results(root)


@pytest.fixture(scope="module")
def published():
    return load_published()


def _row(table, label):
    return next(r for r in table.rows if r.label == label)


def _col(table, group, label):
    return next(i for i, c in enumerate(table.columns) if c.group == group and c.label == label)


@pytest.mark.parametrize("layout,fmt,kwargs", [
    ("icis", "md", {}),
    ("icis", "latex", {}),
    ("gbu", "md", {"calibrated": True, "ausuc": True}),
    ("ablation", "md", {}),
])
def test_snapshot(results, published, layout, fmt, kwargs):
    table = build_table(results, layout=layout, published=published, **kwargs)
    suffix = "".join(f"_{k}" for k in sorted(kwargs))
    assert_snapshot(f"table_{layout}{suffix}.{'tex' if fmt == 'latex' else fmt}", render(table, fmt))


def test_paper_procedure_table_is_labelled_and_separate(results):
    table = build_table(results, procedure="paper")
    text = render_markdown(table)
    assert "PAPER procedure" in text and "TEST data" in text
    assert [r.label for r in table.rows] == ["ICIS [paper]"]


def test_bold_marks_the_best_of_our_rows(results, published):
    table = build_table(results, layout="icis", published=published)
    for i, col in enumerate(table.columns):
        ours = [r.cells[i] for r in table.rows if r.kind == "ours" and not r.cells[i].missing]
        if len(ours) < 2:
            continue
        best = max(round(c.mean * 100, 1) for c in ours)
        assert all(c.bold == (round(c.mean * 100, 1) == best) for c in ours), col.header
    # Published rows are never bold, even where they beat ours (ICIS published CUB H 56.5 > ours 54.5).
    assert not any(c.bold for r in table.rows if r.kind == "published" for c in r.cells)
    h = _col(table, "CUB", "H")
    assert _row(table, "ICIS").cells[h].bold
    assert "**54.5 ± 0.7**" in render_markdown(table)


def test_ties_at_printed_precision_are_all_bold():
    recs = [make_record(m, "CUB", 0, make_metrics(0.5004, 0.6, 0.4 + d)) for m, d in (("a", 0.0), ("b", 0.0003))]
    table = build_table(collect([(f"runs/CUB/{r['spec']['method']}/{r['run_id']}.json", r) for r in recs]))
    t1 = _col(table, "CUB", "T1")
    assert [r.cells[t1].bold for r in table.rows] == [True, True]


def test_missing_cells_are_dashes_with_a_reason(results, published):
    table = build_table(results, layout="icis", published=published)
    numbers = {t: i + 1 for i, t in enumerate(table.footnotes())}
    awa_h = _col(table, "AWA2", "H")
    ridge = _row(table, "Ridge V→S").cells[awa_h]
    assert ridge.missing and ridge.notes == (NOTE_NOT_RUN,)
    costa = _row(table, "COSTA").cells[awa_h]
    assert costa.missing and costa.notes[0].startswith("failed: all 3 runs failed (RuntimeError)")
    subreg = _row(table, "Sub.Reg.").cells[awa_h]  # in the ICIS layout, published only
    assert subreg.notes == (NOTE_NO_RECORDS,)
    text = render_markdown(table)
    ridge_line = next(line for line in text.splitlines() if line.startswith("| Ridge V→S"))
    assert f"– [{numbers[NOTE_NOT_RUN]}]" in ridge_line
    assert f"[{numbers[NOTE_NOT_RUN]}] {NOTE_NOT_RUN}" in text
    # A cell with one failed seed of three shows the mean over the rest, n and a footnote.
    tiny_t1 = _col(table, "synth-tiny (synthetic)", "T1")
    partial = _row(table, "COSTA").cells[tiny_t1]
    assert partial.n == 2 and partial.show_n and "1 of 3 runs failed" in partial.notes[0]


def test_no_cross_dataset_mean_over_a_missing_cell(results, published):
    table = build_table(results, layout="icis", published=published)
    mean = len(table.columns) - 1
    assert table.columns[mean].group == "Mean"
    assert [d.dataset for d in table.columns[mean].over] == ["CUB", "AWA2"]  # synthetic never averaged with real
    assert "Mean H: GZSL H averaged over CUB, AWA2; only rows with all of them have one." in table.notes
    icis = _row(table, "ICIS")
    h = [icis.cells[_col(table, ds, "H")].mean for ds in ("CUB", "AWA2")]
    assert icis.cells[mean].mean == pytest.approx(sum(h) / 2)
    for label in ("Ridge V→S", "COSTA", "ICIS: MLP + cosine"):
        cell = _row(table, label).cells[mean]
        assert cell.missing and cell.notes == (NOTE_INCOMPLETE,)
    frame = table_frame(table)
    assert frame[(frame["row"] == "Ridge V→S") & (frame["dataset"] == "mean")]["mean_percent"].isna().all()


def test_published_rows_are_labelled_beside_ours(results, published):
    table = build_table(results, layout="icis", published=published)
    labels = [r.label for r in table.rows]
    i = labels.index("ICIS")
    assert labels[i + 1] == "ICIS (published, res101_finetuned)"
    pub = table.rows[i + 1]
    assert pub.kind == "published" and "Christensen et al. ICCV 2023" in pub.notes[0]
    assert pub.cells[_col(table, "CUB", "H")].mean == pytest.approx(0.565)
    synth = pub.cells[_col(table, "synth-tiny (synthetic)", "H")]
    assert synth.missing and "synthetic" in synth.notes[0]
    # The GBU ConSE row used images (inductive) while our ConSE is image-free: the label says so.
    assert "ConSE (published, res101, inductive)" in labels
    assert not any(r.kind == "published" for r in build_table(results, layout="icis").rows)


def test_published_note_only_when_published_rows_are_shown(results, published):
    synthetic_only = results.select(dataset="synth-tiny")
    table = build_table(synthetic_only, layout="icis", published=published)
    assert not any(r.kind == "published" for r in table.rows)
    assert not any(n.startswith("Published rows:") for n in table.notes)
    assert "No published rows: published numbers are for the real datasets, and every dataset here is " \
           "synthetic." in table.notes
    assert table.notes[2] == "Bold: best of this suite's rows per column."


def test_synthetic_datasets_are_labelled_in_headers(results):
    headers = [c.header for c in build_table(results).columns]
    assert "synth-tiny (synthetic): H" in headers
    assert not any("CUB (synthetic)" in h for h in headers)


def test_calibrated_and_ausuc_columns_sit_beside_uncalibrated(results):
    table = build_table(results, layout="icis", calibrated=True, ausuc=True)
    cub = [c.label for c in table.columns if c.group == "CUB"]
    assert cub == ["T1", "S", "U", "H", "S (cs)", "U (cs)", "H (cs)", "AUSUC"]


def test_gbu_layout_groups_zsl_then_gzsl(results):
    table = build_table(results, layout="gbu")
    groups = list(dict.fromkeys(c.group for c in table.columns))
    assert groups[0] == "ZSL T1"
    assert groups[1:4] == ["GZSL CUB", "GZSL AWA2", "GZSL synth-tiny (synthetic)"]
    assert [c.label for c in table.columns if c.group == "GZSL CUB"] == ["u", "s", "H"]


def test_ablation_layout_has_the_fixed_rows_in_order(results):
    table = build_table(results, layout="ablation")
    assert [r.label for r in table.rows] == ["ICIS: MLP (MSE)", "ICIS: MLP + cosine", "ICIS: single-modal AEs",
                                             "ICIS: cross-modal AEs", "ICIS"]
    assert all(c.notes == (NOTE_NO_RECORDS,) for c in _row(table, "ICIS: cross-modal AEs").cells[:-1])


def test_csv_is_long_form_in_percent(results):
    frame = pd.read_csv(__import__("io").StringIO(render(build_table(results), "csv")))
    row = frame[(frame["row"] == "ICIS") & (frame["dataset"] == "CUB") & (frame["metric"] == "gzsl_h")].iloc[0]
    assert row["mean_percent"] == pytest.approx(54.5, abs=0.05) and row["n"] == 3 and bool(row["best"])


def test_latex_escape():
    assert latex_escape("a_b & 50% ± γ") == r"a\_b \& 50\% $\pm$ $\gamma$"


def test_unknown_layout_is_a_clear_error(results):
    with pytest.raises(ValueError, match="unknown layout 'nope'"):
        build_table(results, layout="nope")


def _pdflatex() -> str:
    """pdflatex's path; skips without it, unless ZSLBENCH_REQUIRE_LATEX=1 (set by .ci/run, which installs it)."""
    path = shutil.which("pdflatex")
    if path is None:
        if os.environ.get("ZSLBENCH_REQUIRE_LATEX") == "1":
            pytest.fail("ZSLBENCH_REQUIRE_LATEX=1 but pdflatex is not installed")
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
    return path


@pytest.mark.parametrize("layout,kwargs", [
    ("icis", {}), ("icis", {"calibrated": True, "ausuc": True}), ("gbu", {"ausuc": True}), ("ablation", {}),
])
def test_latex_tables_compile(tmp_path, results, published, layout, kwargs):
    """Every layout, as `zslbench report --format latex` writes it, compiles in a plain article."""
    pdflatex = _pdflatex()
    (tmp_path / "table.tex").write_text(render(build_table(results, layout=layout, published=published, **kwargs),
                                               "latex"))
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n"
                                      "\\begin{document}\n\\input{table.tex}\n\\end{document}\n")
    proc = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    errors = re.findall(r"^!.*$", proc.stdout, flags=re.M)
    assert proc.returncode == 0, f"pdflatex failed: {errors or proc.stdout[-2000:]}"
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
    assert "Overfull \\hbox" not in proc.stdout.split("table.tex")[-1]  # the table is shrunk to the line


def test_row_labels_show_hyper_parameters_only_where_they_differ():
    from zslbench.report.labels import row_labels

    keys = [("icis", '{"lr":0.1,"h":8}', None), ("icis", '{"lr":0.01,"h":8}', None),
            ("eszsl", '{"gamma":1.0}', None), ("eszsl", '{"gamma":1.0}', "fast")]
    labels = row_labels(keys, {"icis": "ICIS", "eszsl": "ESZSL"}.__getitem__)
    assert labels[keys[0]] == "ICIS (lr=0.1)" and labels[keys[1]] == "ICIS (lr=0.01)"
    assert labels[keys[2]] == "ESZSL" and labels[keys[3]] == "ESZSL [fast]"


def test_vgse_variants_sit_beside_the_published_vgse_row(published):
    recs = [make_record(m, "CUB", 0, make_metrics(0.4, 0.5, 0.3)) for m in ("wavg", "smo")]
    table = build_table(collect([(f"runs/CUB/{r['spec']['method']}/{r['run_id']}.json", r) for r in recs]),
                        published=published)
    labels = [r.label for r in table.rows]
    i = labels.index("VGSE-WAvg")
    assert labels[i + 1] == "VGSE-CRM (published, res101_finetuned)" and labels[i + 2] == "VGSE-SMO"
    assert "VGSE-CRM" not in labels  # no empty row of ours for the published name
    assert "WAvg or SMO unknown" in table.rows[i + 1].notes[0]


def test_rows_note_a_selected_value_that_departs_from_the_paper():
    """ICIS with output_norm=seen_mean carries a footnote; the paper preset's raw rows do not."""
    recs = [make_record("icis", "CUB", s, make_metrics(0.5, 0.6, 0.4)) for s in (0, 1)]
    for r in recs:
        r["selected_hparams"] = {"output_norm": "seen_mean", "lr": 1e-5}
    paper = make_record("icis", "CUB", 0, make_metrics(0.5, 0.6, 0.4), preset="paper")
    paper["selected_hparams"] = {"output_norm": "raw"}
    table = build_table(collect([(f"runs/CUB/icis/{r['run_id']}.json", r) for r in [*recs, paper]]))
    notes = {r.label: r.notes for r in table.rows if r.kind == "ours"}
    assert len(notes) == 2
    ours, preset_paper = (notes[k] for k in sorted(notes, key=len))
    assert any("output_norm=seen_mean" in n for n in ours)
    assert preset_paper == ()
    assert "output_norm=seen_mean" in render(table, "md")
