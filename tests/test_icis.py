"""ICIS and its ablations: early stopping, masked losses, image-free views, accuracy on synth-tiny, scale."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from zslbench.method import TrainView, match_norm
from zslbench.methods.icis import (
    COSINE_THRESHOLD,
    MSE_THRESHOLD,
    JointAutoencoders,
    SlopeStopper,
    autoencoder_loss_terms,
    early_stop_epoch,
    loss_slope,
    train_epochs,
    training_rows,
)
from zslbench.metrics import mean_class_accuracy
from zslbench.registry import METHODS

ICIS_NAMES = ["icis_mlp", "icis_cosine", "icis_single_modal", "icis_cross_modal", "icis"]


# ------------------------------------------------------------------ early stopping


def _plateau_curve() -> list[float]:
    """Falls 0.01 per epoch up to epoch 30, then flat."""
    return [1.0 - 0.01 * min(epoch, 30) for epoch in range(1, 201)]


def test_slope_of_a_linear_decrease_is_its_rate():
    assert loss_slope([1.0 - 0.01 * e for e in range(20)]) == pytest.approx(0.01)
    assert loss_slope([0.5] * 20) == 0.0
    with pytest.raises(ValueError):
        loss_slope([1.0] * 19)


def test_early_stopping_triggers_at_the_right_epoch():
    # Slopes (by hand): epoch 43 compares epochs 34-43 (all 0.70) with 24-33 (mean 0.721): 2.1e-3, not
    # below 2e-3; epoch 44 (0.715 -> 1.5e-3) is the first that counts, and 45-48 follow -> stop at 48.
    assert loss_slope(_plateau_curve()[:43]) == pytest.approx(2.1e-3)
    assert loss_slope(_plateau_curve()[:44]) == pytest.approx(1.5e-3)
    assert early_stop_epoch(_plateau_curve(), COSINE_THRESHOLD) == 48
    # A flat curve stops as soon as the rule may apply: epochs 21..25.
    assert early_stop_epoch([1.0] * 100, COSINE_THRESHOLD) == 25


def test_early_stopping_does_not_trigger_on_a_steep_curve():
    steep = [10.0 - 0.01 * e for e in range(1000)]
    assert early_stop_epoch(steep, COSINE_THRESHOLD) is None
    # The MSE threshold is 1000x smaller: a slow MSE curve (1e-5 per epoch) keeps training.
    assert early_stop_epoch([1e-2 - 1e-5 * e for e in range(500)], MSE_THRESHOLD) is None


def test_early_stopping_needs_consecutive_epochs():
    curve = [1.0 - 0.01 * e for e in range(1, 201)]
    flat = list(curve[:40]) + [curve[39]] * 3  # a short pause ...
    curve2 = flat + [flat[-1] - 0.05 * e for e in range(1, 100)]  # ... then a steep fall again
    assert early_stop_epoch(curve2, COSINE_THRESHOLD) is None


def _slow_start_curve() -> list[float]:
    """Falls 1.9e-3 per epoch (just under the cosine threshold) for 40 epochs, then 1e-2, then flat."""
    rates = [1.9e-3] * 40 + [1e-2] * 40 + [0.0] * 120
    return list(1.0 - np.cumsum(rates))


def test_after_descent_waits_for_the_loss_to_fall_at_the_threshold_rate():
    curve = _slow_start_curve()
    assert early_stop_epoch(curve, COSINE_THRESHOLD) == 25  # the release's rule: stopped on the slow start
    stop = early_stop_epoch(curve, COSINE_THRESHOLD, after_descent=True)
    assert stop is not None and stop > 80  # trains through the fast fall, stops on the plateau after it
    stopper = SlopeStopper(COSINE_THRESHOLD, after_descent=True)
    for loss in curve[:60]:
        stopper.update(loss)
    assert stopper.armed_epoch is not None and 40 < stopper.armed_epoch < 50
    # A loss that never falls at the threshold rate never stops early (the epoch cap ends it).
    assert early_stop_epoch([1.0] * 300, COSINE_THRESHOLD, after_descent=True) is None


def test_after_descent_changes_only_runs_the_plain_rule_stops_at_epoch_25():
    rng = np.random.default_rng(0)
    changed = 0
    for _ in range(300):
        rates = np.abs(rng.normal(rng.uniform(0, 4e-3), 1.5e-3, size=400)) * rng.uniform(0.2, 1.5)
        curve = list(1.0 - np.cumsum(rates))
        plain = early_stop_epoch(curve, COSINE_THRESHOLD)
        guarded = early_stop_epoch(curve, COSINE_THRESHOLD, after_descent=True)
        if plain != 25:
            assert guarded == plain
        else:
            changed += 1
            assert guarded is None or guarded > 25
    assert changed > 10  # the draw covers both cases (the check is not vacuous)


def test_paper_presets_stop_as_the_release():
    for name in ICIS_NAMES:
        cls = METHODS.get(name)
        assert cls.space["stop_after_descent"].default is True
        assert cls.presets["paper"]["stop_after_descent"] is False
        assert True in cls.hparam_notes["stop_after_descent"]


_UPDATE = SlopeStopper.update  # the real method, whatever a test has patched in


def _epoch_losses(monkeypatch, epoch_loss: str, n_rows: int, batch_size: int) -> list[float]:
    """Epoch losses :func:`train_epochs` reports when each row's loss is its index (no parameter moves)."""
    import zslbench.methods.icis as icis

    param = torch.zeros(1, requires_grad=True)
    seen: list[float] = []
    monkeypatch.setattr(icis.SlopeStopper, "update", lambda self, loss: seen.append(loss) or _UPDATE(self, loss))
    train_epochs(lambda idx: idx.double().mean() + 0 * param.sum(), n_rows, [param], lr=0.0,
                 batch_size=batch_size, max_epochs=3, threshold=MSE_THRESHOLD,
                 gen=torch.Generator().manual_seed(0), device=torch.device("cpu"), epoch_loss=epoch_loss)
    return seen


def test_epoch_loss_is_the_row_mean_unless_the_release_batch_mean_is_asked_for(monkeypatch):
    # 27 rows in batches of 20 (AWA2's validation split): 20 + 7.
    rows = _epoch_losses(monkeypatch, "rows", 27, 20)
    assert rows == pytest.approx([13.0] * 3)  # mean of 0..26 in every epoch, whatever the shuffle
    batches = _epoch_losses(monkeypatch, "batches", 27, 20)
    assert len(set(np.round(batches, 6))) > 1  # the short batch's rows change the mean of batch means
    assert all(b != pytest.approx(13.0) for b in batches)
    # Equal batches: the two agree.
    assert _epoch_losses(monkeypatch, "batches", 40, 20) == pytest.approx(_epoch_losses(monkeypatch, "rows", 40, 20))


def test_paper_presets_read_the_release_epoch_loss():
    for name in ICIS_NAMES + ["subreg", "wdae"]:
        cls = METHODS.get(name)
        assert cls.space["epoch_loss"].default == "rows"
        assert cls.presets["paper"]["epoch_loss"] == "batches"
        assert "epoch_loss" in cls.hparam_notes


# ------------------------------------------------------------------ masked losses


def test_masked_losses_ignore_placeholder_rows():
    torch.manual_seed(0)
    net = JointAutoencoders(desc_dim=5, weight_dim=7, hidden=8)
    a = torch.randn(6, 5)
    t = torch.randn(6, 7)
    t[4:] = 0.0
    mask = torch.tensor([1.0, 1, 1, 1, 0, 0])
    before = autoencoder_loss_terms(net(a, t), a, t, mask)
    t2 = t.clone()
    t2[4:] = torch.randn(2, 7) * 5  # a different placeholder target
    after = autoencoder_loss_terms(net(a, t2), a, t2, mask)
    for name in before:
        assert torch.allclose(before[name], after[name]), name
    t3 = t.clone()
    t3[0] = torch.randn(7)  # a seen row's target does matter (the check is not vacuous)
    changed = autoencoder_loss_terms(net(a, t3), a, t3, mask)
    assert not torch.allclose(changed["t_from_a"], before["t_from_a"])
    assert not torch.allclose(changed["a_from_t"], before["a_from_t"])


def test_include_unseen_rows_are_placeholders(tiny_view):
    _, split, view = tiny_view
    a, t, mask = training_rows(view, include_unseen=True)
    S, U = split.seen.size, split.unseen.size
    assert a.shape[0] == t.shape[0] == S + U
    np.testing.assert_array_equal(mask, np.r_[np.ones(S), np.zeros(U)])
    assert not t[S:].any()
    np.testing.assert_array_equal(a[S:], view.descriptors[split.unseen])
    a2, _, mask2 = training_rows(view, include_unseen=False)
    assert a2.shape[0] == S and mask2.all()


def test_batched_decoders_equal_separate_calls():
    """forward() runs each decoder once on both latents; outputs equal four separate decoder calls."""
    torch.manual_seed(0)
    net = JointAutoencoders(desc_dim=5, weight_dim=7, hidden=8)
    a, t = torch.randn(6, 5), torch.randn(6, 7)
    out = net(a, t)
    z_a, z_t = net.enc_a(a), net.enc_t(t)
    expected = {"a_from_a": net.dec_a(z_a), "a_from_t": net.dec_a(z_t),
                "t_from_t": net.dec_t(z_t), "t_from_a": net.dec_t(z_a)}
    for name, value in expected.items():
        torch.testing.assert_close(out[name], value, msg=name)
    torch.testing.assert_close(net.predict(a), expected["t_from_a"])


def test_match_norm_sets_the_reference_mean_norm():
    rows = np.array([[3.0, 4.0], [0.0, 0.5], [0.0, 0.0]])
    reference = np.array([[2.0, 0.0], [0.0, 4.0]])  # mean norm 3
    out = match_norm(rows, reference)
    np.testing.assert_allclose(np.linalg.norm(out[:2], axis=1), [3.0, 3.0])
    np.testing.assert_allclose(out[0] / np.linalg.norm(out[0]), [0.6, 0.8])  # direction kept
    assert not out[2].any()


@pytest.mark.parametrize("name", ["icis", "icis_cosine"])
def test_output_norm_rescales_only_the_scale(tiny_view, name):
    """seen_mean rows = raw rows rescaled to the seen targets' mean norm; the paper preset keeps raw rows."""
    _, split, view = tiny_view
    cls = METHODS.get(name)
    assert cls.space["output_norm"].default == "seen_mean"
    assert cls.presets["paper"]["output_norm"] == "raw"
    params = dict(cls.test_params)
    raw = cls(**params, output_norm="raw").fit(view, rng=np.random.default_rng(3))
    scaled = cls(**params).fit(view, rng=np.random.default_rng(3))
    S = split.seen.size
    raw_rows = np.c_[raw.classifier_.weight, raw.classifier_.bias][S:]
    rows = np.c_[scaled.classifier_.weight, scaled.classifier_.bias][S:]
    seen_mean = np.linalg.norm(view.seen_targets(), axis=1).mean()
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), seen_mean, rtol=1e-6)
    cos = (rows * raw_rows).sum(1) / np.linalg.norm(rows, axis=1) / np.linalg.norm(raw_rows, axis=1)
    np.testing.assert_allclose(cos, 1.0, rtol=1e-6)
    ratio = np.linalg.norm(raw_rows, axis=1).mean() / seen_mean
    assert scaled.record_info()["raw_norm_ratio"] == pytest.approx(ratio, rel=1e-5)


# ------------------------------------------------------------------ the methods


def test_variants_are_registered_image_free():
    for name in ICIS_NAMES:
        cls = METHODS.get(name)
        assert cls.access == "image_free" and cls.version >= 1
        assert cls.space["hidden_dim"].default == 2048 and cls.space["lr"].default == 1e-5
    assert METHODS.get("icis").space["include_unseen"].default is True
    assert METHODS.get("icis_cross_modal").space["include_unseen"].default is False
    assert "include_unseen" not in METHODS.get("icis_mlp").space
    assert METHODS.get("icis_mlp").space["slope_threshold"].default == MSE_THRESHOLD


def test_image_free_view_carries_no_image(tiny_view):
    ds, _, view = tiny_view
    assert view.features is None and view.labels is None
    assert view.base is not None and view.feature_dim == ds.features.shape[1]


@pytest.mark.parametrize("name", ICIS_NAMES)
def test_variant_beats_chance_on_synth_tiny(tiny_view, name):
    ds, split, view = tiny_view
    method = METHODS.get(name)(**METHODS.get(name).test_params).fit(view, rng=np.random.default_rng(0))
    X, y = ds.features[split.eval_unseen], ds.labels[split.eval_unseen]
    zsl = mean_class_accuracy(y, split.unseen[method.scores(X, split.unseen).argmax(1)])
    assert zsl > 1.5 / split.unseen.size
    # GZSL classifier = base rows for seen classes + injected rows; scores have the asked-for shape.
    cand = split.candidates
    assert method.scores(X[:3], cand).shape == (3, cand.size)
    np.testing.assert_array_equal(method.classifier_.weight[: split.seen.size], view.base.weight)
    info = method.record_info()
    assert 1 <= info["epochs"] <= METHODS.get(name).test_params["max_epochs"]
    armed = info["stop_armed_epoch"]  # None: the loss never fell at the threshold rate after epoch 21
    assert armed is None or 21 <= armed <= info["epochs"]
    assert not (info["stopped_early"] and armed is None)
    assert json.loads(json.dumps(info)) == info


def test_deterministic_given_the_rng(tiny_view):
    _, split, view = tiny_view
    params = dict(METHODS.get("icis").test_params)
    a = METHODS.get("icis")(**params).fit(view, rng=np.random.default_rng(5))
    b = METHODS.get("icis")(**params).fit(view, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.classifier_.weight, b.classifier_.weight)


def test_injection_trains_on_the_view_seen_subset(tiny_view):
    """Seen-fraction setting: the injection uses view.seen (a subset); the base keeps every seen class."""
    ds, split, view = tiny_view
    subset = TrainView(descriptors=view.descriptors, seen=split.seen[:4], unseen=split.unseen,
                       feature_dim=view.feature_dim, base=view.base)
    a, t, _ = training_rows(subset, include_unseen=False)
    assert a.shape[0] == 4
    np.testing.assert_array_equal(t, view.base.augmented[:4])
    method = METHODS.get("icis")(**METHODS.get("icis").test_params).fit(subset, rng=np.random.default_rng(0))
    assert method.classifier_.weight.shape[0] == split.seen.size + split.unseen.size


_SCALE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, torch
    from zslbench.method import LinearClassifier, TrainView
    from zslbench.registry import METHODS

    def peak_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1])

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    S, U, d, A = 10_000, 1_000, 2048, 64
    base = LinearClassifier(rng.normal(0, 0.02, (S, d)), np.zeros(S), np.arange(S))
    view = TrainView(descriptors=rng.random((S + U, A)), seen=np.arange(S), unseen=np.arange(S, S + U),
                     feature_dim=d, base=base)
    method = METHODS.get("icis")(hidden_dim=32, max_epochs=1, batch_size=256, lr=1e-3)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak-RSS counter: measure the fit only
    start_kb, t0 = peak_kb(), time.perf_counter()
    method.fit(view, rng=rng)
    print(json.dumps({"peak_increase_mb": (peak_kb() - start_kb) / 1024, "seconds": time.perf_counter() - t0,
                      "rows": method.classifier_.weight.shape[0]}))
    """
)


@pytest.mark.slow
def test_scales_linearly_with_10k_classes():
    """10,000 seen classes x 2,048-d: nothing (classes x classes) or (images x images) is materialised.

    A 10,000^2 float64 matrix alone is 800 MB. Fit's extra peak memory is dominated by copies of the
    10,000 x 2,049 float64 targets (164 MB each: the view's seen_targets, the combined classifier built
    by ClassifierInjection.fit) and must stay well below that (measured ~470 MB).
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pytest.skip("needs Linux /proc/self/clear_refs to measure peak memory")
    out = subprocess.run([sys.executable, "-c", _SCALE_SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] == 11_000
    assert result["peak_increase_mb"] < 0.75 * 800, result
    assert result["seconds"] < 60, result


def test_shipped_config_gives_icis_and_its_ablations_the_same_per_dataset_settings():
    """ICIS Table 2: the ablations run with ICIS's own settings (hidden 4096 on SUN, batch 20 on AWA2)."""
    from zslbench.config import load_config

    config = load_config()  # the repository's benchmark.toml
    for family in ("CUB", "AWA2", "SUN"):
        icis = config.method("icis").hparams_for(family)
        for ablation in ("icis_mlp", "icis_cosine", "icis_single_modal", "icis_cross_modal"):
            assert config.method(ablation).hparams_for(family) == icis, (ablation, family)
    assert config.method("icis").hparams_for("SUN")["hidden_dim"] == 4096
