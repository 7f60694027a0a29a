"""Shared pieces of the generative feature baselines (f-CLSWGAN, CADA-VAE, tf-VAEGAN).

This module registers no method. It holds what the generative families have in common:

- seeding torch from the ``rng`` handed to ``fit`` (so a fit is deterministic for a seed, without
  touching the caller's global torch RNG state);
- a progress helper over epochs (:mod:`zslbench.progress`: a bar on a terminal, log lines otherwise,
  silent with ``ZSLBENCH_PROGRESS=0``);
- MinMax feature scaling fitted on the view's own training features;
- the final softmax classifiers trained on real seen + synthetic unseen samples (GZSL) and on synthetic
  unseen samples only (ZSL), and the rule that picks one of them in ``scores``;
- the training-health summary every fit puts in its run record (:func:`training_health`): mean losses of
  the first and last epoch, how much of the classifier inputs' variance lies between classes, and a
  ``collapsed`` flag, so that a run at chance because its generator collapsed says so.

Nothing here catches ``KeyboardInterrupt``: an interrupted training propagates to the runner, which then
writes no record.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch
from torch import nn

from zslbench import toolbox
from zslbench.method import Method, Param, TrainView

log = logging.getLogger(__name__)

T = TypeVar("T")

PROGRESS_ENV = "ZSLBENCH_PROGRESS"
"""Set to ``0`` to hide the training progress bars (they also hide themselves when not on a TTY)."""


# --- Seeding, devices, progress -------------------------------------------------------------------


GENERATIVE_SEED_BOUND = 2**62
"""Seed bound of the generative family (part of its seed stream, see :mod:`zslbench.toolbox`)."""
seeded_torch = functools.partial(toolbox.seeded_torch, bound=GENERATIVE_SEED_BOUND)
"""``with seeded_torch(rng, device):`` torch's global RNG seeded from ``rng`` (:func:`zslbench.toolbox.seeded_torch`)."""


def progress_disabled() -> bool | None:
    """tqdm's ``disable`` value: True when ``ZSLBENCH_PROGRESS=0``, else None (hide when not a TTY)."""
    return True if os.environ.get(PROGRESS_ENV, "").strip() == "0" else None


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None) -> Iterable[T]:
    """Epochs over ``iterable`` reported by :class:`zslbench.progress.Epochs` (a nested bar on a terminal,
    log lines otherwise, nothing with ``ZSLBENCH_PROGRESS=0``); ``set_postfix`` sets the loss text."""
    from zslbench.toolbox import Epochs

    return Epochs(iterable, desc, total)


def to_tensor(X: np.ndarray, device: str) -> torch.Tensor:
    """(n, d) float32 tensor on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=device)


def init_normal_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Initialise every Linear layer of ``module`` with weights N(0, std) and zero bias (as the papers)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, std)
            nn.init.zeros_(layer.bias)
    return module


def minibatches(n: int, batch_size: int, device: str) -> Iterator[torch.Tensor]:
    """Index batches of one shuffled pass over ``n`` samples (torch's global RNG; last batch may be short)."""
    order = torch.randperm(n, device=device)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def local_labels(labels: np.ndarray, classes: np.ndarray, *, where: str) -> np.ndarray:
    """(n,) position of each global label in the sorted ``classes``; error if one is not there."""
    pos = np.searchsorted(classes, labels)
    pos = np.clip(pos, 0, len(classes) - 1)
    bad = classes[pos] != labels
    if bad.any():
        raise ValueError(f"{where}: label {int(labels[bad][0])} is not among the {len(classes)} classes")
    return pos.astype(np.int64)


# --- Training health ------------------------------------------------------------------------------

COLLAPSE_SEPARATION = 0.01
"""A set of classifier inputs whose chance-corrected between-class share of variance
(:func:`class_separation`) is below this carries (almost) no class information: the generator or encoder
ignores the class."""


@torch.no_grad()
def class_separation(X: torch.Tensor | np.ndarray, y: np.ndarray) -> float:
    """Share of the variance of X (n, k) explained by its classes y (n,), corrected for chance (omega^2).

    ``(SS_between - (K - 1) MS_within) / (SS_total + MS_within)`` over all k dimensions together (K
    classes): about 0 when the class means differ only by sampling noise (e.g. a generator that ignores its
    descriptor input), 1 when every sample sits on its class mean; it can be slightly negative. Without
    the correction, noise alone gives a share of about (K - 1) / (n - 1). NaN when X has no variance.
    """
    X = torch.as_tensor(np.asarray(X.cpu() if isinstance(X, torch.Tensor) else X), dtype=torch.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(f"class_separation: X {tuple(X.shape)} and y {y.shape} do not match")
    centred = X - X.mean(dim=0)
    total = float(centred.pow(2).sum())
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    idx = torch.as_tensor(inverse)
    sums = torch.zeros(len(counts), X.shape[1], dtype=torch.float64).index_add_(0, idx, centred)
    between = float((sums.pow(2).sum(dim=1) / torch.as_tensor(counts, dtype=torch.float64)).sum())
    if total <= 0:
        return float("nan")
    n, k = X.shape[0], len(counts)
    if n <= k:
        return between / total
    within_mean = (total - between) / (n - k)
    return (between - (k - 1) * within_mean) / (total + within_mean)


def epoch_means(sums: dict[str, float], steps: int) -> dict[str, float]:
    """Per-step means of summed epoch losses (``steps`` >= 1)."""
    return {k: float(v) / max(int(steps), 1) for k, v in sums.items()}


def training_health(
    history: list[dict[str, float]], separation: dict[str, float], *, name: str,
    flags: dict[str, bool] | None = None,
) -> dict[str, object]:
    """The training-health summary of one fit (kept in the run record under ``training_health``).

    Args:
        history: one dict of mean losses per epoch (first and last are kept).
        separation: :func:`class_separation` of each set of classifier inputs, by name
            (e.g. ``{"synthetic_unseen": 0.2, "seen": 0.4}``).
        flags: further method-specific collapse conditions, by name (True = collapsed).
    Returns:
        ``{"epochs", "loss_start", "loss_end", "class_separation", "collapsed", "collapse_reasons"}``;
        a warning is logged when ``collapsed``.
    """
    start = dict(history[0]) if history else {}
    end = dict(history[-1]) if history else {}
    reasons = [f"non-finite loss {k!r}" for k, v in {**start, **end}.items() if not math.isfinite(v)]
    for key, value in separation.items():
        if not math.isfinite(value) or value < COLLAPSE_SEPARATION:
            reasons.append(f"{key} inputs carry no class information (class share of variance "
                           f"{value:.2g} < {COLLAPSE_SEPARATION})")
    reasons += [key for key, bad in (flags or {}).items() if bad]
    if reasons:
        log.warning("%s: training collapsed: %s", name, "; ".join(reasons))
    return {"epochs": len(history), "loss_start": start, "loss_end": end,
            "class_separation": {k: float(v) for k, v in separation.items()},
            "collapsed": bool(reasons), "collapse_reasons": reasons}


# --- Scaling --------------------------------------------------------------------------------------


class MinMax:
    """Per-dimension MinMax scaling to [0, 1], fitted on the view's training features only.

    Later inputs (test images) use the same shift and scale and may fall outside [0, 1].
    """

    def fit(self, X: np.ndarray) -> "MinMax":
        """Fit on (n, d) training features."""
        from sklearn.preprocessing import MinMaxScaler

        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"MinMax: need a non-empty (n, d) feature array, got shape {X.shape}")
        self.scaler_ = MinMaxScaler(feature_range=(0.0, 1.0), clip=False).fit(np.asarray(X, np.float64))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, d) scaled float32 copy of X."""
        return self.scaler_.transform(np.asarray(X, np.float64)).astype(np.float32)


# --- Softmax classifiers on real + synthetic samples ----------------------------------------------


def train_softmax(
    X: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    betas: tuple[float, float] = (0.5, 0.999),
    device: str = "cpu",
    desc: str = "softmax",
) -> nn.Linear:
    """Train a linear softmax classifier with Adam and cross-entropy for a fixed number of epochs.

    No epoch is selected on evaluation data: the last epoch's weights are returned.

    Args:
        X: (n, d) inputs (real and/or synthetic features, or latent codes).
        y: (n,) int64 local class indices in [0, n_classes).
        n_classes: number of output classes.
    Returns:
        the trained ``nn.Linear(d, n_classes)`` in eval mode.
    """
    if X.shape[0] == 0:
        raise ValueError(f"{desc}: no training samples")
    layer = nn.Linear(X.shape[1], n_classes).to(device)
    opt = torch.optim.Adam(layer.parameters(), lr=lr, betas=betas)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in progress(range(epochs), desc=desc, total=epochs):
        total = 0.0
        for idx in minibatches(X.shape[0], batch_size, device):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(layer(X[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        log.debug("%s epoch %d/%d: loss %.4f", desc, epoch + 1, epochs, total / X.shape[0])
    return layer.eval()


@torch.no_grad()
def logits(layer: nn.Module, X: torch.Tensor, chunk: int = 8192) -> np.ndarray:
    """(n, k) outputs of ``layer`` on X (n, d), computed in chunks, as float64 numpy."""
    outs = [layer(X[i:i + chunk]).double().cpu().numpy() for i in range(0, X.shape[0], chunk)]
    return np.concatenate(outs) if outs else np.zeros((0, layer.out_features))


@dataclass
class SoftmaxHeads:
    """The two final classifiers of a generative method, and which one answers a ``scores`` call.

    Attributes:
        gzsl: linear classifier over ``gzsl_classes`` (seen + unseen), trained on real (or encoded) seen
            samples plus synthetic unseen samples.
        gzsl_classes: (S + U,) sorted global class indices of the gzsl rows.
        zsl: linear classifier over ``unseen``, trained on synthetic unseen samples only (as the papers
            do for ZSL), or None.
        unseen: (U,) sorted global unseen class indices.

    Rule: when the requested candidates are exactly the unseen classes (in any order) and a ZSL head
    exists, the ZSL head's logits answer; otherwise the GZSL head's logits restricted to the requested
    classes (for argmax and for calibrated stacking, restricting logits equals restricting log-softmax).
    """

    gzsl: nn.Linear
    gzsl_classes: np.ndarray
    zsl: nn.Linear | None
    unseen: np.ndarray

    def scores(self, Z: torch.Tensor, classes: np.ndarray, *, where: str) -> np.ndarray:
        """(n, len(classes)) logits of inputs Z (n, k) for the global classes ``classes``."""
        classes = np.asarray(classes, dtype=np.int64)
        if self.zsl is not None and len(classes) == len(self.unseen) and np.array_equal(
            np.sort(classes), self.unseen
        ):
            out = logits(self.zsl, Z)
            return out[:, np.searchsorted(self.unseen, classes)]
        out = logits(self.gzsl, Z)
        return out[:, local_labels(classes, self.gzsl_classes, where=f"{where}.scores")]


def fit_heads(
    seen_X: torch.Tensor,
    seen_y: np.ndarray,
    syn_X: torch.Tensor,
    syn_y: np.ndarray,
    view: TrainView,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    zsl_head: bool,
    betas: tuple[float, float] = (0.5, 0.999),
    device: str = "cpu",
    name: str = "generative",
) -> SoftmaxHeads:
    """Train the GZSL head on seen + synthetic unseen samples and, if asked, the ZSL head on synthetic only.

    Args:
        seen_X: (n_s, k) real (or encoded) seen samples; seen_y: (n_s,) their global classes.
        syn_X: (n_u, k) synthetic unseen samples; syn_y: (n_u,) their global classes.
    """
    gzsl_classes = np.union1d(view.seen, view.unseen)
    X = torch.cat([seen_X, syn_X])
    y = torch.as_tensor(
        local_labels(np.concatenate([seen_y, syn_y]), gzsl_classes, where=name), device=device
    )
    gzsl = train_softmax(X, y, len(gzsl_classes), epochs=epochs, lr=lr, batch_size=batch_size,
                         betas=betas, device=device, desc=f"{name} gzsl classifier")
    zsl = None
    if zsl_head:
        yz = torch.as_tensor(local_labels(syn_y, view.unseen, where=name), device=device)
        zsl = train_softmax(syn_X, yz, len(view.unseen), epochs=epochs, lr=lr, batch_size=batch_size,
                            betas=betas, device=device, desc=f"{name} zsl classifier")
    return SoftmaxHeads(gzsl=gzsl, gzsl_classes=gzsl_classes, zsl=zsl, unseen=np.asarray(view.unseen))


def head_space(*, epochs: int, batch_size: int, samples: str = "synthetic unseen features") -> dict[str, Param]:
    """The hyper-parameters of the final softmax classifiers, the same in every generative method."""
    return {
        "cls_epochs": Param(epochs, help="epochs of the final softmax classifiers"),
        "cls_lr": Param(1e-3, help="Adam lr of the final softmax classifiers"),
        "cls_batch": Param(batch_size, help="batch size of the final softmax classifiers"),
        "zsl_head": Param(True, help=f"train a separate ZSL classifier on {samples} only"),
    }


N_SYN_CHOICES: tuple[int, ...] = (25, 50, 100, 300, 1000, 1800, 3000)
"""Synthetic features per unseen class that every run of a feature generator compares on validation."""


def n_syn_param() -> Param:
    """``n_syn`` of the feature generators (f-CLSWGAN, tf-VAEGAN): default 300, chosen on validation."""
    return Param(300, choices=N_SYN_CHOICES, select_on_validation=True,
                 help="synthetic features per unseen class (the authors: 300 CUB, 1800 AWA2, 400 SUN): the "
                      "GZSL classifier's seen/unseen balance, chosen on validation classes")


# --- Base class -----------------------------------------------------------------------------------


class GenerativeMethod(Method):
    """Common checks and scoring of the generative baselines (access "inductive").

    Subclasses include :func:`head_space` in their ``space`` and implement :meth:`embed` (test features ->
    classifier inputs) and :meth:`fit_head_stage`, which ``fit`` reaches through :meth:`end_training`.
    """

    access = "inductive"

    def end_training(self, rng: np.random.Generator, **state: object) -> None:
        """Keep ``state`` for the classifier stage, draw its torch seed from ``rng``, and run it."""
        self.head_state_ = state
        self.head_seed_ = toolbox.draw_seed(rng, GENERATIVE_SEED_BOUND)
        self._run_head_stage()

    def fit_head_stage(self, **state: object) -> None:
        """Synthetic samples, ``health_`` and ``heads_`` (:meth:`fit_heads`) from the trained model."""
        raise NotImplementedError

    def refit(self, **changes: object) -> "GenerativeMethod":
        """Redo the classifier stage with ``changes`` (names in ``refit_params``): a fresh fit's result."""
        if not hasattr(self, "head_state_"):
            raise RuntimeError(f"{self.name}: call fit before refit")
        return super().refit(**changes)

    def refit_stage(self) -> None:
        self._run_head_stage()

    def _run_head_stage(self) -> None:
        with seeded_torch(self.head_seed_, self.device):
            self.fit_head_stage(**self.head_state_)

    def check_view(self, view: TrainView) -> tuple[np.ndarray, np.ndarray]:
        """(features (n, d) float32, labels (n,)) of an inductive view; clear errors otherwise."""
        if view.features is None or view.labels is None:
            raise ValueError(f"{self.name}: needs an inductive view with training features and labels")
        if len(view.unseen) == 0:
            raise ValueError(f"{self.name}: the view has no unseen classes to synthesise")
        if view.features.shape[0] != view.labels.shape[0]:
            raise ValueError(
                f"{self.name}: {view.features.shape[0]} feature rows for {view.labels.shape[0]} labels"
            )
        for key in ("epochs", "batch_size"):
            if key in self.hparams and int(self.hparams[key]) < 1:
                raise ValueError(f"{self.name}: hyper-parameter {key} must be >= 1, got {self.hparams[key]}")
        return np.asarray(view.features, np.float32), np.asarray(view.labels, np.int64)

    def fit_heads(self, seen_X: torch.Tensor, seen_y: np.ndarray, syn_X: torch.Tensor, syn_y: np.ndarray,
                  view: TrainView) -> SoftmaxHeads:
        """:func:`fit_heads` with this method's :func:`head_space` hyper-parameters."""
        return fit_heads(seen_X, seen_y, syn_X, syn_y, view, epochs=int(self.cls_epochs), lr=self.cls_lr,
                         batch_size=int(self.cls_batch), zsl_head=bool(self.zsl_head), device=self.device,
                         name=self.name)

    def embed(self, X: np.ndarray) -> torch.Tensor:
        """(n, k) classifier inputs for test features X (n, d)."""
        raise NotImplementedError

    def record_info(self) -> dict[str, object]:
        """What the run record keeps about the last fit: its :func:`training_health` summary."""
        return {"training_health": getattr(self, "health_", None)}

    def scores(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """(n, len(classes)) logits; see :class:`SoftmaxHeads` for which head answers."""
        if not hasattr(self, "heads_"):
            raise RuntimeError(f"{self.name}: call fit before scores")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.feature_dim_:
            raise ValueError(f"{self.name}: X must be (n, {self.feature_dim_}), got shape {X.shape}")
        with torch.no_grad():
            return self.heads_.scores(self.embed(X), classes, where=self.name)


# --- Feature synthesis ----------------------------------------------------------------------------


@torch.no_grad()
def synthesize(
    generator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    descriptors: torch.Tensor,
    classes: np.ndarray,
    n_per_class: int,
    noise_dim: int,
    *,
    device: str = "cpu",
    chunk: int = 4096,
) -> tuple[torch.Tensor, np.ndarray]:
    """Generate ``n_per_class`` features for each class with ``generator(z, a)``, z ~ N(0, I).

    Args:
        generator: called as ``generator(z (m, noise_dim), a (m, A)) -> (m, d)``; a module is put in
            eval mode for the call and restored after.
        descriptors: (C, A) all class descriptors (rows indexed by global class).
        classes: (K,) global classes to synthesise for.
    Returns:
        features (K * n_per_class, d) grouped by class in ``classes`` order, and their labels (K * n,).
    """
    if n_per_class < 1:
        raise ValueError(f"synthesize: n_per_class must be >= 1, got {n_per_class}")
    module = generator if isinstance(generator, nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    labels = np.repeat(np.asarray(classes, dtype=np.int64), n_per_class)
    rows = torch.as_tensor(labels, device=device)
    parts = []
    for start in range(0, labels.size, chunk):
        a = descriptors[rows[start:start + chunk]]
        z = torch.randn(a.shape[0], noise_dim, device=device)
        parts.append(generator(z, a))
    if module is not None:
        module.train(was_training)
    return torch.cat(parts), labels
