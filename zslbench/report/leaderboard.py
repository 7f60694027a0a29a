"""The leaderboard: methods ranked by mean GZSL H over the datasets that every ranked method has.

Only full-data runs count. Each (procedure, real / synthetic) pair is its own section: the validation
procedure on real datasets is the leaderboard; synthetic data is a pipeline check; paper-procedure runs
(which may select on test data) are a separate, labelled section and never mixed into the ranking.

Which datasets rank a section: among the candidate dataset sets (each method's own set, and all
datasets), the one that maximises (methods that have every dataset in it) x (datasets in it); ties go to
more datasets, then more methods. Methods without a cell in that set are listed as "not ranked" with the
datasets they miss. A mean is never taken over a missing cell.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from zslbench.report.aggregate import Results, summarize
from zslbench.report.labels import DatasetColumn, dataset_sort_key, format_value, is_missing, row_key, row_labels

log = logging.getLogger(__name__)

RANK_METRIC = "gzsl_h"
CELL_METRICS = ("gzsl_h", "zsl_top1")
PROCEDURE_ORDER = ("validation", "paper")


def choose_datasets(coverage: dict[Any, set[Any]]) -> tuple[list[Any], list[Any]]:
    """Pick the ranking datasets from ``coverage`` (method -> datasets with a cell).

    Returns (datasets used, methods ranked), both sorted by their natural order.
    """
    if not coverage:
        return [], []
    everything = set().union(*coverage.values())
    candidates = {frozenset(s) for s in coverage.values() if s} | {frozenset(everything)}
    best_key, best = None, (frozenset(), [])
    for cand in candidates:
        methods = [m for m, s in coverage.items() if cand <= s]
        key = (len(methods) * len(cand), len(cand), len(methods), sorted(map(str, cand)))
        if best_key is None or key > best_key:
            best_key, best = key, (cand, methods)
    return sorted(best[0], key=str), sorted(best[1], key=str)


def _section(
    name: str, note: str, summary: pd.DataFrame, runs: pd.DataFrame, failed: pd.DataFrame,
    method_label: Callable[[str], str],
) -> dict[str, Any]:
    """One leaderboard section from a summary restricted to it (JSON-ready; values are fractions)."""
    failed_cells = {(row_key(r), DatasetColumn(r["dataset"], r["feature_id"], r["descriptor_id"], bool(r["synthetic"])))
                    for r in failed.to_dict("records")}
    cells: dict[tuple, dict[DatasetColumn, dict[str, dict[str, Any]]]] = {}
    for r in summary[summary["metric"].isin(CELL_METRICS)].to_dict("records"):
        row = row_key(r)
        ds = DatasetColumn(r["dataset"], r["feature_id"], r["descriptor_id"], bool(r["synthetic"]))
        cells.setdefault(row, {}).setdefault(ds, {})[r["metric"]] = {
            "mean": float(r["mean"]), "std": None if is_missing(r["std"]) else float(r["std"]),
            "n": int(r["n"]), "seeds": list(r["seeds"]), "git_revisions": list(r["git_revisions"]),
            "method_versions": list(r["method_versions"])}
    datasets = sorted({d for per in cells.values() for d in per}, key=dataset_sort_key)
    labels = row_labels(sorted(cells, key=str), method_label)
    coverage = {row: {d for d, m in per.items() if RANK_METRIC in m} for row, per in cells.items()}
    used, ranked_rows = choose_datasets(coverage)
    used = sorted(used, key=dataset_sort_key)

    def ds_name(d: DatasetColumn) -> str:
        names = [x.dataset for x in datasets]
        return d.label(with_features=names.count(d.dataset) > 1)

    def row_cells(row: tuple) -> dict[str, Any]:
        return {ds_name(d): cells[row].get(d, {}) for d in datasets}

    def revisions(row: tuple) -> list[str]:
        return sorted({rev for per in cells[row].values() for m in per.values() for rev in m["git_revisions"]})

    def versions(row: tuple) -> dict[str, list[int]]:
        """Method versions per dataset of the row (name -> sorted versions)."""
        return {ds_name(d): sorted({v for m in per.values() for v in m["method_versions"]})
                for d, per in cells[row].items()}

    ranked = []
    for row in ranked_rows:
        score = sum(cells[row][d][RANK_METRIC]["mean"] for d in used) / len(used)
        ranked.append({"method": row[0], "label": labels[row], "hparams": row[1], "preset": row[2],
                       "mean_gzsl_h": score, "cells": row_cells(row), "git_revisions": revisions(row),
                       "method_versions": versions(row)})
    ranked.sort(key=lambda r: (-r["mean_gzsl_h"], r["label"]))
    for i, r in enumerate(ranked):
        tied = i > 0 and math.isclose(r["mean_gzsl_h"], ranked[i - 1]["mean_gzsl_h"], abs_tol=1e-12)
        r["rank"] = ranked[i - 1]["rank"] if tied else i + 1
    left_out = []
    for row in sorted(set(cells) - set(ranked_rows), key=lambda k: labels[k]):
        missing = [ds_name(d) + (" (failed)" if (row, d) in failed_cells else "")
                   for d in used if d not in coverage[row]]
        left_out.append({"method": row[0], "label": labels[row], "missing": missing,
                         "cells": row_cells(row), "git_revisions": revisions(row),
                         "method_versions": versions(row)})
    all_revs = sorted({str(x) for x in runs["git_revision"] if not is_missing(x)})
    return {
        "name": name, "note": note,
        "datasets": [ds_name(d) for d in datasets], "ranking_datasets": [ds_name(d) for d in used],
        "data": {ds_name(d): {"feature_id": d.feature_id, "descriptor_id": d.descriptor_id,
                              "synthetic": d.synthetic} for d in datasets},
        "ranked": ranked, "left_out": left_out,
        "git_revisions": all_revs, "mixed_revisions": len(all_revs) > 1,
        "unknown_revision_runs": int(runs["git_revision"].map(is_missing).sum()),
    }


def build_leaderboard(results: Results) -> dict[str, Any]:
    """The leaderboard as a JSON-ready dict (accuracies as fractions in [0, 1])."""
    default = results.default_setting()
    summary = summarize(default.tidy)
    sections = []
    procedures = sorted(set(default.runs["procedure"]),
                        key=lambda p: (PROCEDURE_ORDER.index(p) if p in PROCEDURE_ORDER else 99, p))
    for procedure in procedures:
        for synthetic in (False, True):
            sub = summary[(summary["procedure"] == procedure) & (summary["synthetic"] == synthetic)]
            runs = default.runs[(default.runs["procedure"] == procedure) & (default.runs["synthetic"] == synthetic)]
            if sub.empty:
                continue
            kind = "synthetic datasets (a pipeline check, not a result)" if synthetic else "real datasets"
            if procedure == "validation":
                name = f"{kind[0].upper()}{kind[1:]}, validation procedure"
                note = "Hyper-parameters, epochs and calibration chosen on validation classes only."
            else:
                name = f"{kind[0].upper()}{kind[1:]}, {procedure.upper()} procedure (separate; not comparable)"
                note = ("Selection as in the original papers, which may use TEST data. Listed for the gap "
                        "between honest and paper numbers; never ranked together with the validation runs.")
            fails = default.failed[(default.failed["procedure"] == procedure)
                                   & (default.failed["synthetic"] == synthetic)]
            sections.append(_section(name, note, sub, runs, fails, results.label))
    n_other = len(results.runs) - len(default.runs)
    return {
        "schema_version": 1,
        "description": "Methods ranked by mean GZSL H (per-class accuracy) over the datasets every ranked "
                       "method has; full-data runs only; cells are mean, sample std and n over seeds.",
        "sections": sections,
        "excluded": {"non_default_setting_runs": int(n_other), "failed_runs": results.n_failed,
                     "record_issues": [str(i) for i in results.issues]},
    }


def short_revision(rev: str) -> str:
    """A 40-hex git revision shortened to 10 characters, keeping a suffix such as "-dirty"."""
    head, sep, tail = rev.partition("-")
    return (head[:10] if len(head) == 40 else head) + sep + tail


def mixed_versions(per_dataset: dict[str, list[int]]) -> str:
    """``"v4: synth-awa2; v5: synth-cub, synth-sun"`` from dataset -> method versions ("" for one version)."""
    by_version: dict[int, list[str]] = {}
    for ds, vs in per_dataset.items():
        for v in vs:
            by_version.setdefault(v, []).append(ds)
    if len(by_version) < 2:
        return ""
    return "; ".join(f"v{v}: {', '.join(sorted(names))}" for v, names in sorted(by_version.items()))


def _fmt(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "–"
    return f"{format_value(cell['mean'], cell['std'])} (n={cell['n']})"


def render_markdown(board: dict[str, Any]) -> str:
    """The leaderboard in Markdown (numbers in percent, one decimal)."""
    from tabulate import tabulate

    lines = ["# zslbench leaderboard", "",
             "Full data only. Methods are ranked by the mean GZSL H over the datasets that every ranked "
             "method has; cells are per-class accuracy in %, mean ± std (n seeds) of GZSL H and ZSL "
             "top-1. A mean is never taken over a missing cell.", ""]
    if not board["sections"]:
        lines.append("No full-data records found.")
    for sec in board["sections"]:
        lines += [f"## {sec['name']}", "", sec["note"], ""]
        used = sec["ranking_datasets"]
        lines.append(f"Ranking datasets: {', '.join(used) if used else 'none'}"
                     " (every ranked method has all of them).")
        if sec["left_out"]:
            lines.append("Left out for missing cells: " + "; ".join(
                f"{r['label']} (missing {', '.join(r['missing'])})" for r in sec["left_out"]) + ".")
        revs = sec["git_revisions"]
        if sec["mixed_revisions"]:
            shown = ", ".join(map(short_revision, revs))
            lines.append(f"**Mixed git revisions: {shown}** - the numbers come from different code versions; "
                         "see the 'revision' column.")
        else:
            lines.append(f"Git revision: {short_revision(revs[0]) if revs else 'unknown'}.")
        mixed = [f"{r['label']} ({versions})" for r in sec["ranked"] + sec["left_out"]
                 if (versions := mixed_versions(r["method_versions"]))]
        if mixed:
            lines.append(f"**Mixed method versions within a row: {'; '.join(mixed)}** - the row's cells come "
                         "from different versions of the method.")
        if sec["unknown_revision_runs"]:
            lines.append(f"{sec['unknown_revision_runs']} run(s) have no recorded git revision.")
        lines.append("")
        head = ["Rank", "Method", "Mean H"]  # over the ranking datasets named above
        for ds in sec["datasets"]:
            head += [f"{ds}: H", f"{ds}: T1"]
        head.append("revision")
        body = []
        for r in sec["ranked"]:
            row = [str(r["rank"]), r["label"], format_value(r["mean_gzsl_h"])]
            for ds in sec["datasets"]:
                row += [_fmt(r["cells"][ds].get("gzsl_h")), _fmt(r["cells"][ds].get("zsl_top1"))]
            row.append(", ".join(map(short_revision, r["git_revisions"])) or "unknown")
            body.append(row)
        if body:
            lines.append(tabulate(body, headers=head, tablefmt="github", disable_numparse=True))
            lines.append("")
        if sec["left_out"]:
            lines += ["Not ranked (missing cells):", ""]
            head2 = ["Method", "missing", *head[3:]]
            body2 = []
            for r in sec["left_out"]:
                row = [r["label"], ", ".join(r["missing"])]
                for ds in sec["datasets"]:
                    row += [_fmt(r["cells"][ds].get("gzsl_h")), _fmt(r["cells"][ds].get("zsl_top1"))]
                row.append(", ".join(map(short_revision, r["git_revisions"])) or "unknown")
                body2.append(row)
            lines.append(tabulate(body2, headers=head2, tablefmt="github", disable_numparse=True))
            lines.append("")
        data = "; ".join(f"{ds}: features={d['feature_id']}, descriptors={d['descriptor_id']}"
                         for ds, d in sec["data"].items())
        lines += [f"Data: {data}.", ""]
    ex = board["excluded"]
    lines.append(f"Excluded: {ex['non_default_setting_runs']} run(s) of non-default settings (see the "
                 f"data-scarcity plots), {ex['failed_runs']} failed run(s), "
                 f"{len(ex['record_issues'])} record issue(s) (duplicates / schema mismatches; see the JSON).")
    return "\n".join(lines) + "\n"


def write_leaderboard(results: Results, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``leaderboard.md`` and ``leaderboard.json`` under ``out_dir``; returns their paths."""
    board = build_leaderboard(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "leaderboard.md", out / "leaderboard.json"
    md.write_text(render_markdown(board), encoding="utf-8")
    js.write_text(json.dumps(board, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    log.info("wrote %s and %s", md, js)
    return md, js
