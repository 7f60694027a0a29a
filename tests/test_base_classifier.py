"""The harness-trained base classifier of the image-free family: training, selection, caching."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from zslbench.base_classifier import (
    BaseClassifierSettings,
    cache_key,
    clear_memo,
    get_base_classifier,
    train_linear_softmax,
)
from zslbench.base_classifier_reference import train_linear_softmax_autograd
from zslbench.data.synthetic import make_synthetic
from zslbench.metrics import per_class_accuracy
from zslbench.protocol import Setting, apply_setting, test_split, validation_split

FAST = BaseClassifierSettings(epochs=8, lr=1e-3)


@pytest.fixture(scope="module")
def tiny(tiny):  # conftest's synth-tiny, with its test split
    return tiny, test_split(tiny)


@pytest.fixture(autouse=True)
def _fresh_memo():
    clear_memo()
    yield
    clear_memo()


def test_trains_over_seen_classes_and_beats_chance(tiny):
    ds, split = tiny
    clf, info = get_base_classifier(ds, split, settings=FAST, seed=0)
    assert np.array_equal(clf.classes, split.seen)
    assert clf.weight.shape == (split.seen.size, ds.features.shape[1])
    assert clf.bias.shape == (split.seen.size,)
    X, y = ds.features[split.eval_seen], ds.labels[split.eval_seen]
    acc = np.mean(per_class_accuracy(y, clf.classes[clf.scores(X).argmax(1)]))
    assert acc > 3.0 / split.seen.size  # well above chance (1 / 8)
    assert info["selection"] == "last" and info["uses_test_data"] is False
    assert info["chosen_epoch"] == FAST.epochs and info["cache_hit"] is False
    assert info["n_train_images"] == split.train.size
    assert not clf.weight.flags.writeable  # shared between methods: read-only


def test_deterministic_for_a_seed_and_different_across_seeds(tiny):
    ds, split = tiny
    a, _ = get_base_classifier(ds, split, settings=FAST, seed=3)
    clear_memo()
    b, info_b = get_base_classifier(ds, split, settings=FAST, seed=3)
    assert info_b["cache_hit"] is False  # really retrained, not memoised
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(a.bias, b.bias)
    c, _ = get_base_classifier(ds, split, settings=FAST, seed=4)
    assert not np.allclose(a.weight, c.weight)


def test_in_process_memo_is_shared(tiny):
    ds, split = tiny
    a, _ = get_base_classifier(ds, split, settings=FAST, seed=0)
    b, info = get_base_classifier(ds, split, settings=FAST, seed=0)
    assert info["cache_hit"] is True and info["cache"] == "memory"
    assert b is a


def test_disk_cache_hit_gives_identical_weights(tiny, tmp_path):
    ds, split = tiny
    a, info_a = get_base_classifier(ds, split, settings=FAST, seed=0, cache_dir=tmp_path)
    files = list((tmp_path / "base_classifier").glob("*.npz"))
    assert len(files) == 1 and info_a["cache_hit"] is False
    assert not list((tmp_path / "base_classifier").glob("*.tmp*"))  # atomic write left no temp file
    clear_memo()
    b, info_b = get_base_classifier(ds, split, settings=FAST, seed=0, cache_dir=tmp_path)
    assert info_b["cache_hit"] is True and info_b["cache"] == "disk"
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(a.bias, b.bias)
    np.testing.assert_array_equal(a.classes, b.classes)
    assert info_b["chosen_epoch"] == info_a["chosen_epoch"]
    _, info_c = get_base_classifier(ds, split, settings=FAST, seed=0, cache_dir=tmp_path)
    assert info_c["cache"] == "memory"
    assert info_a["weights_sha256"] == info_b["weights_sha256"] == info_c["weights_sha256"]  # the rows used
    _, info_d = get_base_classifier(ds, split, settings=FAST, seed=1, cache_dir=tmp_path)
    assert info_d["weights_sha256"] != info_a["weights_sha256"]


@pytest.mark.parametrize("damage", ["garbage", "truncate", "tamper"])
def test_corrupt_cache_entry_is_rebuilt(tiny, tmp_path, damage, caplog):
    ds, split = tiny
    a, _ = get_base_classifier(ds, split, settings=FAST, seed=0, cache_dir=tmp_path)
    (path,) = (tmp_path / "base_classifier").glob("*.npz")
    if damage == "garbage":
        path.write_bytes(b"not an npz file")
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    else:  # a valid npz whose weights no longer match the stored checksum
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["weight"] = arrays["weight"] + 1.0
        np.savez(path, **arrays)
    clear_memo()
    b, info = get_base_classifier(ds, split, settings=FAST, seed=0, cache_dir=tmp_path)
    assert info["cache_hit"] is False
    assert "rebuilding" in caplog.text
    np.testing.assert_array_equal(a.weight, b.weight)
    clear_memo()
    _, info2 = get_base_classifier(ds, split, settings=FAST, seed=0, cache_dir=tmp_path)
    assert info2["cache_hit"] is True  # the rebuilt entry is readable again


def test_cache_key_covers_what_changes_the_weights(tiny):
    ds, split = tiny
    key = cache_key(ds, split, FAST, 0)
    assert key == cache_key(ds, split, FAST, 0)
    assert key != cache_key(ds, split, FAST, 1)
    assert key != cache_key(ds, split, BaseClassifierSettings(epochs=9, lr=1e-3), 0)
    fewer = apply_setting(ds, split, Setting(images_per_class=5), seed=0, image_free=True)
    assert key != cache_key(ds, fewer, FAST, 0)
    assert key != cache_key(ds, validation_split(ds), FAST, 0)
    moved = ds.features.copy()
    moved[split.train[0], 0] += 1.0
    assert key != cache_key(replace(ds, features=moved), split, FAST, 0)


def test_cache_key_ignores_data_outside_the_training_images(tiny):
    """Only the training images decide the weights: another dataset identity, or changed test images, with
    the same training bytes shares the classifier (generator versions that move only test-unseen images)."""
    ds, split = tiny
    key = cache_key(ds, split, FAST, 0)
    moved = ds.features.copy()
    moved[ds.splits["test_unseen"]] += 1.0
    other = replace(ds, features=moved, identity=replace(ds.identity, split_version="synthetic-v99"))
    assert cache_key(other, split, FAST, 0) == key


def test_holdout_selection(tiny):
    ds, split = tiny
    settings = BaseClassifierSettings(epochs=6, lr=1e-3, selection="holdout", holdout=0.2)
    clf, info = get_base_classifier(ds, split, settings=settings, seed=0)
    assert info["selection"] == "holdout" and info["uses_test_data"] is False
    assert 1 <= info["chosen_epoch"] <= settings.epochs
    assert info["n_selection_images"] > 0
    assert info["n_train_images"] + info["n_selection_images"] == split.train.size
    assert 0.0 <= info["selection_accuracy"] <= 1.0


def test_selection_returns_the_best_epochs_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 10)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    Xs, ys = X[:60], y[:60]
    settings = BaseClassifierSettings(epochs=5, lr=1e-2)
    w, b, info = train_linear_softmax(X, y, 2, settings, seed=0, select_on=(Xs, ys))
    acc = np.mean(per_class_accuracy(ys, (Xs @ w.T + b).argmax(1)))
    assert acc == pytest.approx(info["selection_accuracy"])
    w_last, _, info_last = train_linear_softmax(X, y, 2, settings, seed=0)
    assert info_last["chosen_epoch"] == 5 and info_last["selection_accuracy"] is None
    if info["chosen_epoch"] == 5:
        np.testing.assert_allclose(w, w_last, rtol=1e-6)


@pytest.mark.parametrize("select", [False, True])
def test_lean_trainer_equals_the_autograd_reference(select):
    """The explicit-gradient, in-place-Adam trainer is the autograd + torch.optim.Adam one, to float noise:
    same initialisation, batch order (a last batch shorter than the others), Adam steps and chosen epoch."""
    rng = np.random.default_rng(1)
    n, d, k = 203, 24, 7
    y = rng.integers(0, k, size=n)
    X = (rng.normal(size=(n, d)) + 1.5 * np.eye(k, d)[y]).astype(np.float32)
    select_on = (X[:50], y[:50]) if select else None
    settings = BaseClassifierSettings(epochs=12, lr=3e-3, batch_size=16, init_std=0.05)
    w, b, info = train_linear_softmax(X, y, k, settings, seed=5, select_on=select_on)
    w_ref, b_ref, info_ref = train_linear_softmax_autograd(X, y, k, settings, seed=5, select_on=select_on)
    moved = np.abs(b_ref).max()  # the bias starts at 0: how far training took it
    assert moved > 1e-2
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-5 * moved)
    np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-5 * moved)
    assert info["chosen_epoch"] == info_ref["chosen_epoch"]
    assert info["selection_accuracy"] == info_ref["selection_accuracy"]


@pytest.mark.parametrize("fused", [True, False])
def test_in_place_adam_equals_torch_adam(fused):
    """Both paths of the trainer's Adam (fused kernel, explicit ops) match torch.optim.Adam step by step."""
    import torch

    from zslbench.base_classifier import _InPlaceAdam

    gen = torch.Generator().manual_seed(0)
    p_ref = [torch.randn(5, 3, generator=gen), torch.randn(5, generator=gen)]
    params = [t.clone() for t in p_ref]
    start = [t.clone() for t in p_ref]
    for t in p_ref:
        t.requires_grad_(True)
    opt = torch.optim.Adam(p_ref, lr=1e-2)
    adam = _InPlaceAdam(params, lr=1e-2)
    adam.fused = fused
    for _ in range(20):
        grads = [torch.randn(t.shape, generator=gen) for t in params]
        for t, g in zip(p_ref, grads):
            t.grad = g.clone()
        opt.step()
        adam.step(grads)
    for a, b, s in zip(params, p_ref, start):
        assert (b.detach() - s).abs().max() > 0.05  # 20 steps of lr 1e-2 moved it
        assert (a - b.detach()).abs().max() < 1e-6
    assert adam.fused is fused


def test_selection_ties_keep_the_later_epoch_or_with_earliest_best_the_first():
    # two far-apart classes: every epoch classifies the selection images perfectly (accuracy 1.0 ties)
    X = np.array([[5.0, 0.0], [6.0, 0.0], [-5.0, 0.0], [-6.0, 0.0]], dtype=np.float32)
    y = np.array([0, 0, 1, 1])
    settings = BaseClassifierSettings(epochs=4, lr=1e-1, batch_size=4)
    _, _, later = train_linear_softmax(X, y, 2, settings, seed=0, select_on=(X, y))
    _, _, first = train_linear_softmax(X, y, 2, settings, seed=0, select_on=(X, y), earliest_best=True)
    assert later["selection_accuracy"] == first["selection_accuracy"] == 1.0
    assert (later["chosen_epoch"], first["chosen_epoch"]) == (4, 1)


def test_test_seen_selection_is_labelled_and_guarded(tiny):
    ds, split = tiny
    test_seen = (ds.features[split.eval_seen], ds.labels[split.eval_seen])
    paper = BaseClassifierSettings(epochs=4, lr=1e-3, selection="test_seen")
    with pytest.raises(ValueError, match="test_seen"):
        get_base_classifier(ds, split, settings=paper, seed=0)
    with pytest.raises(ValueError, match="paper"):
        get_base_classifier(ds, split, settings=FAST, seed=0, test_seen=test_seen)
    _, info = get_base_classifier(ds, split, settings=paper, seed=0, test_seen=test_seen)
    assert info["selection"] == "test_seen" and info["uses_test_data"] is True
    assert info["n_selection_images"] == split.eval_seen.size


def test_bad_settings_name_the_parameter():
    with pytest.raises(ValueError, match="selection"):
        BaseClassifierSettings(selection="best")
    with pytest.raises(ValueError, match="holdout"):
        BaseClassifierSettings(holdout=1.5)
    with pytest.raises(ValueError, match="epochs"):
        BaseClassifierSettings(epochs=0)
    assert BaseClassifierSettings().to_json() == {
        "epochs": 100, "lr": 1e-4, "batch_size": 16, "selection": "last", "holdout": 0.1, "init_std": 0.02,
        "center_rows": True}


def test_centred_rows_are_the_same_classifier():
    """Centring removes only the softmax's null direction: identical predictions, rows sum to zero."""
    import dataclasses

    ds = make_synthetic("synth-tiny")
    split = test_split(ds)
    raw, info_raw = get_base_classifier(ds, split, settings=dataclasses.replace(FAST, center_rows=False), seed=0)
    centred, info = get_base_classifier(ds, split, settings=FAST, seed=0)
    assert info["rows_centred"] is True and info_raw["rows_centred"] is False
    np.testing.assert_allclose(centred.augmented.sum(axis=0), 0.0, atol=1e-6)
    X = ds.features[split.eval_seen]
    np.testing.assert_array_equal(raw.scores(X).argmax(1), centred.scores(X).argmax(1))
    shift = raw.scores(X) - centred.scores(X)  # the same per-image constant across classes
    np.testing.assert_allclose(shift, shift[:, :1].repeat(shift.shape[1], axis=1), rtol=1e-6, atol=1e-6)
