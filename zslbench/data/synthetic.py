"""Built-in synthetic datasets, generated deterministically from a seed; no files needed.

SYNTHETIC DATA. These are not images of anything: they exist so the suite runs end to end on any
machine (tests, CI, a newcomer's first ``zslbench run --all``) and so methods can be compared at the real
benchmarks' scale. Numbers on them say nothing about CUB, AWA2, SUN, AWA1, aPY or FLO; how close they come
to the published numbers on the real data is measured by ``zslbench reproduce`` (results/reproduction.md).

Generator v5 (synth-cub, synth-awa2, synth-sun, synth-awa1, synth-apy, synth-flo; sizes and splits of the
real benchmarks, :data:`V3_STRUCTURE`) is generator v4 plus step 5 below
(:class:`~zslbench.data.synthetic_v4.SynthSpecV5`). Generator v4 is generator v3 with one change, in step
4: the isotropic noise becomes noise with a power-law spectrum whose leading axes are the class means'
principal directions (:class:`~zslbench.data.synthetic_v4.SynthSpecV4`), so the features' covariance
decays like trained CNN features' instead of v3's nearly flat spectrum. Generator v3 models what makes the
real data hard:

1. classes come in families of similar classes; a low-dimensional class latent (shared in part within a
   family) drives every attribute's logit, so attributes are correlated. ``p_true`` (C, A) is the
   probability that an image of a class shows an attribute; the annotated strengths ``original_att`` are
   a noisy copy with the real datasets' share of exact zeros, and ``att`` their L2-normalised rows (FLO:
   dense 1024-d sentence-like embeddings of the annotated attributes instead);
2. per-image attribute realisation: each image shows each attribute or not (a Bernoulli draw with the
   class's probability, blended with the class mean by ``realisation``);
3. appearance: a non-negative sparse map sends the shown attributes to feature channels; each class also
   has appearance its descriptors do not explain (``unexplained``, shared in part within its family);
4. within-class nuisance lies in the span of the class appearances (it makes an image look like other
   classes), plus isotropic noise; features are rectified and scaled to a mean of 0.5, so they are
   non-negative and sparse like ResNet pool features;
5. (v5) the backbone never saw the test-unseen classes: each test-unseen class's appearance moves toward
   its nearest seen class (``unseen_pull``) and toward the mean appearance (``unseen_shrink``); at equal
   v4 knobs, images of every other class, validation-unseen included, are v4's bit for bit (synth-cub's
   and synth-flo's are; the calibration also moved synth-awa2's and synth-sun's noise).

The v4 and v5 datasets keep the v3 layouts (same images in the same classes and splits); ``synth-X-v3``
and ``synth-X-v4`` still make the earlier instances under their records' identities. The difficulty knobs
(noise, unexplained, realisation; v4 also noise_decay, v5 also unseen_pull and unseen_shrink) are chosen
per dataset by ``benchmarks/calibrate_synthetic.py``, by a grid search against the calibration set only
(:data:`CALIBRATION_SET`: ESZSL's and ConSE's published ZSL and GZSL seen/unseen on res101, ESZSL's
penalties chosen on validation as ``zslbench run`` chooses them); every other published number
(:data:`HELD_OUT_SET`) is left to measure realism (results/README.md, "A generator v5").

synth-tiny (12 classes, 64-d) is still made by generator v2, unchanged: it is the tests' and the
regression baseline's fixture. All generators mirror the proposed split, including its quirk:
``train_loc`` contains some ``test_seen`` images, so the protocol's protection against that leak is
exercised on synthetic data too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from zslbench.data.dataset import Dataset, DatasetError, DatasetIdentity, dataset_layout_sha256
from zslbench.data.synthetic_spec import SynthSpecV3, spec_checksum
from zslbench.data.synthetic_v4 import SynthSpecV4, SynthSpecV5

GENERATOR_VERSION = 5
"""The current generator (synth-tiny keeps v2, ``synth-X-v3`` v3, ``synth-X-v4`` v4). A spec's version is part of its
dataset's identity: bump it (with a new spec class) when a generator's output changes."""


@dataclass(frozen=True)
class SynthSpec:
    """Sizes and noise levels of one generator-v2 dataset (only synth-tiny is still made this way)."""

    version: ClassVar[int] = 2

    name: str
    n_classes: int
    n_unseen: int
    n_val_unseen: int
    att_dim: int
    n_images: int
    feature_dim: int = 2048
    seed: int = 0
    latent_dim: int = 24
    hidden_dim: int = 512
    annotation_noise: float = 0.8
    """Std (in standardised attribute units) of the gap between a class's annotated attributes and the
    attributes its images actually show: the part of appearance the descriptors get wrong."""
    unexplained: float = 0.9
    """Std of per-class appearance outside the attributes' reach, relative to the explained part."""
    image_attribute_noise: float = 0.5
    """Std of per-image variation of the shown attributes (pose, occlusion), in standardised units."""
    nuisance: float = 1.1
    """Std of per-image shared low-rank variation (background, lighting), relative to the explained part."""
    noise: float = 5.0
    """Std of per-image isotropic noise, relative to the explained part (sets the seen-class accuracy)."""
    offset: float = -0.5
    """Added before rectification: lower values give sparser features (more exact zeros)."""
    test_seen_share: float = 0.2

    def checksum(self) -> str:
        return spec_checksum(self)



def _knobs(name: str, table: dict[str, dict[str, float]]) -> dict[str, float]:
    while name not in table:
        name = BORROWED_KNOBS[name]
    return table[name]


V3_KNOBS: dict[str, dict[str, float]] = {
    "synth-cub": {"noise": 9.5, "unexplained": 1.4, "realisation": 0.8},
    "synth-sun": {"noise": 5.0, "unexplained": 1.05, "realisation": 0.8},
    "synth-awa2": {"noise": 9.5, "unexplained": 1.4, "realisation": 0.8},
}
"""Generator v3's knobs as its calibration chose them (results/synthetic_calibration.log); frozen, so the
``synth-X-v3`` datasets stay the instances the v3 records were made on."""

V4_KNOBS: dict[str, dict[str, float]] = {
    "synth-cub": {"noise": 2.0, "unexplained": 0.35, "realisation": 0.8},
    "synth-awa2": {"noise": 2.5, "unexplained": 0.5, "realisation": 0.8, "noise_decay": 0.5},
    "synth-sun": {"noise": 2.25, "unexplained": 0.5, "realisation": 1.0, "noise_decay": 0.5},
}
"""Generator v4's knobs as its calibration chose them (results/synthetic_calibration_v4.log); frozen, so the
``synth-X-v4`` datasets stay the instances the v4 records were made on."""

# BEGIN CALIBRATED KNOBS (written by benchmarks/calibrate_synthetic.py --write; do not edit by hand)
CALIBRATED_KNOBS: dict[str, dict[str, float]] = {
    "synth-cub": {"noise": 2.0, "unexplained": 0.35, "realisation": 0.8, "unseen_pull": 0.3},
    "synth-awa2": {"noise": 2.25, "unexplained": 0.5, "realisation": 0.8, "unseen_pull": 0.5, "unseen_shrink": 0.3, "noise_decay": 0.5},
    "synth-sun": {"noise": 2.5, "unexplained": 0.5, "realisation": 1.0, "unseen_pull": 0.2, "noise_decay": 0.5},
}
# END CALIBRATED KNOBS

BORROWED_KNOBS: dict[str, str] = {"synth-awa1": "synth-awa2", "synth-apy": "synth-awa2", "synth-flo": "synth-cub"}
"""A dataset without calibrated knobs takes those of this sibling: coarse-grained aPY and AWA1 from AWA2
(their searches did not fit in the CPU time of the sessions that built v3, v4 and v5), fine-grained FLO
from CUB (FLO has no calibration-set number); in every generator alike."""

V3_STRUCTURE: dict[str, dict[str, Any]] = {
    "synth-cub": dict(n_classes=200, n_unseen=50, n_val_unseen=50, att_dim=312, n_images=11788, seed=101,
                      n_families=37, zero_share=0.43),
    "synth-awa2": dict(n_classes=50, n_unseen=10, n_val_unseen=13, att_dim=85, n_images=37322, seed=102,
                       n_families=10, zero_share=0.29),
    "synth-sun": dict(n_classes=717, n_unseen=72, n_val_unseen=65, att_dim=102, n_images=14340, seed=103,
                      n_families=16, zero_share=0.46),
    "synth-awa1": dict(n_classes=50, n_unseen=10, n_val_unseen=13, att_dim=85, n_images=30475, seed=104,
                       n_families=10, zero_share=0.29),
    "synth-apy": dict(n_classes=32, n_unseen=12, n_val_unseen=5, att_dim=64, n_images=15339, seed=105,
                      n_families=6, zero_share=0.80),
    "synth-flo": dict(n_classes=102, n_unseen=20, n_val_unseen=20, att_dim=64, n_images=8189, seed=106,
                      n_families=20, zero_share=0.40, text_dim=1024),
}
"""Sizes of the six standard benchmarks (classes, unseen, validation-unseen, descriptor dims, images:
CUB 200/50/50/312/11,788; AWA2 50/10/13/85/37,322; SUN 717/72/65/102/14,340; AWA1 50/10/13/85/30,475;
aPY 32/12/5/64/15,339; FLO 102/20/20/1024-d text/8,189) and their class structure."""


SYNTHETIC: dict[str, SynthSpec | SynthSpecV3] = {
    "synth-tiny": SynthSpec("synth-tiny", n_classes=12, n_unseen=4, n_val_unseen=3, att_dim=16, n_images=480,
                            feature_dim=64, latent_dim=6, hidden_dim=32, seed=11, annotation_noise=0.5,
                            unexplained=0.5, image_attribute_noise=0.3, noise=1.5, offset=0.5),
    **{name: SynthSpecV5(name=name, noise_axes="classes_first", **structure, **_knobs(name, CALIBRATED_KNOBS))
       for name, structure in V3_STRUCTURE.items()},
    **{f"{name}-v4": SynthSpecV4(name=name, noise_axes="classes_first", **structure, **_knobs(name, V4_KNOBS))
       for name, structure in V3_STRUCTURE.items()},
    **{f"{name}-v3": SynthSpecV3(name=name, **structure, **_knobs(name, V3_KNOBS))
       for name, structure in V3_STRUCTURE.items()},
}
"""Built-in datasets: synth-tiny (generator v2, the tests' fixture), six generator-v5 datasets that mimic
the standard benchmarks (see :data:`V3_STRUCTURE`), and their predecessors ``synth-X-v4`` and
``synth-X-v3`` (identity name ``synth-X``, as in their records, which stay reproducible)."""

CALIBRATION_SET: dict[str, tuple[str, ...]] = {
    "methods": ("eszsl", "conse"),
    "metrics": ("zsl_top1", "gzsl_seen", "gzsl_unseen"),
    "features": ("res101",),
}
"""Published numbers the generator's knobs may be fitted to: ESZSL's and ConSE's ZSL top-1 and GZSL
seen / unseen accuracy on ResNet-101 features (GBU, Xian et al. 2018), per dataset (``synth-X`` -> X)."""

HELD_OUT_SET: dict[str, tuple[str, ...]] = {
    "methods": ("ale", "devise", "sae", "sje", "latem", "sync", "cmt", "dap", "iap", "gfzsl", "f_clswgan",
                "cada_vae", "f_vaegan", "tf_vaegan", "sdgzsl", "icis", "icis_cross_modal", "costa",
                "subreg", "wdae", "vgse_crm"),
    "note": ("every other published number, ESZSL's and ConSE's GZSL H included (it is a function of "
             "calibrated numbers but never enters the fit), and the ICIS family's published order",),
}
"""Published numbers that never set a knob: they measure the generator's realism."""


LAYOUT_SHA256: dict[str, str] = {
    "synth-tiny": "6d2aba139fe9cef70330061e7dc3235adff678fb58892bf9f125fbe2191ab4c3",
    "synth-cub": "66e83702196968d57582887a6f9534fb6c638ee298ab11a7989ec4804c423327",
    "synth-awa2": "7f8796c67a2d2a60dc9bbc1d83dd3344ba8110a7b7e0b5243589378ff488ae5d",
    "synth-sun": "11acd2a34b35943ef1d4b9d3f43c6e8fb0ff4a6fcb231f0b4d0a0a9bbac5d662",
    "synth-awa1": "ce99be21f7b0a497ac991783ee6e46aa0db7d82bce213d852507e7d226dd59e7",
    "synth-apy": "068bee33ebb29adbf01f0c6cfebbe7ea1441f94af3359d017cd3603d0932e757",
    "synth-flo": "01453624b26b82c01e66fd7461bebb652f156aa1b279d4024b16cdc3b855e26d",
}
""":func:`~zslbench.data.dataset_layout_sha256` of each built-in dataset (which image is in which class and
split); :func:`make_synthetic` refuses to return a different instance. Class sizes break rounding ties by
class index and use no sort whose tie order depends on the CPU (generator v2's ``argsort`` did, see
results/README.md), so every machine makes the same layout."""
LAYOUT_SHA256.update({f"{name}-v{v}": LAYOUT_SHA256[name] for name in V3_STRUCTURE for v in (3, 4)})  # same layouts



def _class_sizes(rng: np.random.Generator, n_classes: int, n_images: int) -> np.ndarray:
    """(C,) images per class, uneven like the real datasets, at least 4 each, summing to n_images.

    Sizes are proportional to gamma draws, rounded down; the rounding remainder goes one image each to
    the largest classes (or, if the floor of 4 overshoots, is taken one each from them); among classes of
    equal size at the cut, the lowest indices (no sort decides it, so no CPU's tie order can).
    """
    share = rng.gamma(6.0, size=n_classes)
    sizes = np.maximum(4, np.floor(share / share.sum() * n_images)).astype(np.int64)
    diff = int(n_images - sizes.sum())
    if abs(diff) > n_classes:
        raise ValueError(f"cannot spread a remainder of {diff} images over {n_classes} classes")
    if diff == 0:
        return sizes
    cut = np.sort(sizes)[::-1][abs(diff) - 1]  # size of the last class that gets (or gives) an image
    above = np.flatnonzero(sizes > cut)
    n_tied = abs(diff) - above.size
    tied = np.flatnonzero(sizes == cut)
    sizes[np.concatenate([above, tied[:n_tied]])] += np.sign(diff)
    return sizes


def _descriptors_v3(spec: SynthSpecV3, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Class structure and descriptors.

    Returns:
        family (C,), p_true (C, A) the probability that an image of class c shows attribute a,
        original_att (C, A) the annotated strengths in [0, 100] (``zero_share`` exact zeros),
        att (C, A) or (C, text_dim): L2-normalised descriptors.
    """
    C, A, k = spec.n_classes, spec.att_dim, spec.latent_dim
    family = np.sort(rng.integers(0, spec.n_families, size=C))
    family_latent = rng.standard_normal((spec.n_families, k))
    latent = (np.sqrt(spec.family_share) * family_latent[family]
              + np.sqrt(1 - spec.family_share) * rng.standard_normal((C, k)))
    # correlated attributes: a low-rank class latent drives every attribute's logit
    loading = rng.standard_normal((k, A)) * (1.6 / np.sqrt(k))
    bias = rng.normal(-1.0, 0.8, size=A)
    logit = latent @ loading + bias
    p_true = 1 / (1 + np.exp(-logit))
    annotated = 1 / (1 + np.exp(-(logit + spec.annotation_noise * rng.standard_normal((C, A)))))
    cut = np.quantile(annotated, spec.zero_share) if spec.zero_share > 0 else 0.0
    original_att = 100 * np.where(annotated <= cut, 0.0, annotated)
    if spec.text_dim:
        # sentence-like embeddings: a dense linear read-out of the centred annotated attributes plus
        # wording noise; half the entries negative, as in FLO's 1024-d descriptors
        centred = original_att / 100 - (original_att / 100).mean(0)
        text = centred @ rng.standard_normal((A, spec.text_dim)) / np.sqrt(A * centred.var())
        att = text + 0.6 * rng.standard_normal(text.shape)
    else:
        att = original_att
    att = att / np.linalg.norm(att, axis=1, keepdims=True)
    return family, p_true, original_att, att


def generate_v3(spec: SynthSpecV3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Make a generator-v3 dataset: features (n, d) float32, labels (n,), att, original_att, splits.

    Three independent random streams: the layout (class sizes, split) depends only on the spec's sizes
    and seed, so the knobs the calibration moves never move an image between classes or splits.
    """
    rng_layout = np.random.default_rng([spec.seed, 0])
    rng_class = np.random.default_rng([spec.seed, 1])
    rng_image = np.random.default_rng([spec.seed, 2])
    C, A, d = spec.n_classes, spec.att_dim, spec.feature_dim

    sizes = _class_sizes(rng_layout, C, spec.n_images)
    labels = np.repeat(np.arange(C), sizes)
    splits = _proposed_split(rng_layout, labels, C, spec.n_unseen, spec.n_val_unseen, spec.test_seen_share)

    family, p_true, original_att, att = _descriptors_v3(spec, rng_class)
    # non-negative sparse appearance map: each attribute drives a few channels
    parts = (rng_class.random((A, d)) < spec.channel_density) * rng_class.exponential(1.0, (A, d))
    appearance, explained = spec.appearance_map(parts, p_true)
    centre = explained.mean(0)
    scale = (explained - centre).std()
    # class appearance the descriptors do not explain, shared within families
    fam = rng_class.standard_normal((spec.n_families, d))
    outside = spec.unexplained * (np.sqrt(spec.family_share) * fam[family]
                                  + np.sqrt(1 - spec.family_share) * rng_class.standard_normal((C, d)))
    class_mean = (explained - centre) / scale + outside
    # within-class nuisance in the span of the class appearances: directions along which classes differ
    rank = 32
    basis = class_mean[np.sort(rng_class.choice(C, size=min(rank, C), replace=False))]
    basis = (basis - class_mean.mean(0)) / class_mean.std()
    noise_axes = spec.noise_map(rng_class, class_mean)
    shift = spec.class_shift(class_mean, splits, labels)

    features = np.empty((labels.size, d), dtype=np.float32)
    out_scale = None
    chunk = 4096
    for start in range(0, labels.size, chunk):  # chunked: bounded memory on the largest datasets
        lab = labels[start:start + chunk]
        p = p_true[lab]
        shown = (rng_image.random(p.shape) < p).astype(np.float64)  # which attributes each image shows
        r = p + spec.realisation * (shown - p)
        x = (appearance(r) - centre) / scale + outside[lab]
        x += spec.nuisance * (rng_image.standard_normal((lab.size, basis.shape[0])) @ basis) / np.sqrt(basis.shape[0])
        if noise_axes is None:
            x += spec.noise * rng_image.standard_normal((lab.size, d))
        else:
            x += (rng_image.standard_normal((lab.size, d)).astype(np.float32) @ noise_axes).astype(np.float64)
        if out_scale is None:  # ResNet pool features average about 0.5 (before any class shift)
            out_scale = 0.5 / max(float(np.maximum(x + spec.offset, 0.0).mean()), 1e-12)
        if shift is not None:
            x += shift[lab]
        x = np.maximum(x + spec.offset, 0.0)
        features[start:start + lab.size] = x * out_scale
    return features, labels, att, original_att, splits


@lru_cache(maxsize=4)
def make_synthetic(name: str) -> Dataset:
    """Generate the built-in dataset ``name`` (see :data:`SYNTHETIC`); cached per process."""
    spec = SYNTHETIC[name]
    if isinstance(spec, SynthSpecV3):
        return _check_layout(name, dataset_from_spec(spec))
    return _make_v2(name, spec)


def dataset_from_spec(spec: SynthSpecV3) -> Dataset:
    """A generator-v3 (or candidate v4) dataset from any spec (the calibration tries specs not built in)."""
    features, labels, att, original_att, splits = generate_v3(spec)
    return _assemble(features, labels, att, original_att, splits, _identity(spec))


def _make_v2(name: str, spec: "SynthSpec") -> Dataset:
    """Generator v2 (synth-tiny): kept bit for bit, it is the tests' and the baseline's fixture."""
    rng = np.random.default_rng(spec.seed)
    C, A, d = spec.n_classes, spec.att_dim, spec.feature_dim

    # 1. attributes
    latent = rng.standard_normal((C, spec.latent_dim))
    strength = 1 / (1 + np.exp(-(latent @ rng.standard_normal((spec.latent_dim, A))
                                 / np.sqrt(spec.latent_dim) * 2.0 + 0.4 * rng.standard_normal((C, A)) - 0.5)))
    original_att = 100 * strength
    att = original_att / np.linalg.norm(original_att, axis=1, keepdims=True)

    # 2. the attributes each class's images actually show, and the fixed random map to appearance
    z = (att - att.mean(0)) / (att.std(0) + 1e-8)
    z_true = z + spec.annotation_noise * rng.standard_normal(z.shape)
    w1 = rng.standard_normal((A, spec.hidden_dim)) / np.sqrt(A)
    w2 = rng.standard_normal((spec.hidden_dim, d)) / np.sqrt(spec.hidden_dim)
    scale = (np.tanh(z_true @ w1) @ w2).std()

    # 3. class appearance outside the attributes' reach
    outside = spec.unexplained * rng.standard_normal((C, d))

    # 4. images: per-image attribute variation through the same map, shared nuisance, isotropic noise
    sizes = _class_sizes(rng, C, spec.n_images)
    labels = np.repeat(np.arange(C), sizes)
    features = np.empty((labels.size, d), dtype=np.float32)
    rank = 16
    nuisance_basis = rng.standard_normal((rank, d)) / np.sqrt(rank)
    for start in range(0, labels.size, 4096):  # chunked: bounded memory on the largest datasets
        lab = labels[start:start + 4096]
        shown = z_true[lab] + spec.image_attribute_noise * rng.standard_normal((lab.size, A))
        x = np.tanh(shown @ w1) @ w2 / scale + outside[lab]
        x += spec.nuisance * (rng.standard_normal((lab.size, rank)) @ nuisance_basis)
        x += spec.noise * rng.standard_normal((lab.size, d))
        features[start:start + lab.size] = np.maximum(x + spec.offset, 0.0)

    splits = _proposed_split(rng, labels, C, spec.n_unseen, spec.n_val_unseen, spec.test_seen_share)
    ds = _assemble(features, labels, att, original_att, splits, synthetic_identity(name))
    return _check_layout(name, ds)


def _proposed_split(rng: np.random.Generator, labels: np.ndarray, n_classes: int, n_unseen: int,
                    n_val_unseen: int, test_seen_share: float) -> dict[str, np.ndarray]:
    """The split, mirroring PS v2.0 (including train_loc / val_loc overlapping test_seen)."""
    perm = rng.permutation(n_classes)
    unseen = np.sort(perm[:n_unseen])
    seen = np.sort(perm[n_unseen:])
    val_unseen = np.sort(rng.choice(seen, size=n_val_unseen, replace=False))
    is_unseen = np.isin(labels, unseen)
    test_seen_mask = np.zeros(labels.size, bool)
    for c in seen:
        idx = np.flatnonzero(labels == c)
        test_seen_mask[rng.choice(idx, size=max(1, int(round(test_seen_share * idx.size))), replace=False)] = True
    trainval = np.flatnonzero(~is_unseen & ~test_seen_mask)
    test_seen = np.flatnonzero(test_seen_mask)
    in_val_class = np.isin(labels, val_unseen)
    # the released quirk: train_loc / val_loc also hold a share of test_seen images of their classes
    quirk = test_seen[rng.random(test_seen.size) < 0.5]
    train_loc = np.union1d(trainval[~in_val_class[trainval]], quirk[~in_val_class[quirk]])
    val_loc = np.union1d(trainval[in_val_class[trainval]], quirk[in_val_class[quirk]])
    return {"trainval": trainval, "test_seen": test_seen, "test_unseen": np.flatnonzero(is_unseen),
            "train": train_loc, "val": val_loc}


def _assemble(features: np.ndarray, labels: np.ndarray, att: np.ndarray, original_att: np.ndarray,
              splits: dict[str, np.ndarray], identity: DatasetIdentity) -> Dataset:
    names = tuple(f"synthetic_class_{i:03d}" for i in range(att.shape[0]))
    return Dataset(
        features=features,
        labels=labels.astype(np.int64),
        descriptors=att,
        class_names=names,
        splits=splits,
        identity=identity,
        synthetic=True,
        source="built-in (synthetic)",
        extras={"original_att": original_att},
    ).validate()


def _check_layout(name: str, ds: Dataset) -> Dataset:
    """Refuse an instance whose layout differs from the pinned one (:data:`LAYOUT_SHA256`)."""
    layout = dataset_layout_sha256(ds)
    if name in LAYOUT_SHA256 and layout != LAYOUT_SHA256[name]:
        raise DatasetError(
            f"{name}: this machine generated another instance than the one the committed records were made on "
            f"(dataset_layout_sha256 {layout}, expected {LAYOUT_SHA256[name]}); its numbers would not be "
            f"comparable. numpy {np.__version__}; please report it.")
    return ds


def synthetic_identity(name: str) -> DatasetIdentity:
    return _identity(SYNTHETIC[name])


def _identity(spec: SynthSpec | SynthSpecV3) -> DatasetIdentity:
    return DatasetIdentity(
        name=spec.name,
        split_version=f"synthetic-v{spec.version}",
        feature_id="synthetic",
        descriptor_id="att",
        checksums={"generator": spec.checksum()},
    )
