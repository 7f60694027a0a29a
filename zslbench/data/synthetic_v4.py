"""Generators v4 and v5 of the built-in datasets (results/README.md, "A generator v4", "A generator v5").

:class:`SynthSpecV4` is generator v3 (:mod:`zslbench.data.synthetic`) with within-class noise whose
covariance spectrum decays as a power law (the ``synth-X-v4`` datasets use its ``"classes_first"``
variant, v4-B); :class:`SynthSpecV5`, the built-in ``synth-X``, adds the backbone's blind spot for the
test-unseen classes. :func:`candidate_v4` makes a v4 spec from a v3 one, and
:func:`~zslbench.data.synthetic.dataset_from_spec` generates any of them. ``benchmarks/calibrate_synthetic.py``
searches their knobs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from zslbench.data.synthetic_spec import SynthSpecV3

NOISE_AXES: tuple[str, ...] = ("random", "classes_first", "class_shaped")


@dataclass(frozen=True)
class SynthSpecV4(SynthSpecV3):
    """Generator v4: v3 with within-class noise of a power-law spectrum.

    v3's isotropic noise gives its features a nearly flat covariance spectrum, where the feature
    covariance of trained CNNs follows a power law with an exponent near 1 (Ghosh et al., arXiv
    2202.05808). Here the noise's variance along the i-th axis of an orthonormal basis is proportional to
    ``i ** -noise_decay``, and ``noise`` is still its root mean square per channel. ``noise_axes`` orders
    the basis (what each variant gave: results/README.md, "A generator v4"):

    - ``"random"``: a random (Haar) basis; the classes then differ mostly along the quietest axes;
    - ``"classes_first"``: the principal directions of the centred class means first (largest class
      variance first), then a random complement (the built-in datasets);
    - ``"class_shaped"``: as ``"classes_first"``, but the noise variance along each class direction is
      proportional to the class means' variance along it (and decays as the power law from their median
      over the complement), so every class direction has the same signal-to-noise ratio.

    The layout and descriptors are v3's for the same sizes and seed; only the features differ.
    """

    version: ClassVar[int] = 4

    noise_decay: float = 1.0
    """Exponent of the noise spectrum (0 with ``"random"`` axes: v3's isotropic noise)."""
    noise_axes: str = "random"
    """How the noise's axes are ordered (:data:`NOISE_AXES`)."""

    def __post_init__(self) -> None:
        if self.noise_axes not in NOISE_AXES:
            raise ValueError(f"SynthSpecV4.noise_axes must be one of {NOISE_AXES}, got {self.noise_axes!r}")

    def noise_map(self, rng: np.random.Generator, class_mean: np.ndarray) -> np.ndarray:
        return noise_axes_map(self, rng, class_mean)


def candidate_v4(spec: SynthSpecV3, **changes: Any) -> SynthSpecV4:
    """The candidate-v4 spec of a v3 spec (same sizes, structure and knobs), with ``changes`` applied."""
    return SynthSpecV4(**{**{f.name: getattr(spec, f.name) for f in fields(spec)}, **changes})


def noise_axes_map(spec: SynthSpecV4, rng: np.random.Generator, class_mean: np.ndarray) -> np.ndarray:
    """(d, d) float32 map from white noise to the spec's noise, given the class means (C, d).

    Row i is the i-th axis of the basis (:attr:`SynthSpecV4.noise_axes`; class directions are signed so
    that their largest entry is positive, so no LAPACK sign convention decides the noise) times its std;
    the stds are scaled so that the mean variance per channel is ``noise ** 2``.
    """
    d = spec.feature_dim
    lead, sv = np.empty((0, d)), np.empty(0)
    if spec.noise_axes != "random":
        _, sv, vt = np.linalg.svd(class_mean - class_mean.mean(0), full_matrices=False)
        keep = sv > sv[0] * 1e-8
        lead, sv = vt[keep], sv[keep]
        lead = lead * np.sign(lead[np.arange(len(lead)), np.abs(lead).argmax(1)])[:, None]
    rest = rng.standard_normal((d, d - len(lead)))
    rest -= lead.T @ (lead @ rest)
    q, r = np.linalg.qr(rest)
    q = q * np.sign(np.diag(r))  # a unique (Haar) basis, whatever sign convention LAPACK uses
    basis = np.vstack([lead, q.T])
    var = np.arange(1, d + 1, dtype=np.float64) ** -spec.noise_decay
    if spec.noise_axes == "class_shaped":
        k = len(lead)
        var[:k] = sv ** 2
        var[k:] = np.median(var[:k]) * (k / np.arange(k + 1, d + 1)) ** spec.noise_decay
    std = spec.noise * np.sqrt(d * var / var.sum())
    return (std[:, None] * basis).astype(np.float32)


@dataclass(frozen=True)
class SynthSpecV5(SynthSpecV4):
    """Generator v5: v4 plus two effects of a backbone that never saw the test-unseen classes.

    Real features come from a network trained on classes that overlap the seen classes and, by the proposed
    split's design, never the test-unseen ones. So (1) an unseen image tends to land near a seen class the
    network knows: each test-unseen class's appearance moves the share ``unseen_pull`` of the way to that of
    its nearest seen (trainval) class; and (2) the network separates classes it was never trained on less
    well: each test-unseen class's appearance then moves the share ``unseen_shrink`` of the way to the mean
    appearance of all classes. Validation-unseen classes are trainval classes and are not moved, so
    selection on validation classes cannot see either effect, as on the real data.
    """

    version: ClassVar[int] = 5

    unseen_pull: float = 0.0
    """Share of the way from a test-unseen class's appearance to its nearest seen class's (0: v4's data)."""
    unseen_shrink: float = 0.0
    """Share of the way from a (pulled) test-unseen class's appearance to the mean class appearance."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for knob in ("unseen_pull", "unseen_shrink"):
            if not 0.0 <= getattr(self, knob) < 1.0:
                raise ValueError(f"SynthSpecV5.{knob} must be in [0, 1), got {getattr(self, knob)!r}")

    def class_shift(self, class_mean: np.ndarray, splits: dict[str, np.ndarray],
                    labels: np.ndarray) -> np.ndarray:
        seen = np.unique(labels[splits["trainval"]])
        centre = class_mean.mean(0)
        shift = np.zeros_like(class_mean)
        for c in np.unique(labels[splits["test_unseen"]]):
            nearest = seen[np.linalg.norm(class_mean[seen] - class_mean[c], axis=1).argmin()]
            pulled = class_mean[c] + self.unseen_pull * (class_mean[nearest] - class_mean[c])
            shift[c] = pulled + self.unseen_shrink * (centre - pulled) - class_mean[c]
        return shift
