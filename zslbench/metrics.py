"""Per-class top-1, ZSL, GZSL seen / unseen / H, calibrated stacking, the seen-unseen curve and AUSUC.

Everything is vectorised over images. GZSL metrics are computed from a per-image :class:`ScoreSummary`
(best seen class and score, best unseen class and score), which the harness builds chunk by chunk, so no
(n_images x n_classes) matrix has to be held for the curve or the calibration.

Calibrated stacking (Chao et al., ECCV 2016): the prediction with offset gamma is the best seen class if
``best_seen_score - gamma > best_unseen_score``, else the best unseen class. Sweeping gamma traces the
seen-unseen accuracy curve; its area is AUSUC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """(K,) top-1 accuracy of each class in ``classes`` (default: the classes present in ``y_true``).

    Args:
        y_true: (n,) true class indices.
        y_pred: (n,) predicted class indices.
        classes: (K,) classes to report, sorted; a class with no image gets NaN.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    classes = np.unique(y_true) if classes is None else np.asarray(classes)
    pos = np.searchsorted(classes, y_true)
    pos = np.clip(pos, 0, max(len(classes) - 1, 0))
    inside = classes[pos] == y_true if len(classes) else np.zeros(y_true.shape, bool)
    total = np.bincount(pos[inside], minlength=len(classes)).astype(np.float64)
    correct = np.bincount(pos[inside], weights=(y_pred == y_true)[inside], minlength=len(classes))
    with np.errstate(invalid="ignore", divide="ignore"):
        return correct / total


def mean_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over the classes present in ``y_true`` of per-class top-1 (never the per-sample mean)."""
    if len(y_true) == 0:
        return float("nan")
    return float(np.mean(per_class_accuracy(y_true, y_pred)))


def harmonic_mean(seen: float, unseen: float) -> float:
    """2·S·U / (S + U); 0 when both are 0."""
    return 0.0 if seen + unseen == 0 else float(2 * seen * unseen / (seen + unseen))


@dataclass(frozen=True)
class ScoreSummary:
    """Per-image reduction of GZSL scores over candidates split into seen and unseen classes.

    Attributes (all (n,)): best_seen / best_unseen class index, and their scores.
    """

    seen_class: np.ndarray
    seen_score: np.ndarray
    unseen_class: np.ndarray
    unseen_score: np.ndarray

    @classmethod
    def from_scores(cls, scores: np.ndarray, candidates: np.ndarray, is_seen: np.ndarray) -> "ScoreSummary":
        """Reduce (n, K) scores over ``candidates`` (K,), where ``is_seen`` (K,) marks the seen ones."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape[1] != len(candidates):
            raise ValueError(f"scores have {scores.shape[1]} columns for {len(candidates)} candidates")
        if not np.isfinite(scores).all():
            raise ValueError("a method returned NaN or inf scores")
        s_cols, u_cols = np.flatnonzero(is_seen), np.flatnonzero(~is_seen)
        s_arg = scores[:, s_cols].argmax(axis=1)
        u_arg = scores[:, u_cols].argmax(axis=1)
        rows = np.arange(scores.shape[0])
        return cls(
            seen_class=candidates[s_cols][s_arg],
            seen_score=scores[:, s_cols][rows, s_arg],
            unseen_class=candidates[u_cols][u_arg],
            unseen_score=scores[:, u_cols][rows, u_arg],
        )

    @classmethod
    def concat(cls, parts: list["ScoreSummary"]) -> "ScoreSummary":
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                     ("seen_class", "seen_score", "unseen_class", "unseen_score")))

    @property
    def margin(self) -> np.ndarray:
        """(n,) best seen score minus best unseen score: the gamma at which the prediction flips."""
        return self.seen_score - self.unseen_score

    def predict(self, gamma: float = 0.0) -> np.ndarray:
        """(n,) GZSL prediction after subtracting ``gamma`` from every seen-class score."""
        return np.where(self.margin > gamma, self.seen_class, self.unseen_class)


@dataclass(frozen=True)
class GZSLResult:
    seen: float
    unseen: float
    h: float
    per_class_seen: np.ndarray
    per_class_unseen: np.ndarray


def gzsl_metrics(
    seen_summary: ScoreSummary, y_seen: np.ndarray, unseen_summary: ScoreSummary, y_unseen: np.ndarray,
    gamma: float = 0.0,
) -> GZSLResult:
    """GZSL seen / unseen per-class accuracy and their harmonic mean at calibration offset ``gamma``."""
    pc_s = per_class_accuracy(y_seen, seen_summary.predict(gamma))
    pc_u = per_class_accuracy(y_unseen, unseen_summary.predict(gamma))
    s, u = float(pc_s.mean()), float(pc_u.mean())
    return GZSLResult(s, u, harmonic_mean(s, u), pc_s, pc_u)


def _correct_weights(summary_class: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n,) per-image weight 1 / (images of its class · classes) where the side's best class is right."""
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    return (summary_class == y) / (counts[inverse] * len(classes))


@dataclass(frozen=True)
class SeenUnseenCurve:
    """The calibrated-stacking curve: at offset ``gammas[k]``, accuracies ``seen[k]`` and ``unseen[k]``.

    ``gammas`` starts at -inf (everything seen-first) and then runs over every image's margin, ascending.
    """

    gammas: np.ndarray
    seen: np.ndarray
    unseen: np.ndarray

    @property
    def h(self) -> np.ndarray:
        s, u = self.seen, self.unseen
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(s + u > 0, 2 * s * u / (s + u), 0.0)

    def ausuc(self) -> float:
        """Area under the curve of seen accuracy (y) against unseen accuracy (x), trapezoid rule.

        The curve is closed at its ends the way Chao et al. do: (0, max seen) and (max unseen, 0) are
        reached as gamma goes to -inf and +inf, so the area of a perfect classifier is 1.
        """
        x = np.concatenate([[0.0], self.unseen, [self.unseen[-1]]])
        y = np.concatenate([[self.seen[0]], self.seen, [0.0]])
        return float(np.trapezoid(y, x))

    def best_gamma(self) -> float:
        """The offset with the highest H (midpoint of the best interval between two margins)."""
        h = self.h
        k = int(np.argmax(h))
        if k == 0:
            return float(self.gammas[1] - 1.0) if len(self.gammas) > 1 else 0.0
        upper = self.gammas[k + 1] if k + 1 < len(self.gammas) else self.gammas[k] + 1.0
        return float((self.gammas[k] + upper) / 2)


def seen_unseen_curve(
    seen_summary: ScoreSummary, y_seen: np.ndarray, unseen_summary: ScoreSummary, y_unseen: np.ndarray
) -> SeenUnseenCurve:
    """Per-class seen and unseen GZSL accuracy at every distinct calibration offset, in O(n log n).

    A seen image counts (with its per-class weight) while its best seen class is right and
    ``margin > gamma``; an unseen image counts while its best unseen class is right and ``margin <= gamma``.
    """
    w_s = _correct_weights(seen_summary.seen_class, y_seen)
    w_u = _correct_weights(unseen_summary.unseen_class, y_unseen)
    margins = np.concatenate([seen_summary.margin, unseen_summary.margin])
    order = np.argsort(margins, kind="stable")
    # At gamma = margins[order[k]], images up to k in sorted order have flipped to "unseen".
    lost_seen = np.cumsum(np.concatenate([w_s, np.zeros_like(w_u)])[order])
    won_unseen = np.cumsum(np.concatenate([np.zeros_like(w_s), w_u])[order])
    sorted_margins = margins[order]
    # Keep the last point of each run of equal margins (the state once all of them have flipped).
    last = np.r_[sorted_margins[1:] != sorted_margins[:-1], True]
    total_seen = w_s.sum()
    gammas = np.concatenate([[-np.inf], sorted_margins[last]])
    seen = np.concatenate([[total_seen], total_seen - lost_seen[last]])
    unseen = np.concatenate([[0.0], won_unseen[last]])
    return SeenUnseenCurve(gammas, np.clip(seen, 0, 1), np.clip(unseen, 0, 1))
