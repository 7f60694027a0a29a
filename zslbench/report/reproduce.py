"""Reproduction report: our numbers beside the published ones, per dataset and method family.

For every full-data dataset column of a results folder (real xlsa17 data or the built-in datasets) and
every method with a published number for the same dataset and features, the report gives our mean ± std
over seeds, the published value, the difference, and, per dataset and metric, the Spearman rank
correlation between ours and published over the methods that have both.

Matching: real data compares with the published rows of the same dataset and features (``res101``,
``res101_finetuned``); a built-in dataset ``synth-X`` compares with X's ``res101`` rows, which measures the
generator's realism, not a method. On built-in data the rows are split into the *calibration* set (the
numbers the generator's knobs were fitted to, :data:`zslbench.data.synthetic.CALIBRATION_SET`) and the
*held-out* set (every other number); a calibration row says nothing about realism.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from zslbench.report.aggregate import Results, summarize
from zslbench.report.published import full_data_numbers

REPORT_METRICS: tuple[str, ...] = ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h")
LINEAR_FAMILY: tuple[str, ...] = ("ale", "devise", "eszsl", "sae", "conse")
"""The held-out linear family of the realism targets (issue 14): Spearman on GZSL H, ZSL error."""
IMAGE_FREE_BASELINES: tuple[str, ...] = ("conse", "costa", "subreg", "wdae", "vgse_crm", "wavg", "smo")


@dataclass
class Reproduction:
    """The report's content: ``rows`` (one per dataset, method, metric) and per-dataset ``summary``."""

    rows: pd.DataFrame
    summary: list[dict[str, Any]] = field(default_factory=list)
    procedure: str = "validation"
    method_notes: dict[str, str] = field(default_factory=dict)
    """method -> a known difference from the published row it is compared with (its ``published_note``)."""


def _calibration_set() -> dict[str, tuple[str, ...]]:
    from zslbench.data.synthetic import CALIBRATION_SET

    return CALIBRATION_SET


def _published_key(dataset: str, feature_id: str, synthetic: bool) -> tuple[str, str]:
    if synthetic:
        return dataset[len("synth-"):].upper(), "res101"
    return dataset, feature_id


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN with fewer than 3 pairs or no spread."""
    if len(a) < 3:
        return float("nan")
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def build_reproduction(res: Results, published: pd.DataFrame, *, procedure: str = "validation") -> Reproduction:
    """Match full-data runs of ``procedure`` with the published numbers (fractions in [0, 1])."""
    default = res.default_setting().select(procedure=procedure)
    tidy = default.tidy[default.tidy["metric"].isin(REPORT_METRICS)]
    keys = ("method", "dataset", "feature_id", "descriptor_id", "synthetic", "metric")
    ours = summarize(tidy, keys) if not tidy.empty else pd.DataFrame(columns=[*keys, "mean", "std", "n"])
    pub = full_data_numbers(published)
    cal = _calibration_set()
    rows = []
    for r in ours.to_dict("records"):
        if r["descriptor_id"] not in ("att", None):
            continue
        pdata, pfeat = _published_key(r["dataset"], str(r["feature_id"]), bool(r["synthetic"]))
        hit = pub[(pub["method"] == r["method"]) & (pub["dataset"] == pdata) & (pub["features"] == pfeat)
                  & (pub["metric"] == r["metric"])]
        if hit.empty:
            continue
        value = float(hit["value"].iloc[0])
        if r["synthetic"]:
            role = ("calibration" if r["method"] in cal["methods"] and r["metric"] in cal["metrics"]
                    and pfeat in cal["features"] else "held-out")
        else:
            role = "reference"
        rows.append({
            "dataset": r["dataset"], "published_dataset": pdata, "features": pfeat,
            "synthetic": bool(r["synthetic"]), "family": res.meta(r["method"])["family"], "method": r["method"],
            "metric": r["metric"], "role": role, "mean": float(r["mean"]),
            "std": float(r["std"]) if r["std"] == r["std"] else None, "n": int(r["n"]),
            "published": value, "diff": float(r["mean"]) - value,
            "source": str(hit["source"].iloc[0]),
        })
    table = pd.DataFrame(rows, columns=["dataset", "published_dataset", "features", "synthetic", "family",
                                        "method", "metric", "role", "mean", "std", "n", "published", "diff",
                                        "source"])
    summary = [_summarise(ds, table[table["dataset"] == ds], default) for ds in sorted(table["dataset"].unique())]
    notes = {m: res.meta(m)["published_note"] for m in sorted(set(table["method"]))
             if res.meta(m)["published_note"]}
    return Reproduction(rows=table, summary=summary, procedure=procedure, method_notes=notes)


def _rank(table: pd.DataFrame, metric: str, methods: tuple[str, ...] | None = None) -> dict[str, Any]:
    sub = table[table["metric"] == metric]
    if methods is not None:
        sub = sub[sub["method"].isin(methods)]
    return {"spearman": spearman(sub["mean"].to_numpy(), sub["published"].to_numpy()),
            "methods": sorted(sub["method"])}


def _summarise(dataset: str, table: pd.DataFrame, runs: Results) -> dict[str, Any]:
    held = table[table["role"] != "calibration"]
    cal = table[table["role"] == "calibration"]
    zsl_held = held[held["metric"] == "zsl_top1"]
    linear_zsl = table[(table["metric"] == "zsl_top1") & table["method"].isin(LINEAR_FAMILY)
                       & (table["role"] != "calibration")]
    out: dict[str, Any] = {
        "dataset": dataset,
        "compared_to": f"{table['published_dataset'].iloc[0]} ({table['features'].iloc[0]})",
        "synthetic": bool(table["synthetic"].iloc[0]),
        "spearman_zsl_all": _rank(table, "zsl_top1"),
        "spearman_gzsl_h_all": _rank(table, "gzsl_h"),
        "spearman_gzsl_h_linear": _rank(table, "gzsl_h", LINEAR_FAMILY),
        "spearman_zsl_linear": _rank(table, "zsl_top1", LINEAR_FAMILY),
        "mean_abs_zsl_error_held_out": float(zsl_held["diff"].abs().mean()) if len(zsl_held) else None,
        "mean_abs_zsl_error_linear_held_out": float(linear_zsl["diff"].abs().mean()) if len(linear_zsl) else None,
        "calibration_max_abs_error": float(cal["diff"].abs().max()) if len(cal) else None,
        "calibration_mean_abs_error": float(cal["diff"].abs().mean()) if len(cal) else None,
    }
    out["image_free_order"] = _image_free_order(runs, dataset)
    out["below_twice_chance"] = _below_twice_chance(runs, dataset)
    return out


def _image_free_order(runs: Results, dataset: str) -> dict[str, Any] | None:
    """ICIS against the best image-free baseline we ran, on ZSL and GZSL H (None without both)."""
    t = runs.tidy[(runs.tidy["dataset"] == dataset) & runs.tidy["metric"].isin(("zsl_top1", "gzsl_h"))]
    means = t.groupby(["method", "metric"])["value"].mean()
    if ("icis", "zsl_top1") not in means.index:
        return None
    out = {}
    for metric in ("zsl_top1", "gzsl_h"):
        base = {m: float(means[(m, metric)]) for m in IMAGE_FREE_BASELINES if (m, metric) in means.index}
        if not base:
            return None
        best = max(base, key=base.get)
        out[metric] = {"icis": float(means[("icis", metric)]), "best_baseline": best,
                       "best_baseline_value": base[best], "icis_ahead": float(means[("icis", metric)]) > base[best]}
    return out


def _below_twice_chance(runs: Results, dataset: str) -> list[dict[str, Any]]:
    """Methods whose mean ZSL top-1, or any one seed's, is under twice chance (1 / unseen classes): one
    failed seed must show even when the others lift the mean. ``seeds_below``: [(seed, zsl_top1)]."""
    out = []
    sub = runs.runs[runs.runs["dataset"] == dataset]
    for method, group in sub.groupby("method"):
        if runs.meta(method)["family"] == "reference":  # the random reference is at chance by design
            continue
        rec = runs.records.get(group["run_id"].iloc[0], {})
        n_unseen = len((rec.get("per_class") or {}).get("unseen_classes") or [])
        zsl = runs.tidy[(runs.tidy["run_id"].isin(group["run_id"])) & (runs.tidy["metric"] == "zsl_top1")]
        if not n_unseen or zsl.empty:
            continue
        seed_of = dict(zip(group["run_id"], group["seed"]))
        bar = 2.0 / n_unseen
        below = sorted((int(seed_of[r]), float(v)) for r, v in zip(zsl["run_id"], zsl["value"]) if v < bar)
        if below or zsl["value"].mean() < bar:
            out.append({"method": method, "zsl_top1": float(zsl["value"].mean()), "chance": 1.0 / n_unseen,
                        "seeds_below": below})
    return out


# ---------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _corr(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:+.2f}"


def render_markdown(rep: Reproduction) -> str:
    cal = _calibration_set()
    lines = ["# Reproduction report", "",
             f"Procedure: `{rep.procedure}`. Numbers in percent; ours = mean ± std over seeds (n). diff = ours "
             "- published. Published numbers from results/published/published.csv, same features.", ""]
    if rep.rows.empty:
        return "\n".join(lines + ["No run matches a published number.", ""])
    if rep.rows["synthetic"].any():
        lines += ["Built-in (synthetic) datasets compare with the real dataset they mimic (synth-X -> X, "
                  "res101): a **realism measure** of the generator, not a result of any method. "
                  f"Calibration set (fitted by benchmarks/calibrate_synthetic.py): {', '.join(cal['methods'])} "
                  f"x {', '.join(cal['metrics'])} on {', '.join(cal['features'])}. Every other row is held out "
                  "(never used to set a knob).", ""]
    lines += ["## Summary", "",
              "| dataset | compared to | Spearman ZSL (all) | Spearman H (all) | Spearman H (linear) | "
              "mean abs ZSL err (held-out) | mean abs ZSL err (linear, held-out) | calibration mean / max abs err | "
              "ICIS ahead of image-free baselines (ZSL, H) | ZSL < 2x chance |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for s in rep.summary:
        order = s["image_free_order"]
        order_txt = ("n/a" if order is None else ", ".join(
            f"{'yes' if order[m]['icis_ahead'] else 'no'} ({_pct(order[m]['icis'])} vs {order[m]['best_baseline']} "
            f"{_pct(order[m]['best_baseline_value'])})" for m in ("zsl_top1", "gzsl_h")))
        below = ", ".join(f"{b['method']} {_pct(b['zsl_top1'])}" + "".join(
            f" (seed {seed}: {_pct(v)})" for seed, v in b["seeds_below"]) for b in s["below_twice_chance"]) or "none"
        lin = s["spearman_gzsl_h_linear"]
        lines.append(
            f"| {s['dataset']} | {s['compared_to']} | {_corr(s['spearman_zsl_all']['spearman'])} "
            f"({len(s['spearman_zsl_all']['methods'])}) | {_corr(s['spearman_gzsl_h_all']['spearman'])} "
            f"({len(s['spearman_gzsl_h_all']['methods'])}) | {_corr(lin['spearman'])} ({len(lin['methods'])}) | "
            f"{_pct(s['mean_abs_zsl_error_held_out'])} | {_pct(s['mean_abs_zsl_error_linear_held_out'])} | "
            f"{_pct(s['calibration_mean_abs_error'])} / {_pct(s['calibration_max_abs_error'])} | {order_txt} | {below} |")
    lines.append("")
    notes = [f"- {m}: {note}" for m, note in sorted(rep.method_notes.items())]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    for role, title in (("calibration", "Calibration rows (fitted: not a realism measure)"),
                        ("held-out", "Held-out rows"), ("reference", "Real data")):
        part = rep.rows[rep.rows["role"] == role]
        if part.empty:
            continue
        lines += [f"## {title}", ""]
        for ds, block in part.groupby("dataset", sort=True):
            lines += [f"### {ds} vs {block['published_dataset'].iloc[0]} ({block['features'].iloc[0]})", "",
                      "| family | method | metric | ours | published | diff |", "|---|---|---|---|---|---|"]
            block = block.sort_values(["family", "method", "metric"])
            for r in block.to_dict("records"):
                std = _pct(r["std"])  # empty for one seed
                std = f" ± {std}" if std else ""
                lines.append(f"| {r['family']} | {r['method']} | {r['metric']} | {_pct(r['mean'])}{std} ({r['n']}) | "
                             f"{_pct(r['published'])} | {100 * r['diff']:+.1f} |")
            lines.append("")
    return "\n".join(lines)


def to_json(rep: Reproduction) -> dict[str, Any]:
    def clean(x: Any) -> Any:
        if isinstance(x, float) and math.isnan(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        if isinstance(x, (np.floating, np.integer, np.bool_)):
            return clean(x.item())
        return x

    return clean({"procedure": rep.procedure, "calibration_set": {k: list(v) for k, v in _calibration_set().items()},
                  "summary": rep.summary, "rows": rep.rows.to_dict("records")})


def write_reproduction(rep: Reproduction, out: Path) -> tuple[Path, Path]:
    """Write ``<out>.md`` and ``<out>.json`` (``out`` without suffix)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    md, js = out.with_suffix(".md"), out.with_suffix(".json")
    md.write_text(render_markdown(rep), encoding="utf-8")
    js.write_text(json.dumps(to_json(rep), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return md, js
