"""CADA-VAE (Schönfeld et al., CVPR 2019): aligned VAEs for image features and class descriptors.

Pipeline of one ``fit``:

0. Scale the image features to [0, 1] per dimension as the authors do (``feature_scaling="minmax"``,
   fitted on the view's training features; ``"standard"``, zero mean and unit variance, in the ``fast``
   preset).
1. Train one VAE per modality (image features x, descriptors a of the image's class), each encoder giving
   a diagonal Gaussian q(z | .) in a shared latent space. The loss per image is

       L1(x <- z_x) + L1(a <- z_a)                        reconstruction
     + beta(e)  * (KL(q(z|x) || N(0, I)) + KL(q(z|a) || N(0, I)))
     + cross(e) * (L1(x <- z_a) + L1(a <- z_x))            cross-reconstruction
     + dist(e)  * W2(q(z|x), q(z|a))                       distribution alignment

   with linear warm-ups of beta, cross and dist over epochs (see :func:`loss_weights`); L1 terms are
   summed over dimensions and averaged over the batch.
2. Encode a fixed number of latent samples per class: from image features for seen classes, from
   descriptors for unseen classes (z = mu + sigma * eps). Train the GZSL softmax over seen + unseen on all
   of them, and a ZSL softmax over the unseen classes on the descriptor samples only.
3. ``scores`` encodes test images to their latent means and applies the chosen softmax head.

Each fit reports its training health (``training_health``, see :mod:`zslbench.methods.generative`) and
:func:`decoder_health` in its record (``method_info``). Its collapse test reads the class share of variance
of the training images' latent means, and, for the sampled codes the classifiers learn from (mostly noise
under the release's noise), the reliability of their class means (:func:`mean_reliability`). The defaults
are the paper's settings (widths, [0, 1] feature scaling, schedule; one noise draw per sample as in the
release, :func:`sample_latent`), except the number of image codes per seen class in the GZSL classifier
(``n_seen_latent``, paper 200): it sets the classifier's seen/unseen balance, the best value differs by
dataset, and every run compares its choices on validation classes, refitting only step 2
(:meth:`CADAVAE.refit`). The ``fast`` preset is a CPU-sized variant (narrower, standardised features,
input dropout, 40 epochs at a higher lr), several times cheaper and weaker on validation classes
(results/README.md, "CADA-VAE v5").

Epochs are in the search space (chosen on validation classes with ``--trials N``); the last epoch is kept.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
from torch import nn

from zslbench.method import Param, TrainView
from zslbench.methods.generative import (
    GenerativeMethod,
    MinMax,
    head_space,
    class_separation,
    epoch_means,
    minibatches,
    progress,
    seeded_torch,
    to_tensor,
    training_health,
)
from zslbench.registry import register_method
from zslbench.toolbox import adam

log = logging.getLogger(__name__)

PAPER_EPOCHS = 100
"""The warm-up boundaries below are in epochs of the paper's 100-epoch schedule."""
WARMUP_BETA = (0, 93)
WARMUP_CROSS = (21, 75)
WARMUP_DISTANCE = (6, 22)


def warmup(epoch: float, start: float, end: float, value: float) -> float:
    """Linear warm-up: 0 up to ``start``, ``value`` from ``end`` on, linear in between."""
    if end <= start:
        return value if epoch >= end else 0.0
    return float(value * min(max((epoch - start) / (end - start), 0.0), 1.0))


def loss_weights(
    epoch: int, epochs: int, *, beta: float, cross: float, distance: float
) -> dict[str, float]:
    """Weights of the KL, cross-reconstruction and alignment terms at ``epoch`` (0-based).

    The paper's warm-up boundaries (beta 0->93, cross 21->75, distance 6->22, in a 100-epoch run) are
    stretched proportionally when ``epochs`` differs from 100, so a shorter run still ends fully warmed up;
    with ``epochs == 100`` they are exactly the paper's.
    """
    s = epochs / PAPER_EPOCHS
    return {
        "beta": warmup(epoch, WARMUP_BETA[0] * s, WARMUP_BETA[1] * s, beta),
        "cross": warmup(epoch, WARMUP_CROSS[0] * s, WARMUP_CROSS[1] * s, cross),
        "distance": warmup(epoch, WARMUP_DISTANCE[0] * s, WARMUP_DISTANCE[1] * s, distance),
    }


def wasserstein2_squared(
    mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """(m,) squared 2-Wasserstein distance between diagonal Gaussians N(mu1, s1^2) and N(mu2, s2^2).

    For diagonal covariances it is ||mu1 - mu2||^2 + ||s1 - s2||^2 (s = standard deviations).
    All inputs are (m, k); ``logvar`` is log sigma^2.
    """
    s1, s2 = torch.exp(0.5 * logvar1), torch.exp(0.5 * logvar2)
    return ((mu1 - mu2) ** 2).sum(dim=1) + ((s1 - s2) ** 2).sum(dim=1)


def wasserstein2(
    mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """(m,) 2-Wasserstein distance (square root of :func:`wasserstein2_squared`), finite gradient at 0."""
    return torch.sqrt(wasserstein2_squared(mu1, logvar1, mu2, logvar2).clamp_min(1e-12))


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """(m,) KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dimensions; inputs (m, k)."""
    return -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1)


def init_xavier_(module: nn.Module, gain: float = 0.5) -> nn.Module:
    """Xavier-uniform weights (gain 0.5) and zero biases for every Linear layer, as the authors' code."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)
    return module


class Encoder(nn.Module):
    """(m, in_dim) -> (mu (m, latent), logvar (m, latent)); one ReLU hidden layer."""

    def __init__(self, in_dim: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        init_xavier_(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


def decoder(latent: int, hidden: int, out_dim: int) -> nn.Module:
    """(m, latent) -> (m, out_dim); one ReLU hidden layer, linear output."""
    return init_xavier_(nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, out_dim)))


LATENT_NOISE = ("release", "per_dim")


def sample_latent(mu: torch.Tensor, logvar: torch.Tensor, noise: str = "per_dim") -> torch.Tensor:
    """(m, k) reparameterised draws from inputs (m, k) (torch global RNG).

    ``"per_dim"``: ``mu + exp(logvar / 2) * eps``, eps ~ N(0, I_k) (the textbook VAE).
    ``"release"``: as the authors' released code, ``mu + exp(logvar) * e`` with one e ~ N(0, 1) per row
    shared by all k dimensions: the noise moves a code along one direction only, so the image codes keep
    their class information while the encoder is still untrained (with per-dimension noise the image VAE
    collapsed to the prior on every built-in dataset).
    """
    if noise == "per_dim":
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    if noise == "release":
        return mu + torch.exp(logvar) * torch.randn(mu.shape[0], 1, device=mu.device, dtype=mu.dtype)
    raise ValueError(f"cada_vae: latent_noise must be one of {LATENT_NOISE}, got {noise!r}")


class CadaModel(nn.Module):
    """The two VAEs: image encoder/decoder and descriptor encoder/decoder over one latent space."""

    def __init__(self, feature_dim: int, att_dim: int, latent: int, img_enc: int, img_dec: int,
                 att_enc: int, att_dec: int, noise: str = "per_dim") -> None:
        super().__init__()
        self.noise = noise
        self.enc_x = Encoder(feature_dim, img_enc, latent)
        self.enc_a = Encoder(att_dim, att_enc, latent)
        self.dec_x = decoder(latent, img_dec, feature_dim)
        self.dec_a = decoder(latent, att_dec, att_dim)

    def losses(self, x: torch.Tensor, a: torch.Tensor, input_dropout: float = 0.0) -> dict[str, torch.Tensor]:
        """Batch means of the four loss terms for images x (m, d) and their descriptors a (m, A).

        ``input_dropout``: dropout rate on the image encoder's input; the reconstruction targets stay x.
        """
        mu_x, lv_x = self.enc_x(nn.functional.dropout(x, input_dropout) if input_dropout > 0 else x)
        mu_a, lv_a = self.enc_a(a)
        z_x, z_a = sample_latent(mu_x, lv_x, self.noise), sample_latent(mu_a, lv_a, self.noise)

        def l1(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return (out - target).abs().sum(dim=1).mean()

        return {
            "recon": l1(self.dec_x(z_x), x) + l1(self.dec_a(z_a), a),
            "cross": l1(self.dec_x(z_a), x) + l1(self.dec_a(z_x), a),
            "kl": (kl_standard_normal(mu_x, lv_x) + kl_standard_normal(mu_a, lv_a)).mean(),
            "distance": wasserstein2(mu_x, lv_x, mu_a, lv_a).mean(),
        }


@torch.no_grad()
def latent_means(model: CadaModel, X: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """(n, latent) the image encoder's latent means of images X (n, d), in chunks of ``chunk`` rows."""
    return torch.cat([model.enc_x(X[i:i + chunk])[0] for i in range(0, X.shape[0], chunk)])


MIN_RELIABILITY = 0.1
"""Below this reliability of its per-class means (:func:`mean_reliability`) a set of sampled latent codes
teaches the classifier (almost) only sampling noise."""


def mean_reliability(separation: float, n_per_class: int) -> float:
    """Reliability of a class mean of ``n_per_class`` samples whose class share of variance is ``separation``.

    Spearman-Brown: ``n r / (1 + (n - 1) r)``, the share of the variance of the class means that is class
    signal rather than sampling noise (0 for pure noise, near 1 when the classes stand out).
    """
    r, n = float(separation), int(n_per_class)
    return n * r / (1 + (n - 1) * r) if math.isfinite(r) and 1 + (n - 1) * r > 0 else float("nan")


@torch.no_grad()
def decoder_health(model: CadaModel, X: torch.Tensor, chunk: int = 4096) -> dict[str, float | int]:
    """How alive the image path is after training, on training images X (n, d).

    Returns:
        ``image_decoder_alive_units``: hidden ReLU units of the image decoder that fire (> 0) for at
        least one image's latent mean; ``image_decoder_hidden``: all its hidden units;
        ``image_latent_spread``: mean over latent dimensions of the std of the images' latent means
        (near 0 when the encoder maps every image to one point).
    """
    mus = latent_means(model, X, chunk)
    hidden = model.dec_x[1](model.dec_x[0](mus))
    return {"image_decoder_alive_units": int((hidden > 0).any(dim=0).sum()),
            "image_decoder_hidden": int(hidden.shape[1]),
            "image_latent_spread": float(mus.std(dim=0).mean()) if len(mus) > 1 else 0.0}


class Standardize:
    """Per-dimension standardisation (zero mean, unit variance), fitted on the view's training features."""

    def fit(self, X: np.ndarray) -> "Standardize":
        """Fit on (n, d) training features; constant dimensions keep scale 1."""
        from sklearn.preprocessing import StandardScaler

        self.scaler_ = StandardScaler().fit(np.asarray(X, np.float64))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, d) standardised float32 copy of X."""
        return self.scaler_.transform(np.asarray(X, np.float64)).astype(np.float32)


@register_method("cada_vae")
class CADAVAE(GenerativeMethod):
    """CADA-VAE latent-space classifier (the paper's settings by default; CPU-sized ``fast`` preset)."""

    label = "CADA-VAE"
    family = "generative"
    seed_sensitive = True

    # v2: standardised features and the release's latent noise by default (v1: MinMax, per_dim);
    # v3: input dropout 0.5, 40 epochs (v2: 20), 50 latent samples per seen class (v2: 200);
    # v4: latent samples per seen class chosen on validation in every run; the classifiers' own torch seed;
    # v5: the paper's widths, scaling and schedule by default (v4's defaults are the ``fast`` preset);
    # v6: the fused Adam kernel (the same update, other float rounding; 1.34x a batch: bench_adam.py)
    version = 6
    refit_params = frozenset({"n_seen_latent", "n_unseen_latent"})
    description = "CADA-VAE: cross- and distribution-aligned VAEs, softmax on latent codes (Schönfeld 2019)"
    hparam_notes = {"input_dropout": {0.5: "dropout 0.5 on the image encoder's input while training "
                                           "(input_dropout=0.5; not in the paper: --preset paper)"}}
    space = {
        "latent": Param(64, help="latent dimensions"),
        "feature_scaling": Param("minmax", help="'standard': zero mean, unit variance per dimension; "
                                 "'minmax': scale to [0, 1] (the authors); both fitted on the view's "
                                 "training features; 'none': raw features"),
        "latent_noise": Param("release", help="reparameterisation noise: 'release' (one draw per sample, "
                              "sigma = exp(logvar), the authors' code) or 'per_dim'"),
        "img_enc_hidden": Param(1560, help="image encoder hidden units"),
        "img_dec_hidden": Param(1660, help="image decoder hidden units"),
        "att_enc_hidden": Param(1450, help="descriptor encoder hidden units"),
        "att_dec_hidden": Param(665, help="descriptor decoder hidden units"),
        "epochs": Param(100, choices=(20, 40, 100), help="VAE epochs (warm-ups stretched to fit)"),
        "input_dropout": Param(0.0, help="dropout rate on the image encoder's input while training the VAEs "
                                         "(not in the paper: 0); reconstruction targets stay clean"),
        "batch_size": Param(50, help="VAE batch size"),
        "lr": Param(1.5e-4, low=1e-4, high=3e-3, log=True, help="Adam lr of the VAEs"),
        "beta": Param(0.25, help="final KL weight (warm-up over epochs 0-93 of 100)"),
        "cross_weight": Param(2.37, help="final cross-reconstruction weight (warm-up 21-75)"),
        "distance_weight": Param(8.13, help="final alignment weight (warm-up 6-22)"),
        "n_seen_latent": Param(200, choices=(10, 25, 50, 100, 200), select_on_validation=True,
                               help="latent samples per seen class (from image features; paper 200): the "
                                    "GZSL classifier's seen/unseen balance, chosen on validation classes"),
        "n_unseen_latent": Param(400, choices=(100, 200, 400, 800),
                                 help="latent samples per unseen class (from descriptors)"),
        **head_space(epochs=23, batch_size=32, samples="unseen latent samples"),
    }
    presets = {
        # CPU-sized (v4's defaults): ~6x fewer hidden units, 2.5x fewer epochs, bigger batches and a higher
        # lr; standardised features (minmax collapses at these widths) and input dropout.
        "fast": {"img_enc_hidden": 256, "img_dec_hidden": 256, "att_enc_hidden": 128, "att_dec_hidden": 128,
                 "feature_scaling": "standard", "epochs": 40, "batch_size": 128, "lr": 1e-3,
                 "input_dropout": 0.5},
        "paper": {"latent": 64, "img_enc_hidden": 1560, "img_dec_hidden": 1660, "att_enc_hidden": 1450,
                  "att_dec_hidden": 665, "feature_scaling": "minmax", "latent_noise": "release", "input_dropout": 0.0,
                  "epochs": 100, "batch_size": 50,
                  "lr": 1.5e-4, "beta": 0.25,
                  "cross_weight": 2.37, "distance_weight": 8.13, "n_seen_latent": 200,
                  "n_unseen_latent": 400, "cls_epochs": 23, "cls_lr": 1e-3, "cls_batch": 32},
    }
    test_params = {"latent": 16, "img_enc_hidden": 64, "img_dec_hidden": 64, "att_enc_hidden": 32,
                   "att_dec_hidden": 32, "epochs": 100, "batch_size": 64, "lr": 3e-3,
                   "n_seen_latent": 50, "n_unseen_latent": 50, "cls_epochs": 50,
                   "feature_scaling": "none", "input_dropout": 0.0}

    def fit(self, view: TrainView, *, rng: np.random.Generator) -> "CADAVAE":
        feats, labels = self.check_view(view)
        dev = self.device
        t0 = time.perf_counter()
        self.feature_dim_ = feats.shape[1]
        if self.feature_scaling not in ("standard", "minmax", "none"):
            raise ValueError(f"{self.name}: feature_scaling must be 'standard', 'minmax' or 'none', "
                             f"got {self.feature_scaling!r}")
        if self.latent_noise not in LATENT_NOISE:
            raise ValueError(f"{self.name}: latent_noise must be one of {LATENT_NOISE}, got {self.latent_noise!r}")
        self.scaler_ = {"standard": Standardize, "minmax": MinMax}.get(self.feature_scaling)
        self.scaler_ = self.scaler_().fit(feats) if self.scaler_ else None
        X = to_tensor(self.scaler_.transform(feats) if self.scaler_ else feats, dev)
        att = to_tensor(view.descriptors, dev)
        A_img = att[torch.as_tensor(labels, device=dev)]
        with seeded_torch(rng, dev):
            model = CadaModel(X.shape[1], att.shape[1], int(self.latent), int(self.img_enc_hidden),
                              int(self.img_dec_hidden), int(self.att_enc_hidden),
                              int(self.att_dec_hidden), str(self.latent_noise)).to(dev)
            self.train_vae(model, X, A_img)
            model.eval()
            self.decoder_health_ = decoder_health(model, X)
            self.means_separation_ = class_separation(latent_means(model, X), labels)
        self.model_ = model
        self.end_training(rng, X=X, labels=labels, att=att, view=view)
        log.info("%s: fitted on %d images of %d seen classes in %.1fs", self.name, X.shape[0],
                 len(view.seen), time.perf_counter() - t0)
        return self

    def fit_head_stage(self, *, X: torch.Tensor, labels: np.ndarray, att: torch.Tensor, view: TrainView) -> None:
        """Latent samples from the trained VAEs (see :meth:`latent_training_set`), then the classifiers."""
        seen_Z, seen_y, syn_Z, syn_y = self.latent_training_set(self.model_, X, labels, att, view)
        sampled = {"seen_latent": (class_separation(seen_Z, seen_y), int(self.n_seen_latent)),
                   "unseen_latent": (class_separation(syn_Z, syn_y), int(self.n_unseen_latent))}
        self.sampled_health_ = {k: {"class_separation": sep, "mean_reliability": mean_reliability(sep, n)}
                                for k, (sep, n) in sampled.items()}
        flags = {f"{k} codes are mostly sampling noise at {sampled[k][1]} a class (reliability of their class "
                 f"means {v['mean_reliability']:.2g} < {MIN_RELIABILITY})": not v["mean_reliability"] >= MIN_RELIABILITY
                 for k, v in self.sampled_health_.items()}
        flags["every hidden unit of the image decoder is inactive"] = (
            self.decoder_health_["image_decoder_alive_units"] == 0)
        self.health_ = training_health(
            self.history_, {"seen_image_latent_means": self.means_separation_},
            name=self.name, flags=flags)
        self.heads_ = self.fit_heads(seen_Z, seen_y, syn_Z, syn_y, view)

    def record_info(self) -> dict[str, object]:
        """Training health, decoder health (:func:`decoder_health`) and, per set of sampled latent codes,
        its class share of variance and the reliability of its class means (:func:`mean_reliability`)."""
        return {**super().record_info(), **dict(getattr(self, "decoder_health_", {})),
                "sampled_latent_health": getattr(self, "sampled_health_", None)}

    def train_vae(self, model: CadaModel, X: torch.Tensor, A_img: torch.Tensor) -> None:
        """Train the VAEs in place on images X (n, d) and their class descriptors A_img (n, A)."""
        opt = adam(model.parameters(), lr=self.lr, amsgrad=True)
        epochs, n = int(self.epochs), X.shape[0]
        bar = progress(range(epochs), desc=f"{self.name} VAE", total=epochs)
        model.train()
        self.history_: list[dict[str, float]] = []
        for epoch in bar:
            w = loss_weights(epoch, epochs, beta=self.beta, cross=self.cross_weight,
                             distance=self.distance_weight)
            sums = {"loss": 0.0, "recon": 0.0, "cross": 0.0, "kl": 0.0, "distance": 0.0}
            for idx in minibatches(n, int(self.batch_size), X.device):
                parts = model.losses(X[idx], A_img[idx], float(self.input_dropout))
                loss = (parts["recon"] + w["beta"] * parts["kl"] + w["cross"] * parts["cross"]
                        + w["distance"] * parts["distance"])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                m = idx.numel() / n
                sums["loss"] += float(loss.detach()) * m
                for key, value in parts.items():
                    sums[key] += float(value.detach()) * m
            self.history_.append(epoch_means(sums, 1))
            log.debug("%s epoch %d/%d: %s (weights %s)", self.name, epoch + 1, epochs,
                      {k: round(v, 4) for k, v in sums.items()}, w)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{sums['loss']:.2f}")

    @torch.no_grad()
    def latent_training_set(
        self, model: CadaModel, X: torch.Tensor, labels: np.ndarray, att: torch.Tensor, view: TrainView
    ) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
        """Latent samples for the classifiers.

        Returns:
            seen_Z (S * n_seen_latent, k) encoded from images of each seen class (drawn with replacement
            when a class has fewer images), seen_y; syn_Z (U * n_unseen_latent, k) encoded from unseen
            descriptors, syn_y.
        """
        n_s, n_u = int(self.n_seen_latent), int(self.n_unseen_latent)
        if n_s < 1 or n_u < 1:
            raise ValueError(f"{self.name}: n_seen_latent and n_unseen_latent must be >= 1")
        picks = []
        by_class = {int(c): np.flatnonzero(labels == c) for c in view.seen}
        for c in view.seen:
            idx = by_class[int(c)]
            if idx.size == 0:
                raise ValueError(f"{self.name}: seen class {int(c)} has no training image in the view")
            draw = torch.randint(idx.size, (n_s,), device="cpu").numpy()
            picks.append(idx[draw])
        rows = np.concatenate(picks)
        seen_Z = sample_latent(*model.enc_x(X[torch.as_tensor(rows, device=X.device)]), model.noise)
        syn_y = np.repeat(np.asarray(view.unseen, np.int64), n_u)
        syn_Z = sample_latent(*model.enc_a(att[torch.as_tensor(syn_y, device=X.device)]), model.noise)
        return seen_Z, labels[rows], syn_Z, syn_y

    @torch.no_grad()
    def embed(self, X: np.ndarray) -> torch.Tensor:
        """(n, latent) latent means of test features X (n, d)."""
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        mu, _ = self.model_.enc_x(to_tensor(X, self.device))
        return mu
