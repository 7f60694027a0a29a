"""The shared check suite: every registered method, with its tiny test settings, on synth-tiny."""

from dataclasses import replace

import numpy as np
import pytest

from zslbench.base_classifier import BaseClassifierSettings, get_base_classifier
from zslbench.protocol import test_split, train_view
from zslbench.registry import METHODS
from zslbench.runner import score_split

BASE = BaseClassifierSettings(epochs=30, lr=1e-3, batch_size=16)


@pytest.fixture(scope="module")
def base(tiny):
    return get_base_classifier(tiny, test_split(tiny), settings=BASE, seed=0)[0]


@pytest.fixture(scope="module")
def random_zsl(tiny):
    ev = _fit_score("random", tiny, None)
    return ev.metrics()["zsl_top1"]


def _fit(name, ds, base, seed=0):
    cls = METHODS.get(name)
    method = cls(**cls.test_params)
    split = test_split(ds)
    view = train_view(ds, split, access=cls.access, base=base if cls.access == "image_free" else None)
    return method.fit(view, rng=np.random.default_rng(seed)), split


def _fit_score(name, ds, base, seed=0):
    method, split = _fit(name, ds, base, seed)
    return score_split(method, ds, split)


@pytest.mark.parametrize("name", METHODS.names())
def test_scores_shape_and_determinism(name, tiny, base):
    m1, split = _fit(name, tiny, base, seed=3)
    m2, _ = _fit(name, tiny, base, seed=3)
    X = tiny.features[split.eval_unseen[:17]]
    for classes in (split.unseen, split.candidates):
        s1 = m1.scores(X, classes)
        assert s1.shape == (17, len(classes))
        assert np.isfinite(s1).all()
        np.testing.assert_allclose(s1, m2.scores(X, classes), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in METHODS.names() if n != "random"])
def test_beats_random(name, tiny, base, random_zsl):
    ev = _fit_score(name, tiny, base)
    m = ev.metrics()
    assert all(0.0 <= v <= 1.0 for v in m.values())
    assert m["zsl_top1"] > max(random_zsl, 1.0 / len(test_split(tiny).unseen)) + 0.05, m


def _poisoned(ds):
    """The same dataset with every test image and label replaced: fit must not notice."""
    rng = np.random.default_rng(99)
    features = ds.features.copy()
    labels = ds.labels.copy()
    test_idx = np.concatenate([ds.splits["test_seen"], ds.splits["test_unseen"]])
    features[test_idx] = rng.random((test_idx.size, ds.features.shape[1]), dtype=np.float32) * 50
    labels[ds.splits["test_seen"]] = rng.permutation(labels[ds.splits["test_seen"]])
    labels[ds.splits["test_unseen"]] = rng.permutation(labels[ds.splits["test_unseen"]])
    return replace(ds, features=features, labels=labels)


@pytest.mark.parametrize("name", METHODS.names())
def test_fit_never_sees_test_images_or_labels(name, tiny, base):
    clean, split = _fit(name, tiny, base, seed=5)
    poisoned, _ = _fit(name, _poisoned(tiny), base, seed=5)
    X = tiny.features[split.eval_unseen[:20]]
    np.testing.assert_allclose(clean.scores(X, split.candidates), poisoned.scores(X, split.candidates),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n, c in METHODS.items() if c.access == "image_free"])
def test_image_free_methods_get_no_images(name, tiny, base):
    cls = METHODS.get(name)
    view = train_view(tiny, test_split(tiny), access=cls.access, base=base)
    assert view.features is None and view.labels is None
    cls(**cls.test_params).fit(view, rng=np.random.default_rng(0))
