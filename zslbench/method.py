"""The method contract every registered method follows, and the hyper-parameter space types.

A method is a class with:

- ``__init__(device="cpu", **hparams)``: stores hyper-parameters (defaults from ``space``) and nothing else;
- ``fit(view, *, rng) -> self``: learns from a :class:`TrainView`, which carries only what the method's
  ``access`` level allows (never test images, never test labels);
- ``scores(X, classes) -> (n, len(classes))``: compatibility scores of images ``X`` (n, d) with the candidate
  classes the harness asks for (global class indices). The harness, not the method, picks candidates and
  takes the argmax.

Class attributes: ``name`` (set by :func:`zslbench.registry.register_method`), ``version`` (bump on any
behaviour change: it is part of the run identity), ``access`` (``"inductive"`` or ``"image_free"``),
``space`` (name -> :class:`Param`), ``presets`` (named hyper-parameter overrides such as ``"paper"`` or
``"fast"``), ``presets_per_family`` (preset -> dataset family -> further overrides, for authors whose
scripts differ per dataset) and ``test_params`` (tiny settings for the shared conformance test).
A method whose last stage can be redone cheaply after ``fit`` lists those hyper-parameters in
``refit_params`` and implements ``refit_stage()``, so that ``refit(**changes)`` gives the same result as a
fresh fit with the changes.

What reports and the regression check need to know about a method is declared here too (see
:meth:`Method.report_meta`, which the runner copies into every record as ``method_meta``): ``label``,
``family``, ``table_order``, ``published_as``, ``published_note``, ``hparam_notes`` and
``seed_sensitive``. A method may also define :meth:`Method.record_info` (diagnostics after fit).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Mapping, Sequence

import numpy as np

Access = Literal["inductive", "image_free"]
ACCESS_LEVELS: tuple[str, ...] = ("inductive", "image_free")


# --------------------------------------------------------------------------------------------------
# Hyper-parameter spaces
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: its default and, optionally, a search distribution.

    Exactly one of ``choices`` / ``(low, high)`` describes the search space; neither means "fixed".
    ``log`` samples (low, high) log-uniformly; ``integer`` rounds the draw. ``select_on_validation``: every
    run compares all ``choices`` on the validation split and keeps the best (see
    :func:`zslbench.hparams.validation_grid`); cheaply when the method lists the name in ``refit_params``.
    """

    default: Any
    choices: Sequence[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    help: str = ""
    select_on_validation: bool = False

    def __post_init__(self) -> None:
        if self.select_on_validation and (not self.choices or self.default not in self.choices):
            raise ValueError("a parameter selected on validation needs choices that include its default")

    @property
    def searchable(self) -> bool:
        return self.choices is not None or self.low is not None

    def sample(self, rng: np.random.Generator) -> Any:
        """One draw from the search space (the default when the parameter is fixed)."""
        if self.choices is not None:
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.low is None or self.high is None:
            return self.default
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return int(round(value)) if self.integer else float(value)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` cannot be this parameter's value (None when it can).

        The type follows the default (bool, int, float (an int is accepted), str; a None default
        accepts anything); a string with ``choices`` must be one of them. Numbers must be finite, and
        the declared space bounds their sign: ``low > 0`` means positive, a non-negative ``low`` or
        default means non-negative; numeric ``choices`` bound it by their smallest the same way. (Search
        ranges are not limits: a preset may go beyond them.)
        """
        d = self.default
        if d is None:
            return None
        if isinstance(d, bool):
            return None if isinstance(value, bool) else f"expects true or false, got {value!r}"
        if isinstance(d, str):
            if not isinstance(value, str):
                return f"expects a string, got {value!r}"
            if self.choices is not None and value not in self.choices:
                return f"must be one of {list(self.choices)}, got {value!r}"
            return None
        if isinstance(d, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"expects a number, got {value!r}"
            if (isinstance(d, int) or self.integer) and not isinstance(value, int):
                return f"expects an integer, got {value!r}"
            if not math.isfinite(value):
                return f"must be finite, got {value!r}"
            low = self.low
            if low is None and self.choices and all(isinstance(c, (int, float)) for c in self.choices):
                low = min(self.choices)
            if low is not None and low > 0 and value <= 0:
                return f"must be > 0, got {value!r}"
            if ((low is not None and low >= 0) or (low is None and d >= 0)) and value < 0:
                return f"must be >= 0, got {value!r}"
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"default": self.default}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.low is not None:
            out.update(low=self.low, high=self.high, log=self.log, integer=self.integer)
        if self.select_on_validation:
            out["select_on_validation"] = True
        return out


def unknown_hparams(method: str, space: Mapping[str, Param], names: Any) -> str | None:
    """The one check of hyper-parameter names: a line naming the unknown ones and the known ones, or None."""
    unknown = sorted(set(names) - set(space))
    if not unknown:
        return None
    return f"{method}: unknown hyper-parameter(s) {unknown}; known: {sorted(space)}"


def hparam_problems(method: str, space: Mapping[str, Param], hparams: Mapping[str, Any]) -> list[str]:
    """Unknown names (one line) and one line per invalid value in ``hparams`` for a method's space
    (empty: valid)."""
    unknown = unknown_hparams(method, space, hparams)
    out = [unknown] if unknown else []
    for key, value in hparams.items():
        if key not in space:
            continue
        problem = space[key].problem(value)
        if problem:
            out.append(f"{method}: hyper-parameter {key} {problem}")
    return out


def name_seed(name: str) -> int:
    """A stable 32-bit integer for a string (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def sample_hparams(space: Mapping[str, Param], seed: int, trial: int) -> dict[str, Any]:
    """Draw trial ``trial`` of a random search; trial 0 is the defaults.

    Every parameter has its own generator, seeded by (seed, trial, hash of its name), so adding a
    parameter to a space never changes the draws of the others (as in DomainBed).
    """
    if trial == 0:
        return {k: p.default for k, p in space.items()}
    return {
        k: p.sample(np.random.default_rng([seed, trial, name_seed(k)])) for k, p in space.items()
    }


# --------------------------------------------------------------------------------------------------
# What a method sees at fit time
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearClassifier:
    """A linear classifier over some classes: ``scores = X @ weight.T + bias``.

    Attributes:
        weight: (k, d) one row per class.
        bias: (k,).
        classes: (k,) global class indices the rows belong to.
    """

    weight: np.ndarray
    bias: np.ndarray
    classes: np.ndarray

    @property
    def augmented(self) -> np.ndarray:
        """(k, d + 1) rows ``[w_c | b_c]``, the target vectors of classifier-injection methods."""
        return np.hstack([self.weight, self.bias[:, None]])

    def scores(self, X: np.ndarray) -> np.ndarray:
        """(n, k) logits of images X (n, d)."""
        return X @ self.weight.T + self.bias


@dataclass(frozen=True)
class TrainView:
    """Everything a method may use at fit time, restricted by its access level.

    Class indices are global (rows of ``descriptors``). ``seen`` are the classes with training images;
    ``unseen`` are the classes to recognise without images (val-unseen during model selection,
    test-unseen in the final fit).

    Attributes:
        descriptors: (C, A) class descriptors of all classes (attributes, embeddings ...).
        seen: (S,) seen class indices, sorted.
        unseen: (U,) unseen class indices, sorted.
        features: (n, d) training images of seen classes, or None for image-free methods.
        labels: (n,) global class index of each training image, or None for image-free methods.
        base: the trained base classifier over ``seen`` (image-free methods only), else None.
        feature_dim: d, known to every method (image-free methods need it to shape weights).
        class_names: (C,) names, for methods that use a class hierarchy.
        info: free-form context (dataset name, descriptor id, procedure, split kind).
    """

    descriptors: np.ndarray
    seen: np.ndarray
    unseen: np.ndarray
    feature_dim: int
    features: np.ndarray | None = None
    labels: np.ndarray | None = None
    base: LinearClassifier | None = None
    class_names: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return int(self.descriptors.shape[0])

    def seen_targets(self) -> np.ndarray:
        """(S, d + 1) base-classifier rows ``[w | b]`` of ``seen`` (image-free views only).

        ``seen`` may be a subset of ``base.classes`` (a seen-class fraction setting): the injection
        trains on these rows while the base classifier keeps every seen class.
        """
        if self.base is None:
            raise AccessError("seen_targets() needs the base classifier (image-free views only)")
        rows = np.searchsorted(self.base.classes, self.seen)
        return self.base.augmented[rows]


class AccessError(RuntimeError):
    """A method touched data its access level does not allow."""


# --------------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------------


class Method:
    """Base class of every registered method (see the module docstring for the contract)."""

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    access: ClassVar[str] = "inductive"
    space: ClassVar[Mapping[str, Param]] = {}
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    presets_per_family: ClassVar[Mapping[str, Mapping[str, Mapping[str, Any]]]] = {}
    test_params: ClassVar[Mapping[str, Any]] = {}
    description: ClassVar[str] = ""
    refit_params: ClassVar[frozenset[str]] = frozenset()
    """Hyper-parameters that :meth:`refit` can change after ``fit`` without redoing the whole fit."""

    # What reports need (copied into each record as ``method_meta``; see :meth:`report_meta`).
    label: ClassVar[str] = ""
    """Display name in tables, leaderboard and plots ("" -> the registry name)."""
    family: ClassVar[str] = ""
    """Method family in the reproduction report ("linear", "ICIS", "generative" ...; "" -> "other")."""
    table_order: ClassVar[Mapping[str, int]] = {}
    """Layout -> position of the method's row among that layout's fixed rows (the ICIS paper's Table 1:
    "icis"; its ablation: "ablation", which shows only such methods). Methods without one follow."""
    published_as: ClassVar[str | None] = None
    """The published row this method is compared with, when not its own name (e.g. "vgse_crm")."""
    published_note: ClassVar[str] = ""
    """A known difference between this method and the published row it is compared with."""
    hparam_notes: ClassVar[Mapping[str, Mapping[Any, str]]] = {}
    """hyper-parameter -> value -> note for a table row whose runs selected that value (a departure from
    the published method)."""
    seed_sensitive: ClassVar[bool] = False
    """Its synth-tiny numbers move by many points from seed to seed: the regression check runs it on
    several seeds and compares their mean."""

    def __init__(self, device: str = "cpu", **hparams: Any) -> None:
        problem = unknown_hparams(self.name or type(self).__name__, self.space, hparams)
        if problem:
            raise TypeError(problem)
        self.device = device
        self.hparams: dict[str, Any] = {}
        self.set_hparams({k: p.default for k, p in self.space.items()} | hparams)

    def set_hparams(self, values: Mapping[str, Any]) -> None:
        """Record ``values`` in ``hparams`` and set each as an attribute (the one place both happen)."""
        self.hparams.update(values)
        for key, value in values.items():
            setattr(self, key, value)

    def fit(self, view: TrainView, *, rng: np.random.Generator) -> "Method":
        raise NotImplementedError

    def scores(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def refit(self, **changes: Any) -> "Method":
        """Redo the stage of the last fit that ``changes`` (names in ``refit_params``) affect; the result
        equals a fresh fit (same view and rng) with the changed hyper-parameters. Checks the names, sets
        them, then calls :meth:`refit_stage`."""
        if set(changes) - self.refit_params:
            raise ValueError(f"{self.name}: refit can change only {sorted(self.refit_params)}, got {sorted(changes)}")
        self.set_hparams(changes)
        self.refit_stage()
        return self

    def refit_stage(self) -> None:
        """Redo the last stage of the fit with the current hyper-parameters (methods with ``refit_params``)."""
        raise NotImplementedError(f"{self.name}: refit is not implemented")

    def record_info(self) -> Mapping[str, Any] | None:
        """Diagnostics of the last fit, stored in the record as ``method_info`` (None: nothing)."""
        return None

    @classmethod
    def report_meta(cls) -> dict[str, Any]:
        """The record's ``method_meta`` block: what reports know about the method (JSON types only)."""
        return {
            "label": cls.label or cls.name,
            "family": cls.family or "other",
            "table_order": {k: int(v) for k, v in sorted(cls.table_order.items())},
            "published_as": cls.published_as or cls.name,
            "published_note": cls.published_note or None,
            "hparam_notes": [{"name": n, "value": v, "note": t}
                             for n, notes in sorted(cls.hparam_notes.items()) for v, t in notes.items()],
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"{type(self).__name__}({args})"


class ClassifierInjection(Method):
    """Image-free methods that predict unseen-class weight rows from descriptors.

    Subclasses implement :meth:`inject`; the seen rows are the base classifier's own. Scores are the
    logits of the combined linear classifier ``[seen rows; predicted unseen rows]``.
    """

    access: ClassVar[str] = "image_free"

    def inject(self, view: TrainView, rng: np.random.Generator) -> np.ndarray:
        """(U, d + 1) predicted ``[w | b]`` rows of ``view.unseen``, in that order."""
        raise NotImplementedError

    def fit(self, view: TrainView, *, rng: np.random.Generator) -> "ClassifierInjection":
        if view.base is None:
            raise AccessError(f"{self.name}: image-free methods need the base classifier in the view")
        unseen_rows = np.asarray(self.inject(view, rng), dtype=np.float64)
        expected = (len(view.unseen), view.feature_dim + 1)
        if unseen_rows.shape != expected:
            raise ValueError(f"{self.name}: inject returned {unseen_rows.shape}, expected {expected}")
        rows = np.vstack([view.base.augmented, unseen_rows])
        classes = np.concatenate([view.base.classes, view.unseen])
        self.classifier_ = LinearClassifier(rows[:, :-1], rows[:, -1], classes)
        self._row_of = {int(c): i for i, c in enumerate(classes)}
        return self

    def scores(self, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
        rows = [self._row_of[int(c)] for c in classes]
        return X @ self.classifier_.weight[rows].T + self.classifier_.bias[rows]


OUTPUT_NORMS: tuple[str, ...] = ("seen_mean", "norm_scale", "raw")
"""Scales an injection method may give its predicted unseen rows (see :func:`scale_rows`)."""

SEEN_MEAN_NOTE = ("predicted unseen rows rescaled to the mean norm of the seen rows (output_norm=seen_mean; "
                  "not in the papers: --preset paper keeps their scale)")
"""The ``hparam_notes`` text of ``output_norm="seen_mean"`` for the image-free baselines."""


def match_norm(rows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``rows`` (U, d+1) rescaled so each has the mean L2 norm of ``reference`` (S, d+1); zero rows stay 0."""
    target = float(np.linalg.norm(reference, axis=1).mean())
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows * (target / np.maximum(norms, 1e-12))


def norm_scale(rows: np.ndarray) -> np.ndarray:
    """The ICIS paper's "norm scale heuristic": ``rows / (10 * mean row norm)`` (rows (U, d+1)).

    Sets the mean L2 norm of the predicted rows to 0.1 whatever their raw scale.
    """
    mean_norm = float(np.linalg.norm(rows, axis=1).mean())
    if mean_norm == 0.0:
        return rows
    return rows / (10.0 * mean_norm)


def scale_rows(rows: np.ndarray, seen_rows: np.ndarray, output_norm: str) -> np.ndarray:
    """Predicted unseen rows (U, d+1) at the scale ``output_norm`` names, given the seen rows (S, d+1).

    ``"seen_mean"``: each row rescaled to the seen rows' mean L2 norm (:func:`match_norm`), so that unseen
    logits compete with seen ones on equal terms in GZSL; uses no image. ``"norm_scale"``: the ICIS
    paper's heuristic (:func:`norm_scale`, mean norm 0.1). ``"raw"``: unchanged.
    """
    if output_norm == "seen_mean":
        return match_norm(rows, seen_rows)
    if output_norm == "norm_scale":
        return norm_scale(rows)
    if output_norm == "raw":
        return rows
    raise ValueError(f"output_norm must be one of {', '.join(OUTPUT_NORMS)}, got {output_norm!r}")


def output_norm_param(paper: str | None = "raw") -> Param:
    """The ``output_norm`` hyper-parameter of an injection method (default ``"seen_mean"``).

    ``paper`` names the scale of the method's paper (help text only; its ``paper`` preset sets it).
    """
    return Param("seen_mean", choices=OUTPUT_NORMS,
                 help="scale of the predicted unseen rows: 'seen_mean' = the seen rows' mean norm; 'norm_scale' "
                      "= the ICIS norm-scale heuristic (mean norm 0.1); 'raw' = as predicted"
                      + (f" (paper: {paper!r})" if paper else ""))
