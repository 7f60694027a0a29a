"""The in-memory dataset every loader produces, its identity, and the checks every dataset passes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

SPLIT_KEYS: tuple[str, ...] = ("trainval", "test_seen", "test_unseen", "train", "val")
"""Image index sets of the proposed split (0-based here; the .mat files are 1-based, ``*_loc``)."""


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or inconsistent; the message names the file and the fact."""


def train_val_overlap(labels: np.ndarray, train: np.ndarray, val: np.ndarray, class_names) -> str | None:
    """What is wrong if the validation split's seen (``train``) and unseen (``val``) image indices share a
    class, else None. labels: (N,) class indices; train, val: image indices into them."""
    shared = np.intersect1d(np.unique(labels[train]), np.unique(labels[val]))
    if not shared.size:
        return None
    return (f"'train_loc' and 'val_loc' share {shared.size} class(es), e.g. {class_names[int(shared[0])]!r}; "
            "the validation split needs disjoint val-seen and val-unseen classes")


@dataclass(frozen=True)
class DatasetIdentity:
    """What makes two datasets the same for the purpose of comparing numbers.

    Recorded with every result and part of every run id. Holds no paths.

    Attributes:
        name: dataset name ("CUB", "synth-cub").
        split_version: "PS-v2.0" for the proposed split, "synthetic-v1" for built-in data.
        feature_id: which image features ("res101", "res101_finetuned", a custom file stem, "synthetic").
        descriptor_id: which class descriptors ("att", "original_att", "sent", "wiki2vec", ...).
        checksums: file name -> sha256 of every file the dataset was read from (for synthetic data, a
            hash of the generator's parameters under the key "generator").
    """

    name: str
    split_version: str
    feature_id: str
    descriptor_id: str
    checksums: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "split_version": self.split_version,
            "feature_id": self.feature_id,
            "descriptor_id": self.descriptor_id,
            "checksums": dict(sorted(self.checksums.items())),
        }


@dataclass(frozen=True)
class Dataset:
    """A zero-shot dataset in memory.

    Attributes:
        features: (N, d) float32 image features.
        labels: (N,) int64 class index of each image (0-based rows of ``descriptors``).
        descriptors: (C, A) float64 class descriptors, one row per class.
        class_names: (C,) class names, in descriptor row order.
        splits: split name (see :data:`SPLIT_KEYS`) -> sorted 0-based image indices.
        identity: see :class:`DatasetIdentity`.
        synthetic: True for built-in generated data (always labelled as such in outputs).
        source: where it came from, for messages only (a folder, or "built-in"); never part of a run id.
    """

    features: np.ndarray
    labels: np.ndarray
    descriptors: np.ndarray
    class_names: tuple[str, ...]
    splits: Mapping[str, np.ndarray]
    identity: DatasetIdentity
    synthetic: bool = False
    source: str = "built-in"
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Other per-class arrays a loader found (e.g. ``original_att`` (C, A')); never used by the harness."""

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def n_classes(self) -> int:
        return int(self.descriptors.shape[0])

    @property
    def seen_classes(self) -> np.ndarray:
        """(S,) sorted classes of the trainval images."""
        return np.unique(self.labels[self.splits["trainval"]])

    @property
    def unseen_classes(self) -> np.ndarray:
        """(U,) sorted classes of the test-unseen images."""
        return np.unique(self.labels[self.splits["test_unseen"]])

    def validate(self) -> "Dataset":
        """Check the protocol's invariants; raise :class:`DatasetError` naming the dataset and the fact."""
        where = f"{self.name} ({self.source})"
        X, y, A = self.features, self.labels, self.descriptors
        if X.ndim != 2:
            raise DatasetError(f"{where}: features must be 2-D (N, d), got shape {X.shape}")
        if y.shape != (X.shape[0],):
            raise DatasetError(
                f"{where}: {y.shape[0] if y.ndim else 0} labels for {X.shape[0]} feature rows"
            )
        if A.ndim != 2 or A.shape[0] != len(self.class_names):
            raise DatasetError(
                f"{where}: descriptors have shape {A.shape} but there are {len(self.class_names)} class names"
            )
        if y.size and (y.min() < 0 or y.max() >= A.shape[0]):
            raise DatasetError(
                f"{where}: labels must be class indices in [0, {A.shape[0]}), found [{y.min()}, {y.max()}]"
            )
        if not np.isfinite(A).all():
            raise DatasetError(f"{where}: descriptors contain NaN or inf")
        zero_rows = np.flatnonzero(~A.any(axis=1)) if A.ndim == 2 else np.empty(0, int)
        if zero_rows.size:
            raise DatasetError(
                f"{where}: the descriptor of class {self.class_names[int(zero_rows[0])]!r} is all zeros "
                f"({zero_rows.size} class(es)); a class needs a descriptor to be told apart"
            )
        bad_rows = ~np.isfinite(X).all(axis=1)
        if bad_rows.any():
            raise DatasetError(
                f"{where}: features contain NaN or inf in {int(bad_rows.sum())} image(s), "
                f"first at image {int(np.flatnonzero(bad_rows)[0])}"
            )
        for key in SPLIT_KEYS:
            if key not in self.splits:
                raise DatasetError(f"{where}: split {key!r} is missing")
            idx = self.splits[key]
            if idx.size and (idx.min() < 0 or idx.max() >= X.shape[0]):
                raise DatasetError(
                    f"{where}: split {key!r} has image indices outside [0, {X.shape[0]}) "
                    f"(found [{idx.min()}, {idx.max()}])"
                )
        seen, unseen = self.seen_classes, self.unseen_classes
        overlap = np.intersect1d(seen, unseen)
        if overlap.size:
            raise DatasetError(
                f"{where}: seen and unseen classes overlap ({overlap.size} classes, e.g. "
                f"{self.class_names[int(overlap[0])]!r})"
            )
        leaked = np.intersect1d(self.splits["trainval"], self.splits["test_unseen"])
        if leaked.size:
            raise DatasetError(f"{where}: {leaked.size} test-unseen images are also in trainval")
        problem = train_val_overlap(y, self.splits["train"], self.splits["val"], self.class_names)
        if problem:
            raise DatasetError(f"{where}: {problem}")
        counts = np.bincount(y, minlength=A.shape[0])
        empty = np.flatnonzero(counts[np.concatenate([seen, unseen])] == 0)
        if empty.size:
            raise DatasetError(f"{where}: class {self.class_names[int(empty[0])]!r} has no images")
        nonzero = X.any(axis=1)
        dead = np.flatnonzero((np.bincount(y, weights=nonzero, minlength=A.shape[0]) == 0) & (counts > 0))
        if dead.size:
            what = "every image" if not nonzero.any() else f"every image of class {self.class_names[int(dead[0])]!r}"
            raise DatasetError(f"{where}: the features of {what} are all zeros ({dead.size} class(es))")
        unused = np.setdiff1d(np.arange(A.shape[0]), np.concatenate([seen, unseen]))
        if unused.size:
            raise DatasetError(
                f"{where}: {unused.size} class(es) are neither seen nor unseen "
                f"(e.g. {self.class_names[int(unused[0])]!r})"
            )
        return self

    def summary(self) -> dict[str, Any]:
        """Counts for ``zslbench ls datasets`` and ``data verify``."""
        return {
            "name": self.name,
            "images": int(self.features.shape[0]),
            "feature_dim": int(self.features.shape[1]),
            "classes": self.n_classes,
            "seen": int(self.seen_classes.size),
            "unseen": int(self.unseen_classes.size),
            "descriptor_dim": int(self.descriptors.shape[1]),
            **{f"{k}_images": int(v.size) for k, v in self.splits.items()},
            "synthetic": self.synthetic,
        }


def dataset_layout_sha256(ds: Dataset) -> str:
    """sha256 of which image is in which class and split (labels and split indices, not features).

    Two machines that built the same dataset instance give the same value, whatever their floating-point
    noise; a different value means the records were made on different data (e.g. a generator whose output
    depends on the machine), even though their specs are equal.
    """
    digest = hashlib.sha256(np.ascontiguousarray(ds.labels, dtype=np.int64).tobytes())
    for name in sorted(ds.splits):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(ds.splits[name], dtype=np.int64).tobytes())
    return digest.hexdigest()
