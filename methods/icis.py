"""ICIS: Image-free Classifier Injection with Semantics (Christensen et al., ICCV 2023), and its ablations.

From class descriptors alone, ICIS predicts classifier weight rows ``t = [w | b]`` (d + 1) for unseen
classes, having learnt the descriptor -> weight map on the seen classes' rows of a trained base
classifier. No image is used at any point.

Variants (one implementation, selected by the class attribute ``variant``):

- ``icis_mlp``: one network Linear(A -> h) + ReLU + Linear(h -> d+1), MSE loss;
- ``icis_cosine``: the same network, cosine-distance loss;
- ``icis_single_modal``: descriptor and weight autoencoders, all loss terms except the cross term
  ``a <- z_t``;
- ``icis_cross_modal``: all four terms (reconstruction of a and t, both cross reconstructions);
- ``icis`` (full): cross-modal + "include unseen" (unseen descriptors join training with zero placeholder
  weights; only their descriptor self-reconstruction counts).

Training: Adam (lr 1e-5, betas 0.9 / 0.999), shuffled batches of 16 classes, at most 1000 epochs, the
slope-based early stopping of :func:`early_stop_epoch`; the model is evaluated once, after stopping.
The rule counts only once the loss has fallen at its threshold rate (``stop_after_descent``; the release
counts from epoch 21, so a slow start at lr 1e-5 can end training at epoch 25: ``--preset paper``).
The rule reads the mean loss over an epoch's rows (``epoch_loss``; the release: over batches).

Output scale (``output_norm``, a deviation from the paper, recorded in every run): the cosine losses leave
a predicted row's norm untrained (about a quarter of the seen rows' on the synthetic datasets), so unseen
logits lose every GZSL comparison. ``"seen_mean"`` (default; every variant, so the ablation compares like
with like) rescales each predicted row to the seen target rows' mean norm: no image is used and the
scale-invariant loss is unchanged. ``"raw"`` keeps the network's output, as the authors' code (``paper``).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from torch import nn

from zslbench.method import ClassifierInjection, Param, TrainView, scale_rows
from zslbench.methods._early_stopping import (  # noqa: F401 (re-exported: the family's stopping rule)
    COSINE_THRESHOLD,
    MSE_THRESHOLD,
    SlopeStopper,
    early_stop_epoch,
    loss_slope,
)
from zslbench.registry import register_method
from zslbench.toolbox import adam, epoch_done, torch_generator

log = logging.getLogger(__name__)

VARIANTS: tuple[str, ...] = ("mlp", "cosine", "single_modal", "cross_modal", "full")


# --------------------------------------------------------------------------------------------------
# Networks and losses
# --------------------------------------------------------------------------------------------------


def cosine_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(n,) ``1 - cos(pred_i, target_i)`` per row (0 for a zero row, as torch's eps makes it)."""
    return 1.0 - nn.functional.cosine_similarity(pred, target, dim=1, eps=1e-8)


def _masked_mean(per_row: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_row`` (n,) over rows where ``mask`` (n,) is 1 (0 when no row is)."""
    return (per_row * mask).sum() / mask.sum().clamp(min=1.0)


def _init_linear(module: nn.Module, std: float, gen: torch.Generator) -> None:
    """Linear layers: weights N(0, std) drawn from ``gen``, bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                m.bias.zero_()


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class JointAutoencoders(nn.Module):
    """Descriptor AE (A -> h -> A) and weight AE (d+1 -> h -> d+1) sharing the latent size h."""

    def __init__(self, desc_dim: int, weight_dim: int, hidden: int) -> None:
        super().__init__()
        self.enc_a = nn.Sequential(nn.Linear(desc_dim, hidden), nn.ReLU())
        self.dec_a = nn.Linear(hidden, desc_dim)
        self.enc_t = nn.Sequential(nn.Linear(weight_dim, hidden), nn.ReLU())
        self.dec_t = nn.Linear(hidden, weight_dim)

    def forward(self, a: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """The four outputs for a batch of descriptors a (n, A) and weight rows t (n, d+1)."""
        # Each decoder runs once on both latents stacked: one (h, d+1) weight gradient, not two (0.78x a step).
        n = len(a)
        z = torch.cat([self.enc_a(a), self.enc_t(t)])
        a_out, t_out = self.dec_a(z), self.dec_t(z)
        return {"a_from_a": a_out[:n], "a_from_t": a_out[n:], "t_from_t": t_out[n:], "t_from_a": t_out[:n]}

    def predict(self, a: torch.Tensor) -> torch.Tensor:
        """(n, d+1) weight rows predicted from descriptors a (n, A): dec_t(enc_a(a))."""
        return self.dec_t(self.enc_a(a))


def autoencoder_loss_terms(
    out: Mapping[str, torch.Tensor], a: torch.Tensor, t: torch.Tensor, mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The four cosine-distance terms of a batch; terms touching a weight row average over seen rows.

    Args:
        out: outputs of :meth:`JointAutoencoders.forward`.
        a: (n, A) descriptors; t: (n, d+1) target rows (zero placeholders for unseen rows).
        mask: (n,) 1 for seen rows, 0 for placeholder rows.
    """
    return {
        "a_from_a": cosine_distance(out["a_from_a"], a).mean(),
        "a_from_t": _masked_mean(cosine_distance(out["a_from_t"], a), mask),
        "t_from_t": _masked_mean(cosine_distance(out["t_from_t"], t), mask),
        "t_from_a": _masked_mean(cosine_distance(out["t_from_a"], t), mask),
    }


TERMS_OF_VARIANT: dict[str, tuple[str, ...]] = {
    "single_modal": ("a_from_a", "t_from_t", "t_from_a"),
    "cross_modal": ("a_from_a", "a_from_t", "t_from_t", "t_from_a"),
    "full": ("a_from_a", "a_from_t", "t_from_t", "t_from_a"),
}


# --------------------------------------------------------------------------------------------------
# The shared training loop (also used by the Sub.Reg. and wDAE baselines)
# --------------------------------------------------------------------------------------------------


def training_rows(view: TrainView, include_unseen: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a (n, A), t (n, d+1), mask (n,)) training rows: seen classes, then (optionally) unseen
    descriptors with zero placeholder weights and mask 0."""
    a = view.descriptors[view.seen]
    t = view.seen_targets()
    mask = np.ones(len(a))
    if include_unseen and len(view.unseen):
        a = np.vstack([a, view.descriptors[view.unseen]])
        t = np.vstack([t, np.zeros((len(view.unseen), t.shape[1]))])
        mask = np.concatenate([mask, np.zeros(len(view.unseen))])
    return a, t, mask


def train_epochs(
    step_loss,
    n_rows: int,
    params,
    *,
    lr: float,
    batch_size: int,
    max_epochs: int,
    threshold: float,
    gen: torch.Generator,
    device: torch.device,
    epoch_loss: str = "rows",
    after_descent: bool = False,
) -> dict[str, Any]:
    """Adam over shuffled batches of row indices until :class:`SlopeStopper` or ``max_epochs``.

    Args:
        step_loss: callable (index tensor (b,)) -> scalar loss of that batch.
        n_rows: rows in the training set.
        epoch_loss: what the stopping rule sees as an epoch's loss (:data:`EPOCH_LOSS_HELP`).
        after_descent: the stopping rule waits for the loss to fall at the threshold rate once.

    Returns:
        {"epochs": epochs run, "stopped_early": bool, "final_loss": last epoch loss,
        "stop_armed_epoch": first epoch the rule could count (None: never)}.
    """
    by_rows = {"rows": True, "batches": False}[epoch_loss]
    opt = adam(params, lr)
    stopper = SlopeStopper(threshold, after_descent=after_descent)
    stopped = False
    epoch = 0
    for epoch in range(1, int(max_epochs) + 1):
        order = torch.randperm(n_rows, generator=gen).to(device)
        total = torch.zeros((), device=device)
        batches = torch.split(order, int(batch_size))
        for idx in batches:
            loss = step_loss(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * (len(idx) if by_rows else 1)
        mean_loss = float(total) / (n_rows if by_rows else len(batches))
        epoch_done("injection network", epoch, int(max_epochs), loss=mean_loss)
        if stopper.update(mean_loss):
            stopped = True
            break
    return {"epochs": epoch, "stopped_early": stopped,
            "final_loss": stopper.losses[-1] if stopper.losses else float("nan"),
            "stop_armed_epoch": stopper.armed_epoch if epoch >= stopper.start else None}


ICIS_SEED_BOUND = 2**31 - 1
"""Seed bound of the ICIS family's torch generators (:func:`zslbench.toolbox.torch_generator`)."""

EPOCH_LOSS_HELP = ("the epoch loss the slope rule reads: 'rows' = mean over the epoch's rows; 'batches' = mean of "
                   "its batch losses (the release, the paper preset): a short last batch (27 rows in batches of 20) "
                   "then weighs as much as a full one, and the rule stops on that noise")
EPOCH_LOSS_NOTE = "early stopping reads the mean loss over rows (the release: over batches; --preset paper)"


STOP_AFTER_DESCENT_HELP = ("early stopping counts only once the loss has fallen at the threshold rate (the release "
                           "counts from epoch 21, and stops a slow start at epoch 25: --preset paper)")


def epoch_loss_param() -> Param:
    """The ``epoch_loss`` hyper-parameter of every method trained by :func:`train_epochs`."""
    return Param("rows", choices=("rows", "batches"), help=EPOCH_LOSS_HELP)


def train_predictor(
    a: np.ndarray,
    t: np.ndarray,
    *,
    hidden_dim: int,
    loss: str,
    lr: float,
    batch_size: int,
    max_epochs: int,
    threshold: float,
    gen: torch.Generator,
    device: torch.device,
    penalty=None,
    epoch_loss: str = "rows",
    after_descent: bool = False,
) -> tuple[nn.Sequential, dict[str, Any]]:
    """Train the ``mlp`` predictor Linear(A -> h) + ReLU + Linear(h -> d+1) on seen rows (a, t).

    Args:
        loss: "mse" (mean over elements) or "cosine" (mean per-row cosine distance).
        penalty: optional callable (predicted rows (b, d+1)) -> scalar added to the loss (Sub.Reg.).
        after_descent: see :func:`train_epochs`.
    """
    A = torch.as_tensor(a, dtype=torch.float32, device=device)
    T = torch.as_tensor(t, dtype=torch.float32, device=device)
    net = _mlp(A.shape[1], hidden_dim, T.shape[1])
    _init_linear(net, 0.02, gen)
    net.to(device).train()

    def step_loss(idx: torch.Tensor) -> torch.Tensor:
        pred = net(A[idx])
        value = ((pred - T[idx]) ** 2).mean() if loss == "mse" else cosine_distance(pred, T[idx]).mean()
        return value + penalty(pred) if penalty is not None else value

    info = train_epochs(step_loss, len(A), net.parameters(), lr=lr, batch_size=batch_size,
                        max_epochs=max_epochs, threshold=threshold, gen=gen, device=device, epoch_loss=epoch_loss,
                        after_descent=after_descent)
    net.eval()
    return net, info


# --------------------------------------------------------------------------------------------------
# The registered methods
# --------------------------------------------------------------------------------------------------


def _space(variant: str) -> dict[str, Param]:
    space = {
        "hidden_dim": Param(2048, choices=(512, 1024, 2048, 4096),
                            help="latent / hidden size h (paper: 2048 on CUB and AWA2, 4096 on SUN)"),
        "lr": Param(1e-5, low=1e-6, high=1e-4, log=True, help="Adam learning rate"),
        "batch_size": Param(16, choices=(8, 16, 20, 32), help="classes per step (paper: 16 CUB/SUN, 20 AWA2)"),
        "max_epochs": Param(1000, help="epoch cap; slope-based early stopping usually ends sooner"),
        "slope_threshold": Param(MSE_THRESHOLD if variant == "mlp" else COSINE_THRESHOLD,
                                 help="early stopping: slope below this for 5 epochs stops training"),
        "epoch_loss": epoch_loss_param(),
        "stop_after_descent": Param(True, help=STOP_AFTER_DESCENT_HELP),
    }
    space["output_norm"] = Param(
        "seen_mean", choices=("seen_mean", "raw"),
        help="scale of predicted rows: 'seen_mean' = the seen target rows' mean norm (the cosine loss leaves "
             "it untrained); 'raw' = the network's output, as in the paper",
    )
    if variant in ("single_modal", "cross_modal", "full"):
        space["include_unseen"] = Param(
            variant == "full",
            help="train the descriptor AE also on unseen descriptors (zero placeholder weights)",
        )
    return space


class _ICISBase(ClassifierInjection):
    """Shared implementation; subclasses set ``variant``."""

    family = "ICIS"
    hparam_notes = {"output_norm": {"seen_mean": "predicted unseen rows rescaled to the mean norm of the seen rows "
                                                 "(output_norm=seen_mean; not in the paper, whose rows are raw: "
                                                 "--preset paper)"},
                    "epoch_loss": {"rows": EPOCH_LOSS_NOTE},
                    "stop_after_descent": {True: "early stopping waits until the loss has fallen at the threshold rate "
                                                 "(the release may stop a slow start at epoch 25: --preset paper)"}}

    variant: ClassVar[str] = "full"
    # v2: output_norm (default seen_mean); decoders batched (same maths). v3: epoch_loss (default rows).
    # v4: stop_after_descent (default True; changes only runs the plain rule stops at epoch 25)
    version: ClassVar[int] = 4
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "paper": {"output_norm": "raw", "epoch_loss": "batches", "stop_after_descent": False}}
    test_params: ClassVar[Mapping[str, Any]] = {"hidden_dim": 32, "max_epochs": 30, "lr": 1e-3}

    def inject(self, view: TrainView, rng: np.random.Generator) -> np.ndarray:
        """(U, d+1) predicted rows for ``view.unseen`` (no image is read: the view holds none)."""
        device = torch.device(self.device)
        gen = torch_generator(rng, ICIS_SEED_BOUND)
        common = dict(lr=float(self.lr), batch_size=int(self.batch_size), max_epochs=int(self.max_epochs),
                      threshold=float(self.slope_threshold), gen=gen, device=device, epoch_loss=str(self.epoch_loss),
                      after_descent=bool(self.stop_after_descent))
        a_unseen = torch.as_tensor(view.descriptors[view.unseen], dtype=torch.float32, device=device)
        if self.variant in ("mlp", "cosine"):
            a, t, _ = training_rows(view, include_unseen=False)
            net, info = train_predictor(a, t, hidden_dim=int(self.hidden_dim),
                                        loss="mse" if self.variant == "mlp" else "cosine", **common)
            with torch.no_grad():
                pred = net(a_unseen)
        else:
            net, info = self._train_autoencoders(view, **common)
            with torch.no_grad():
                pred = net.predict(a_unseen)
        rows = pred.cpu().numpy().astype(np.float64)
        targets = view.seen_targets()
        info["raw_norm_ratio"] = float(np.linalg.norm(rows, axis=1).mean()
                                       / max(np.linalg.norm(targets, axis=1).mean(), 1e-12))
        rows = scale_rows(rows, targets, str(self.output_norm))
        self.train_info_ = info
        log.info("%s: %d epochs (stopped early: %s), final loss %.4g, raw norm ratio %.3g", self.name,
                 info["epochs"], info["stopped_early"], info["final_loss"], info["raw_norm_ratio"])
        return rows

    def record_info(self) -> dict[str, Any]:
        """Training facts for the run record: epochs run, whether early stopping fired, final loss."""
        return dict(getattr(self, "train_info_", {}))

    def _train_autoencoders(self, view: TrainView, *, lr: float, batch_size: int, max_epochs: int,
                            threshold: float, gen: torch.Generator, device: torch.device, epoch_loss: str,
                            after_descent: bool):
        include_unseen = bool(self.hparams.get("include_unseen", False))
        a, t, mask = training_rows(view, include_unseen)
        A = torch.as_tensor(a, dtype=torch.float32, device=device)
        T = torch.as_tensor(t, dtype=torch.float32, device=device)
        M = torch.as_tensor(mask, dtype=torch.float32, device=device)
        net = JointAutoencoders(A.shape[1], T.shape[1], int(self.hidden_dim))
        _init_linear(net, 0.02, gen)
        net.to(device).train()
        terms = TERMS_OF_VARIANT[self.variant]

        def step_loss(idx: torch.Tensor) -> torch.Tensor:
            parts = autoencoder_loss_terms(net(A[idx], T[idx]), A[idx], T[idx], M[idx])
            return sum(parts[k] for k in terms)

        info = train_epochs(step_loss, len(A), net.parameters(), lr=lr, batch_size=batch_size,
                            max_epochs=max_epochs, threshold=threshold, gen=gen, device=device, epoch_loss=epoch_loss,
                            after_descent=after_descent)
        info["include_unseen"] = include_unseen
        net.eval()
        return net, info


@register_method("icis_mlp")
class ICISMLP(_ICISBase):
    """ICIS ablation: one MLP descriptor -> weight row, MSE loss."""

    label = "ICIS: MLP (MSE)"
    table_order = {"ablation": 0}

    variant = "mlp"
    space = _space("mlp")
    description = "ICIS ablation: MLP A -> h -> d+1 with MSE (image-free)"


@register_method("icis_cosine")
class ICISCosine(_ICISBase):
    """ICIS ablation: the MLP with a cosine-distance loss."""

    label = "ICIS: MLP + cosine"
    table_order = {"ablation": 1}

    variant = "cosine"
    space = _space("cosine")
    description = "ICIS ablation: MLP with cosine loss (image-free)"


@register_method("icis_single_modal")
class ICISSingleModal(_ICISBase):
    """ICIS ablation: two autoencoders, every term but the cross term a <- z_t."""

    label = "ICIS: single-modal AEs"
    table_order = {"ablation": 2}

    variant = "single_modal"
    space = _space("single_modal")
    description = "ICIS ablation: descriptor + weight autoencoders, no a <- z_t term (image-free)"


@register_method("icis_cross_modal")
class ICISCrossModal(_ICISBase):
    """ICIS ablation: two autoencoders with all four terms, seen classes only."""

    label = "ICIS: cross-modal AEs"
    table_order = {"ablation": 3}

    variant = "cross_modal"
    space = _space("cross_modal")
    description = "ICIS ablation: cross-modal autoencoders, seen classes only (image-free)"


@register_method("icis")
class ICIS(_ICISBase):
    """ICIS (full): cross-modal autoencoders trained also on unseen descriptors."""

    label = "ICIS"
    table_order = {"icis": 9, "ablation": 4}

    variant = "full"
    space = _space("full")
    description = "ICIS (Christensen et al., ICCV 2023): image-free classifier injection with semantics"
