"""Splits -> train / evaluation views, and the rule of which labels a method may see at fit time.

Two splits per dataset, both built here and nowhere else:

- the **validation split** (model selection): classes of ``train_loc`` are val-seen, classes of
  ``val_loc`` are val-unseen, but the *images* come from ``trainval`` only (the released ``train_loc`` /
  ``val_loc`` overlap ``test_seen``; using them as image sets would leak test images into selection).
  A fixed, seeded share of val-seen images is held out to measure seen accuracy.
- the **test split**: fit on ``trainval``, evaluate once on ``test_seen`` and ``test_unseen``.

Data-scarcity settings (fraction of seen classes, images per seen class, descriptor dimensions kept)
are applied to a split by :func:`apply_setting`, before any method sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from zslbench.data.dataset import Dataset
from zslbench.method import LinearClassifier, TrainView

OBJECTIVES: tuple[str, ...] = ("gzsl_h", "zsl_top1")
"""Validation metrics a hyper-parameter search may maximise (``suite.objective``, ``--objective``)."""


@dataclass(frozen=True)
class Procedure:
    """What a selection procedure means; every use (specs, runner, CLI, config) reads it from here.

    Attributes:
        name: as written in specs, ``suite.procedure`` and ``--procedure``.
        summary: one line for help texts.
        default_preset: the method preset a run uses when none is named (if the method has it).
        raw_base_rows: the base classifier's rows are given uncentred (``center_rows=False``).
        test_base_selection: the base classifier's epoch selection on the *test* split, or None to keep
            the configured one. ``"test_seen"`` selects on test images: image-free records say so.
    """

    name: str
    summary: str
    default_preset: str | None = None
    raw_base_rows: bool = False
    test_base_selection: str | None = None

    def preset_for(self, named: str | None, presets: Mapping[str, Any]) -> str | None:
        """The preset of a run: the named one, else this procedure's default when the method has it."""
        if named is not None:
            return named
        return self.default_preset if self.default_preset in presets else None

    def base_classifier_overrides(self, split_kind: str) -> dict[str, Any]:
        """Base-classifier settings this procedure fixes on a split of ``split_kind``."""
        out: dict[str, Any] = {"center_rows": False} if self.raw_base_rows else {}
        if split_kind == "test" and self.test_base_selection is not None:
            out["selection"] = self.test_base_selection
        return out

    def uses_test_data(self, access: str) -> bool:
        """Whether a run of a method with ``access`` selects anything on test data."""
        return access == "image_free" and self.test_base_selection == "test_seen"


PROCEDURES: Mapping[str, Procedure] = {
    p.name: p for p in (
        Procedure("validation", "select everything on validation data (default)"),
        Procedure("paper", "the published procedure: paper presets, raw base rows, base-classifier epoch "
                           "chosen on test-seen images (labelled in records)",
                  default_preset="paper", raw_base_rows=True, test_base_selection="test_seen"),
    )
}
"""The selection procedures, by name."""


def procedure(name: str) -> Procedure:
    """The procedure called ``name``; ValueError naming the known ones otherwise."""
    if name not in PROCEDURES:
        raise ValueError(f"unknown procedure {name!r} (known: {', '.join(PROCEDURES)})")
    return PROCEDURES[name]


def family_of(dataset: str) -> str:
    """The default family of a dataset name: ``synth-cub`` (and its older generator ``synth-cub-v3``) ->
    ``CUB``; real names are their own family."""
    if not dataset.startswith("synth-"):
        return dataset
    name = dataset[len("synth-"):]
    return (name[:-len("-v3")] if name.endswith("-v3") else name).upper()


def dataset_family(dataset: Mapping[str, Any]) -> str:
    """The family of a spec's dataset (``RunSpec.dataset``): its ``family`` entry, present only when the
    config gave one other than :func:`family_of` its name (so the run ids of default specs stay as they were)."""
    return str(dataset.get("family") or family_of(str(dataset["name"])))


def with_family(dataset: Mapping[str, Any], family: str) -> dict[str, Any]:
    """A spec's dataset entry with ``family`` recorded when it is not the name's default."""
    out = dict(dataset)
    out.pop("family", None)
    if family != family_of(str(out["name"])):
        out["family"] = family
    return out


def without_family(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """A spec's dataset entry as the dataset's own identity (the config's family left out)."""
    return {k: v for k, v in dataset.items() if k != "family"}


VALIDATION_HOLDOUT = 0.2
"""Share of each val-seen class's trainval images held out to measure val-seen accuracy."""
VALIDATION_SPLIT_SEED = 0
"""The validation split is fixed for a dataset (it does not move with the run seed)."""


class LeakageError(RuntimeError):
    """An evaluation image or label would reach a method's fit."""


@dataclass(frozen=True)
class Split:
    """One fit/evaluate problem over a dataset.

    Attributes:
        kind: "validation" or "test".
        train: (n,) image indices a method may fit on (all of seen classes).
        seen: (S,) classes with training images.
        unseen: (U,) classes to recognise without images.
        eval_seen: (m_s,) image indices of seen classes held out for evaluation.
        eval_unseen: (m_u,) image indices of unseen classes for evaluation.
        injection_seen: (S',) seen classes an image-free method may train its injection on
            (all of ``seen`` unless a seen-class fraction is set; the base classifier keeps all of them).
        descriptor_columns: (A',) descriptor dimensions kept, or None for all.
    """

    kind: str
    train: np.ndarray
    seen: np.ndarray
    unseen: np.ndarray
    eval_seen: np.ndarray
    eval_unseen: np.ndarray
    injection_seen: np.ndarray | None = None
    descriptor_columns: np.ndarray | None = None
    notes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def candidates(self) -> np.ndarray:
        """(S + U,) GZSL candidate classes, sorted."""
        return np.union1d(self.seen, self.unseen)

    def check_no_leakage(self) -> None:
        """Raise :class:`LeakageError` if any evaluation image is also a training image."""
        for name, ev in (("eval_seen", self.eval_seen), ("eval_unseen", self.eval_unseen)):
            both = np.intersect1d(self.train, ev)
            if both.size:
                raise LeakageError(f"{self.kind} split: {both.size} {name} images are in the training set")


def test_split(ds: Dataset) -> Split:
    """Fit on trainval; evaluate on test_seen and test_unseen."""
    split = Split(
        kind="test",
        train=ds.splits["trainval"],
        seen=ds.seen_classes,
        unseen=ds.unseen_classes,
        eval_seen=ds.splits["test_seen"],
        eval_unseen=ds.splits["test_unseen"],
    )
    split.check_no_leakage()
    return split


test_split.__test__ = False  # type: ignore[attr-defined]  # a protocol split, not a pytest test


def validation_split(ds: Dataset, holdout: float = VALIDATION_HOLDOUT) -> Split:
    """Model-selection split inside the seen classes; images from trainval only (see module docstring)."""
    trainval = ds.splits["trainval"]
    seen = ds.seen_classes
    val_unseen = np.intersect1d(np.unique(ds.labels[ds.splits["val"]]), seen)
    val_seen = np.setdiff1d(np.intersect1d(np.unique(ds.labels[ds.splits["train"]]), seen), val_unseen)
    if val_unseen.size == 0 or val_seen.size == 0:
        raise ValueError(f"{ds.name}: the validation split needs classes in both train_loc and val_loc")
    labels = ds.labels[trainval]
    eval_unseen = trainval[np.isin(labels, val_unseen)]
    seen_images = trainval[np.isin(labels, val_seen)]
    rng = np.random.default_rng(VALIDATION_SPLIT_SEED)
    held = []
    for c in val_seen:
        idx = seen_images[ds.labels[seen_images] == c]
        n_hold = int(round(holdout * idx.size)) if idx.size > 1 else 0
        held.append(rng.choice(idx, size=n_hold, replace=False))
    eval_seen = np.sort(np.concatenate(held)) if held else np.empty(0, dtype=np.int64)
    split = Split(
        kind="validation",
        train=np.setdiff1d(seen_images, eval_seen),
        seen=val_seen,
        unseen=val_unseen,
        eval_seen=eval_seen,
        eval_unseen=np.sort(eval_unseen),
    )
    split.check_no_leakage()
    return split


@dataclass(frozen=True)
class Setting:
    """A data-scarcity setting (part of the run spec). Defaults mean "the full data".

    Attributes:
        seen_fraction: share of seen classes used for training (for image-free methods: the classes the
            injection trains on; the base classifier keeps all seen classes).
        images_per_class: at most this many training images per seen class (None: all). For image-free
            methods it limits the base classifier's training images.
        descriptor_dims: keep this many descriptor dimensions, chosen at random per seed (None: all).
    """

    seen_fraction: float = 1.0
    images_per_class: int | None = None
    descriptor_dims: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seen_fraction": self.seen_fraction,
            "images_per_class": self.images_per_class,
            "descriptor_dims": self.descriptor_dims,
        }

    @property
    def is_default(self) -> bool:
        return self == Setting()


def apply_setting(
    ds: Dataset, split: Split, setting: Setting, seed: int, *, image_free: bool
) -> Split:
    """Restrict a split's training data as ``setting`` asks; draws depend on ``seed`` only.

    Fewer seen classes: inductive methods lose the dropped classes entirely (no training images, not
    candidates, their held-out images not evaluated); image-free methods keep them in the base classifier
    and as GZSL candidates, but train the injection on the kept classes only.
    """
    if setting.is_default:
        return split
    rng = np.random.default_rng([seed, 7919])
    train, seen, eval_seen = split.train, split.seen, split.eval_seen
    injection_seen = None
    if setting.seen_fraction < 1.0:
        n_keep = max(2, int(round(setting.seen_fraction * seen.size)))
        kept = np.sort(rng.choice(seen, size=min(n_keep, seen.size), replace=False))
        if image_free:
            injection_seen = kept
        else:
            train = train[np.isin(ds.labels[train], kept)]
            eval_seen = eval_seen[np.isin(ds.labels[eval_seen], kept)]
            seen = kept
    if setting.images_per_class is not None:
        keep = []
        for c in seen:
            idx = train[ds.labels[train] == c]
            keep.append(rng.choice(idx, size=min(setting.images_per_class, idx.size), replace=False))
        train = np.sort(np.concatenate(keep))
    columns = None
    if setting.descriptor_dims is not None and setting.descriptor_dims < ds.descriptors.shape[1]:
        columns = np.sort(rng.choice(ds.descriptors.shape[1], size=setting.descriptor_dims, replace=False))
    return replace(
        split,
        train=train,
        seen=seen,
        eval_seen=eval_seen,
        injection_seen=injection_seen,
        descriptor_columns=columns,
        notes={**split.notes, "setting": setting.to_json()},
    )


def descriptors_for(ds: Dataset, split: Split) -> np.ndarray:
    """(C, A') the dataset's descriptors with only the split's kept columns."""
    if split.descriptor_columns is None:
        return ds.descriptors
    return ds.descriptors[:, split.descriptor_columns]


def train_view(
    ds: Dataset,
    split: Split,
    *,
    access: str,
    base: LinearClassifier | None = None,
    info: Mapping[str, Any] | None = None,
) -> TrainView:
    """The only way a method's view is built: training data of ``split`` as ``access`` allows.

    Inductive methods get the training images and their labels; image-free methods get the base
    classifier and no image at all. No evaluation image or label is ever placed in a view.
    """
    split.check_no_leakage()
    common = dict(
        descriptors=descriptors_for(ds, split),
        unseen=split.unseen,
        feature_dim=int(ds.features.shape[1]),
        class_names=ds.class_names,
        info=dict(info or {}),
    )
    if access == "image_free":
        if base is None:
            raise ValueError("image-free views need the trained base classifier")
        seen = split.injection_seen if split.injection_seen is not None else split.seen
        return TrainView(seen=seen, base=base, **common)
    if access != "inductive":
        raise ValueError(f"unknown access level {access!r}")
    labels = ds.labels[split.train]
    if not np.isin(labels, split.seen).all():
        raise LeakageError("training labels outside the split's seen classes")
    return TrainView(seen=split.seen, features=ds.features[split.train], labels=labels, **common)
