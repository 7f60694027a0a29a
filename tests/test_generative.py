"""Tests of the generative feature baselines (f-CLSWGAN, CADA-VAE, tf-VAEGAN) and their shared pieces."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zslbench.data.synthetic import make_synthetic
from zslbench.metrics import per_class_accuracy
from zslbench.protocol import test_split, train_view, validation_split
from zslbench.registry import METHODS

from zslbench.methods import cada_vae, f_clswgan, generative, tf_vaegan

GENERATIVE = ("f_clswgan", "cada_vae", "tf_vaegan")
MODULES = {"f_clswgan": f_clswgan, "cada_vae": cada_vae, "tf_vaegan": tf_vaegan}


@pytest.fixture(scope="module")
def tiny(tiny):  # conftest's synth-tiny, with its test split and inductive view
    split = test_split(tiny)
    return tiny, split, train_view(tiny, split, access="inductive")


def zsl_accuracy(method, ds, split) -> float:
    X, y = ds.features[split.eval_unseen], ds.labels[split.eval_unseen]
    pred = split.unseen[method.scores(X, split.unseen).argmax(axis=1)]
    return float(per_class_accuracy(y, pred).mean())


# --------------------------------------------------------------------------------------------------
# WGAN gradient penalty
# --------------------------------------------------------------------------------------------------


class LinearCritic(torch.nn.Module):
    """D(x, a) = w^T x (ignores a); records the inputs it is called with."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)
        self.seen_inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        self.seen_inputs.append(x.detach().clone())
        return x @ self.w


def test_gradient_penalty_of_linear_critic_is_lambda_norm_minus_one_squared():
    torch.manual_seed(0)
    w = torch.tensor([3.0, -4.0, 0.0, 12.0])  # ||w|| = 13
    critic = LinearCritic(w)
    real, fake, a = torch.rand(7, 4), torch.rand(7, 4), torch.rand(7, 2)
    gp = f_clswgan.gradient_penalty(critic, real, fake, a, weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (13.0 - 1.0) ** 2, rel=1e-5)
    # the penalty back-propagates into the critic: d/dw of 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||
    gp.backward()
    assert torch.allclose(critic.w.grad, 20 * 12 * w / 13, rtol=1e-4)


def test_gradient_penalty_is_evaluated_on_interpolates_between_real_and_fake():
    torch.manual_seed(1)
    critic = LinearCritic(torch.randn(5))
    real, fake = torch.rand(64, 5) + 2.0, torch.rand(64, 5) - 2.0
    f_clswgan.gradient_penalty(critic, real, fake, torch.zeros(64, 3), weight=10.0)
    (x_hat,) = critic.seen_inputs
    # each row is alpha * real + (1 - alpha) * fake with one alpha in [0, 1] for all its dimensions
    alpha = (x_hat - fake) / (real - fake)
    assert torch.allclose(alpha, alpha[:, :1].expand_as(alpha), atol=1e-5)
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert alpha[:, 0].std() > 0.1  # a fresh alpha per row, neither all real nor all fake


def test_fclswgan_training_feeds_interpolates_to_the_critic(monkeypatch, tiny):
    """Spy on the penalty during a real fit: the critic it calls gets real/fake interpolates."""
    ds, split, view = tiny
    calls = []
    original = f_clswgan.gradient_penalty

    def spy(critic, real, fake, cond, weight):
        inputs = []

        def recording_critic(x, a):
            inputs.append(x.detach().clone())
            return critic(x, a)

        out = original(recording_critic, real, fake, cond, weight)
        (x_hat,) = inputs
        diff = real - fake
        col = diff.abs().argmax(dim=1, keepdim=True)
        alpha = (x_hat - fake).gather(1, col) / diff.gather(1, col)
        assert torch.allclose(x_hat, alpha * real + (1 - alpha) * fake, atol=1e-5)
        assert alpha.min() >= -1e-6 and alpha.max() <= 1 + 1e-6
        calls.append(weight)
        return out

    monkeypatch.setattr(f_clswgan, "gradient_penalty", spy)
    params = dict(f_clswgan.FCLSWGAN.test_params, epochs=1, pre_epochs=1, cls_epochs=1)
    f_clswgan.FCLSWGAN(**params).fit(view, rng=np.random.default_rng(0))
    steps = math.ceil(view.features.shape[0] / params["batch_size"])
    assert len(calls) == steps * f_clswgan.FCLSWGAN.space["critic_steps"].default
    assert set(calls) == {10.0}


# --------------------------------------------------------------------------------------------------
# CADA-VAE pieces
# --------------------------------------------------------------------------------------------------


def test_cada_warmups_follow_the_paper_schedule_at_100_epochs():
    def at(epoch):
        return cada_vae.loss_weights(epoch, 100, beta=0.25, cross=2.37, distance=8.13)

    # zero before (and at) the start
    assert at(0)["beta"] == 0.0
    assert all(at(e)["cross"] == 0.0 for e in range(0, 22))
    assert all(at(e)["distance"] == 0.0 for e in range(0, 7))
    # end values exactly at the end epochs, and held after
    assert at(93)["beta"] == pytest.approx(0.25)
    assert at(75)["cross"] == pytest.approx(2.37)
    assert at(22)["distance"] == pytest.approx(8.13)
    assert at(99) == pytest.approx({"beta": 0.25, "cross": 2.37, "distance": 8.13})
    # still rising just before the end, linear in between
    assert at(92)["beta"] < 0.25 and at(74)["cross"] < 2.37 and at(21)["distance"] < 8.13
    assert at(48)["cross"] == pytest.approx(2.37 * (48 - 21) / (75 - 21))
    assert at(14)["distance"] == pytest.approx(8.13 * (14 - 6) / (22 - 6))


def test_cada_warmups_stretch_to_shorter_runs():
    w = cada_vae.loss_weights(24, 25, beta=0.25, cross=2.37, distance=8.13)
    assert w["cross"] == pytest.approx(2.37) and w["distance"] == pytest.approx(8.13)
    assert 0.0 < w["beta"] <= 0.25
    assert cada_vae.loss_weights(5, 25, beta=0.25, cross=2.37, distance=8.13)["cross"] == 0.0


def test_warmup_function():
    assert cada_vae.warmup(-1, 0, 10, 2.0) == 0.0
    assert cada_vae.warmup(5, 0, 10, 2.0) == pytest.approx(1.0)
    assert cada_vae.warmup(50, 0, 10, 2.0) == 2.0
    assert cada_vae.warmup(3, 3, 3, 2.0) == 2.0  # degenerate window: a step at the end


def test_wasserstein_between_identical_gaussians_is_zero():
    mu, lv = torch.randn(6, 4), torch.randn(6, 4)
    assert torch.all(cada_vae.wasserstein2_squared(mu, lv, mu, lv) == 0)
    assert torch.all(cada_vae.wasserstein2(mu, lv, mu, lv) < 1e-5)


def test_wasserstein_matches_hand_computation():
    # N((0, 0), diag(1, 1)) vs N((3, 4), diag(4, 1)): ||mu diff||^2 = 25, ||sd diff||^2 = (1 - 2)^2 = 1
    mu1, lv1 = torch.tensor([[0.0, 0.0]]), torch.log(torch.tensor([[1.0, 1.0]]))
    mu2, lv2 = torch.tensor([[3.0, 4.0]]), torch.log(torch.tensor([[4.0, 1.0]]))
    assert cada_vae.wasserstein2_squared(mu1, lv1, mu2, lv2).item() == pytest.approx(26.0)
    assert cada_vae.wasserstein2(mu1, lv1, mu2, lv2).item() == pytest.approx(math.sqrt(26.0))


def test_kl_to_standard_normal():
    assert cada_vae.kl_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)).tolist() == [0.0, 0.0]
    # KL(N(1, e^1) || N(0, 1)) in one dim = 0.5 (e + 1 - 1 - 1) = 0.5 (e - 1)
    kl = cada_vae.kl_standard_normal(torch.ones(1, 1), torch.ones(1, 1))
    assert kl.item() == pytest.approx(0.5 * (math.e - 1))


# --------------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------------


def test_synthesize_shapes_and_counts_per_class():
    torch.manual_seed(0)
    G = f_clswgan.ConditionalGenerator(noise_dim=5, att_dim=5, hidden=8, feature_dim=11)
    att = torch.rand(9, 5)
    classes = np.array([2, 7, 8])
    X, y = generative.synthesize(G, att, classes, 13, 5, chunk=10)  # chunking across classes
    assert X.shape == (39, 11) and y.shape == (39,)
    assert dict(zip(*np.unique(y, return_counts=True))) == {2: 13, 7: 13, 8: 13}
    assert (X >= 0).all()  # ReLU output
    assert G.training  # mode restored


def test_minmax_fits_on_training_features_only():
    train = np.array([[0.0, 10.0], [2.0, 30.0]])
    mm = generative.MinMax().fit(train)
    assert np.allclose(mm.transform(train), [[0, 0], [1, 1]])
    assert np.allclose(mm.transform(np.array([[4.0, 20.0]])), [[2.0, 0.5]])  # not clipped
    with pytest.raises(ValueError, match="MinMax"):
        generative.MinMax().fit(np.zeros((0, 3)))


def test_progress_respects_env(monkeypatch):
    monkeypatch.setenv(generative.PROGRESS_ENV, "0")
    assert generative.progress_disabled() is True
    monkeypatch.setenv(generative.PROGRESS_ENV, "1")
    assert generative.progress_disabled() is None  # tqdm decides: hidden when not a TTY
    assert list(generative.progress(range(3), desc="x")) == [0, 1, 2]


def test_seeded_torch_leaves_caller_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with generative.seeded_torch(np.random.default_rng(0)):
        inside = torch.rand(3)
    assert torch.equal(torch.rand(3), expected)
    with generative.seeded_torch(np.random.default_rng(0)):
        assert torch.equal(torch.rand(3), inside)


def test_train_softmax_learns_separable_data():
    torch.manual_seed(0)
    X = torch.cat([torch.randn(50, 2) + 4, torch.randn(50, 2) - 4])
    y = torch.cat([torch.zeros(50), torch.ones(50)]).long()
    layer = generative.train_softmax(X, y, 2, epochs=20, lr=1e-2, batch_size=16)
    assert (generative.logits(layer, X).argmax(1) == y.numpy()).mean() > 0.95


# --------------------------------------------------------------------------------------------------
# The methods
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GENERATIVE)
def test_beats_chance_on_synth_tiny_zsl(name, tiny):
    ds, split, view = tiny
    cls = METHODS.get(name)
    method = cls(**cls.test_params).fit(view, rng=np.random.default_rng(0))
    chance = 1.0 / len(split.unseen)
    acc = zsl_accuracy(method, ds, split)
    assert acc > 1.5 * chance, f"{name}: ZSL top-1 {acc:.3f} vs chance {chance:.3f}"
    # GZSL scores over all candidates are finite and shaped right
    cand = split.candidates
    s = method.scores(ds.features[split.eval_seen], cand)
    assert s.shape == (len(split.eval_seen), len(cand)) and np.isfinite(s).all()
    # the fit's training-health summary: first and last epoch's losses, and no collapse
    health = method.record_info()["training_health"]
    assert health["epochs"] == cls.test_params["epochs"]
    assert health["loss_start"] and set(health["loss_start"]) == set(health["loss_end"])
    assert all(math.isfinite(v) for v in health["loss_end"].values())
    assert not health["collapsed"], health["collapse_reasons"]


def cheap(name: str) -> dict:
    """Even smaller settings for tests that check plumbing, not accuracy."""
    base = dict(METHODS.get(name).test_params)
    return base | {"epochs": 2, "cls_epochs": 2} | ({"pre_epochs": 2} if name == "f_clswgan" else {})


@pytest.mark.parametrize("name", GENERATIVE)
def test_deterministic_for_a_seed(name, tiny):
    ds, split, view = tiny
    cls = METHODS.get(name)
    X = ds.features[split.eval_unseen]
    a = cls(**cheap(name)).fit(view, rng=np.random.default_rng(5)).scores(X, split.candidates)
    b = cls(**cheap(name)).fit(view, rng=np.random.default_rng(5)).scores(X, split.candidates)
    c = cls(**cheap(name)).fit(view, rng=np.random.default_rng(6)).scores(X, split.candidates)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("name", GENERATIVE)
def test_scores_pick_the_zsl_head_for_unseen_candidates(name, tiny):
    ds, split, view = tiny
    method = METHODS.get(name)(**cheap(name)).fit(view, rng=np.random.default_rng(0))
    X = ds.features[split.eval_unseen][:9]
    zsl = method.scores(X, split.unseen)
    Z = method.embed(X)
    assert np.allclose(zsl, generative.logits(method.heads_.zsl, Z))
    # any order of the candidates gives the same columns, permuted
    rev = split.unseen[::-1]
    assert np.allclose(method.scores(X, rev), zsl[:, ::-1])
    # GZSL candidates use the GZSL head, whose columns are the sorted union of seen and unseen
    assert np.allclose(method.scores(X, split.candidates), generative.logits(method.heads_.gzsl, Z))
    # a subset that is not exactly the unseen set uses the GZSL head restricted to those classes
    some = split.candidates[[0, 3]]
    assert np.allclose(method.scores(X, some), generative.logits(method.heads_.gzsl, Z)[:, [0, 3]])
    with pytest.raises(ValueError, match="not among"):
        method.scores(X, np.array([ds.n_classes + 5]))
    with pytest.raises(ValueError, match="must be"):
        method.scores(X[:, :3], split.unseen)


@pytest.mark.parametrize("name", GENERATIVE)
def test_without_zsl_head_uses_gzsl_head_restricted(name, tiny):
    ds, split, view = tiny
    method = METHODS.get(name)(**cheap(name), zsl_head=False).fit(view, rng=np.random.default_rng(0))
    X = ds.features[split.eval_unseen][:5]
    gz = method.scores(X, split.candidates)
    cols = np.searchsorted(split.candidates, split.unseen)
    assert method.heads_.zsl is None
    assert np.allclose(method.scores(X, split.unseen), gz[:, cols])


@pytest.mark.parametrize("name", GENERATIVE)
def test_fits_the_validation_split(name):
    ds = make_synthetic("synth-tiny")
    split = validation_split(ds)
    view = train_view(ds, split, access="inductive")
    method = METHODS.get(name)(**cheap(name)).fit(view, rng=np.random.default_rng(0))
    assert set(method.heads_.gzsl_classes) == set(split.seen) | set(split.unseen)
    assert method.scores(ds.features[split.eval_unseen], split.unseen).shape == (
        len(split.eval_unseen), len(split.unseen))


@pytest.mark.parametrize("name", GENERATIVE)
def test_keyboard_interrupt_propagates(name, tiny, monkeypatch):
    _, _, view = tiny

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MODULES[name], "progress", interrupt)
    with pytest.raises(KeyboardInterrupt):
        METHODS.get(name)(**cheap(name)).fit(view, rng=np.random.default_rng(0))


@pytest.mark.parametrize("name", GENERATIVE)
def test_contract_metadata(name):
    cls = METHODS.get(name)
    assert cls.access == "inductive"
    assert set(cls.presets) >= {"fast", "paper"}
    for preset in cls.presets.values():
        assert set(preset) <= set(cls.space)
    # the space defaults are the fast preset, or (CADA-VAE since v5) the paper's settings
    default = "paper" if name == "cada_vae" else "fast"
    assert all(cls.space[k].default == v for k, v in cls.presets[default].items() if k not in cls.refit_params)
    assert set(cls.test_params) <= set(cls.space)
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        cls(epochz=3)


def test_paper_presets_carry_the_published_settings():
    gan = f_clswgan.FCLSWGAN.presets["paper"]
    assert (gan["hidden"], gan["critic_steps"], gan["gp_weight"], gan["lr"], gan["batch_size"],
            gan["cls_weight"]) == (4096, 5, 10.0, 1e-4, 64, 0.01)
    vae = cada_vae.CADAVAE.presets["paper"]
    assert (vae["img_enc_hidden"], vae["att_enc_hidden"], vae["latent"], vae["epochs"], vae["batch_size"],
            vae["lr"]) == (1560, 1450, 64, 100, 50, 1.5e-4)
    assert (vae["beta"], vae["cross_weight"], vae["distance_weight"]) == (0.25, 2.37, 8.13)
    tf = tf_vaegan.TFVAEGAN.presets["paper"]
    assert (tf["hidden"], tf["epochs"], tf["n_syn"], tf["lr"], tf["recons_weight"], tf["feedback_lr"],
            tf["feedback_loops"]) == (4096, 300, 300, 1e-4, 0.01, 1e-5, 2)
    sun = tf_vaegan.TFVAEGAN.presets_per_family["paper"]["SUN"]
    assert (sun["gamma_d"], sun["epochs"], sun["feedback_weight"], sun["feedback_weight_syn"]) == (1.0, 400, 0.1, 0.01)


def test_paper_preset_follows_the_dataset_family():
    from zslbench.runner import resolve_hparams
    from zslbench.sweep import make_specs

    [cub, awa2] = make_specs(["f_clswgan"], ["synth-cub", "synth-awa2"], [0], preset="paper")
    assert (resolve_hparams(cub)["epochs"], resolve_hparams(cub)["n_syn"]) == (56, 300)
    assert (resolve_hparams(awa2)["epochs"], resolve_hparams(awa2)["n_syn"]) == (30, 1800)
    assert resolve_hparams(awa2)["hidden"] == 4096  # the rest of the preset still applies
    [fast] = make_specs(["f_clswgan"], ["synth-awa2"], [0], preset="fast")
    assert resolve_hparams(fast)["epochs"] == 6  # family overrides belong to their preset only



def test_fclswgan_fast_preset_weighs_the_classification_loss_more_than_the_paper():
    """The fast preset's few generator steps need a stronger classification loss (paper keeps 0.01)."""
    from zslbench.runner import resolve_hparams
    from zslbench.sweep import make_specs

    [fast] = make_specs(["f_clswgan"], ["synth-cub"], [0], preset="fast")
    [paper] = make_specs(["f_clswgan"], ["synth-cub"], [0], preset="paper")
    assert (resolve_hparams(fast)["cls_weight"], resolve_hparams(fast)["n_syn"]) == (0.3, 300)
    assert (resolve_hparams(paper)["cls_weight"], resolve_hparams(paper)["n_syn"]) == (0.01, 300)


def test_tf_vaegan_fast_preset_weighs_the_decoder_loss_more_than_the_paper():
    from zslbench.runner import resolve_hparams
    from zslbench.sweep import make_specs

    [fast] = make_specs(["tf_vaegan"], ["synth-cub"], [0], preset="fast")
    [paper] = make_specs(["tf_vaegan"], ["synth-cub"], [0], preset="paper")
    assert (resolve_hparams(fast)["recons_weight"], resolve_hparams(fast)["n_syn"]) == (1.0, 300)
    assert (resolve_hparams(paper)["recons_weight"], resolve_hparams(paper)["n_syn"]) == (0.01, 300)

@pytest.mark.parametrize("name", GENERATIVE)
def test_rejects_views_without_images(name, tiny):
    _, _, view = tiny
    from dataclasses import replace

    with pytest.raises(ValueError, match="inductive view"):
        METHODS.get(name)().fit(replace(view, features=None, labels=None), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        METHODS.get(name)(epochs=0).fit(view, rng=np.random.default_rng(0))


def test_cada_rejects_unknown_feature_scaling(tiny):
    _, _, view = tiny
    with pytest.raises(ValueError, match="feature_scaling"):
        cada_vae.CADAVAE(**cheap("cada_vae") | {"feature_scaling": "zscore"}).fit(
            view, rng=np.random.default_rng(0))


def test_cada_minmax_scaling_is_fitted_on_the_view(tiny):
    ds, split, view = tiny
    method = cada_vae.CADAVAE(**cheap("cada_vae") | {"feature_scaling": "minmax"}).fit(
        view, rng=np.random.default_rng(0))
    scaled = method.scaler_.transform(view.features)
    assert scaled.min() == pytest.approx(0.0) and scaled.max() == pytest.approx(1.0)


def test_cada_input_dropout_reaches_only_the_image_encoder():
    """Dropout masks the image encoder's input; the reconstruction targets stay the clean features."""
    torch.manual_seed(0)
    model = cada_vae.CadaModel(6, 4, latent=3, img_enc=5, img_dec=8, att_enc=5, att_dec=5, noise="release")
    x, a = torch.rand(7, 6) + 0.5, torch.rand(7, 4)
    seen: dict[str, list[torch.Tensor]] = {"enc_x": [], "dec_x": [], "dec_a": []}
    model.enc_x.register_forward_hook(lambda m, inp, out: seen["enc_x"].append(inp[0]))
    model.dec_x.register_forward_hook(lambda m, inp, out: seen["dec_x"].append(out))
    model.dec_a.register_forward_hook(lambda m, inp, out: seen["dec_a"].append(out))
    parts = model.losses(x, a, input_dropout=1.0)
    assert not seen["enc_x"][0].any()  # p = 1: every input feature dropped
    recon = (seen["dec_x"][0] - x).abs().sum(1).mean() + (seen["dec_a"][0] - a).abs().sum(1).mean()
    assert parts["recon"].item() == pytest.approx(recon.item())
    seen["enc_x"].clear()
    model.losses(x, a)
    assert torch.equal(seen["enc_x"][0], x)  # no dropout by default


def test_cada_defaults_are_the_paper_settings_and_the_fast_preset_regularises():
    cls = cada_vae.CADAVAE
    defaults = {k: p.default for k, p in cls.space.items()}
    paper = cls.presets["paper"]
    assert {k: defaults[k] for k in paper if k not in cls.refit_params} == {
        k: v for k, v in paper.items() if k not in cls.refit_params}
    assert cls.space["n_seen_latent"].select_on_validation and paper["n_seen_latent"] == 200
    assert cls.presets["fast"]["input_dropout"] == 0.5 and cls.presets["fast"]["feature_scaling"] == "standard"


def test_cada_decoder_health_counts_units_that_fire():
    model = cada_vae.CadaModel(6, 4, latent=3, img_enc=5, img_dec=8, att_enc=5, att_dec=5)
    X = torch.rand(20, 6)
    first = model.dec_x[0]
    with torch.no_grad():
        first.weight.zero_()
        first.bias.copy_(torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0, -1.0]))
    health = cada_vae.decoder_health(model, X)
    assert health["image_decoder_alive_units"] == 3 and health["image_decoder_hidden"] == 8
    with torch.no_grad():
        first.bias.fill_(-1.0)  # a collapsed decoder: every hidden unit off for every latent
    assert cada_vae.decoder_health(model, X)["image_decoder_alive_units"] == 0
    assert cada_vae.decoder_health(model, X)["image_latent_spread"] > 0


def test_cada_records_its_decoder_health(tiny):
    _, _, view = tiny
    method = cada_vae.CADAVAE(**cheap("cada_vae")).fit(view, rng=np.random.default_rng(0))
    info = method.record_info()
    assert 0 < info["image_decoder_alive_units"] <= info["image_decoder_hidden"]
    # the collapse test reads the images' latent means; the sampled codes are kept beside it
    assert set(info["training_health"]["class_separation"]) == {"seen_image_latent_means"}
    sampled = info["sampled_latent_health"]
    assert set(sampled) == {"seen_latent", "unseen_latent"}
    assert all(set(v) == {"class_separation", "mean_reliability"} for v in sampled.values())


def test_mean_reliability_by_hand():
    # Spearman-Brown: a class share of 0.01 over 100 samples a class: 1 / (1 + 0.99)
    assert cada_vae.mean_reliability(0.01, 100) == pytest.approx(1 / 1.99)
    assert cada_vae.mean_reliability(0.0, 400) == 0.0 and cada_vae.mean_reliability(1.0, 5) == 1.0
    # noisy codes whose class means still stand out over enough samples are not a collapse
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 200)
    Z = 0.3 * rng.normal(size=(10, 4))[y] + 3.0 * rng.normal(size=(2000, 4))
    share = generative.class_separation(Z, y)
    assert share < generative.COLLAPSE_SEPARATION < cada_vae.MIN_RELIABILITY < cada_vae.mean_reliability(share, 200)
    assert math.isnan(cada_vae.mean_reliability(float("nan"), 10))


# --------------------------------------------------------------------------------------------------
# tf-VAEGAN pieces
# --------------------------------------------------------------------------------------------------


def test_weighted_l1_matches_hand_computation():
    pred, target = torch.tensor([[3.0, 4.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    # row 1: errors (3, 4), norm 5, weights (9/5, 16/5): (27 + 64) / 5 = 18.2; row 2: 0
    assert tf_vaegan.weighted_l1(pred, target).item() == pytest.approx(18.2 / 2)


def test_feedback_changes_only_the_second_pass():
    torch.manual_seed(0)
    nets = tf_vaegan.TfVaeganNets(feature_dim=6, att_dim=3, hidden=8)
    z, a = torch.randn(4, 3), torch.randn(4, 3)
    plain = nets.generate(z, a, None)
    assert torch.equal(plain, nets.generator(z, a))
    assert torch.equal(nets.generate(z, a, 0.0), plain)  # zero weight: the second pass is the first
    with_feedback = nets.generate(z, a, 1.0)
    assert with_feedback.shape == (4, 6) and not torch.equal(with_feedback, plain)
    assert ((with_feedback > 0) & (with_feedback < 1)).all()  # sigmoid outputs, like MinMax features


def test_tf_vaegan_classifies_on_features_and_decoder_embedding(tiny):
    ds, split, view = tiny
    method = tf_vaegan.TFVAEGAN(**cheap("tf_vaegan")).fit(view, rng=np.random.default_rng(0))
    Z = method.embed(ds.features[split.eval_unseen][:3])
    hidden, A = int(method.hidden), ds.descriptors.shape[1]
    assert Z.shape == (3, ds.features.shape[1] + A + hidden)
    assert torch.allclose(Z[:, ds.features.shape[1]:ds.features.shape[1] + A].norm(dim=1), torch.ones(3))
    end = method.record_info()["training_health"]["loss_end"]
    assert set(end) == {"vae", "adv", "decoder", "gp_weight"} and end["gp_weight"] > 0


def test_penalty_weight_adaptation_follows_the_authors_rule():
    assert tf_vaegan.adapt_penalty_weight(10.0, 1.2) == pytest.approx(11.0)
    assert tf_vaegan.adapt_penalty_weight(10.0, 0.5) == pytest.approx(10.0 / 1.1)
    assert tf_vaegan.adapt_penalty_weight(10.0, 1.01) == 10.0
    assert tf_vaegan.TFVAEGAN.presets["paper"]["gp_adapt"] and not tf_vaegan.TFVAEGAN.space["gp_adapt"].default


# --------------------------------------------------------------------------------------------------
# Training health
# --------------------------------------------------------------------------------------------------


def test_class_separation_by_hand():
    X = np.array([[0.0], [2.0], [4.0], [6.0]])
    # class means 1 and 5 around the mean 3: between 2 * 4 + 2 * 4 = 16, total 9 + 1 + 1 + 9 = 20,
    # within 4 over n - K = 2 dof (mean 2): (16 - 1 * 2) / (20 + 2)
    assert generative.class_separation(X, np.array([0, 0, 1, 1])) == pytest.approx(14 / 22)
    # means 2 and 4: between 4, within 16 (mean 8): (4 - 8) / (20 + 8), below zero
    assert generative.class_separation(X, np.array([0, 1, 0, 1])) == pytest.approx(-4 / 28)
    assert math.isnan(generative.class_separation(np.ones((4, 2)), np.array([0, 0, 1, 1])))
    noise = np.random.default_rng(0).normal(size=(500, 8))
    assert abs(generative.class_separation(noise, np.repeat(np.arange(10), 50))) < 0.01


def test_training_health_flags_each_collapse_condition():
    ok = generative.training_health([{"loss": 2.0}, {"loss": 1.0}], {"synthetic": 0.3}, name="t")
    assert not ok["collapsed"] and ok["loss_start"] == {"loss": 2.0} and ok["loss_end"] == {"loss": 1.0}
    assert ok["epochs"] == 2 and ok["collapse_reasons"] == []
    assert generative.training_health([{"loss": 1.0}], {"synthetic": 1e-4}, name="t")["collapsed"]
    assert generative.training_health([{"loss": float("nan")}], {"synthetic": 0.3}, name="t")["collapsed"]
    flagged = generative.training_health([{"loss": 1.0}], {"s": 0.3}, name="t", flags={"dead decoder": True})
    assert flagged["collapsed"] and flagged["collapse_reasons"] == ["dead decoder"]


@pytest.mark.parametrize("name", GENERATIVE)
def test_forced_collapse_is_flagged(name, tiny):
    """With one descriptor for every class nothing can tell the unseen classes apart: a collapse."""
    from dataclasses import replace

    _, _, view = tiny
    same = replace(view, descriptors=np.tile(view.descriptors.mean(axis=0), (len(view.descriptors), 1)))
    method = METHODS.get(name)(**cheap(name)).fit(same, rng=np.random.default_rng(0))
    health = method.record_info()["training_health"]
    assert health["collapsed"] and health["collapse_reasons"]
    if name == "cada_vae":  # the reason names the number of codes a class the reliability was read at
        count = method.n_unseen_latent
        assert any(r.startswith(f"unseen_latent codes are mostly sampling noise at {count} a class")
                   for r in health["collapse_reasons"]), health["collapse_reasons"]


def test_cada_release_noise_is_one_draw_per_sample_scaled_by_exp_logvar():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 4), torch.randn(5, 4)
    z = cada_vae.sample_latent(mu, logvar, "release")
    ratio = (z - mu) / torch.exp(logvar)  # the same draw in every dimension of a row
    assert torch.allclose(ratio, ratio[:, :1].expand(-1, 4), atol=1e-5)
    with pytest.raises(ValueError, match="latent_noise"):
        cada_vae.sample_latent(mu, logvar, "other")


def test_cada_standardises_features_on_the_training_view(tiny):
    _, _, view = tiny
    params = cheap("cada_vae") | {"feature_scaling": "standard"}
    method = cada_vae.CADAVAE(**params).fit(view, rng=np.random.default_rng(0))
    Z = method.scaler_.transform(view.features)
    assert np.allclose(Z.mean(axis=0), 0, atol=1e-4)
    assert cada_vae.CADAVAE.space["feature_scaling"].default == "minmax"
    assert cada_vae.CADAVAE.presets["fast"]["feature_scaling"] == "standard"


REFIT_CHANGES = {"cada_vae": {"n_seen_latent": 10, "n_unseen_latent": 20}, "f_clswgan": {"n_syn": 20},
                 "tf_vaegan": {"n_syn": 20}}


@pytest.mark.parametrize("name", GENERATIVE)
def test_refit_equals_a_fresh_fit_with_the_changed_sample_counts(name, tiny):
    ds, split, view = tiny
    cls = METHODS.get(name)
    X = ds.features[split.eval_unseen]
    changed = REFIT_CHANGES[name]
    fresh = cls(**cheap(name) | changed).fit(view, rng=np.random.default_rng(3))
    refitted = cls(**cheap(name)).fit(view, rng=np.random.default_rng(3))
    before = refitted.scores(X, split.candidates)
    refitted.refit(**changed)
    assert np.array_equal(refitted.scores(X, split.candidates), fresh.scores(X, split.candidates))
    assert not np.array_equal(before, fresh.scores(X, split.candidates))
    assert refitted.hparams == fresh.hparams
    assert refitted.record_info() == fresh.record_info()
    with pytest.raises(ValueError, match="refit can change only"):
        refitted.refit(epochs=3)


@pytest.mark.parametrize("name, grid", [("cada_vae", {"n_seen_latent": (10, 25, 50, 100, 200)}),
                                        ("f_clswgan", {"n_syn": (25, 50, 100, 300, 1000, 1800, 3000)}),
                                        ("tf_vaegan", {"n_syn": (25, 50, 100, 300, 1000, 1800, 3000)})])
def test_sample_counts_are_compared_on_validation_unless_a_preset_fixes_them(name, grid):
    from zslbench.hparams import validation_grid
    from zslbench.sweep import make_specs

    [default] = make_specs([name], ["synth-tiny"], [0])
    [fast] = make_specs([name], ["synth-tiny"], [0], preset="fast")
    [paper] = make_specs([name], ["synth-tiny"], [0], procedure="paper")
    assert validation_grid(default) == grid == validation_grid(fast)
    assert validation_grid(paper) == {}
