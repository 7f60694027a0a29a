"""Labels and number formatting shared by the tables, the leaderboard and the plots.

Nothing here knows a method: a row's label comes from its records' ``method_meta`` (through
:meth:`zslbench.report.aggregate.Results.label`), passed in as a function.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

DATASET_ORDER: tuple[str, ...] = ("CUB", "AWA2", "SUN", "AWA1", "APY", "FLO")

METRIC_LABELS: dict[str, str] = {
    "zsl_top1": "T1", "gzsl_seen": "S", "gzsl_unseen": "U", "gzsl_h": "H",
    "gzsl_seen_cs": "S (cs)", "gzsl_unseen_cs": "U (cs)", "gzsl_h_cs": "H (cs)", "ausuc": "AUSUC",
}
GBU_LABELS: dict[str, str] = {"gzsl_seen": "s", "gzsl_unseen": "u", "gzsl_seen_cs": "s (cs)",
                              "gzsl_unseen_cs": "u (cs)"}

RowKey = tuple  # (method, hparams as canonical JSON, preset or None)


@dataclass(frozen=True)
class DatasetColumn:
    """A dataset as one column group: the same name with other features is another group."""

    dataset: str
    feature_id: str | None
    descriptor_id: str | None
    synthetic: bool

    def label(self, with_features: bool = False) -> str:
        text = self.dataset
        if with_features and self.feature_id:
            text += f" [{self.feature_id}]"
        return text + (" (synthetic)" if self.synthetic else "")


def dataset_sort_key(d: DatasetColumn) -> tuple:
    """Real datasets first, in :data:`DATASET_ORDER`, then by name and features."""
    known = DATASET_ORDER.index(d.dataset) if d.dataset in DATASET_ORDER else len(DATASET_ORDER)
    return (d.synthetic, known, d.dataset, str(d.feature_id), str(d.descriptor_id))


def is_missing(value: Any) -> bool:
    """None or NaN (pandas turns a missing preset or std into NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def row_key(rec: Any) -> RowKey:
    """A table row's key from a summary or run row: (method, hparams, preset or None)."""
    return (rec["method"], rec["hparams"], None if is_missing(rec["preset"]) else rec["preset"])


def format_value(mean: float, std: float | None = None) -> str:
    """A fraction as percent with one decimal, "mean ± std" when std is given."""
    text = f"{mean * 100:.1f}"
    if text == "-0.0":  # a difference that rounds to zero has no sign
        text = "0.0"
    if std is not None and not math.isnan(std):
        text += f" ± {std * 100:.1f}"
    return text


def row_labels(keys: Iterable[RowKey], method_label: Callable[[str], str] = str) -> dict[RowKey, str]:
    """A display label per row key: ``method_label(method)`` (e.g. :meth:`Results.label`; default: the
    registry name), "[preset]" when one is set, and - only
    when one method has rows with different fixed hyper-parameters - the values that differ."""
    keys = list(dict.fromkeys(keys))
    by_method: dict[str, list[RowKey]] = {}
    for key in keys:
        by_method.setdefault(key[0], []).append(key)
    labels = {}
    for method, group in by_method.items():
        parsed = {k: json.loads(k[1]) if k[1] else {} for k in group}
        names = sorted({n for hp in parsed.values() for n in hp}, key=str)
        differing = [n for n in names if len({json.dumps(hp.get(n), sort_keys=True) for hp in parsed.values()}) > 1]
        for key in group:
            label = method_label(method)
            if isinstance(key[2], str) and key[2]:
                label += f" [{key[2]}]"
            if differing:
                hp = parsed[key]
                label += " (" + ", ".join(f"{n}={hp[n]}" if n in hp else f"{n}=default" for n in differing) + ")"
            labels[key] = label
    return labels
