"""Image-free baselines of ICIS Table 1 and ridge injection: mechanics on hand-made cases, and accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from zslbench.method import LinearClassifier, TrainView, norm_scale, scale_rows
from zslbench.methods.injection_baselines import (
    conse_embedding,
    costa_weights,
    project,
    ridge_map,
    smo_loss_and_grad,
    smo_mixtures,
    smo_mixtures_release,
    span_basis,
    wavg_weights,
)
from zslbench.methods.wdae import _similarity, topk_graph
from zslbench.metrics import mean_class_accuracy
from zslbench.registry import METHODS

BASELINES = ["conse", "costa", "subreg", "wdae", "wavg", "smo", "ridge_injection"]


def _hand_view(descriptors: np.ndarray, seen_rows: np.ndarray, n_seen: int) -> TrainView:
    """A view over classes 0..n_seen-1 (seen, base rows ``seen_rows`` = [w | b]) and the rest unseen."""
    base = LinearClassifier(seen_rows[:, :-1], seen_rows[:, -1], np.arange(n_seen))
    return TrainView(descriptors=descriptors, seen=np.arange(n_seen),
                     unseen=np.arange(n_seen, descriptors.shape[0]), feature_dim=seen_rows.shape[1] - 1, base=base)


# ------------------------------------------------------------------ COSTA


def test_costa_weights_are_the_hand_computed_cooccurrence_average():
    # two seen classes, one unseen: a_u . a_s1 = 1, a_u . a_s2 = 2 -> weights 1/3, 2/3
    desc = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 2.0]])
    rows = np.array([[1.0, 0.0, 0.5], [0.0, 3.0, -1.0]])
    np.testing.assert_allclose(costa_weights(desc[2:], desc[:2]), [[1 / 3, 2 / 3]])
    method = METHODS.get("costa")(output_norm="raw").fit(_hand_view(desc, rows, 2), rng=np.random.default_rng(0))
    np.testing.assert_allclose(method.classifier_.augmented[2], rows[0] / 3 + 2 * rows[1] / 3)


def test_costa_rejects_descriptors_without_cooccurrence():
    with pytest.raises(ValueError, match="costa"):
        costa_weights(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))


# ------------------------------------------------------------------ WAvg and SMO


def test_wavg_weights_sum_to_one_over_k_neighbours():
    rng = np.random.default_rng(0)
    seen, unseen = rng.random((20, 6)), rng.random((4, 6))
    w = wavg_weights(unseen, seen, k=5, eta=5.0, normalise=True)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert ((w > 0).sum(axis=1) == 5).all()
    dist = np.linalg.norm(unseen[:, None] - seen[None], axis=2)
    for u in range(4):
        nearest = np.argsort(dist[u])[:5]
        assert set(np.flatnonzero(w[u])) == set(nearest)
        assert w[u, nearest[0]] == w[u].max()  # the closest seen class weighs most
    raw = wavg_weights(unseen, seen, k=None, eta=5.0, normalise=False)
    np.testing.assert_allclose(raw, np.exp(-5.0 * dist))  # the ICIS release: unnormalised, all classes


def test_wavg_paper_preset_is_the_icis_release_variant(tiny_view):
    cls = METHODS.get("wavg")
    assert cls.space["variant"].default == "vgse" and cls.presets["paper"]["variant"] == "icis_release"
    _, split, view = tiny_view
    method = cls(**cls.presets["paper"]).fit(view, rng=np.random.default_rng(0))
    assert method.classifier_.weight.shape[0] == split.seen.size + split.unseen.size
    with pytest.raises(ValueError, match="variant"):
        cls(variant="nope").fit(view, rng=np.random.default_rng(0))


def test_smo_mixture_weights_sum_to_one_and_fit_the_descriptor():
    rng = np.random.default_rng(1)
    seen = rng.random((12, 8))
    seen /= np.linalg.norm(seen, axis=1, keepdims=True)
    truth = np.zeros((3, 12))
    truth[0, [0, 1]] = 0.5
    truth[1, 4] = 1.0
    truth[2] = 1 / 12
    unseen = truth @ seen
    mix, steps = smo_mixtures(unseen, seen, lr=1000.0, patience=10, max_steps=5000)
    np.testing.assert_allclose(mix.sum(axis=1), 1.0)
    assert (mix >= 0).all() and (steps > 0).all()
    start_err = np.mean((np.full(12, 1 / 12) @ seen - unseen) ** 2, axis=1)  # r = 0: uniform mixture
    end_err = np.mean((mix @ seen - unseen) ** 2, axis=1)
    assert (end_err <= start_err + 1e-15).all()  # each class keeps its best r
    assert end_err[1] < start_err[1] / 100
    assert steps[2] == 10  # already optimal at r = 0: stops after `patience` steps without improvement
    small_step, _ = smo_mixtures(unseen, seen, lr=100.0, patience=10, max_steps=5000)
    assert np.mean((small_step @ seen - unseen) ** 2, axis=1).max() < start_err.max() / 1000


def test_smo_gradient_matches_autograd():
    rng = np.random.default_rng(2)
    r, A_s, a_u = rng.normal(size=(3, 7)), rng.random((7, 5)), rng.random((3, 5))
    loss, grad = smo_loss_and_grad(r, A_s, a_u)
    rt = torch.tensor(r, requires_grad=True)
    per_class = ((torch.softmax(rt, 1) @ torch.tensor(A_s) - torch.tensor(a_u)) ** 2).mean(1)
    per_class.sum().backward()
    np.testing.assert_allclose(loss, per_class.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, rt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_scale_rows_modes():
    rows = np.array([[3.0, 4.0], [0.0, 0.5]])
    seen = np.array([[2.0, 0.0], [0.0, 4.0]])  # mean norm 3
    np.testing.assert_allclose(np.linalg.norm(scale_rows(rows, seen, "seen_mean"), axis=1), [3.0, 3.0])
    np.testing.assert_allclose(scale_rows(rows, seen, "norm_scale"), norm_scale(rows))
    np.testing.assert_array_equal(scale_rows(rows, seen, "raw"), rows)
    with pytest.raises(ValueError, match="output_norm"):
        scale_rows(rows, seen, "unit")


PAPER_OUTPUT_NORM = {"costa": "raw", "wavg": "norm_scale", "smo": "norm_scale", "ridge_injection": "raw",
                     "subreg": "raw", "wdae": "raw"}


@pytest.mark.parametrize("name", sorted(PAPER_OUTPUT_NORM))
def test_unseen_rows_default_to_the_seen_rows_mean_norm(tiny_view, name):
    """Default: each predicted row rescaled (direction kept) to the seen rows' mean norm; the paper
    presets keep the ICIS paper's scale (COSTA, Sub.Reg., wDAE raw, WAvg / SMO the norm-scale heuristic;
    ridge raw)."""
    _, split, view = tiny_view
    cls = METHODS.get(name)
    assert cls.space["output_norm"].default == "seen_mean"
    assert cls.presets["paper"]["output_norm"] == PAPER_OUTPUT_NORM[name]
    params = dict(cls.test_params)
    S = split.seen.size
    raw = cls(**params, output_norm="raw").fit(view, rng=np.random.default_rng(3)).classifier_.augmented[S:]
    rows = cls(**params).fit(view, rng=np.random.default_rng(3)).classifier_.augmented[S:]
    seen_mean = np.linalg.norm(view.seen_targets(), axis=1).mean()
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), seen_mean, rtol=1e-6)
    cos = (rows * raw).sum(1) / np.linalg.norm(rows, axis=1) / np.linalg.norm(raw, axis=1)
    np.testing.assert_allclose(cos, 1.0, rtol=1e-6)


def test_norm_scale_sets_mean_row_norm():
    rows = np.random.default_rng(0).normal(size=(5, 9)) * 7
    np.testing.assert_allclose(np.linalg.norm(norm_scale(rows), axis=1).mean(), 0.1)


# ------------------------------------------------------------------ Sub.Reg., ridge, ConSE, wDAE graph


def test_subreg_projection_is_idempotent_and_keeps_seen_rows():
    rng = np.random.default_rng(0)
    seen_rows = rng.normal(size=(6, 20))
    Q = torch.as_tensor(span_basis(seen_rows))
    X = torch.as_tensor(rng.normal(size=(4, 20)))
    once = project(Q, X)
    torch.testing.assert_close(project(Q, once), once)
    torch.testing.assert_close(project(Q, torch.as_tensor(seen_rows)), torch.as_tensor(seen_rows))
    assert not torch.allclose(once, X)  # a generic row is not in the 6-d span of 20-d space


def test_ridge_injection_equals_a_direct_solve():
    rng = np.random.default_rng(0)
    A, T = rng.normal(size=(30, 8)), rng.normal(size=(30, 5))
    lam = 0.7
    direct = np.linalg.solve(A.T @ A + lam * np.eye(8), A.T @ T)
    np.testing.assert_allclose(ridge_map(A, T, lam), direct, rtol=1e-8, atol=1e-10)
    sk = Ridge(alpha=lam, fit_intercept=False).fit(A, T).coef_.T
    np.testing.assert_allclose(ridge_map(A, T, lam), sk, rtol=1e-6, atol=1e-8)
    wide = rng.normal(size=(6, 15))  # fewer classes than descriptor dimensions: the dual form
    np.testing.assert_allclose(ridge_map(wide, T[:6], lam),
                               np.linalg.solve(wide.T @ wide + lam * np.eye(15), wide.T @ T[:6]), atol=1e-8)
    desc = np.vstack([A, rng.normal(size=(3, 8))])
    method = METHODS.get("ridge_injection")(lam=lam, output_norm="raw").fit(_hand_view(desc, T, 30),
                                                                        rng=np.random.default_rng(0))
    np.testing.assert_allclose(method.classifier_.augmented[30:], desc[30:] @ direct, atol=1e-8)


def test_conse_with_t1_picks_the_descriptor_closest_to_the_top_seen_class():
    rng = np.random.default_rng(0)
    n_seen, d = 5, 4
    desc = rng.random((n_seen + 6, 7))
    W = np.eye(n_seen, d) * 5.0  # image e_j is confidently seen class j (j < 4)
    rows = np.hstack([W, np.zeros((n_seen, 1))])
    view = _hand_view(desc, rows, n_seen)
    method = METHODS.get("conse")(top_t=1).fit(view, rng=np.random.default_rng(0))
    X = np.eye(d)
    unseen = view.unseen
    pred = unseen[method.scores(X, unseen).argmax(1)]
    unit = desc / np.linalg.norm(desc, axis=1, keepdims=True)
    for j in range(d):
        assert pred[j] == unseen[np.argmax(unit[unseen] @ unit[j])]
    probs = np.array([[0.5, 0.3, 0.2]])
    np.testing.assert_allclose(conse_embedding(probs, np.eye(3), top_t=2), [[0.5, 0.3, 0.0]])
    np.testing.assert_allclose(conse_embedding(probs, np.eye(3), top_t=0), probs)
    np.testing.assert_allclose(conse_embedding(probs, np.eye(3), top_t=3), probs)
    with pytest.raises(ValueError, match="top_t"):
        conse_embedding(probs, np.eye(3), top_t=-1)


def test_smo_release_keeps_the_stepped_r_of_the_last_step():
    # S = 2 seen descriptors 0 and 1, target 1: loss = (p1 - 1)^2 with p = softmax(r), so by hand
    # dL/dr1 = 2 (p1 - 1) p1 (1 - p1) = -dL/dr0. One step from the N(0, (2/S)^2) start, then the cap.
    seen, unseen = np.array([[0.0], [1.0]]), np.array([[1.0]])
    r0 = np.random.default_rng(7).normal(0.0, 2.0 / 2, size=(1, 2))
    p1 = np.exp(r0[0, 1]) / np.exp(r0[0]).sum()
    g1 = 2.0 * (p1 - 1.0) * p1 * (1.0 - p1)
    r1 = r0 - 10.0 * np.array([[-g1, g1]])
    mix, steps = smo_mixtures_release(unseen, seen, lr=10.0, eps=1e-7, patience=10, max_steps=1,
                                      rng=np.random.default_rng(7))
    np.testing.assert_allclose(mix, np.exp(r1) / np.exp(r1).sum(), rtol=1e-12)
    assert steps.tolist() == [1]


def test_smo_release_stops_after_patience_plus_one_steps_without_improvement():
    # lr = 0: step 1 improves on the start (inf) by a lot (counter 0); steps 2..12 do not improve
    # (counter 1..11); the counter exceeds 10 after step 12, and r is still the random start.
    seen, unseen = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([[0.3, 0.9]])
    mix, steps = smo_mixtures_release(unseen, seen, lr=0.0, eps=1e-7, patience=10, max_steps=1000,
                                      rng=np.random.default_rng(3))
    r0 = np.random.default_rng(3).normal(0.0, 2.0 / 3, size=(1, 3))
    assert steps.tolist() == [12]
    np.testing.assert_allclose(mix, np.exp(r0) / np.exp(r0).sum(), rtol=1e-12)


def test_smo_release_stops_once_improvements_are_tiny():
    # With a huge eps every improving step counts as tiny: the counter grows every step from step 2.
    seen, unseen = np.array([[0.0], [1.0]]), np.array([[1.0]])
    _, steps = smo_mixtures_release(unseen, seen, lr=10.0, eps=1e9, patience=10, max_steps=1000,
                                    rng=np.random.default_rng(0))
    # step 1: |inf - loss| is not tiny (counter 0); steps 2..12 improve but tinily (counter 1..11 > 10)
    assert steps.tolist() == [12]
    # with eps = 0 the same improving steps reset the counter, and the run goes on
    _, steps = smo_mixtures_release(unseen, seen, lr=10.0, eps=0.0, patience=10, max_steps=50,
                                    rng=np.random.default_rng(0))
    assert steps.tolist() == [50]


def test_wdae_release_graph_ranks_by_dot_product_not_cosine():
    # row 0 = (1, 0.1): its cosine is highest with row 2 = (1, 0) (0.995 vs 0.77 with row 1 = (3, 3)),
    # its dot product with row 1 (3.3 vs 1.0)
    X = torch.tensor([[[1.0, 0.1], [3.0, 3.0], [1.0, 0.0]]])
    nbr_cos, _ = topk_graph(_similarity(X, release=False), top_k=1, temperature=5.0)
    nbr_dot, w = topk_graph(_similarity(X, release=True), top_k=2, temperature=5.0)
    assert int(nbr_cos[0, 0, 0]) == 2 and int(nbr_dot[0, 0, 0]) == 1
    # weights: softmax(5 * (3.3, 1.0)) over the two neighbours
    np.testing.assert_allclose(w[0, 0].numpy(), [1 / (1 + np.exp(-11.5)), 1 / (1 + np.exp(11.5))], rtol=1e-5)


def test_wdae_release_variant_refines_the_seen_rows_too(tiny_view):
    _, _, view = tiny_view
    cls = METHODS.get("wdae")
    seen_rows = np.searchsorted(view.base.classes, view.seen)
    plain = cls(**cls.test_params).fit(view, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(plain.classifier_.augmented[seen_rows], view.base.augmented[seen_rows])
    release = cls(**{**cls.test_params, "variant": "icis_release"}).fit(view, rng=np.random.default_rng(0))
    assert not np.allclose(release.classifier_.augmented[seen_rows], view.base.augmented[seen_rows])
    assert cls.presets["paper"]["variant"] == "icis_release"


def test_wdae_graph_excludes_self_and_weights_sum_to_one():
    X = torch.randn(2, 12, 6)
    Z = torch.nn.functional.normalize(X, dim=-1)
    nbr, w = topk_graph(Z @ Z.transpose(1, 2), top_k=4, temperature=5.0)
    assert nbr.shape == (2, 12, 4)
    assert not (nbr == torch.arange(12)[None, :, None]).any()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 12))


# ------------------------------------------------------------------ every baseline


def test_baselines_are_registered_image_free():
    for name in BASELINES:
        cls = METHODS.get(name)
        assert cls.access == "image_free" and cls.version >= 1
        assert set(cls.test_params) <= set(cls.space)


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_beats_chance_on_synth_tiny(tiny_view, name):
    ds, split, view = tiny_view
    assert view.features is None and view.labels is None  # no image reaches an image-free method
    cls = METHODS.get(name)
    method = cls(**cls.test_params).fit(view, rng=np.random.default_rng(0))
    X, y = ds.features[split.eval_unseen], ds.labels[split.eval_unseen]
    zsl = mean_class_accuracy(y, split.unseen[method.scores(X, split.unseen).argmax(1)])
    assert zsl > 1.5 / split.unseen.size
    scores = method.scores(X[:5], split.candidates)
    assert scores.shape == (5, split.candidates.size) and np.isfinite(scores).all()


@pytest.mark.parametrize("name", ["subreg", "wdae", "smo"])
def test_record_info_is_json_ready(tiny_view, name):
    import json

    _, _, view = tiny_view
    cls = METHODS.get(name)
    info = cls(**cls.test_params).fit(view, rng=np.random.default_rng(0)).record_info()
    assert info and json.loads(json.dumps(info)) == info


def test_conse_embedding_uses_only_the_allowed_seen_classes(tiny_view):
    """With a seen-class fraction, ConSE combines only the kept classes (renormalised softmax)."""
    from dataclasses import replace

    from scipy.special import softmax

    ds, split, view = tiny_view
    kept = view.seen[::2]
    small = METHODS.get("conse")(top_t=0).fit(replace(view, seen=kept), rng=np.random.default_rng(0))
    X = ds.features[split.eval_unseen[:5]]
    probs = softmax(view.base.scores(X)[:, np.searchsorted(view.base.classes, kept)], axis=1)
    emb = probs @ view.descriptors[kept]
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    unit = view.descriptors / np.linalg.norm(view.descriptors, axis=1, keepdims=True)
    np.testing.assert_allclose(small.scores(X, split.unseen), emb @ unit[split.unseen].T, rtol=1e-6, atol=1e-9)


def test_validate_method_row_scale_keeps_directions_and_spreads_norms(monkeypatch):
    """benchmarks/validate_method.py --row-scale: each row (weight and bias) times one positive factor."""
    import importlib.util
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(folder))
    module_spec = importlib.util.spec_from_file_location("validate_method", folder / "validate_method.py")
    bench = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(bench)
    rng = np.random.default_rng(0)
    base = LinearClassifier(weight=rng.standard_normal((30, 8)), bias=rng.standard_normal(30), classes=np.arange(30))
    same = bench.scaled_rows(base, 0.0)
    np.testing.assert_allclose(same.augmented, base.augmented)
    scaled = bench.scaled_rows(base, 0.5)
    ratio = np.linalg.norm(scaled.augmented, axis=1) / np.linalg.norm(base.augmented, axis=1)
    np.testing.assert_allclose(scaled.augmented, base.augmented * ratio[:, None])  # same directions
    assert ratio.min() > 0 and 0.3 < np.log(ratio).std() < 0.7
    np.testing.assert_array_equal(scaled.classes, base.classes)
