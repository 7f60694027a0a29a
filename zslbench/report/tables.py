"""Result tables: summaries over seeds -> a :class:`Table` (rendered by :mod:`zslbench.report.render`).

Layouts:

- ``icis``: the ICIS paper's Table 1 - rows are methods; per dataset a column group ZSL top-1, GZSL S,
  U, H (plus calibrated S/U/H with ``calibrated``, AUSUC with ``ausuc``).
- ``gbu``: the GBU paper's layout - ZSL top-1 for every dataset, then per dataset GZSL u, s, H.
- ``ablation``: the ICIS ablation rows (icis_mlp, icis_cosine, icis_single_modal, icis_cross_modal, icis)
  in the ``icis`` column layout.

Row labels, positions and hyper-parameter notes of our methods come from their records' ``method_meta``
(declared on the method class); rows of the published tables we have no record of, and published rows,
are named by :mod:`zslbench.report.published`.

Rules the builder enforces: only full-data runs of one procedure; cells are "mean ± std" in percent with
one decimal and the number of seeds noted; the best of *our* rows per column is bold (ties at the printed
precision are all bold); a missing cell is a dash with a footnote saying why; the cross-dataset mean
exists only for rows with every dataset present; published numbers sit in their own, labelled rows right
after our row of the same method; synthetic datasets say "(synthetic)" in the header.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd

from zslbench.report.aggregate import Results, failed_counts, summarize
from zslbench.report.labels import (GBU_LABELS, METRIC_LABELS, DatasetColumn, dataset_sort_key, is_missing, row_key,
                                    row_labels)
from zslbench.report.published import PAPER_ROWS, PUBLISHED_LABELS

LAYOUTS: dict[str, dict[str, Any]] = {
    "icis": {"title": "Zero-shot results (ICIS Table 1 layout)", "others": True},
    "gbu": {"title": "Zero-shot results (GBU layout)", "others": True},
    "ablation": {"title": "ICIS ablation", "others": False},
}
"""Layouts; ``others``: whether methods without a position in the layout (a ``table_order`` entry of
their records' ``method_meta``, or a row of :data:`zslbench.report.published.PAPER_ROWS`) are shown."""

NOTE_NOT_RUN = "not run: no record of this method on this dataset"
NOTE_NO_RECORDS = "no records: this method has no run under this procedure and setting"
NOTE_NOT_PUBLISHED_DS = "not published for this dataset"
NOTE_FAILED = "{n} failed run(s) excluded from the numbers."
NOTE_NOT_PUBLISHED_METRIC = "not published for this metric"
NOTE_SYNTHETIC = "no published number: synthetic dataset"
NOTE_INCOMPLETE = "incomplete row: no mean over datasets with a missing cell"


# --------------------------------------------------------------------------------------------------
# The table model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One table column: ``group`` header (a dataset, or "ZSL T1"), ``label`` under it, its metric."""

    group: str
    label: str
    metric: str
    data: DatasetColumn | None  # None for the cross-dataset mean
    over: tuple[DatasetColumn, ...] = ()  # the datasets a mean column averages over

    @property
    def header(self) -> str:
        return f"{self.group}: {self.label}"


@dataclass
class Cell:
    """mean / std are fractions in [0, 1] (None: missing); ``notes`` become numbered footnotes."""

    mean: float | None = None
    std: float | None = None
    n: int = 0
    notes: tuple[str, ...] = ()
    bold: bool = False
    show_n: bool = False

    @property
    def missing(self) -> bool:
        return self.mean is None


@dataclass
class Row:
    label: str
    kind: str  # "ours" or "published"
    method: str
    cells: list[Cell]
    notes: tuple[str, ...] = ()
    seeds: str = ""


@dataclass
class Table:
    title: str
    layout: str
    columns: list[Column]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    def footnotes(self) -> list[str]:
        """Distinct note texts in order of first appearance (row label first, then cells)."""
        seen: dict[str, None] = {}
        for row in self.rows:
            for text in (*row.notes, *(t for c in row.cells for t in c.notes)):
                seen.setdefault(text, None)
        return list(seen)


# --------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------


def _metrics_for(layout: str, calibrated: bool, ausuc: bool) -> tuple[list[str], list[str]]:
    """(ZSL metrics, GZSL metrics) per dataset, in column order."""
    gzsl = ["gzsl_unseen", "gzsl_seen", "gzsl_h"] if layout == "gbu" else ["gzsl_seen", "gzsl_unseen", "gzsl_h"]
    if calibrated:
        gzsl += [m + "_cs" for m in gzsl]
    if ausuc:
        gzsl.append("ausuc")
    return ["zsl_top1"], gzsl


def _columns(layout: str, datasets: Sequence[DatasetColumn], calibrated: bool, ausuc: bool) -> list[Column]:
    names = [d.dataset for d in datasets]
    labels = {d: d.label(with_features=names.count(d.dataset) > 1) for d in datasets}
    zsl, gzsl = _metrics_for(layout, calibrated, ausuc)
    cols: list[Column] = []
    if layout == "gbu":
        cols += [Column("ZSL T1", labels[d], "zsl_top1", d) for d in datasets]
        for d in datasets:
            cols += [Column(f"GZSL {labels[d]}", GBU_LABELS.get(m, METRIC_LABELS[m]), m, d) for m in gzsl]
    else:
        for d in datasets:
            cols += [Column(labels[d], METRIC_LABELS[m], m, d) for m in (*zsl, *gzsl)]
    # Never mix synthetic and real data in one mean: real datasets if there are any, else synthetic ones.
    real = [d for d in datasets if not d.synthetic]
    over = real or list(datasets)
    if len(over) >= 2:
        cols.append(Column("Mean", "H", "gzsl_h", None, tuple(over)))  # its datasets: a general note
    return cols


def build_table(
    results: Results,
    *,
    layout: str = "icis",
    procedure: str = "validation",
    calibrated: bool = False,
    ausuc: bool = False,
    published: pd.DataFrame | None = None,
) -> Table:
    """Lay out the full-data runs of ``procedure`` as ``layout``; ``published`` (from
    :func:`zslbench.report.published.load_published`) adds published rows."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    spec = LAYOUTS[layout]
    res = results.select(procedure=procedure).default_setting()
    summary = summarize(res.tidy)
    fails = failed_counts(res.failed)
    paper_rows = PAPER_ROWS.get(layout, {})
    ranks = dict(paper_rows) | {m: int(meta["table_order"][layout]) for m, meta in results.method_meta.items()
                                if layout in meta["table_order"]}

    def label_of(method: str) -> str:
        if method in results.method_meta:
            return results.label(method)
        return PUBLISHED_LABELS.get(method, method)

    def keep(df: pd.DataFrame) -> pd.DataFrame:
        return df if spec["others"] else df[df["method"].isin(ranks)]

    summary, fails = keep(summary), keep(fails)
    access = dict(zip(res.runs["method"], res.runs["access"])) | dict(zip(res.failed["method"], res.failed["access"]))

    # Datasets (column groups) and our row keys.
    ds_keys: set[DatasetColumn] = set()
    row_keys: set[tuple[str, str, Any]] = set()
    for df in (summary, fails):
        for rec in df.drop_duplicates(["method", "hparams", "preset", "dataset", "feature_id",
                                       "descriptor_id", "synthetic"]).to_dict("records"):
            ds_keys.add(DatasetColumn(rec["dataset"], rec["feature_id"], rec["descriptor_id"], bool(rec["synthetic"])))
            row_keys.add(row_key(rec))
    datasets = sorted(ds_keys, key=dataset_sort_key)
    columns = _columns(layout, datasets, calibrated, ausuc)

    present_methods = {k[0] for k in row_keys}
    covered = present_methods | {results.meta(m)["published_as"] for m in present_methods}
    for m in paper_rows:
        if m not in covered and (not spec["others"] or _has_published(published, m)):
            row_keys.add((m, "{}", None))

    def order(key: tuple[str, str, Any]) -> tuple:
        method = key[0]
        rank = ranks.get(method, math.inf)
        return (rank, access.get(method) != "image_free", method, key[1], str(key[2]))

    index = {tuple(r[c] for c in ("method", "hparams", "preset", "dataset", "feature_id", "descriptor_id",
                                  "metric")): r
             for r in _none_preset(summary).to_dict("records")}
    fail_index = {tuple(r[c] for c in ("method", "hparams", "preset", "dataset", "feature_id", "descriptor_id")): r
                  for r in _none_preset(fails).to_dict("records")}
    ran = {(k[0], k[1], k[2], k[3], k[4], k[5]) for k in index} | set(fail_index)

    rows: list[Row] = []
    labels = row_labels(row_keys, label_of)
    with_published: set[str] = set()
    for key in sorted(row_keys, key=order):
        method, hparams, preset = key
        has_any = any(k[:3] == key for k in ran)
        cells = []
        for col in columns:
            if col.data is None:
                cells.append(Cell())
                continue
            d = col.data
            cell_key = (*key, d.dataset, d.feature_id, d.descriptor_id)
            found = index.get((*cell_key, col.metric))
            failed = fail_index.get(cell_key)
            if found is not None:
                notes = ()
                if failed is not None:
                    total = failed["n_failed"] + found["n"]
                    notes = (f"{failed['n_failed']} of {total} runs failed "
                             f"({', '.join(failed['error_types']) or 'no error type'}); mean over the rest",)
                std = None if is_missing(found["std"]) else float(found["std"])
                cells.append(Cell(float(found["mean"]), std, int(found["n"]), notes))
            elif failed is not None:
                cells.append(Cell(notes=(f"failed: all {failed['n_failed']} runs failed "
                                         f"({', '.join(failed['error_types']) or 'no error type'})",)))
            elif cell_key in ran:
                cells.append(Cell(notes=(f"not recorded: the runs have no '{col.metric}' value",)))
            elif has_any:
                cells.append(Cell(notes=(NOTE_NOT_RUN,)))
            else:
                cells.append(Cell(notes=(NOTE_NO_RECORDS,)))
        row = Row(labels[key], "ours", method, cells, notes=_hparam_notes(res, key))
        finish_ours_row(row)
        rows.append(row)
        pub_name = results.meta(method)["published_as"]
        if published is not None and pub_name not in with_published:
            with_published.add(pub_name)
            rows += _published_rows(pub_name, PUBLISHED_LABELS.get(pub_name) or label_of(pub_name), columns,
                                    published, access.get(method))
    _mean_column(rows, columns)
    _bold_best(rows, columns)
    mean_over = columns[-1].over if columns and columns[-1].data is None else ()
    notes = _general_notes(res, results, procedure, datasets, mean_over, calibrated, ausuc,
                           published_given=published is not None,
                           published_shown=any(r.kind == "published" for r in rows))
    title = spec["title"] + (" - PAPER procedure (test-set selection)" if procedure == "paper" else "")
    return Table(title=title, layout=layout, columns=columns, rows=rows, notes=notes)


def _hparam_notes(res: Results, key: tuple[str, str, Any]) -> tuple[str, ...]:
    """The method's ``hparam_notes`` (from its ``method_meta``) that apply to any run of the row
    ``(method, hparams, preset)``."""
    method, hparams, preset = key
    runs = res.runs[(res.runs["method"] == method) & (res.runs["hparams"] == hparams)]
    runs = runs[runs["preset"].isna()] if preset is None else runs[runs["preset"] == preset]
    chosen = [json.loads(h) for h in runs["selected_hparams"].unique()]
    return tuple(n["note"] for n in res.meta(method)["hparam_notes"]
                 if any(h.get(n["name"]) == n["value"] for h in chosen))


def _none_preset(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose missing presets are None (not NaN), so that they compare equal in dict keys."""
    preset = df["preset"].astype(object)
    return df.assign(preset=[None if is_missing(p) else p for p in preset])


def _has_published(published: pd.DataFrame | None, method: str) -> bool:
    return published is not None and bool((published["method"] == method).any())


def finish_ours_row(row: Row) -> None:
    """Set ``row.seeds`` (the seed counts of its cells) and show n on cells with fewer seeds than the most."""
    ns = [c.n for c in row.cells if not c.missing]
    if not ns:
        row.seeds = "0"
        return
    lo, hi = min(ns), max(ns)
    row.seeds = str(hi) if lo == hi else f"{lo}-{hi}"
    for c in row.cells:
        c.show_n = not c.missing and c.n != hi


def _published_rows(
    method: str, label: str, columns: list[Column], published: pd.DataFrame, our_access: str | None
) -> list[Row]:
    from zslbench.report.published import full_data_numbers

    pub = full_data_numbers(published[published["method"] == method])
    rows = []
    for (features, pub_access), block in pub.groupby(["features", "access"], sort=True):
        lookup = {(r["dataset"], r["metric"]): r for r in block.to_dict("records")}
        datasets_with_numbers = set(block["dataset"])
        cells, sources = [], []
        for col in columns:
            if col.data is None:
                cells.append(Cell())
                continue
            hit = lookup.get((col.data.dataset, col.metric))
            if hit is not None and not col.data.synthetic:
                cells.append(Cell(float(hit["value"])))
                if hit["source"] not in sources:
                    sources.append(hit["source"])
            elif col.data.synthetic:
                cells.append(Cell(notes=(NOTE_SYNTHETIC,)))
            elif col.data.dataset in datasets_with_numbers:
                cells.append(Cell(notes=(NOTE_NOT_PUBLISHED_METRIC,)))
            else:
                cells.append(Cell(notes=(NOTE_NOT_PUBLISHED_DS,)))
        if not sources:
            continue
        note = (f"published, not run by this suite: {label} with {features} features, "
                f"the paper's own procedure; source: {'; '.join(sources)}")
        tag = features if our_access in (None, pub_access) else f"{features}, {pub_access}"
        rows.append(Row(f"{label} (published, {tag})", "published", method, cells,
                        notes=(note,)))
    return rows


def _mean_column(rows: list[Row], columns: list[Column]) -> None:
    """Fill the cross-dataset mean of H, only for rows with every dataset's H present."""
    if not columns or columns[-1].data is not None:
        return
    over = set(columns[-1].over)
    h_idx = [i for i, c in enumerate(columns) if c.data in over and c.metric == "gzsl_h"]
    for row in rows:
        values = [row.cells[i].mean for i in h_idx]
        if all(v is not None for v in values):
            row.cells[-1] = Cell(sum(values) / len(values))  # type: ignore[arg-type]
        else:
            row.cells[-1] = Cell(notes=(NOTE_INCOMPLETE,))


def _bold_best(rows: list[Row], columns: list[Column]) -> None:
    """Bold the best of our rows per column, compared at the printed precision (ties all bold)."""
    ours = [r for r in rows if r.kind == "ours"]
    for i, _ in enumerate(columns):
        shown = [(r, round(r.cells[i].mean * 100, 1)) for r in ours if r.cells[i].mean is not None]
        if len(shown) < 2:
            continue
        best = max(v for _, v in shown)
        for r, v in shown:
            r.cells[i].bold = v == best


def _general_notes(
    res: Results, full: Results, procedure: str, datasets: Sequence[DatasetColumn],
    mean_over: Sequence[DatasetColumn], calibrated: bool, ausuc: bool, *, published_given: bool,
    published_shown: bool,
) -> list[str]:
    notes = ["Per-class top-1 accuracy in %, mean ± std over seeds (column 'seeds': how many); full data "
             "(all seen classes, images and descriptor dimensions)."]
    if procedure == "paper":
        notes.append("PAPER procedure: epochs / hyper-parameters selected as in the original papers, which "
                     "may use TEST data. Not comparable with the validation-procedure tables.")
    else:
        notes.append(f"Procedure '{procedure}': hyper-parameters, epochs and calibration chosen on "
                     "validation classes only; test data used once.")
    notes.append("Bold: best of this suite's rows per column"
                 + (" (published rows are not ranked)." if published_shown else "."))
    if mean_over:
        notes.append(f"Mean H: GZSL H averaged over {', '.join(d.label() for d in mean_over)}; only rows "
                     "with all of them have one.")
    if calibrated:
        notes.append("(cs): calibrated stacking, the offset gamma chosen on validation data.")
    if ausuc:
        notes.append("AUSUC: area under the seen-unseen accuracy curve (x 100).")
    if published_shown:
        notes.append("Published rows: numbers reported in papers under their own procedures, not "
                     "reproduced here.")
    elif published_given and datasets and all(d.synthetic for d in datasets):
        notes.append("No published rows: published numbers are for the real datasets, and every dataset "
                     "here is synthetic.")
    elif published_given:
        notes.append("No published rows: no published number for these methods and datasets.")
    if datasets:
        notes.append("Data: " + "; ".join(f"{d.dataset} features={d.feature_id}, descriptors={d.descriptor_id}"
                                          for d in datasets) + ".")
    if any(d.synthetic for d in datasets):
        notes.append("(synthetic): built-in synthetic data, a pipeline check, not a benchmark result.")
    if res.n_failed:
        notes.append(NOTE_FAILED.format(n=res.n_failed))
    if full.issues:
        kinds = sorted({i.kind for i in full.issues})
        notes.append(f"{len(full.issues)} record issue(s) ({', '.join(kinds)}): the affected files were "
                     "not merged into the numbers; see the log.")
    return notes
