"""Hand-computed checks of the metrics."""

import numpy as np
import pytest

from zslbench.metrics import (
    ScoreSummary,
    gzsl_metrics,
    harmonic_mean,
    mean_class_accuracy,
    per_class_accuracy,
    seen_unseen_curve,
)


def test_per_class_accuracy_is_not_per_sample_accuracy():
    y_true = np.array([0, 0, 0, 0, 1])
    y_pred = np.array([0, 0, 0, 0, 0])
    assert (y_pred == y_true).mean() == pytest.approx(0.8)  # per-sample
    assert mean_class_accuracy(y_true, y_pred) == pytest.approx(0.5)  # (1 + 0) / 2
    np.testing.assert_allclose(per_class_accuracy(y_true, y_pred), [1.0, 0.0])


def test_per_class_accuracy_reports_requested_classes_and_nan_for_empty():
    acc = per_class_accuracy(np.array([2, 2, 5]), np.array([2, 5, 5]), classes=np.array([2, 3, 5]))
    assert acc[0] == pytest.approx(0.5) and np.isnan(acc[1]) and acc[2] == pytest.approx(1.0)


def test_harmonic_mean_with_a_zero_side():
    assert harmonic_mean(0.5, 0.0) == 0.0
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(0.6, 0.3) == pytest.approx(2 * 0.6 * 0.3 / 0.9)


def test_candidate_masking_in_summaries():
    # candidates 0,1 seen; 2,3 unseen. Seen scores are higher, but ZSL-style best unseen must ignore them.
    scores = np.array([[9.0, 1.0, 0.5, 0.7], [0.0, 5.0, 3.0, 2.0]])
    cand = np.array([0, 1, 2, 3])
    s = ScoreSummary.from_scores(scores, cand, np.array([True, True, False, False]))
    np.testing.assert_array_equal(s.seen_class, [0, 1])
    np.testing.assert_array_equal(s.unseen_class, [3, 2])
    np.testing.assert_allclose(s.margin, [9.0 - 0.7, 5.0 - 3.0])
    np.testing.assert_array_equal(s.predict(0.0), [0, 1])
    np.testing.assert_array_equal(s.predict(2.5), [0, 2])  # calibrated stacking flips the second image


def _summary(seen_cls, unseen_cls, margins):
    margins = np.asarray(margins, float)
    return ScoreSummary(np.asarray(seen_cls), margins, np.asarray(unseen_cls), np.zeros_like(margins))


def test_ausuc_of_a_known_interleaved_curve():
    # seen images (classes 0, 1) with margins -1 and 1; unseen images (classes 2, 3) with margins 0 and 2;
    # every side's best class is correct. The curve (U, S) is (0,1) (0,.5) (.5,.5) (.5,0) (1,0): area 0.25.
    seen = _summary([0, 1], [2, 2], [-1.0, 1.0])
    unseen = _summary([0, 0], [2, 3], [0.0, 2.0])
    curve = seen_unseen_curve(seen, np.array([0, 1]), unseen, np.array([2, 3]))
    np.testing.assert_allclose(curve.unseen, [0, 0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(curve.seen, [1, 0.5, 0.5, 0, 0])
    assert curve.ausuc() == pytest.approx(0.25)
    gamma = curve.best_gamma()
    assert 0.0 <= gamma < 1.0  # the only interval where H = 0.5
    g = gzsl_metrics(seen, np.array([0, 1]), unseen, np.array([2, 3]), gamma)
    assert (g.seen, g.unseen, g.h) == pytest.approx((0.5, 0.5, 0.5))


def test_ausuc_of_a_perfectly_separable_method_is_one():
    seen = _summary([0, 1], [2, 2], [2.0, 1.0])
    unseen = _summary([0, 0], [2, 3], [-1.0, 0.0])
    curve = seen_unseen_curve(seen, np.array([0, 1]), unseen, np.array([2, 3]))
    assert curve.ausuc() == pytest.approx(1.0)


def test_curve_endpoints_equal_uncalibrated_extremes():
    rng = np.random.default_rng(0)
    n_s, n_u = 300, 200
    y_s, y_u = rng.integers(0, 5, n_s), rng.integers(5, 8, n_u)
    cand = np.arange(8)
    is_seen = cand < 5
    s = ScoreSummary.from_scores(rng.normal(size=(n_s, 8)), cand, is_seen)
    u = ScoreSummary.from_scores(rng.normal(size=(n_u, 8)), cand, is_seen)
    curve = seen_unseen_curve(s, y_s, u, y_u)
    # gamma -> -inf: every image predicted seen-first; at the top, every image predicted unseen.
    assert curve.seen[0] == pytest.approx(gzsl_metrics(s, y_s, u, y_u, -1e9).seen)
    assert curve.unseen[-1] == pytest.approx(gzsl_metrics(s, y_s, u, y_u, 1e9).unseen)
    # any gamma on the curve agrees with the direct computation
    for k in (3, 50, 250):
        g = gzsl_metrics(s, y_s, u, y_u, curve.gammas[k])
        assert (g.seen, g.unseen) == pytest.approx((curve.seen[k], curve.unseen[k]))


def test_non_finite_scores_are_rejected():
    with pytest.raises(ValueError, match="NaN or inf"):
        ScoreSummary.from_scores(np.array([[np.nan, 1.0]]), np.array([0, 1]), np.array([True, False]))
