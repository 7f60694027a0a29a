"""Linear and bilinear semantic mappings (inductive): ridge S -> V, ESZSL, SAE, DeViSE, ALE.

All five learn a linear map between image features and class descriptors from seen-class images, and
score a candidate class by its compatibility with an image:

- ``ridge_s2v``: ridge from descriptors to class-mean features; cosine of an image with each candidate's
  predicted prototype (the semantic -> visual direction reduces hubness).
- ``eszsl`` (Romera-Paredes and Torr, ICML 2015): closed form ``V = (X Xᵀ + γI)⁻¹ X Y Sᵀ (S Sᵀ + λI)⁻¹``
  with Y in {-1, 1}; score ``xᵀ V s_c``.
- ``sae`` (Kodirov et al., CVPR 2017): the semantic autoencoder ``S Sᵀ W + λ W X Xᵀ = (1 + λ) S Xᵀ``
  (a Sylvester equation); cosine in the semantic space (``W x`` vs ``s_c``) or the feature space
  (``Wᵀ s_c`` vs ``x``).
- ``devise`` (Frome et al., NeurIPS 2013) and ``ale`` (Akata et al., TPAMI 2016): bilinear compatibility
  ``xᵀ W s_c`` trained with a hinge ranking loss (DeViSE: summed over violating classes; ALE: weighted
  approximate-rank pairwise loss, rank weight ``(1 + 1/2 + ... + 1/r) / r``), Adam, a few epochs, torch.

Preprocessing, fitted on training images only: image features are L2-normalised per image (all five),
and ``ridge_s2v`` also subtracts the training mean before normalising (``sae`` only with ``center``, which
its authors' code does not do). Descriptors are
L2-normalised per class. Hyper-parameters are chosen by the harness on validation classes from each
method's ``space``; defaults are the centre of the ranges the papers searched.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.preprocessing import normalize

from zslbench.method import Method, Param, TrainView
from zslbench.registry import register_method
from zslbench.toolbox import epoch_done, torch_generator, torch_threads

log = logging.getLogger(__name__)

PENALTY_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3)
"""10^[-3..3]: the closed-form penalties every run compares on the validation split (ESZSL's published
search range, methods.md; used for ridge S -> V too)."""
SAE_GRID: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5)
"""SAE's λ, compared on the validation split every run: half-decades over 0.01-1e5."""
BILINEAR_LR_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0)
BILINEAR_DECAY_GRID: tuple[float, ...] = (1e-8, 1e-6, 1e-4, 1e-2)
"""ALE's and DeViSE's Adam learning rate and weight decay, compared on validation classes in every run (GBU
tuned every method's hyper-parameters on its validation classes); 16 fits of a few seconds each."""


def _check_inductive(view: TrainView, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) features and (n,) labels of an inductive view; a clear error otherwise."""
    if view.features is None or view.labels is None:
        raise ValueError(f"{name}: needs an inductive view with training features and labels")
    if len(view.labels) == 0:
        raise ValueError(f"{name}: the view has no training images")
    return np.asarray(view.features, dtype=np.float64), np.asarray(view.labels)


def _seen_onehot(labels: np.ndarray, seen: np.ndarray, negative: float = 0.0) -> np.ndarray:
    """(n, S) label matrix over ``seen`` (1 for the class, ``negative`` elsewhere)."""
    cols = np.searchsorted(seen, labels)
    Y = np.full((labels.size, seen.size), negative)
    Y[np.arange(labels.size), cols] = 1.0
    return Y


# --------------------------------------------------------------------------------------------------
# Closed-form maps
# --------------------------------------------------------------------------------------------------


@register_method("ridge_s2v")
class RidgeSemanticToVisual(Method):
    """Ridge from descriptors (S, A) to class-mean features (S, d); cosine to predicted prototypes."""

    label = "Ridge S→V"
    family = "linear"

    version = 2  # v2: alpha selected on validation from PENALTY_GRID (v1: 1.0 unless searched)
    access = "inductive"
    description = "Ridge regression semantic -> visual (class prototypes), cosine to predicted prototypes."
    space = {"alpha": Param(1.0, choices=PENALTY_GRID, select_on_validation=True, help="ridge penalty")}

    def fit(self, view: TrainView, *, rng: np.random.Generator) -> "RidgeSemanticToVisual":
        X, y = _check_inductive(view, self.name)
        self.mean_ = X.mean(axis=0)
        Xn = normalize(X - self.mean_)
        seen = np.asarray(view.seen)
        prototypes = np.stack([Xn[y == c].mean(axis=0) for c in seen])  # (S, d)
        self.descriptors_ = normalize(view.descriptors)
        self.ridge_ = Ridge(alpha=self.alpha, fit_intercept=True).fit(self.descriptors_[seen], prototypes)
        return self

    def prototypes(self, classes: np.ndarray) -> np.ndarray:
        """(k, d) predicted, L2-normalised visual prototypes of ``classes``."""
        return normalize(self.ridge_.predict(self.descriptors_[classes]))

    def scores(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return normalize(np.asarray(X, dtype=np.float64) - self.mean_) @ self.prototypes(classes).T


def eszsl_solve(X: np.ndarray, Y: np.ndarray, S: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """ESZSL's closed form ``V = (X Xᵀ + γI)⁻¹ X Y Sᵀ (S Sᵀ + λI)⁻¹`` by two linear solves (the reference
    :class:`ESZSL` is tested against).

    Args:
        X: (d, n) features, one image per column.
        Y: (n, z) labels in {-1, 1} over the z seen classes.
        S: (a, z) descriptors, one seen class per column.

    Returns:
        V: (d, a).
    """
    d, a = X.shape[0], S.shape[0]
    left = np.linalg.solve(X @ X.T + gamma * np.eye(d), X @ Y @ S.T)  # (d, a)
    # right-multiply by (S Sᵀ + λI)⁻¹ (symmetric): solve (S Sᵀ + λI) Vᵀ = leftᵀ
    return np.linalg.solve(S @ S.T + lam * np.eye(a), left.T).T


@register_method("eszsl")
class ESZSL(Method):
    """Embarrassingly simple ZSL: closed-form bilinear map V (d, a); score ``xᵀ V s_c``."""

    label = "ESZSL"
    family = "linear"

    version = 2  # v2: gamma and lam selected on validation from PENALTY_GRID (v1: 1.0 unless searched)
    access = "inductive"
    description = "ESZSL (Romera-Paredes and Torr 2015): closed-form bilinear compatibility."
    space = {
        "gamma": Param(1.0, choices=PENALTY_GRID, select_on_validation=True, help="feature-side penalty"),
        "lam": Param(1.0, choices=PENALTY_GRID, select_on_validation=True, help="descriptor-side penalty"),
    }
    refit_params = frozenset({"gamma", "lam"})

    def fit(self, view: TrainView, *, rng: np.random.Generator) -> "ESZSL":
        X, y = _check_inductive(view, self.name)
        seen = np.asarray(view.seen)
        self.descriptors_ = normalize(view.descriptors)
        Y = _seen_onehot(y, seen, negative=-1.0)
        self.mean_ = X.mean(axis=0)
        Xn = normalize(X - self.mean_)
        S = self.descriptors_[seen].T  # (a, z)
        # V = R diag(1/(b+γ)) Rᵀ (Xᵀ Y Sᵀ) U diag(1/(a+λ)) Uᵀ with Xᵀ X = R diag(b) Rᵀ, S Sᵀ = U diag(a) Uᵀ:
        # two eigendecompositions, then every (γ, λ) costs two small matrix products (``refit``).
        self.feature_eig_ = np.linalg.eigh(Xn.T @ Xn)
        self.descriptor_eig_ = np.linalg.eigh(S @ S.T)
        R, U = self.feature_eig_[1], self.descriptor_eig_[1]
        self.rotated_ = R.T @ (Xn.T @ Y @ S.T) @ U  # (d, a)
        self.refit_stage()
        return self

    def refit_stage(self) -> None:
        (b, R), (a, U) = self.feature_eig_, self.descriptor_eig_
        inner = self.rotated_ / (b + self.gamma)[:, None] / (a + self.lam)[None, :]
        self.V_ = R @ inner @ U.T  # (d, a)

    def scores(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        Xn = normalize(np.asarray(X, dtype=np.float64) - self.mean_)
        return Xn @ self.V_ @ self.descriptors_[classes].T


class SylvesterEig:
    """SAE's encoder W (k, d) solving the Sylvester equation ``S Sᵀ W + λ W X Xᵀ = (1 + λ) S Xᵀ`` for any λ.

    Both coefficient matrices are symmetric positive semi-definite, so the equation diagonalises:
    with ``S Sᵀ = U diag(a) Uᵀ`` and ``X Xᵀ = R diag(b) Rᵀ``, ``W = U [(1 + λ)(Uᵀ S Xᵀ R) / (a_i + λ b_j)] Rᵀ``.
    This is the solution :func:`scipy.linalg.solve_sylvester` returns (the tests compare them) at a
    fraction of its cost for d = 2048 (Bartels-Stewart's quasi-triangular solve took over a minute on
    synth-cub on our 2-core machine; two symmetric eigendecompositions take seconds), and each further λ
    costs two matrix products.

    Args:
        X: (d, n) features, one image per column.
        S: (k, n) the descriptor of each image's class, one per column.
    """

    def __init__(self, X: np.ndarray, S: np.ndarray) -> None:
        self.a, self.U = np.linalg.eigh(S @ S.T)  # LAPACK syevd (divide and conquer): the fastest driver here
        self.b, self.R = np.linalg.eigh(X @ X.T)
        self.rotated = self.U.T @ (S @ X.T) @ self.R  # (k, d)

    def solve(self, lam: float) -> np.ndarray:
        """W (k, d) for ``lam`` > 0."""
        if lam <= 0:
            raise ValueError(f"sae: lam must be > 0, got {lam}")
        denom = self.a[:, None] + lam * self.b[None, :]
        # Where a_i + λ b_j is ~0, both a_i and b_j are ~0 and so is the right-hand side's component
        # (S Xᵀ lies in both ranges): set it to 0, the minimum-norm solution.
        tiny = denom <= 1e-10 * denom.max()
        denom = np.where(tiny, np.inf, denom)
        return self.U @ ((1 + lam) * self.rotated / denom) @ self.R.T


@register_method("sae")
class SAE(Method):
    """Semantic autoencoder: linear encoder W (k, d) features -> descriptors, decoder Wᵀ."""

    label = "SAE"
    family = "linear"

    # v2: `center` (default False, the authors' code; v1 always centred), lam 30 (v1: 1);
    # v3: lam selected on validation from SAE_GRID
    version = 3
    access = "inductive"
    description = "SAE (Kodirov et al. 2017): Sylvester-equation semantic autoencoder."
    space = {
        "lam": Param(30.0, choices=SAE_GRID, select_on_validation=True, help="weight of the reconstruction term"),
        "direction": Param("semantic", choices=("semantic", "feature"),
                           help="compare W x with s_c ('semantic') or x with Wᵀ s_c ('feature')"),
        "center": Param(False, help="subtract the training mean before the per-image L2 normalisation "
                                    "(not in the authors' code; version 1 did)"),
    }
    test_params = {"direction": "semantic"}
    refit_params = frozenset({"lam"})

    def fit(self, view: TrainView, *, rng: np.random.Generator) -> "SAE":
        if self.direction not in ("semantic", "feature"):
            raise ValueError(f"sae: direction must be 'semantic' or 'feature', got {self.direction!r}")
        X, y = _check_inductive(view, self.name)
        self.mean_ = X.mean(axis=0) if self.center else np.zeros(X.shape[1])
        self.descriptors_ = normalize(view.descriptors)
        Xn = normalize(X - self.mean_)
        self.sylvester_ = SylvesterEig(Xn.T, self.descriptors_[y].T)
        self.refit_stage()
        return self

    def refit_stage(self) -> None:
        self.W_ = self.sylvester_.solve(self.lam)

    def scores(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        Xn = normalize(np.asarray(X, dtype=np.float64) - self.mean_)
        S = self.descriptors_[classes]
        if self.direction == "semantic":
            return normalize(Xn @ self.W_.T) @ S.T
        return Xn @ normalize(S @ self.W_).T


# --------------------------------------------------------------------------------------------------
# Bilinear compatibility with ranking losses (torch)
# --------------------------------------------------------------------------------------------------


class _Bilinear(Method):
    """Shared training of ``F(x, c) = xᵀ W s_c`` with a ranking loss over the seen classes.

    Subclasses define :meth:`_loss` ((B, S) compatibilities, (B,) label columns -> per-image losses).
    """

    family = "linear"

    access = "inductive"
    space = {
        "lr": Param(1e-2, choices=BILINEAR_LR_GRID, select_on_validation=True, help="Adam learning rate"),
        "epochs": Param(5, low=3, high=20, integer=True, help="passes over the training images"),
        "batch_size": Param(256, choices=(64, 128, 256, 512)),
        "margin": Param(1.0, low=0.1, high=2.0, log=True, help="ranking margin Δ"),
        "weight_decay": Param(1e-4, choices=BILINEAR_DECAY_GRID, select_on_validation=True,
                              help="L2 penalty on W (Adam decay)"),
    }
    test_params = {"epochs": 10, "batch_size": 32}
    n_threads: ClassVar[int | None] = 1
    """torch intra-op threads while training (not a hyper-parameter). Mini-batches are small; on a shared
    CPU one thread is much faster than two waiting on each other. None: leave torch's setting alone."""

    def _loss(self, compat: Any, target: Any) -> Any:
        raise NotImplementedError

    def _violations(self, compat: Any, target: Any) -> Any:
        """(B, S) hinge terms ``max(0, Δ + F_j − F_y)``, zero at the true class."""
        import torch

        true = compat.gather(1, target[:, None])
        hinge = torch.clamp(self.margin + compat - true, min=0.0)
        return hinge.scatter(1, target[:, None], 0.0)

    def fit(self, view: TrainView, *, rng: np.random.Generator) -> "_Bilinear":
        import torch

        X, y = _check_inductive(view, self.name)
        seen = np.asarray(view.seen)
        self.descriptors_ = normalize(view.descriptors)
        gen = torch_generator(rng)
        dev = torch.device(self.device)
        Xt = torch.as_tensor(normalize(X), dtype=torch.float32, device=dev)
        target = torch.as_tensor(np.searchsorted(seen, y), device=dev)
        S = torch.as_tensor(self.descriptors_[seen], dtype=torch.float32, device=dev)  # (S, a)
        d, a = Xt.shape[1], S.shape[1]  # W: (d, a)
        # zero start: W stays in the span the seen descriptors reach, so unseen scores carry no init noise
        W = torch.zeros(d, a, device=dev, requires_grad=True)
        opt = torch.optim.Adam([W], lr=self.lr, weight_decay=self.weight_decay)
        self.loss_history_: list[float] = []
        with torch_threads(self.n_threads):
            self._train(Xt, target, S, W, opt, gen, dev)
        log.debug("%s: epoch losses %s", self.name, self.loss_history_)
        self.W_ = W.detach().cpu().double().numpy()
        return self

    def _train(self, Xt: Any, target: Any, S: Any, W: Any, opt: Any, gen: Any, dev: Any) -> None:
        """Mini-batch epochs of Adam on the ranking loss; appends each epoch's mean loss."""
        import torch

        n = Xt.shape[0]
        for _ in range(int(self.epochs)):
            order = torch.randperm(n, generator=gen).to(dev)
            total = 0.0
            for start in range(0, n, int(self.batch_size)):
                idx = order[start: start + int(self.batch_size)]
                compat = Xt[idx] @ W @ S.T  # (B, S)
                loss = self._loss(compat, target[idx]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.numel()
            self.loss_history_.append(total / n)
            epoch_done(self.name, len(self.loss_history_), int(self.epochs), loss=self.loss_history_[-1])

    def scores(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return normalize(np.asarray(X, dtype=np.float64)) @ self.W_ @ self.descriptors_[classes].T


@register_method("devise")
class DeViSE(_Bilinear):
    """Bilinear compatibility trained with DeViSE's hinge rank loss ``Σ_j max(0, Δ + F_j − F_y)``."""

    label = "DeViSE"

    version = 3  # v2: lr and weight_decay selected on validation (v1: 1e-2, 1e-4 unless searched); v3: wider grids
    description = "DeViSE (Frome et al. 2013): bilinear compatibility, summed hinge ranking loss."

    def _loss(self, compat: Any, target: Any) -> Any:
        return self._violations(compat, target).sum(dim=1)


@register_method("ale")
class ALE(_Bilinear):
    """Bilinear compatibility trained with ALE's weighted approximate-rank pairwise loss.

    Per image: ``(ℓ_r / r) Σ_j max(0, Δ + F_j − F_y)`` with r the number of violating classes and
    ``ℓ_r = Σ_{i≤r} 1/i`` (rank weights that stress the top of the ranking); the weight is a constant
    in the gradient. All seen classes are scored per image, so r is exact rather than sampled.
    """

    label = "ALE"

    version = 3  # v2: lr and weight_decay selected on validation (v1: 1e-2, 1e-4 unless searched); v3: wider grids
    description = "ALE (Akata et al. 2016): bilinear compatibility, WARP-style weighted ranking loss."

    def _loss(self, compat: Any, target: Any) -> Any:
        import torch

        hinge = self._violations(compat, target)
        rank = (hinge > 0).sum(dim=1).to(compat.dtype)
        harmonic = torch.special.digamma(rank + 1) + 0.5772156649015329  # ℓ_r = H_r
        weight = torch.where(rank > 0, harmonic / rank.clamp(min=1), torch.zeros_like(rank))
        return weight.detach() * hinge.sum(dim=1)
