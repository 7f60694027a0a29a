"""The spec of a generator-v3 dataset (sizes, structure, difficulty knobs): :mod:`zslbench.data.synthetic`
generates it, :mod:`zslbench.data.synthetic_v4` extends it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Callable, ClassVar

import numpy as np


def spec_checksum(spec: Any) -> str:
    """sha256 of a generator spec (a dataclass with a ``version``): its fields and generator version."""
    payload = json.dumps({"generator_version": spec.version, **asdict(spec)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class SynthSpecV3:
    """Sizes, structure and difficulty knobs of one generator-v3 dataset (see :mod:`zslbench.data.synthetic`).

    The difficulty knobs (``noise``, ``unexplained``, ``realisation``) are chosen per dataset by
    ``benchmarks/calibrate_synthetic.py`` against the calibration set only
    (:data:`zslbench.data.synthetic.CALIBRATION_SET`); generator v3's are frozen (``V3_KNOBS`` there).
    """

    version: ClassVar[int] = 3

    name: str
    n_classes: int
    n_unseen: int
    n_val_unseen: int
    att_dim: int
    """Attributes (for text descriptors: the hidden attributes the text is written from)."""
    n_images: int
    seed: int
    n_families: int
    """Families of similar classes (bird families, animal orders, scene types, ...)."""
    zero_share: float
    """Share of exact zeros in ``original_att`` (real: CUB 0.43, AWA 0.29, SUN 0.46, aPY 0.80)."""
    noise: float
    """Std of per-image isotropic noise, in units of the class signal's std."""
    unexplained: float
    """Std of class appearance the descriptors do not explain, in units of the explained part's std."""
    realisation: float
    """0: every image shows its class's mean attributes; 1: each image shows each attribute or not (a
    Bernoulli draw with the class's probability), so images of one class differ in what they show."""
    nuisance: float = 0.7
    """Std of within-class variation inside the span of the class appearances (pose, background, lighting
    that make an image look like another class), in units of the class signal's std."""
    text_dim: int = 0
    """>0: descriptors are dense ``text_dim``-d sentence-like embeddings of the hidden attributes (FLO)."""
    feature_dim: int = 2048
    latent_dim: int = 24
    """Rank of the attribute correlations (attributes are driven by a low-dimensional class latent)."""
    family_share: float = 0.6
    """Share of a class's latent and unexplained appearance's variance that comes from its family."""
    annotation_noise: float = 0.6
    """Logit-scale std of the gap between annotated attribute strengths and the true ones."""
    channel_density: float = 0.04
    """Share of feature channels each attribute drives (non-negative, sparse appearance map)."""
    offset: float = -0.3
    """Added before rectification (sets the share of exact zeros in the features)."""
    test_seen_share: float = 0.2

    def checksum(self) -> str:
        return spec_checksum(self)

    def appearance_map(self, parts: np.ndarray,
                       p_true: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
        """(map, class_appearance): the map from shown attributes r (n, A) to appearance (n, d), and each
        class's mean appearance (C, d). Linear here: ``r @ parts`` and ``p_true @ parts``, with ``parts``
        (A, d) the non-negative sparse map of step 3 and ``p_true`` (C, A); a candidate may bend it."""
        return (lambda r: r @ parts), p_true @ parts

    def noise_map(self, rng: np.random.Generator, class_mean: np.ndarray) -> np.ndarray | None:
        """(d, d) map from white noise to the noise; None: isotropic (v4's: :mod:`zslbench.data.synthetic_v4`)."""
        return None

    def class_shift(self, class_mean: np.ndarray, splits: dict[str, np.ndarray],
                    labels: np.ndarray) -> np.ndarray | None:
        """(C, d) offset added to every image of a class; None: none (v5's: :mod:`zslbench.data.synthetic_v4`)."""
        return None
