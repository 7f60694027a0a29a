"""The xlsa17 layout's file names, published sizes, checksums, and which files a dataset is read from
(feature files by name or path; labels for feature files without them). See :mod:`zslbench.data.xlsa17`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zslbench.data.dataset import DatasetError, DatasetIdentity
from zslbench.data.matfile import import_h5py, mat_keys

SPLIT_VERSION = "PS-v2.0"
LOC_KEYS: dict[str, str] = {
    "trainval": "trainval_loc",
    "test_seen": "test_seen_loc",
    "test_unseen": "test_unseen_loc",
    "train": "train_loc",
    "val": "val_loc",
}
"""Split name (zslbench) -> key of its 1-based index set in att_splits.mat."""
FEATURE_SUFFIXES: tuple[str, ...] = (".mat", ".npz", ".npy", ".h5")
LABEL_FILES: tuple[str, ...] = ("res101_labels.mat", "res101.mat")
"""Where labels of a feature file without labels come from, in order of preference."""
SPLITS_FILE = "att_splits.mat"
MAT_DESCRIPTORS: dict[str, tuple[str, str]] = {
    "att": (SPLITS_FILE, "att"),
    "original_att": (SPLITS_FILE, "original_att"),
    "sent": ("sent_splits.mat", "att"),
}
"""Descriptor id -> (file, key) for descriptors stored in .mat files (A x C)."""


@dataclass(frozen=True)
class ExpectedSizes:
    """Published sizes of a standard dataset (protocol.md); checked by ``data verify``."""

    images: int
    classes: int
    seen: int
    unseen: int
    descriptor_dim: int
    trainval: int
    test_seen: int
    test_unseen: int


EXPECTED: dict[str, ExpectedSizes] = {
    "CUB": ExpectedSizes(11788, 200, 150, 50, 312, 7057, 1764, 2967),
    "AWA2": ExpectedSizes(37322, 50, 40, 10, 85, 23527, 5882, 7913),
    "SUN": ExpectedSizes(14340, 717, 645, 72, 102, 10320, 2580, 1440),
    "AWA1": ExpectedSizes(30475, 50, 40, 10, 85, 19832, 4958, 5685),
    "APY": ExpectedSizes(15339, 32, 20, 12, 64, 5932, 1483, 7924),
    "FLO": ExpectedSizes(8189, 102, 82, 20, 1024, 5631, 1403, 1155),
}
"""Sizes of the PS v2.0 datasets with the ``att`` descriptors (FLO's are 1024-d text embeddings)."""


# --------------------------------------------------------------------------------------------------
# checksums


_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file; cached in-process per (resolved path, size, mtime)."""
    p = Path(path)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError as exc:
        raise DatasetError(f"{p}: cannot read file ({exc.strerror or exc})") from None
    with _HASH_LOCK:
        if key in _HASH_CACHE:
            return _HASH_CACHE[key]
    h = hashlib.sha256()
    try:
        with open(p, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    except OSError as exc:
        raise DatasetError(f"{p}: cannot read file ({exc.strerror or exc})") from None
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = digest
    return digest


# --------------------------------------------------------------------------------------------------
# resolving which files a dataset is read from


@dataclass(frozen=True)
class DatasetFiles:
    """The files one (dataset, features, descriptors) choice reads; computed without reading them.

    Attributes:
        name: dataset name.
        folder: the dataset folder.
        features: feature file.
        labels: separate labels file (res101_labels.mat / res101.mat), or None when ``features`` has labels.
        splits: att_splits.mat.
        descriptors: the file holding the descriptors (att_splits.mat, sent_splits.mat, an .npy).
        descriptor_key: key inside a .mat descriptor file, None for .npy.
        classnames: text file the embedding rows are checked against, or None.
        feature_id, descriptor_id: as in :class:`DatasetIdentity`.
    """

    name: str
    folder: Path
    features: Path
    labels: Path | None
    splits: Path
    descriptors: Path
    descriptor_key: str | None
    classnames: Path | None
    feature_id: str
    descriptor_id: str

    def all(self) -> list[Path]:
        """Every file read, without repeats, in a fixed order."""
        seen: dict[str, Path] = {}
        for p in (self.features, self.labels, self.splits, self.descriptors, self.classnames):
            if p is not None:
                seen.setdefault(str(p), p)
        return list(seen.values())

    def identity(self) -> DatasetIdentity:
        """Identity with the sha256 of every file (keyed by file name; cached per size and mtime)."""
        checksums: dict[str, str] = {}
        for p in self.all():
            key = p.name if p.name not in checksums else f"{p.parent.name}/{p.name}"  # never a full path
            checksums[key] = file_sha256(p)
        return DatasetIdentity(
            name=self.name,
            split_version=SPLIT_VERSION,
            feature_id=self.feature_id,
            descriptor_id=self.descriptor_id,
            checksums=checksums,
        )


def _looks_like_path(value: str) -> bool:
    return "/" in value or os.sep in value or Path(value).suffix.lower() in FEATURE_SUFFIXES + (".txt",)


def resolve_feature_file(folder: Path, features: str) -> Path:
    """The feature file for ``features`` (a name or a path; see the module docstring)."""
    if _looks_like_path(features):
        p = Path(features).expanduser()
        p = p if p.is_absolute() else folder / p
        if p.suffix.lower() not in FEATURE_SUFFIXES:
            raise DatasetError(f"{p}: unsupported feature file type (use one of {', '.join(FEATURE_SUFFIXES)})")
        if not p.is_file():
            raise DatasetError(f"{p}: feature file not found")
        return p
    found = [folder / f"{features}{s}" for s in FEATURE_SUFFIXES if (folder / f"{features}{s}").is_file()]
    if not found:
        raise DatasetError(
            f"{folder / (features + '.mat')}: feature file not found (looked for {features}"
            f"{{{','.join(FEATURE_SUFFIXES)}}} in {folder})"
        )
    if len(found) > 1:
        raise DatasetError(
            f"{folder}: ambiguous features {features!r}: {', '.join(p.name for p in found)} all exist; "
            "pass the file name instead"
        )
    return found[0]


def feature_file_has_labels(path: Path) -> bool:
    """Whether a feature file carries its own ``labels`` (checked without reading the features)."""
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return "labels" in mat_keys(path)
    if suffix == ".npz":
        try:
            with np.load(path) as z:
                return "labels" in z.files
        except Exception as exc:
            raise DatasetError(f"{path}: unreadable .npz file ({type(exc).__name__}: {exc})") from None
    if suffix == ".h5":
        h5py = import_h5py(path)
        try:
            with h5py.File(path, "r") as f:
                return "labels" in f
        except OSError as exc:
            raise DatasetError(f"{path}: unreadable HDF5 file ({exc})") from None
    return False


def resolve_files(
    folder: str | os.PathLike[str],
    *,
    name: str | None = None,
    features: str = "res101",
    descriptors: str = "att",
    embeddings_dir: str | os.PathLike[str] | None = None,
) -> DatasetFiles:
    """Which files loading ``folder`` with these choices reads (checked to exist; nothing is loaded)."""
    from zslbench.data import embeddings

    folder = Path(folder)
    name = name or folder.name
    if not folder.is_dir():
        raise DatasetError(f"{folder}: dataset folder not found")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise DatasetError(f"{folder}: cannot read the dataset folder (permission denied)")
    splits = folder / SPLITS_FILE
    if not splits.is_file():
        raise DatasetError(f"{splits}: file not found (every xlsa17 dataset folder has {SPLITS_FILE})")
    feat = resolve_feature_file(folder, features)
    labels: Path | None = None
    if not feature_file_has_labels(feat):
        candidates = [folder / f for f in LABEL_FILES if (folder / f) != feat and (folder / f).is_file()]
        if not candidates:
            others = [f for f in LABEL_FILES if (folder / f) != feat]
            raise DatasetError(
                f"{feat}: has no 'labels', and there is no {' or '.join(others)} in {folder} to take them from"
            )
        with_labels = [c for c in candidates if "labels" in mat_keys(c)]
        if not with_labels:
            first = candidates[0]
            raise DatasetError(
                f"{first}: has no 'labels' (the file has: {', '.join(sorted(mat_keys(first))) or 'nothing'}), "
                f"and {feat.name} has none either"
            )
        labels = with_labels[0]
    if descriptors in MAT_DESCRIPTORS:
        fname, key = MAT_DESCRIPTORS[descriptors]
        desc_path: Path = folder / fname
        if not desc_path.is_file():
            raise DatasetError(f"{desc_path}: file not found (needed for descriptors {descriptors!r})")
        desc_key: str | None = key
        classnames = None
        descriptor_id = descriptors
    else:
        desc_path, classnames, descriptor_id = embeddings.resolve_embedding_file(
            name, descriptors, folder=folder, embeddings_dir=embeddings_dir
        )
        desc_key = None
    return DatasetFiles(
        name=name, folder=folder, features=feat, labels=labels, splits=splits, descriptors=desc_path,
        descriptor_key=desc_key, classnames=classnames, feature_id=feat.stem, descriptor_id=descriptor_id,
    )
