"""Figures from run records (matplotlib, Agg, no pyplot state): PNG and PDF of each figure.

- ``scarcity_<factor>_<dataset>``: ZSL top-1 and GZSL H against the fraction of seen classes, the images
  per seen class or the descriptor dimensions kept; mean ± std band over seeds, one line per method; the
  full-data runs are the right-most point ("all").
- ``curve_<dataset>``: the seen-unseen accuracy curve (calibrated stacking sweep) of each method, from the
  run whose AUSUC is the median over its seeds; AUSUC mean ± std in the legend.
- ``perclass_<dataset>``: box plots of per-class accuracy (ZSL; GZSL unseen; GZSL seen), each class's
  accuracy averaged over seeds first.

Every method keeps one colour across all figures; synthetic datasets say so in the titles. Only the
validation procedure is plotted.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from zslbench.report.aggregate import Results, summarize
from zslbench.report.labels import DatasetColumn, dataset_sort_key, row_key, row_labels

log = logging.getLogger(__name__)

FACTORS: dict[str, dict[str, Any]] = {
    "seen_fraction": {"label": "fraction of seen classes used for training", "full": 1.0,
                      "fixed": {"images_per_class": None, "descriptor_dims": None}},
    "images_per_class": {"label": "training images per seen class", "full": None,
                         "fixed": {"seen_fraction": 1.0, "descriptor_dims": None}},
    "descriptor_dims": {"label": "descriptor dimensions kept", "full": None,
                        "fixed": {"seen_fraction": 1.0, "images_per_class": None}},
}
SCARCITY_METRICS = (("zsl_top1", "ZSL top-1 (%)"), ("gzsl_h", "GZSL H (%)"))


def method_colors(methods: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per method (sorted names over tab10, then tab20), so figures agree."""
    from matplotlib import colormaps

    names = sorted(set(methods))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(names)}


def method_linestyles(methods: Sequence[str]) -> dict[str, str]:
    """Solid for the first 20 methods (sorted), then dashed, ... so that repeated colours stay distinct."""
    names = sorted(set(methods))
    n = 10 if len(names) <= 10 else 20
    return {m: ("-", "--", ":", "-.")[(i // n) % 4] for i, m in enumerate(names)}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _title(d: DatasetColumn) -> str:
    synthetic = " (synthetic)" if d.synthetic else ""
    return f"{d.dataset}{synthetic} - features {d.feature_id}, descriptors {d.descriptor_id}"


_STAMP: list[str] = []
"""A line stamped on every figure while make_plots runs (the QUICK PROFILE warning), if any."""


def _save(fig: Any, out_dir: Path, stem: str) -> list[Path]:
    if _STAMP:
        import textwrap

        fig.text(0.5, 1.0, textwrap.fill(_STAMP[0], 90), ha="center", va="bottom", fontsize=8, color="firebrick")
    paths = []
    for ext in ("png", "pdf"):
        path = out_dir / f"{stem}.{ext}"
        fig.savefig(path, dpi=150 if ext == "png" else None, bbox_inches="tight")
        paths.append(path)
    return paths


def _datasets(runs: pd.DataFrame) -> list[DatasetColumn]:
    keys = {DatasetColumn(r["dataset"], r["feature_id"], r["descriptor_id"], bool(r["synthetic"]))
            for r in runs.to_dict("records")}
    return sorted(keys, key=dataset_sort_key)


def _of(df: pd.DataFrame, d: DatasetColumn) -> pd.DataFrame:
    return df[(df["dataset"] == d.dataset) & (df["feature_id"] == d.feature_id)
              & (df["descriptor_id"] == d.descriptor_id)]


ROW_KEYS = ("method", "hparams", "preset")
LINESTYLES = ("-", "--", ":", "-.")


def plot_scarcity(results: Results, out_dir: Path) -> list[Path]:
    """Data-scarcity curves; one figure per factor and dataset that has at least two x values.

    Each figure shows a few methods, so it colours them on its own (the suite-wide map of
    :func:`method_colors` repeats after 20 methods)."""
    from matplotlib.figure import Figure

    res = results.select(procedure="validation")
    tidy = res.tidy
    written: list[Path] = []
    for factor, spec in FACTORS.items():
        mask = pd.Series(True, index=tidy.index)
        for col, value in spec["fixed"].items():
            mask &= tidy[col].isna() if value is None else (tidy[col] == value)
        sub = tidy[mask & tidy["metric"].isin([m for m, _ in SCARCITY_METRICS])]
        for d in _datasets(sub):
            block = _of(sub, d)
            if block[factor].nunique(dropna=False) < 2:
                continue
            summary = summarize(block, keys=(*ROW_KEYS, factor, "metric"))
            finite = summary[factor].dropna()
            full_x = spec["full"] if spec["full"] is not None else (finite.max() * 2 if len(finite) else 1.0)
            summary["x"] = summary[factor].fillna(full_x).astype(float)
            # A method with only its full-data point has no curve to show.
            summary["row"] = [row_key(r) for r in summary.to_dict("records")]
            points = summary[summary["metric"] == "zsl_top1"].groupby("row")["x"].nunique()
            summary = summary[summary["row"].isin(points[points >= 2].index)]
            if summary.empty:
                continue
            labels = row_labels(sorted(set(summary["row"]), key=str), results.label)
            colors = method_colors([k[0] for k in labels])
            styles = {k: LINESTYLES[[j for j in labels if j[0] == k[0]].index(k) % len(LINESTYLES)] for k in labels}
            labels = {key: f"{text} ({_seed_count(summary[summary['row'] == key]['n'])})"
                      for key, text in labels.items()}
            fig = Figure(figsize=(10, 4.2))
            axes = fig.subplots(1, 2)
            for ax, (metric, ylabel) in zip(axes, SCARCITY_METRICS):
                per_metric = summary[summary["metric"] == metric]
                for key in labels:
                    line = per_metric[per_metric["row"] == key].sort_values("x")
                    x, y = line["x"].to_numpy(), line["mean"].to_numpy() * 100
                    sd = np.nan_to_num(line["std"].to_numpy(dtype=float)) * 100
                    ax.plot(x, y, marker="o", color=colors[key[0]], linestyle=styles[key], label=labels[key])
                    ax.fill_between(x, y - sd, y + sd, color=colors[key[0]], alpha=0.2, linewidth=0)
                ax.set_xlabel(spec["label"])
                ax.set_ylabel(ylabel)
                ax.grid(alpha=0.3)
                if factor != "seen_fraction":
                    ax.set_xscale("log")
                    ticks = sorted(summary["x"].unique())
                    ax.set_xticks(ticks)
                    ax.set_xticklabels(["all" if t == full_x and spec["full"] is None else f"{t:g}" for t in ticks])
                    ax.minorticks_off()
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False)
            fig.suptitle(f"Data scarcity: {_title(d)}\nmean ± std over seeds", fontsize=11)
            fig.tight_layout(rect=(0, 0.1, 1, 1))
            written += _save(fig, out_dir, f"scarcity_{factor}_{_slug(d.dataset)}_{_slug(str(d.feature_id))}")
    return written


def _seed_count(n: pd.Series) -> str:
    """Legend text for the seeds behind a curve's points: "n=3", or "n=1-2" where points differ."""
    lo, hi = int(n.min()), int(n.max())
    return f"n={hi}" if lo == hi else f"n={lo}-{hi}"


def _row_runs(res: Results, d: DatasetColumn) -> dict[str, tuple[str, pd.DataFrame]]:
    """label -> (method, its runs on dataset ``d``), one entry per (method, hparams, preset) row."""
    runs = _of(res.runs, d)
    groups: dict[tuple, list[int]] = {}
    for i, rec in zip(runs.index, runs.to_dict("records")):
        groups.setdefault(row_key(rec), []).append(i)
    labels = row_labels(sorted(groups, key=str), res.label)
    return {labels[k]: (k[0], runs.loc[idx]) for k, idx in sorted(groups.items(), key=lambda kv: labels[kv[0]])}


def plot_curves(results: Results, out_dir: Path, colors: dict[str, Any]) -> list[Path]:
    """Seen-unseen accuracy curves, one figure per dataset (full data, validation procedure)."""
    from matplotlib.figure import Figure

    res = results.select(procedure="validation").default_setting()
    styles = method_linestyles(list(results.runs["method"]))
    written: list[Path] = []
    for d in _datasets(res.runs):
        fig = Figure(figsize=(6.4, 6.4))
        ax = fig.subplots()
        drawn = 0
        for label, (method, runs) in _row_runs(res, d).items():
            recs = [res.records[r] for r in runs["run_id"]]
            recs = [r for r in recs if r.get("curve") and r["metrics"].get("ausuc") is not None]
            if not recs:
                continue
            aus = np.array([r["metrics"]["ausuc"] for r in recs], dtype=float)
            median_run = recs[int(np.argsort(aus)[(len(aus) - 1) // 2])]
            curve = median_run["curve"]
            spread = f" ± {np.std(aus, ddof=1) * 100:.1f}" if len(aus) > 1 else ""
            ax.plot(np.asarray(curve["unseen"]) * 100, np.asarray(curve["seen"]) * 100, color=colors[method],
                    linestyle=styles.get(method, "-"),
                    label=f"{label}: AUSUC {aus.mean() * 100:.1f}{spread} (n={len(aus)})")
            drawn += 1
        if not drawn:
            continue
        ax.set_xlabel("GZSL unseen accuracy (%)")
        ax.set_ylabel("GZSL seen accuracy (%)")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1 if drawn <= 8 else 2, frameon=False,
                  fontsize=9 if drawn <= 8 else 8)
        ax.set_title(f"Seen-unseen curve (run with median AUSUC)\n{_title(d)}", fontsize=10)
        written += _save(fig, out_dir, f"curve_{_slug(d.dataset)}_{_slug(str(d.feature_id))}")
    return written


PER_CLASS_PANELS = (("zsl", "unseen_classes", "ZSL (unseen classes)"),
                    ("gzsl_unseen", "unseen_classes", "GZSL, unseen classes"),
                    ("gzsl_seen", "seen_classes", "GZSL, seen classes"))


def _per_class_means(recs: list[dict[str, Any]], key: str, names_key: str) -> np.ndarray:
    """(K,) each class's accuracy averaged over the runs that report it (aligned by class name)."""
    acc: dict[str, list[float]] = {}
    for r in recs:
        pc = r.get("per_class") or {}
        for name, v in zip(pc.get(names_key) or [], pc.get(key) or []):
            if v is not None and v == v:
                acc.setdefault(str(name), []).append(float(v))
    return np.array([np.mean(v) for v in acc.values()])


def plot_per_class(results: Results, out_dir: Path, colors: dict[str, Any]) -> list[Path]:
    """Per-class accuracy distributions (box plots), one figure per dataset."""
    from matplotlib.figure import Figure

    res = results.select(procedure="validation").default_setting()
    written: list[Path] = []
    for d in _datasets(res.runs):
        rows = _row_runs(res, d)
        by_method = {label: [res.records[r] for r in runs["run_id"]] for label, (_, runs) in rows.items()}
        method_of = {label: method for label, (method, _) in rows.items()}
        if not any(r.get("per_class") for recs in by_method.values() for r in recs):
            continue
        methods = list(by_method)
        fig = Figure(figsize=(13.0, max(3.2, 0.32 * len(methods) + 1.6)))
        axes = fig.subplots(1, 3, sharey=True)
        for ax, (key, names_key, title) in zip(axes, PER_CLASS_PANELS):
            data = [_per_class_means(by_method[m], key, names_key) * 100 for m in methods]
            pos = [i for i, v in enumerate(data) if v.size]
            if pos:
                box = ax.boxplot([data[i] for i in pos], positions=pos, widths=0.6, patch_artist=True,
                                 orientation="horizontal", showmeans=True, medianprops={"color": "black"},
                                 meanprops={"marker": "D", "markerfacecolor": "white",
                                            "markeredgecolor": "black", "markersize": 4})
                for patch, i in zip(box["boxes"], pos):
                    patch.set_facecolor(colors[method_of[methods[i]]])
                    patch.set_alpha(0.6)
            ax.set_yticks(range(len(methods)))
            ax.set_yticklabels(methods)
            ax.set_ylim(len(methods) - 0.4, -0.6)  # first method on top
            ax.set_title(title, fontsize=10)
            ax.set_xlim(-2, 102)
            ax.set_xlabel("per-class accuracy (%)")
            ax.grid(axis="x", alpha=0.3)
        fig.suptitle(f"Per-class accuracy (each class averaged over seeds; diamond: mean)\n{_title(d)}",
                     fontsize=11)
        fig.tight_layout()
        written += _save(fig, out_dir, f"perclass_{_slug(d.dataset)}_{_slug(str(d.feature_id))}")
    return written


def make_plots(results: Results, out_dir: str | Path) -> list[Path]:
    """Every figure above for ``results``, written under ``out_dir``; returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from zslbench.profiles import banner_for, profile_of

    colors = method_colors(list(results.runs["method"]))
    banner = banner_for(profile_of(results.records.values()))
    _STAMP[:] = [banner] if banner else []
    try:
        written = plot_scarcity(results, out) + plot_curves(results, out, colors)
        written += plot_per_class(results, out, colors)
    finally:
        _STAMP.clear()
    log.info("wrote %d figure files under %s", len(written), out)
    return written
