"""Validation classes against test classes: the ``selection`` layout of ``zslbench report``.

Every hyper-parameter, epoch count and calibration of the validation procedure is chosen on validation
classes (seen classes held out from training). Each record keeps the chosen configuration's score there
(``validation.metrics``); this table puts it beside the test score of the same run. A test H far under the
validation H says that, for this method on this dataset, the validation classes did not foresee the test
classes: the search optimised something the test-unseen classes do not reward.
"""

from __future__ import annotations

import statistics
from typing import Any

from zslbench.report.aggregate import Results
from zslbench.report.labels import DatasetColumn, dataset_sort_key, row_key, row_labels
from zslbench.report.tables import NOTE_FAILED, NOTE_NOT_RUN, Cell, Column, Row, Table, finish_ours_row

COLUMNS: tuple[tuple[str, str], ...] = (
    ("validation_zsl_top1", "T1 val"), ("zsl_top1", "T1"),
    ("validation_gzsl_h", "H val"), ("gzsl_h", "H"), ("gap_gzsl_h", "H - H val"),
)
"""(metric, column label) per dataset; ``validation_*``: the chosen configuration's score on the
validation classes; ``gap_gzsl_h``: test H minus validation H, per run."""

NOTE_NO_VALIDATION = "no validation score in these records"


def run_values(record: dict[str, Any]) -> dict[str, float]:
    """The :data:`COLUMNS` metrics of one record (fractions; a missing score is left out)."""
    test = record.get("metrics") or {}
    val = (record.get("validation") or {}).get("metrics") or {}
    out = {m: float(test[m]) for m in ("zsl_top1", "gzsl_h") if test.get(m) is not None}
    out |= {f"validation_{m}": float(val[m]) for m in ("zsl_top1", "gzsl_h") if val.get(m) is not None}
    if "gzsl_h" in out and "validation_gzsl_h" in out:
        out["gap_gzsl_h"] = out["gzsl_h"] - out["validation_gzsl_h"]
    return out


def build_selection_table(results: Results) -> Table:
    """Full-data, validation-procedure runs: per dataset the validation and test T1 / H and their gap,
    mean ± std over seeds; rows ordered by the mean gap in H over their datasets (largest drop first)."""
    res = results.select(procedure="validation").default_setting()
    values: dict[tuple, dict[DatasetColumn, list[dict[str, float]]]] = {}
    for run in res.runs.to_dict("records"):
        data = DatasetColumn(run["dataset"], run["feature_id"], run["descriptor_id"], bool(run["synthetic"]))
        values.setdefault(row_key(run), {}).setdefault(data, []).append(run_values(res.records[run["run_id"]]))
    datasets = sorted({d for per_data in values.values() for d in per_data}, key=dataset_sort_key)
    names = [d.dataset for d in datasets]
    columns = [Column(d.label(with_features=names.count(d.dataset) > 1), label, metric, d)
               for d in datasets for metric, label in COLUMNS]
    labels = row_labels(values, results.label)
    rows = []
    for key, per_data in values.items():
        cells = [_cell(per_data.get(col.data), col.metric) for col in columns]  # type: ignore[arg-type]
        row = Row(labels[key], "ours", key[0], cells)
        finish_ours_row(row)
        rows.append(row)
    gap_idx = [i for i, c in enumerate(columns) if c.metric == "gap_gzsl_h"]

    def mean_gap(row: Row) -> float:
        gaps = [row.cells[i].mean for i in gap_idx if row.cells[i].mean is not None]
        return statistics.fmean(gaps) if gaps else float("inf")

    rows.sort(key=lambda r: (mean_gap(r), r.label))
    notes = [
        "Per-class top-1 accuracy in %, mean ± std over seeds; full data, validation procedure only (the "
        "paper procedure selects on test data, so it has no such gap).",
        "'val': the chosen configuration's score on the validation classes, where the search chose it; "
        "the column beside it: the same run on the test classes.",
        "H - H val: test H minus validation H per run, then mean ± std; rows: largest mean drop first. A "
        "large drop says the validation classes did not foresee the test classes for that method.",
    ]
    if any(d.synthetic for d in datasets):
        notes.append("(synthetic): built-in synthetic data; its test-unseen classes carry effects the "
                     "validation classes do not (results/README.md, generator v5).")
    if res.n_failed:
        notes.append(NOTE_FAILED.format(n=res.n_failed))
    title = "Validation classes against test classes (selection gap)"
    return Table(title=title, layout="selection", columns=columns, rows=rows, notes=notes)


def _cell(runs: list[dict[str, float]] | None, metric: str) -> Cell:
    if not runs:
        return Cell(notes=(NOTE_NOT_RUN,))
    xs = [r[metric] for r in runs if metric in r]
    if not xs:
        return Cell(notes=(NOTE_NO_VALIDATION,))
    std = statistics.stdev(xs) if len(xs) > 1 else None
    return Cell(statistics.fmean(xs), std, len(xs))
