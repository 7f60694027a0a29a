"""A fitted method on one split: scores -> ZSL predictions and GZSL score summaries -> metrics.

The harness, not the method, chooses candidates and takes the argmax:

- ZSL: ``scores(eval unseen images, unseen classes)``, argmax over unseen classes;
- GZSL: ``scores(eval images, seen + unseen classes)``, reduced per image to a
  :class:`~zslbench.metrics.ScoreSummary`, from which uncalibrated and calibrated GZSL, the seen-unseen
  curve and AUSUC all follow.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from zslbench.data.dataset import Dataset
from zslbench.method import LinearClassifier, Method
from zslbench.metrics import ScoreSummary, gzsl_metrics, per_class_accuracy, seen_unseen_curve
from zslbench.protocol import Split, train_view

SCORE_CHUNK = 4096
"""Images scored per call to ``Method.scores``: bounds memory at SCORE_CHUNK x n_classes floats."""


@dataclass
class Evaluation:
    """Metrics of a fitted method on a split's evaluation images.

    Attributes:
        zsl_pred: (m_u,) ZSL predictions for ``split.eval_unseen``.
        seen_summary / unseen_summary: GZSL score summaries of eval_seen / eval_unseen images.
        score_seconds: wall time spent in ``Method.scores``.
    """

    split: Split
    zsl_true: np.ndarray
    zsl_pred: np.ndarray
    seen_true: np.ndarray
    seen_summary: ScoreSummary
    unseen_summary: ScoreSummary
    score_seconds: float

    def metrics(self, gamma: float | None = None) -> dict[str, float]:
        """Uncalibrated metrics, plus calibrated ones (``*_cs``) when ``gamma`` is given."""
        zsl = per_class_accuracy(self.zsl_true, self.zsl_pred)
        g = gzsl_metrics(self.seen_summary, self.seen_true, self.unseen_summary, self.zsl_true)
        out = {
            "zsl_top1": float(zsl.mean()),
            "gzsl_seen": g.seen,
            "gzsl_unseen": g.unseen,
            "gzsl_h": g.h,
            "ausuc": self.curve().ausuc(),
        }
        if gamma is not None:
            c = gzsl_metrics(self.seen_summary, self.seen_true, self.unseen_summary, self.zsl_true, gamma)
            out.update(gzsl_seen_cs=c.seen, gzsl_unseen_cs=c.unseen, gzsl_h_cs=c.h, cs_gamma=float(gamma))
        return out

    def curve(self):
        return seen_unseen_curve(self.seen_summary, self.seen_true, self.unseen_summary, self.zsl_true)

    def per_class(self, class_names: tuple[str, ...]) -> dict[str, list]:
        zsl = per_class_accuracy(self.zsl_true, self.zsl_pred)
        g = gzsl_metrics(self.seen_summary, self.seen_true, self.unseen_summary, self.zsl_true)
        return {
            "unseen_classes": [class_names[c] for c in np.unique(self.zsl_true)],
            "seen_classes": [class_names[c] for c in np.unique(self.seen_true)],
            "zsl": zsl.tolist(),
            "gzsl_unseen": g.per_class_unseen.tolist(),
            "gzsl_seen": g.per_class_seen.tolist(),
        }


def _chunked_scores(method: Method, X: np.ndarray, classes: np.ndarray, reduce) -> list:
    out = []
    for start in range(0, X.shape[0], SCORE_CHUNK):
        s = np.asarray(method.scores(X[start:start + SCORE_CHUNK], classes))
        expected = (min(SCORE_CHUNK, X.shape[0] - start), len(classes))
        if s.shape != expected:
            raise ValueError(f"{method.name}.scores returned shape {s.shape}, expected {expected}")
        out.append(reduce(s))
    return out


def score_split(method: Method, ds: Dataset, split: Split) -> Evaluation:
    """Score a fitted method on a split's evaluation images (the harness picks candidates)."""
    t0 = time.perf_counter()
    unseen = split.unseen
    zsl_true = ds.labels[split.eval_unseen]
    X_unseen = ds.features[split.eval_unseen]

    def to_unseen_class(s: np.ndarray) -> np.ndarray:
        if not np.isfinite(s).all():
            raise ValueError(f"{method.name}.scores returned NaN or inf")
        return unseen[s.argmax(axis=1)]

    zsl_pred = np.concatenate(_chunked_scores(method, X_unseen, unseen, to_unseen_class) or [np.empty(0, int)])
    candidates = split.candidates
    is_seen = np.isin(candidates, split.seen)

    def summarise(X: np.ndarray) -> ScoreSummary:
        parts = _chunked_scores(method, X, candidates, lambda s: ScoreSummary.from_scores(s, candidates, is_seen))
        return ScoreSummary.concat(parts)

    seen_summary = summarise(ds.features[split.eval_seen])
    unseen_summary = summarise(X_unseen)
    return Evaluation(split, zsl_true, zsl_pred, ds.labels[split.eval_seen], seen_summary, unseen_summary,
                      time.perf_counter() - t0)


def evaluate_method(
    method: Method, ds: Dataset, split: Split, *, base: LinearClassifier | None = None,
    rng: np.random.Generator | None = None, info: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Fit ``method`` on the split's training view (as its access level allows), then score it."""
    view = train_view(ds, split, access=method.access, base=base, info=info)
    with fit_progress():
        method.fit(view, rng=rng if rng is not None else np.random.default_rng(0))
    return score_split(method, ds, split)


@contextmanager
def fit_progress() -> Iterator[None]:
    """Per-epoch progress of the fit inside the block starts timing here and is closed after it."""
    from zslbench import progress

    progress.mark_start()
    try:
        yield
    finally:
        progress.close_all()
