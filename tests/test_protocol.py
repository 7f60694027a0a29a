"""The protocol: validation images come from trainval only, and no evaluation label reaches fit."""

import numpy as np
import pytest

from zslbench.method import Method, TrainView
from zslbench.protocol import (
    LeakageError,
    Setting,
    Split,
    apply_setting,
    test_split,
    train_view,
    validation_split,
)
from zslbench.runner import evaluate_method


def test_validation_split_uses_trainval_images_only(tiny):
    ds = tiny
    # synthetic data mirrors the released quirk: train_loc / val_loc contain test_seen images
    assert np.intersect1d(ds.splits["train"], ds.splits["test_seen"]).size > 0
    val = validation_split(ds)
    used = np.concatenate([val.train, val.eval_seen, val.eval_unseen])
    assert np.isin(used, ds.splits["trainval"]).all()
    assert not np.isin(used, ds.splits["test_seen"]).any()
    assert not np.isin(used, ds.splits["test_unseen"]).any()
    assert np.intersect1d(val.seen, val.unseen).size == 0
    assert np.isin(val.unseen, ds.seen_classes).all()  # val-unseen classes are seen classes of the test split
    assert val.eval_seen.size > 0 and np.intersect1d(val.train, val.eval_seen).size == 0


def test_split_with_overlap_is_refused():
    split = Split("test", train=np.array([0, 1, 2]), seen=np.array([0]), unseen=np.array([1]),
                  eval_seen=np.array([2]), eval_unseen=np.array([3]))
    with pytest.raises(LeakageError, match="eval_seen"):
        split.check_no_leakage()


def test_views_follow_access_levels(tiny):
    split = test_split(tiny)
    view = train_view(tiny, split, access="inductive")
    assert view.features.shape[0] == split.train.size
    assert np.isin(view.labels, split.seen).all()
    with pytest.raises(ValueError, match="base classifier"):
        train_view(tiny, split, access="image_free")


class Spy(Method):
    """Records what it was given; scores at random."""

    name = "spy"
    access = "inductive"

    def fit(self, view: TrainView, *, rng):
        Spy.seen_view = view
        return self

    def scores(self, X, classes):
        Spy.asked.append(np.asarray(classes).copy())
        return np.random.default_rng(0).random((X.shape[0], len(classes)))


def test_no_test_image_or_label_reaches_fit_and_harness_picks_candidates(tiny):
    Spy.asked = []
    split = test_split(tiny)
    evaluate_method(Spy(), tiny, split)
    view = Spy.seen_view
    # the rows a method saw are exactly the trainval rows: no test image, no test label
    test_rows = tiny.features[np.concatenate([split.eval_seen, split.eval_unseen])]
    seen_rows = {r.tobytes() for r in view.features}
    assert not any(r.tobytes() in seen_rows for r in test_rows)
    assert set(np.unique(view.labels)) <= set(split.seen)
    assert not np.isin(view.labels, split.unseen).any()
    # ZSL asks for unseen candidates only; GZSL for seen + unseen
    assert any(np.array_equal(a, split.unseen) for a in Spy.asked)
    assert any(np.array_equal(a, split.candidates) for a in Spy.asked)
    assert all(np.array_equal(a, split.unseen) or np.array_equal(a, split.candidates) for a in Spy.asked)


def test_seen_fraction_drops_classes_for_inductive_and_keeps_base_for_image_free(tiny):
    split = test_split(tiny)
    s = Setting(seen_fraction=0.5)
    ind = apply_setting(tiny, split, s, seed=0, image_free=False)
    assert ind.seen.size == 4 and np.isin(tiny.labels[ind.train], ind.seen).all()
    assert np.isin(tiny.labels[ind.eval_seen], ind.seen).all()
    free = apply_setting(tiny, split, s, seed=0, image_free=True)
    np.testing.assert_array_equal(free.seen, split.seen)  # base classifier and GZSL candidates keep all
    np.testing.assert_array_equal(free.injection_seen, ind.seen)  # same draw for the same seed
    other = apply_setting(tiny, split, s, seed=1, image_free=False)
    assert other.seen.size == 4


def test_images_per_class_and_descriptor_dims(tiny):
    split = test_split(tiny)
    s = apply_setting(tiny, split, Setting(images_per_class=3, descriptor_dims=5), seed=0, image_free=False)
    counts = np.bincount(tiny.labels[s.train])[s.seen]
    assert counts.max() == 3
    view = train_view(tiny, s, access="inductive")
    assert view.descriptors.shape == (tiny.n_classes, 5)
