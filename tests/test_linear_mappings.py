"""Linear / bilinear semantic mappings: closed forms against independent solves, training, accuracy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_sylvester
from sklearn.preprocessing import normalize

from zslbench.methods.linear_mappings import ALE, ESZSL, DeViSE, SylvesterEig, eszsl_solve
from zslbench.protocol import test_split, train_view
from zslbench.registry import METHODS
from zslbench.runner import evaluate_method

MAPPINGS = ("ridge_s2v", "eszsl", "sae", "devise", "ale")


def test_eszsl_matches_kronecker_solve():
    """V solves (X Xᵀ + γI) V (S Sᵀ + λI) = X Y Sᵀ, written as one Kronecker-product linear system."""
    rng = np.random.default_rng(0)
    d, n, a, z = 5, 30, 4, 3
    X = rng.standard_normal((d, n))
    Y = -np.ones((n, z))
    Y[np.arange(n), rng.integers(z, size=n)] = 1
    S = rng.standard_normal((a, z))
    gamma, lam = 0.7, 2.5
    V = eszsl_solve(X, Y, S, gamma, lam)
    # vec(A V B) = (Bᵀ ⊗ A) vec(V), column-major vec
    system = np.kron((S @ S.T + lam * np.eye(a)).T, X @ X.T + gamma * np.eye(d))
    v = np.linalg.solve(system, (X @ Y @ S.T).reshape(-1, order="F"))
    np.testing.assert_allclose(V, v.reshape(d, a, order="F"), rtol=1e-9, atol=1e-12)


def test_eszsl_without_penalties_is_two_least_squares():
    """γ, λ -> 0: V = B Sᵀ (S Sᵀ)⁻¹ with B the least-squares fit of Y from Xᵀ."""
    rng = np.random.default_rng(1)
    d, n, a, z = 4, 50, 3, 5
    X = rng.standard_normal((d, n))
    Y = np.where(rng.random((n, z)) < 0.3, 1.0, -1.0)
    S = rng.standard_normal((a, z))
    B = np.linalg.lstsq(X.T, Y, rcond=None)[0]  # (d, z)
    expected = np.linalg.lstsq(S.T, B.T, rcond=None)[0].T  # V Sᵀ... solves V (S Sᵀ) = B Sᵀ
    np.testing.assert_allclose(eszsl_solve(X, Y, S, 1e-12, 1e-12), expected, rtol=1e-6, atol=1e-8)


def test_eszsl_fit_uses_the_closed_form(tiny):
    split = test_split(tiny)
    view = train_view(tiny, split, access="inductive")
    method = ESZSL(gamma=0.3, lam=3.0).fit(view, rng=np.random.default_rng(0))
    features = view.features.astype(np.float64)
    X = normalize(features - features.mean(axis=0))
    Y = -np.ones((len(view.labels), len(split.seen)))
    Y[np.arange(len(view.labels)), np.searchsorted(split.seen, view.labels)] = 1
    S = normalize(view.descriptors)[split.seen].T
    np.testing.assert_allclose(method.V_, eszsl_solve(X.T, Y, S, 0.3, 3.0), rtol=1e-10)


@pytest.mark.parametrize("k_classes", [6, 2])  # 2 distinct classes for k = 4: S Sᵀ is singular
def test_sae_solves_its_sylvester_equation(k_classes):
    rng = np.random.default_rng(2)
    d, n, k, lam = 7, 40, 4, 0.8
    X = rng.standard_normal((d, n))
    class_desc = rng.standard_normal((k, k_classes))
    S = class_desc[:, rng.integers(k_classes, size=n)]
    W = SylvesterEig(X, S).solve(lam)
    residual = S @ S.T @ W + lam * W @ X @ X.T - (1 + lam) * S @ X.T
    assert np.linalg.norm(residual) < 1e-9 * np.linalg.norm(S @ X.T)
    np.testing.assert_allclose(W, solve_sylvester(S @ S.T, lam * X @ X.T, (1 + lam) * S @ X.T), atol=1e-9)


def test_sae_rejects_bad_settings(tiny):
    view = train_view(tiny, test_split(tiny), access="inductive")
    with pytest.raises(ValueError, match="direction"):
        METHODS.get("sae")(direction="sideways").fit(view, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="lam"):
        SylvesterEig(np.ones((2, 3)), np.ones((2, 3))).solve(0.0)


def test_ranking_losses_by_hand():
    """One image, true class 0, compatibilities (3, 2.5, 0, 2.9), margin 1: violations 0.5 and 0.9."""
    import torch

    compat = torch.tensor([[3.0, 2.5, 0.0, 2.9]])
    target = torch.tensor([0])
    devise, ale = DeViSE(margin=1.0), ALE(margin=1.0)
    assert float(devise._loss(compat, target)) == pytest.approx(1.4)
    # rank r = 2 violating classes; weight (1 + 1/2) / 2
    assert float(ale._loss(compat, target)) == pytest.approx(0.75 * 1.4, rel=1e-5)


@pytest.mark.parametrize("name", ["devise", "ale"])
def test_ranking_training_loss_decreases(name, tiny):
    cls = METHODS.get(name)
    view = train_view(tiny, test_split(tiny), access="inductive")
    method = cls(**cls.test_params).fit(view, rng=np.random.default_rng(0))
    losses = method.loss_history_
    assert len(losses) == cls.test_params["epochs"]
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("name", MAPPINGS)
def test_beats_chance_on_synth_tiny(name, tiny):
    cls = METHODS.get(name)
    split = test_split(tiny)
    metrics = evaluate_method(cls(**cls.test_params), tiny, split, rng=np.random.default_rng(0)).metrics()
    chance = 1.0 / len(split.unseen)
    assert metrics["zsl_top1"] > 1.5 * chance, metrics
    assert metrics["gzsl_h"] > 0.0, metrics


@pytest.mark.parametrize("center", [False, True])
def test_sae_centres_features_only_when_asked(tiny, center):
    """Default (the authors' code): W from the per-image L2-normalised raw features; center=True
    subtracts the training mean first (version 1's only behaviour)."""
    assert METHODS.get("sae").space["center"].default is False
    split = test_split(tiny)
    view = train_view(tiny, split, access="inductive")
    method = METHODS.get("sae")(lam=2.0, center=center).fit(view, rng=np.random.default_rng(0))
    features = view.features.astype(np.float64)
    X = normalize(features - features.mean(axis=0) if center else features)
    S = normalize(view.descriptors)[view.labels]
    np.testing.assert_allclose(method.W_, SylvesterEig(X.T, S.T).solve(2.0), rtol=1e-8, atol=1e-12)


def test_sae_feature_direction_beats_chance(tiny):
    split = test_split(tiny)
    metrics = evaluate_method(METHODS.get("sae")(direction="feature"), tiny, split).metrics()
    assert metrics["zsl_top1"] > 1.5 / len(split.unseen), metrics


@pytest.mark.parametrize("name", MAPPINGS)
def test_needs_images(name, tiny):
    from zslbench.method import TrainView

    view = TrainView(descriptors=tiny.descriptors, seen=np.arange(8), unseen=np.arange(8, 12),
                     feature_dim=tiny.features.shape[1])
    with pytest.raises(ValueError, match="inductive view"):
        METHODS.get(name)().fit(view, rng=np.random.default_rng(0))


@pytest.mark.parametrize("name, changes", [("eszsl", {"gamma": 1e-2, "lam": 1e2}), ("sae", {"lam": 3e3})])
def test_refit_equals_a_fresh_fit_with_the_changed_penalty(name, changes, tiny):
    """The validation grid's cheap path: refitting a penalty gives exactly a fresh fit's scores."""
    cls = METHODS.get(name)
    split = test_split(tiny)
    view = train_view(tiny, split, access="inductive")
    refitted = cls().fit(view, rng=np.random.default_rng(0))
    before = refitted.scores(tiny.features[split.eval_unseen], split.candidates)
    refitted.refit(**changes)
    fresh = cls(**changes).fit(view, rng=np.random.default_rng(0))
    after = refitted.scores(tiny.features[split.eval_unseen], split.candidates)
    assert np.array_equal(after, fresh.scores(tiny.features[split.eval_unseen], split.candidates))
    assert not np.allclose(after, before)
    assert refitted.hparams == fresh.hparams
    with pytest.raises(ValueError, match="refit can change only"):
        refitted.refit(direction="feature") if name == "sae" else refitted.refit(alpha=1.0)


@pytest.mark.parametrize("name", ["ridge_v2s", "ridge_s2v", "eszsl", "sae", "ridge_injection"])
def test_closed_form_penalties_are_selected_on_validation(name):
    """methods.md: the closed-form penalties are chosen on validation classes every run, from a grid that
    holds the default and spans several decades."""
    for p in METHODS.get(name).space.values():
        if p.select_on_validation:
            assert p.default in p.choices and max(p.choices) / min(p.choices) >= 1e6
    assert any(p.select_on_validation for p in METHODS.get(name).space.values())
