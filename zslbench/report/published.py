"""Published reference numbers (``results/published/published.csv``) as a tidy frame.

Convention: the CSV stores **percent** (as printed in the papers); :func:`load_published` divides by 100,
so that published numbers and the suite's records share one convention (fractions in [0, 1]). Renderers
print both as percent with one decimal.

The CSV's ``setting`` column is split into ``access`` ("image_free" / "inductive") and ``seen_classes``
(the number of seen classes the injection was trained on, or NaN for the full data).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("method", "features", "setting", "dataset", "metric", "value", "source")
KNOWN_METRICS = ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h")

PUBLISHED_LABELS: dict[str, str] = {
    "icis": "ICIS", "icis_mlp": "ICIS: MLP (MSE)", "icis_cosine": "ICIS: MLP + cosine",
    "icis_single_modal": "ICIS: single-modal AEs", "icis_cross_modal": "ICIS: cross-modal AEs",
    "conse": "ConSE", "costa": "COSTA", "subreg": "Sub.Reg.", "wdae": "wDAE-GNN", "vgse_crm": "VGSE-CRM",
    "dap": "DAP", "iap": "IAP", "cmt": "CMT", "sse": "SSE", "latem": "LATEM", "ale": "ALE",
    "devise": "DeViSE", "sje": "SJE", "eszsl": "ESZSL", "sync": "SYNC", "sae": "SAE", "gfzsl": "GFZSL",
    "f_clswgan": "f-CLSWGAN", "f_vaegan": "f-VAEGAN", "tf_vaegan": "tf-VAEGAN", "cada_vae": "CADA-VAE",
    "sdgzsl": "SDGZSL",
}
"""How the papers name the methods of the CSV: the label of a published row, and of a paper row (below)
that this suite has no record of. Our own rows take their labels from the records (``method_meta``)."""

PAPER_ROWS: dict[str, dict[str, int]] = {
    "icis": {"conse": 0, "costa": 1, "subreg": 2, "wdae": 3, "vgse_crm": 4, "icis": 9},
    "ablation": {"icis_mlp": 0, "icis_cosine": 1, "icis_single_modal": 2, "icis_cross_modal": 3, "icis": 4},
}
"""Layout -> the rows of the published table it follows (ICIS Table 1; the ICIS ablation) -> position.
These rows are shown even without a record of ours (with published numbers where there are some); a
method of ours takes its position from its ``table_order``, on the same scale."""

FULL_SEEN_CLASSES: dict[str, int] = {"CUB": 150, "AWA2": 40, "SUN": 645, "AWA1": 40, "APY": 20, "FLO": 82}
"""Seen classes of the Proposed Split: a ``seen_classes=N`` row with this N is a full-data number."""


def default_published_path() -> Path:
    """The copy shipped in the package (a built wheel), else ``results/published/published.csv`` of the
    checkout this package runs from (an editable install)."""
    packaged = Path(__file__).resolve().parents[1] / "defaults" / "published.csv"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "results" / "published" / "published.csv"


def load_published(path: str | Path | None = None) -> pd.DataFrame:
    """Read the published numbers.

    Returns:
        One row per number: method, features, access, seen_classes (float, NaN = all), full_data (bool),
        dataset, metric, value (fraction in [0, 1]), source.

    Raises:
        FileNotFoundError / ValueError naming the file and the problem.
    """
    path = Path(path) if path is not None else default_published_path()
    if not path.is_file():
        raise FileNotFoundError(f"published numbers file {str(path)!r} not found (pass --published-csv, "
                                "or --no-published)")
    df = pd.read_csv(path, dtype={"value": float}, keep_default_na=False, na_values=[""])
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    bad_value = df["value"].isna() | (df["value"] < 0) | (df["value"] > 100)
    if bad_value.any():
        rows = ", ".join(str(i + 2) for i in df.index[bad_value][:5])
        raise ValueError(f"{path}: 'value' must be a percentage in [0, 100] (line(s) {rows})")
    bad_metric = ~df["metric"].isin(KNOWN_METRICS)
    if bad_metric.any():
        raise ValueError(f"{path}: unknown metric(s) {sorted(set(df.loc[bad_metric, 'metric']))} "
                         f"(known: {', '.join(KNOWN_METRICS)})")
    parts = df["setting"].astype(str).str.split(";", n=1, expand=True)
    access = parts[0]
    extra = parts[1] if parts.shape[1] > 1 else pd.Series([None] * len(df))
    seen = pd.to_numeric(extra.fillna("").str.extract(r"seen_classes=(\d+)")[0], errors="coerce")
    bad_access = ~access.isin(("image_free", "inductive"))
    if bad_access.any():
        raise ValueError(f"{path}: setting must start with 'image_free' or 'inductive', got "
                         f"{sorted(set(df.loc[bad_access, 'setting']))}")
    out = pd.DataFrame({
        "method": df["method"].astype(str),
        "features": df["features"].astype(str),
        "access": access.astype(str),
        "seen_classes": seen.astype(float),
        "dataset": df["dataset"].astype(str),
        "metric": df["metric"].astype(str),
        "value": df["value"].astype(float) / 100.0,
        "source": df["source"].astype(str),
    })
    out["full_data"] = out["seen_classes"].isna() | (
        out["seen_classes"] == out["dataset"].map(FULL_SEEN_CLASSES))
    key = ["method", "features", "access", "seen_classes", "dataset", "metric"]
    dup = out.duplicated(key, keep=False)
    if dup.any():
        raise ValueError(f"{path}: {int(dup.sum())} rows repeat the same (method, features, setting, "
                         "dataset, metric)")
    return out


def full_data_numbers(published: pd.DataFrame) -> pd.DataFrame:
    """One number per (method, features, dataset, metric), full data only.

    A plain-setting row (paper table) wins over a ``seen_classes=<all>`` row (a figure's full-data point)
    for the same method, features and dataset; the latter is used only where no table row exists.
    """
    full = published[published["full_data"]].copy()
    full["_from_figure"] = full["seen_classes"].notna()
    has_table = (full[~full["_from_figure"]][["method", "features", "dataset"]]
                 .drop_duplicates().assign(_has_table=True))
    full = full.merge(has_table, on=["method", "features", "dataset"], how="left")
    full = full[~(full["_from_figure"] & full["_has_table"].fillna(False).astype(bool))]
    return full.drop(columns=["_from_figure", "_has_table"]).reset_index(drop=True)
