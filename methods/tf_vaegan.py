"""tf-VAEGAN (Narayan et al., ECCV 2020): f-VAEGAN with a semantic embedding decoder and feedback.

Pipeline of one ``fit``:

1. MinMax-scale the view's training features to [0, 1] (fitted on those features only); the generator
   ends in a sigmoid and its VAE reconstruction loss is a binary cross-entropy.
2. Train five networks together (all hidden layers LeakyReLU(0.2), weights N(0, 0.02)):

   - encoder E(x, a) -> (mu, log sigma^2) of a latent z with as many dimensions as the descriptors;
   - generator G(z, a) -> feature; its hidden layer can take a feedback signal: h + weight * F(.);
   - critic D(x, a) (WGAN with gradient penalty, both terms scaled by ``gamma_d``);
   - semantic embedding decoder S(x) -> (L2-normalised descriptor estimate, hidden layer), trained to
     recover the class descriptor from real features (``recons_weight`` x the weighted L1 of the authors'
     code) and pushing the generator to keep descriptors recoverable from fake features;
   - feedback module F: two layers mapping S's hidden layer of a first-pass fake feature to the
     generator's hidden layer for a second pass.

   Each epoch makes ``feedback_loops`` passes over the training images (the authors use 2): the first
   generates without feedback, the later ones with feedback (weight ``feedback_weight``) and also train F.
   One step = ``critic_steps`` critic (and decoder) updates, then one update of E, G (and F, and S unless
   ``freeze_decoder``) on the VAE loss + ``gamma_g`` x the generator's WGAN loss + ``recons_weight`` x
   the decoder loss on the fakes. Fakes come from encoded noise, z ~ q(z | x, a), as in the authors'
   scripts (``--encoded_noise``). The authors' code also adapts the gradient-penalty weight (x1.1 or
   /1.1 per step, see :func:`adapt_penalty_weight`); that is ``gp_adapt``, on in the ``paper`` preset
   only: while the critic's input gradients are small the rule divides at every step, and with the
   few steps of a CPU budget the weight fell to 4e-12 on synth-tiny, leaving the critic unconstrained.
3. Synthesise ``n_syn`` features per unseen class from z ~ N(0, I), with the two-pass feedback at weight
   ``feedback_weight_syn``. The GZSL softmax is trained on real seen + synthetic unseen features, the
   ZSL softmax on synthetic unseen only; both read ``[x, S(x), hidden of S(x)]`` ("feature
   transformation"), as do test images in ``scores``. ``n_syn`` sets the GZSL classifier's seen/unseen
   balance (the authors use 300 on CUB, 1800 on AWA2): every run chooses it on validation classes,
   redoing only this step (:meth:`GenerativeMethod.refit`).

Differences from the authors' code: the last epoch is kept and the classifiers train for a fixed number
of epochs (the authors keep the epoch with the best *test* accuracy, at both levels; this suite never
does); epochs are a hyper-parameter chosen on validation classes.

Presets: ``paper`` = the authors' CUB script (hidden 4096, 300 epochs, 300 features per class;
``presets_per_family["paper"]`` holds their AWA2 / SUN settings); ``fast`` (the ``space`` defaults) is CPU-sized.
The ``fast`` preset weighs the decoder loss 1.0 (paper 0.01) so that the fakes stay class-separated
with a CPU budget's few steps; the measurements: results/README.md, "Generative family on v3".
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
from torch import nn

from zslbench.method import Param, TrainView
from zslbench.methods.f_clswgan import ConditionalCritic, gradient_penalty
from zslbench.methods.generative import (
    GenerativeMethod,
    MinMax,
    head_space,
    n_syn_param,
    class_separation,
    epoch_means,
    init_normal_,
    progress,
    seeded_torch,
    synthesize,
    to_tensor,
    training_health,
)
from zslbench.registry import register_method

log = logging.getLogger(__name__)


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


class VaeEncoder(nn.Module):
    """E(x, a): (m, d) features and (m, A) descriptors -> (mu, logvar), each (m, nz)."""

    def __init__(self, feature_dim: int, att_dim: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(feature_dim + att_dim, hidden), _lrelu(),
                                  nn.Linear(hidden, 2 * latent), _lrelu())
        self.mu = nn.Linear(2 * latent, latent)
        self.logvar = nn.Linear(2 * latent, latent)
        init_normal_(self)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(torch.cat([x, a], dim=1))
        return self.mu(h), self.logvar(h)


class FeedbackGenerator(nn.Module):
    """G(z, a, feedback): (m, nz), (m, A) and optional (m, hidden) -> (m, d) features in (0, 1)."""

    def __init__(self, latent: int, att_dim: int, hidden: int, feature_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(latent + att_dim, hidden)
        self.fc2 = nn.Linear(hidden, feature_dim)
        self.act = _lrelu()
        init_normal_(self)

    def forward(self, z: torch.Tensor, a: torch.Tensor, feedback: torch.Tensor | None = None) -> torch.Tensor:
        h = self.act(self.fc1(torch.cat([z, a], dim=1)))
        if feedback is not None:
            h = h + feedback
        return torch.sigmoid(self.fc2(h))


class SemanticDecoder(nn.Module):
    """S(x): (m, d) -> (descriptor estimate (m, A), L2-normalised; hidden layer (m, hidden))."""

    def __init__(self, feature_dim: int, hidden: int, att_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(feature_dim, hidden)
        self.fc2 = nn.Linear(hidden, att_dim)
        self.act = _lrelu()
        init_normal_(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.act(self.fc1(x))
        out = self.fc2(hidden)
        return out / out.norm(dim=1, keepdim=True).clamp_min(1e-12), hidden


def feedback_module(hidden: int) -> nn.Module:
    """F: (m, hidden) decoder hidden layer -> (m, hidden) signal for the generator's hidden layer."""
    return init_normal_(nn.Sequential(nn.Linear(hidden, hidden), _lrelu(), nn.Linear(hidden, hidden), _lrelu()))


def weighted_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The decoder loss of the authors' code: sum_j w_j |e_j| per row, w_j = e_j^2 / ||e||_2, batch mean.

    Inputs are (m, A); larger errors weigh more within a row.
    """
    err = pred - target
    weight = err.pow(2) / err.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (weight * err.abs()).sum(dim=1).mean()


def adapt_penalty_weight(weight: float, mean_penalty: float) -> float:
    """The authors' rule: x1.1 when the mean penalty (||grad|| - 1)^2 is above 1.05, /1.1 below 1.001."""
    if mean_penalty > 1.05:
        return weight * 1.1
    return weight / 1.1 if mean_penalty < 1.001 else weight


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of recon (m, d) against x in [0, 1], plus KL to N(0, I); both summed, per row."""
    bce = nn.functional.binary_cross_entropy(recon.clamp(1e-12, 1.0), x, reduction="sum")
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum()
    return (bce + kl) / x.shape[0]


class TfVaeganNets(nn.Module):
    """The five networks, and generation with or without the feedback second pass."""

    def __init__(self, feature_dim: int, att_dim: int, hidden: int) -> None:
        super().__init__()
        self.encoder = VaeEncoder(feature_dim, att_dim, hidden, att_dim)
        self.generator = FeedbackGenerator(att_dim, att_dim, hidden, feature_dim)
        self.critic = ConditionalCritic(feature_dim, att_dim, hidden)
        self.decoder = SemanticDecoder(feature_dim, hidden, att_dim)
        self.feedback = feedback_module(hidden)

    def generate(self, z: torch.Tensor, a: torch.Tensor, feedback_weight: float | None) -> torch.Tensor:
        """(m, d) features; with a weight, a second pass adds weight * F(S's hidden layer of the first)."""
        first = self.generator(z, a)
        if feedback_weight is None:
            return first
        _, hidden = self.decoder(first)
        return self.generator(z, a, feedback_weight * self.feedback(hidden.detach()))

    @torch.no_grad()
    def transform(self, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """(m, d + A + hidden) classifier inputs [x, S(x), hidden of S(x)]."""
        parts = []
        for i in range(0, x.shape[0], chunk):
            out, hidden = self.decoder(x[i:i + chunk])
            parts.append(torch.cat([x[i:i + chunk], out, hidden], dim=1))
        return torch.cat(parts)


def _trainable(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


@register_method("tf_vaegan")
class TFVAEGAN(GenerativeMethod):
    """tf-VAEGAN feature generator with semantic decoder and feedback (CPU-sized defaults; ``paper``)."""

    label = "tf-VAEGAN"
    family = "generative"

    # v2: fast preset decoder-loss weight 0.01 -> 1.0, 100 -> 300 features per class;
    # v3: n_syn chosen on validation in every run; the classifier stage has its own torch seed;
    # v4: n_syn grid widened to 25-3000 (v3's 100-1800: 100 chosen on synth-awa2 and synth-sun)
    version = 4
    description = ("tf-VAEGAN: VAE-GAN feature generation with a semantic embedding decoder and "
                   "feedback (Narayan et al. 2020)")
    refit_params = frozenset({"n_syn"})
    space = {
        "hidden": Param(512, help="hidden units of every network (paper 4096)"),
        "epochs": Param(4, choices=(2, 4, 8, 16, 32), help="epochs (each of feedback_loops passes)"),
        "feedback_loops": Param(2, help="passes per epoch; passes after the first use feedback (paper 2)"),
        "n_syn": n_syn_param(),
        "lr": Param(1e-3, help="Adam lr of encoder, generator and critic (paper: 1e-4 CUB)"),
        "decoder_lr": Param(1e-4, help="Adam lr of the semantic embedding decoder"),
        "feedback_lr": Param(1e-4, help="Adam lr of the feedback module (paper: 1e-5 CUB)"),
        "gamma_d": Param(10.0, help="weight of the critic's WGAN loss and penalty"),
        "gamma_g": Param(10.0, help="weight of the generator's WGAN loss"),
        "gp_weight": Param(10.0, help="gradient-penalty weight (the initial one when gp_adapt)"),
        "gp_adapt": Param(False, help="adapt the penalty weight (x1.1 when the mean penalty > 1.05, /1.1 "
                          "when < 1.001), as the authors' code does"),
        "critic_steps": Param(5, help="critic updates per generator update"),
        "recons_weight": Param(1.0, choices=(0.01, 0.1, 1.0), help="weight of the decoder loss (paper 0.01)"),
        "feedback_weight": Param(1.0, help="feedback weight while training (paper a1)"),
        "feedback_weight_syn": Param(1.0, help="feedback weight when synthesising (paper a2)"),
        "freeze_decoder": Param(False, help="do not update the decoder from the fakes (paper: AWA2)"),
        "batch_size": Param(64, help="batch size"),
        **head_space(epochs=25, batch_size=100),  # paper: 25 epochs, batches of n_syn
    }
    presets = {
        # CPU-sized: 8x fewer hidden units, 10x the lr and ~75x fewer epochs than the CUB script; the
        # decoder loss (the generator's only class signal besides the conditioning) weighs 100x more.
        "fast": {"hidden": 512, "epochs": 4, "lr": 1e-3, "feedback_lr": 1e-4,
                 "recons_weight": 1.0},
        # The authors' CUB script; presets_per_family holds their AWA2 / SUN scripts' differences.
        "paper": {"hidden": 4096, "epochs": 300, "feedback_loops": 2, "n_syn": 300, "lr": 1e-4,
                  "decoder_lr": 1e-4, "feedback_lr": 1e-5, "gamma_d": 10.0, "gamma_g": 10.0,
                  "gp_weight": 10.0, "gp_adapt": True, "critic_steps": 5, "recons_weight": 0.01, "feedback_weight": 1.0,
                  "feedback_weight_syn": 1.0, "freeze_decoder": False, "batch_size": 64, "cls_epochs": 25,
                  "cls_lr": 1e-3, "cls_batch": 300},
    }
    presets_per_family = {
        "paper": {
            "CUB": {},
            "AWA2": {"epochs": 120, "n_syn": 1800, "cls_batch": 1800, "lr": 1e-5, "recons_weight": 0.1,
                     "freeze_decoder": True, "feedback_lr": 1e-4, "feedback_weight": 0.01,
                     "feedback_weight_syn": 0.01},
            "SUN": {"epochs": 400, "n_syn": 400, "cls_batch": 400, "lr": 1e-3, "cls_lr": 5e-4, "gamma_d": 1.0,
                    "gamma_g": 1.0, "feedback_lr": 1e-4, "feedback_weight": 0.1, "feedback_weight_syn": 0.01},
        },
    }
    test_params = {"hidden": 64, "epochs": 60, "lr": 1e-3, "feedback_lr": 1e-3, "n_syn": 50,
                   "critic_steps": 2, "cls_epochs": 50, "cls_batch": 32}

    def fit(self, view: TrainView, *, rng: np.random.Generator) -> "TFVAEGAN":
        feats, labels = self.check_view(view)
        dev = self.device
        t0 = time.perf_counter()
        self.scaler_ = MinMax().fit(feats)
        self.feature_dim_ = feats.shape[1]
        X = to_tensor(self.scaler_.transform(feats), dev).clamp_(0.0, 1.0)
        att = to_tensor(view.descriptors, dev)
        with seeded_torch(rng, dev):
            nets = TfVaeganNets(X.shape[1], att.shape[1], int(self.hidden)).to(dev)
            self.train_nets(nets, X, att[torch.as_tensor(labels, device=dev)])
            nets.eval()
        self.nets_ = nets
        self.end_training(rng, X=X, labels=labels, att=att, view=view)
        log.info("%s: fitted on %d images of %d seen classes, %d x %d synthetic unseen in %.1fs",
                 self.name, X.shape[0], len(view.seen), len(view.unseen), int(self.n_syn),
                 time.perf_counter() - t0)
        return self

    def fit_head_stage(self, *, X: torch.Tensor, labels: np.ndarray, att: torch.Tensor, view: TrainView) -> None:
        """``n_syn`` synthetic features per unseen class, then the classifiers on the transformed real seen
        and synthetic features."""
        syn_X, syn_y = self.synthesize(self.nets_, att, np.asarray(view.unseen))
        self.health_ = training_health(
            self.history_, {"seen": class_separation(X, labels),
                            "synthetic_unseen": class_separation(syn_X, syn_y)}, name=self.name)
        self.heads_ = self.fit_heads(self.nets_.transform(X), labels, self.nets_.transform(syn_X), syn_y, view)

    def train_nets(self, nets: TfVaeganNets, X: torch.Tensor, A_img: torch.Tensor) -> None:
        """Train in place on scaled images X (n, d) and their class descriptors A_img (n, A)."""
        adam = torch.optim.Adam
        opt_e = adam(nets.encoder.parameters(), lr=self.lr)
        opt_g = adam(nets.generator.parameters(), lr=self.lr, betas=(0.5, 0.999))
        opt_d = adam(nets.critic.parameters(), lr=self.lr, betas=(0.5, 0.999))
        opt_f = adam(nets.feedback.parameters(), lr=self.feedback_lr, betas=(0.5, 0.999))
        opt_s = adam(nets.decoder.parameters(), lr=self.decoder_lr, betas=(0.5, 0.999))
        n, b = X.shape[0], min(int(self.batch_size), X.shape[0])
        steps, epochs = math.ceil(n / b), int(self.epochs)
        gp_weight, gamma_d, gamma_g = float(self.gp_weight), float(self.gamma_d), float(self.gamma_g)
        self.history_: list[dict[str, float]] = []
        bar = progress(range(epochs), desc=f"{self.name} VAE-GAN", total=epochs)
        for epoch in bar:
            sums = {"vae": 0.0, "adv": 0.0, "decoder": 0.0}
            for loop in range(int(self.feedback_loops)):
                fb = float(self.feedback_weight) if loop > 0 else None
                for _ in range(steps):
                    _trainable(nets.critic, True)
                    _trainable(nets.decoder, True)
                    penalty = 0.0
                    for _ in range(int(self.critic_steps)):
                        idx = torch.randperm(n, device=X.device)[:b]
                        x, a = X[idx], A_img[idx]
                        loss_s = self.recons_weight * weighted_l1(nets.decoder(x)[0], a)
                        opt_s.zero_grad(set_to_none=True)
                        loss_s.backward()
                        opt_s.step()
                        with torch.no_grad():
                            mu, logvar = nets.encoder(x, a)
                            fake = nets.generate(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu), a, fb)
                        gp = gradient_penalty(nets.critic, x, fake, a, 1.0)
                        loss_d = gamma_d * (nets.critic(fake, a).mean() - nets.critic(x, a).mean()
                                            + gp_weight * gp)
                        opt_d.zero_grad(set_to_none=True)
                        loss_d.backward()
                        opt_d.step()
                        penalty += float(gp.detach()) / int(self.critic_steps)
                    if self.gp_adapt:
                        gp_weight = adapt_penalty_weight(gp_weight, penalty)

                    _trainable(nets.critic, False)
                    if self.freeze_decoder:
                        _trainable(nets.decoder, False)
                    mu, logvar = nets.encoder(x, a)
                    recon = nets.generate(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu), a, fb)
                    loss_vae = vae_loss(recon, x, mu, logvar)
                    loss_adv = -nets.critic(recon, a).mean()
                    loss_rec = weighted_l1(nets.decoder(recon)[0], a)
                    loss = loss_vae + gamma_g * loss_adv + self.recons_weight * loss_rec
                    for opt in (opt_e, opt_g, opt_f, opt_s):
                        opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt_e.step()
                    opt_g.step()
                    if fb is not None:
                        opt_f.step()
                    if not self.freeze_decoder:
                        opt_s.step()
                    sums["vae"] += float(loss_vae.detach())
                    sums["adv"] += float(loss_adv.detach())
                    sums["decoder"] += float(loss_rec.detach())
            self.history_.append({**epoch_means(sums, steps * int(self.feedback_loops)), "gp_weight": gp_weight})
            log.debug("%s epoch %d/%d: %s", self.name, epoch + 1, epochs, self.history_[-1])
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(vae=f"{self.history_[-1]['vae']:.1f}", adv=f"{self.history_[-1]['adv']:.2f}")
        _trainable(nets, True)

    def synthesize(self, nets: TfVaeganNets, att: torch.Tensor, classes: np.ndarray
                   ) -> tuple[torch.Tensor, np.ndarray]:
        """``n_syn`` features per class of ``classes`` from z ~ N(0, I); (K * n_syn, d) and labels."""
        fb = float(self.feedback_weight_syn) if int(self.feedback_loops) > 1 else None
        return synthesize(lambda z, a: nets.generate(z, a, fb), att, classes, int(self.n_syn), att.shape[1],
                          device=self.device)

    def embed(self, X: np.ndarray) -> torch.Tensor:
        """(n, d + A + hidden) classifier inputs of test features X (n, d)."""
        return self.nets_.transform(to_tensor(self.scaler_.transform(X), self.device))
