"""Loader of the xlsa17 layout (the "Proposed Split" v2.0 of Xian et al., TPAMI 2018).

Layout, one folder per dataset (``DIR/<NAME>/``)::

    res101.mat          features (2048 x N), labels (N x 1, 1-based into allclasses_names),
                        image_files (N x 1 cell)
    att_splits.mat      att (A x C, L2-normalised columns), original_att (A x C), allclasses_names (C x 1
                        cell; FLO has none), trainval_loc, test_seen_loc, test_unseen_loc, train_loc,
                        val_loc (1-based image indices)
    res101_finetuned.mat  optional, same keys as res101.mat
    sent_splits.mat     optional (CUB): key ``att`` (1024 x C) sentence descriptors
    res101_labels.mat   optional: labels and image_files only (used for feature files without labels)

Both MATLAB v5 and v7.3 (HDF5) files are read, by :mod:`zslbench.data.matfile`; file names, published
sizes, checksums and which files a dataset is read from are :mod:`zslbench.data.xlsa17_files`.

Feature files (``features=``): a name (``"res101"``, ``"res101_finetuned"``, ``"clip_vitb16"``) is looked
up as ``<folder>/<name>.{mat,npz,npy,h5}`` (exactly one may exist); a value with a suffix or a ``/`` is a
path (relative paths are taken inside the dataset folder). The feature id is the file stem. Layouts:

- ``.mat``: as res101.mat: ``features`` (d x N), ``labels`` (N x 1, 1-based), MATLAB orientation.
- ``.npz``: ``features`` (N, d), one row per image in res101.mat's image order; optional ``labels`` (N,)
  1-based class indices exactly as in res101.mat.
- ``.h5``: HDF5 (not MATLAB) with datasets ``features`` (N, d) and optional ``labels`` (N,), 1-based.
- ``.npy``: the (N, d) feature matrix only.

Run specs hold no paths, only the feature id (the stem): files used by runs must sit in the dataset
folder so that the id finds them again.

A feature file without labels takes them from ``res101_labels.mat``, else ``res101.mat``, in the same
folder (that file is then read and its checksum recorded). Rows are always images in res101.mat order.

Descriptors (``descriptors=``): ``att`` (default), ``original_att``, ``sent`` (``sent_splits.mat``),
class-name embeddings by kind (``wiki2vec``, ``conceptnet``: ``<embeddings_dir>/<NAME>_<kind>.npy``), or a
path to a user ``.npy`` (C, D) in ``allclasses_names`` order; see :mod:`zslbench.data.embeddings`.

Every problem is one :class:`~zslbench.data.dataset.DatasetError` whose message starts with the file's
path and states the fact (missing file or key, unreadable file, shapes that disagree, 0-based or
out-of-range indices, overlapping splits, a class without images, NaN/inf features, v7.3 without h5py).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from zslbench.data.dataset import Dataset, DatasetError, train_val_overlap
from zslbench.data.matfile import import_h5py, mat_keys, mat_version, read_mat, write_mat
from zslbench.data.xlsa17_files import (
    EXPECTED,
    FEATURE_SUFFIXES,
    LABEL_FILES,
    LOC_KEYS,
    MAT_DESCRIPTORS,
    SPLIT_VERSION,
    SPLITS_FILE,
    DatasetFiles,
    ExpectedSizes,
    feature_file_has_labels,
    file_sha256,
    resolve_feature_file,
    resolve_files,
)

__all__ = [  # the file layer (xlsa17_files) and the MATLAB layer (matfile) are re-exported
    "EXPECTED", "FEATURE_SUFFIXES", "LABEL_FILES", "LOC_KEYS", "MAT_DESCRIPTORS", "SPLITS_FILE", "SPLIT_VERSION",
    "AttSplits", "DatasetFiles", "ExpectedSizes", "check_split_labels", "feature_file_has_labels", "file_sha256",
    "load_xlsa17", "mat_keys", "mat_version", "read_att_splits", "read_features", "read_labels", "read_mat",
    "resolve_feature_file", "resolve_files", "write_mat",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# reading and checking


@dataclass(frozen=True)
class AttSplits:
    """Contents of att_splits.mat, converted: class-major descriptors, 0-based sorted index sets.

    Attributes:
        path: the file.
        att: (C, A) float64 ``att`` (transposed from the file's A x C).
        original_att: (C, A) float64 or None (FLO has none).
        class_names: (C,) from allclasses_names, or "class_001".. when the file has none.
        locs: split name -> (n,) int64 sorted 0-based image indices.
        has_names: whether allclasses_names was present.
    """

    path: Path
    att: np.ndarray
    original_att: np.ndarray | None
    class_names: tuple[str, ...]
    locs: Mapping[str, np.ndarray]
    has_names: bool

    @property
    def n_classes(self) -> int:
        return int(self.att.shape[0])

    @property
    def max_index(self) -> int:
        """Largest 0-based image index in any split (N must exceed it)."""
        return max((int(v.max()) for v in self.locs.values() if v.size), default=-1)


def _index_set(path: Path, key: str, raw: np.ndarray) -> np.ndarray:
    """1-based index array from a .mat -> sorted 0-based int64, checked."""
    arr = np.asarray(raw)
    if arr.dtype.kind not in "iuf" or (arr.ndim == 2 and min(arr.shape) > 1) or arr.ndim > 2:
        raise DatasetError(f"{path}: {key!r} must be an N x 1 vector of image indices, got {arr.dtype} {arr.shape}")
    flat = arr.ravel()
    if flat.dtype.kind == "f":
        if not np.isfinite(flat).all() or (flat != np.round(flat)).any():
            raise DatasetError(f"{path}: {key!r} holds non-integer image indices")
    idx = flat.astype(np.int64)  # the files store uint16: never subtract before widening
    if idx.size and idx.min() < 1:
        hint = " (a 0 in a 1-based index set: was the file written with 0-based indices?)" if idx.min() == 0 else ""
        raise DatasetError(f"{path}: {key!r} contains index {int(idx.min())}; xlsa17 indices are 1-based{hint}")
    uniq = np.unique(idx)
    if uniq.size != idx.size:
        raise DatasetError(f"{path}: {key!r} lists {idx.size - uniq.size} image index(es) more than once")
    return uniq - 1


def read_att_splits(path: str | os.PathLike[str]) -> AttSplits:
    """Read and check att_splits.mat (keys, shapes, 1-based unique indices); see :class:`AttSplits`."""
    path = Path(path)
    keys = mat_keys(path)
    required = ["att", *LOC_KEYS.values()]
    missing = [k for k in required if k not in keys]
    if missing:
        raise DatasetError(f"{path}: missing key {missing[0]!r} (the file has: {', '.join(sorted(keys))})")
    wanted = required + [k for k in ("original_att", "allclasses_names") if k in keys]
    raw = read_mat(path, wanted)
    att = _descriptor_matrix(path, "att", raw["att"])
    C = att.shape[0]
    if "allclasses_names" in raw:
        names_raw = raw["allclasses_names"]
        names = tuple(str(n) for n in np.asarray(names_raw, dtype=object).ravel())
        if len(names) != C:
            raise DatasetError(
                f"{path}: 'allclasses_names' has {len(names)} names but 'att' has {C} classes (columns)"
            )
        if len(set(names)) != len(names):
            raise DatasetError(f"{path}: 'allclasses_names' has duplicate names")
        has_names = True
    else:
        names = tuple(f"class_{i + 1:03d}" for i in range(C))
        has_names = False
    original = None
    if "original_att" in raw:
        original = _descriptor_matrix(path, "original_att", raw["original_att"])
        if original.shape[0] != C:
            raise DatasetError(
                f"{path}: 'original_att' has {original.shape[0]} classes (columns) but 'att' has {C}"
            )
    locs = {split: _index_set(path, key, raw[key]) for split, key in LOC_KEYS.items()}
    for a, b in (("trainval", "test_seen"), ("trainval", "test_unseen"), ("test_seen", "test_unseen")):
        both = np.intersect1d(locs[a], locs[b])
        if both.size:
            raise DatasetError(
                f"{path}: {LOC_KEYS[a]!r} and {LOC_KEYS[b]!r} share {both.size} image(s) "
                f"(e.g. image {int(both[0]) + 1}, 1-based)"
            )
    return AttSplits(path=path, att=att, original_att=original, class_names=names, locs=locs,
                     has_names=has_names)


def _descriptor_matrix(path: Path, key: str, raw: Any) -> np.ndarray:
    """(A, C) array from a .mat -> (C, A) float64, checked finite."""
    arr = np.asarray(raw)
    if arr.ndim != 2 or arr.dtype.kind not in "iuf":
        raise DatasetError(f"{path}: {key!r} must be a numeric A x C matrix, got {arr.dtype} {arr.shape}")
    if not np.isfinite(arr).all():
        raise DatasetError(f"{path}: {key!r} contains NaN or inf")
    return np.ascontiguousarray(arr.T, dtype=np.float64)


def _labels_vector(path: Path, raw: Any, n_classes: int | None) -> np.ndarray:
    """(N,) 1-based class labels from a file -> 0-based int64, checked."""
    arr = np.asarray(raw)
    if arr.dtype.kind not in "iuf" or arr.ndim > 2 or (arr.ndim == 2 and min(arr.shape) > 1):
        raise DatasetError(f"{path}: 'labels' must be an N x 1 vector, got {arr.dtype} {arr.shape}")
    flat = arr.ravel()
    if flat.dtype.kind == "f" and (not np.isfinite(flat).all() or (flat != np.round(flat)).any()):
        raise DatasetError(f"{path}: 'labels' holds non-integer values")
    y = flat.astype(np.int64)
    if y.size and y.min() < 1:
        raise DatasetError(
            f"{path}: 'labels' contains {int(y.min())}; labels are 1-based indices into allclasses_names"
            + (" (were they written 0-based?)" if y.min() == 0 else "")
        )
    if n_classes is not None and y.size and y.max() > n_classes:
        raise DatasetError(
            f"{path}: 'labels' contains class {int(y.max())} but att_splits.mat has only {n_classes} classes"
        )
    return y - 1


def read_labels(path: str | os.PathLike[str], n_classes: int | None = None) -> np.ndarray:
    """(N,) 0-based labels from a .mat (``labels``), .npz or .h5 file (see module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        raw = read_mat(path, ["labels"])["labels"]
    else:
        raw = _read_array_file(path, "labels")
    return _labels_vector(path, raw, n_classes)


def _read_array_file(path: Path, key: str) -> np.ndarray:
    """One array from an .npz (key), .h5 (dataset) or .npy (the whole file) feature file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if key not in z.files:
                    raise DatasetError(f"{path}: missing key {key!r} (the file has: {', '.join(z.files)})")
                return z[key]
        if suffix == ".h5":
            h5py = import_h5py(path)
            with h5py.File(path, "r") as f:
                if key not in f:
                    raise DatasetError(f"{path}: missing key {key!r} (the file has: {', '.join(f.keys())})")
                return f[key][()]
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"{path}: unreadable file ({type(exc).__name__}: {exc})") from None
    raise DatasetError(f"{path}: unsupported feature file type {suffix!r}")


def read_features(path: str | os.PathLike[str], n_expected: int | None = None) -> np.ndarray:
    """(N, d) float32 features from a feature file, checked finite; see the module docstring for layouts.

    Args:
        path: .mat (``features`` d x N), .npz / .h5 (``features`` N x d) or .npy (N x d).
        n_expected: number of images (from the labels), to check the shape and name a transposed file.
    """
    path = Path(path)
    if path.suffix.lower() == ".mat":
        raw = read_mat(path, ["features"])["features"]
        arr = np.asarray(raw)
        if arr.ndim != 2 or arr.dtype.kind not in "iuf":
            raise DatasetError(f"{path}: 'features' must be a numeric d x N matrix, got {arr.dtype} {arr.shape}")
        X = np.ascontiguousarray(arr.T, dtype=np.float32)  # v7.3: arr is already a transposed view
        transposed_hint = n_expected is not None and arr.shape[0] == n_expected != arr.shape[1]
        layout = "d x N (one column per image)"
    else:
        arr = np.asarray(_read_array_file(path, "features"))
        if arr.ndim != 2 or arr.dtype.kind not in "iuf":
            raise DatasetError(f"{path}: 'features' must be a numeric N x d matrix, got {arr.dtype} {arr.shape}")
        X = np.ascontiguousarray(arr, dtype=np.float32)
        transposed_hint = n_expected is not None and arr.shape[1] == n_expected != arr.shape[0]
        layout = "N x d (one row per image)"
    del arr
    if n_expected is not None and X.shape[0] != n_expected:
        hint = f"; it looks transposed: the layout must be {layout}" if transposed_hint else ""
        raise DatasetError(
            f"{path}: 'features' holds {X.shape[0]} images but there are {n_expected} labels{hint}"
        )
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise DatasetError(
            f"{path}: features contain NaN or inf in {int(bad.sum())} image(s) (first: image "
            f"{int(np.flatnonzero(bad)[0]) + 1}, 1-based)"
        )
    return X


def check_split_labels(splits: AttSplits, labels: np.ndarray, labels_file: Path) -> dict[str, Any]:
    """Check index ranges and class-level facts of the splits against the labels.

    Args:
        splits: from :func:`read_att_splits`.
        labels: (N,) 0-based labels read from ``labels_file``.

    Returns:
        {"seen": (S,) classes, "unseen": (U,) classes}.
    """
    N = int(labels.size)
    for split, idx in splits.locs.items():
        if idx.size and idx.max() >= N:
            raise DatasetError(
                f"{splits.path}: {LOC_KEYS[split]!r} contains image index {int(idx.max()) + 1} but "
                f"{labels_file.name} has only {N} images"
            )
    seen = np.unique(labels[splits.locs["trainval"]])
    unseen = np.unique(labels[splits.locs["test_unseen"]])
    both = np.intersect1d(seen, unseen)
    if both.size:
        raise DatasetError(
            f"{splits.path}: seen classes (of trainval_loc) and unseen classes (of test_unseen_loc) overlap "
            f"in {both.size} class(es), e.g. {splits.class_names[int(both[0])]!r}"
        )
    problem = train_val_overlap(labels, splits.locs["train"], splits.locs["val"], splits.class_names)
    if problem:
        raise DatasetError(f"{splits.path}: {problem}")
    counts = np.bincount(labels, minlength=splits.n_classes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise DatasetError(
            f"{labels_file}: class {splits.class_names[int(empty[0])]!r} (label {int(empty[0]) + 1}) has no "
            f"images ({empty.size} class(es) without images)"
        )
    ts_classes = np.unique(labels[splits.locs["test_seen"]])
    stray = np.setdiff1d(ts_classes, seen)
    if stray.size:
        raise DatasetError(
            f"{splits.path}: test_seen_loc has images of {stray.size} class(es) without trainval images, "
            f"e.g. {splits.class_names[int(stray[0])]!r}"
        )
    return {"seen": seen, "unseen": unseen}


def _read_descriptors(files: DatasetFiles, splits: AttSplits) -> np.ndarray:
    """(C, D) float64 descriptors of the chosen kind."""
    from zslbench.data import embeddings

    if files.descriptor_key is None:
        return embeddings.load_embedding_matrix(
            files.descriptors, splits.class_names, classnames_file=files.classnames,
            names_known=splits.has_names,
        )
    if files.descriptors == splits.path:
        if files.descriptor_key == "att":
            return splits.att
        if splits.original_att is None:
            raise DatasetError(f"{splits.path}: missing key 'original_att' (needed for descriptors 'original_att')")
        return splits.original_att
    raw = read_mat(files.descriptors, [files.descriptor_key])[files.descriptor_key]
    desc = _descriptor_matrix(files.descriptors, files.descriptor_key, raw)
    if desc.shape[0] != splits.n_classes:
        raise DatasetError(
            f"{files.descriptors}: {files.descriptor_key!r} has {desc.shape[0]} classes (columns) but "
            f"{splits.path.name} has {splits.n_classes}"
        )
    return desc


def load_xlsa17(
    folder: str | os.PathLike[str],
    *,
    name: str | None = None,
    features: str = "res101",
    descriptors: str = "att",
    embeddings_dir: str | os.PathLike[str] | None = None,
    files: DatasetFiles | None = None,
) -> Dataset:
    """Load one xlsa17 dataset folder into a validated :class:`Dataset`.

    Args:
        folder: ``DIR/<NAME>``.
        name: dataset name (default: the folder's name).
        features, descriptors, embeddings_dir: see the module docstring.
        files: already resolved files (from :func:`resolve_files`), to skip resolving again.

    Returns:
        The dataset: features (N, d) float32, labels (N,) 0-based, descriptors (C, D) float64, splits
        0-based; identity with split version "PS-v2.0" and the sha256 of every file read.
    """
    files = files or resolve_files(
        folder, name=name, features=features, descriptors=descriptors, embeddings_dir=embeddings_dir
    )
    splits = read_att_splits(files.splits)
    labels_file = files.labels or files.features
    labels = read_labels(labels_file, splits.n_classes)
    check_split_labels(splits, labels, labels_file)
    X = read_features(files.features, n_expected=labels.size)
    desc = _read_descriptors(files, splits)
    extras: dict[str, np.ndarray] = {}
    if files.descriptor_id != "att":
        extras["att"] = splits.att
    if splits.original_att is not None and files.descriptor_id != "original_att":
        extras["original_att"] = splits.original_att
    ds = Dataset(
        features=X,
        labels=labels,
        descriptors=desc,
        class_names=splits.class_names,
        splits=dict(splits.locs),
        identity=files.identity(),
        synthetic=False,
        source=str(files.folder),
        extras=extras,
    ).validate()
    _warn_unexpected_sizes(ds, files)
    return ds


def _warn_unexpected_sizes(ds: Dataset, files: DatasetFiles) -> None:
    expected = EXPECTED.get(ds.name)
    if expected is None:
        return
    s = ds.summary()
    got = {"images": s["images"], "classes": s["classes"], "seen": s["seen"], "unseen": s["unseen"]}
    want = {"images": expected.images, "classes": expected.classes, "seen": expected.seen,
            "unseen": expected.unseen}
    if got != want:
        log.warning("%s: sizes %s differ from the published PS v2.0 sizes %s", files.folder, got, want)
