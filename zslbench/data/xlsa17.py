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

Both MATLAB v5 files (scipy.io) and v7.3 files (HDF5, via h5py; their arrays are stored transposed and
cell arrays of strings are object references) are read; :func:`read_mat` hides the difference and
returns arrays in MATLAB's orientation, cell arrays as object arrays of ``str``.

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

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from zslbench.data.dataset import Dataset, DatasetError, DatasetIdentity

log = logging.getLogger(__name__)

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
# MATLAB files, v5 and v7.3


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def mat_version(path: Path) -> str:
    """"v5" (or older, readable by scipy) or "v7.3" (HDF5); DatasetError if neither."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        with open(path, "rb") as fh:
            head = fh.read(128)
            # HDF5 puts its signature at 0, 512, 1024, 2048, ...: MATLAB v7.3 uses a 512-byte user block
            hdf5 = False
            for offset in (0, 512, 1024, 2048):
                fh.seek(offset)
                if fh.read(8) == _HDF5_SIGNATURE:
                    hdf5 = True
                    break
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if hdf5:
        return "v7.3"
    if len(head) < 128:
        raise DatasetError(f"{path}: not a MATLAB file (only {len(head)} bytes)")
    if head[:4] == b"\x00\x00\x00\x00" or head.startswith(b"MATLAB"):
        return "v5"
    raise DatasetError(f"{path}: not a MATLAB .mat file (no MATLAB header, not HDF5)")


def _check_v5_complete(path: Path) -> None:
    """Walk the top-level data elements of a v5 file; DatasetError if the file is truncated.

    scipy reads a truncated file's variable list without complaint, which would turn a broken download
    into a confusing "missing key" message.
    """
    import struct

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(128)
        if not head.startswith(b"MATLAB"):
            return  # v4 or unknown: left to scipy
        endian = "<" if head[126:128] == b"IM" else ">"
        offset = 128
        while offset < size:
            fh.seek(offset)
            tag = fh.read(8)
            if len(tag) < 8:
                raise DatasetError(f"{path}: unreadable MATLAB file (truncated: {size} bytes, a variable tag at byte {offset})")
            dtype, nbytes = struct.unpack(endian + "II", tag)
            if dtype >> 16:  # small data element: 4 bytes of data inside the tag
                offset += 8
                continue
            end = offset + 8 + nbytes + (0 if dtype == 15 else (-nbytes) % 8)
            if offset + 8 + nbytes > size:
                raise DatasetError(
                    f"{path}: unreadable MATLAB file (truncated: the variable at byte {offset} needs "
                    f"{offset + 8 + nbytes} bytes, the file has {size}; an interrupted download?)"
                )
            offset = end


def _import_h5py(path: Path) -> Any:
    try:
        import h5py
    except ImportError:
        raise DatasetError(
            f"{path}: is a MATLAB v7.3 (HDF5) file; reading it needs h5py, which is not installed "
            "(pip install h5py)"
        ) from None
    return h5py


def mat_keys(path: Path) -> list[str]:
    """Names of the variables in a .mat file, without reading their data."""
    path = Path(path)
    if mat_version(path) == "v7.3":
        h5py = _import_h5py(path)
        try:
            with h5py.File(path, "r") as f:
                return [k for k in f.keys() if not k.startswith("#")]
        except OSError as exc:
            raise DatasetError(f"{path}: unreadable HDF5 file ({exc})") from None
    import scipy.io

    _check_v5_complete(path)
    try:
        return [name for name, _, _ in scipy.io.whosmat(path)]
    except Exception as exc:  # scipy raises several types on corrupt files
        raise DatasetError(f"{path}: unreadable MATLAB file ({type(exc).__name__}: {exc})") from None


def read_mat(path: str | os.PathLike[str], keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Read variables of a .mat file (v5 or v7.3) in MATLAB orientation.

    Args:
        path: the file.
        keys: variables to read (all when None). Missing ones raise DatasetError naming the file and key.

    Returns:
        key -> array: numeric arrays as in MATLAB ((rows, cols), e.g. features (d, N)), cell arrays as
        object arrays of ``str`` (strings) or arrays, char variables as a 0-d ``str`` array.
    """
    path = Path(path)
    wanted = None if keys is None else list(keys)
    if mat_version(path) == "v7.3":
        out = _read_h5(path, wanted)
    else:
        out = _read_v5(path, wanted)
    if wanted is not None:
        missing = [k for k in wanted if k not in out]
        if missing:
            raise DatasetError(
                f"{path}: missing key {missing[0]!r} (the file has: {', '.join(sorted(out)) or 'nothing'})"
            )
    return out


def _read_v5(path: Path, wanted: list[str] | None) -> dict[str, np.ndarray]:
    import scipy.io

    _check_v5_complete(path)
    try:
        raw = scipy.io.loadmat(path, variable_names=wanted, chars_as_strings=True)
        missing_any = wanted is not None and any(k not in raw for k in wanted)
        present = [name for name, _, _ in scipy.io.whosmat(path)] if missing_any else []
    except NotImplementedError:  # a v7.3 file whose HDF5 signature sits further in
        return _read_h5(path, wanted)
    except Exception as exc:  # corrupt files raise ValueError, TypeError, OSError, ...
        raise DatasetError(f"{path}: unreadable MATLAB file ({type(exc).__name__}: {exc})") from None
    out: dict[str, np.ndarray] = {}
    for key, value in raw.items():
        if key.startswith("__"):
            continue
        if isinstance(value, np.ndarray) and value.dtype == object:
            value = _v5_cell(value)
        out[key] = value
    if wanted is not None:
        # loadmat silently skips missing names; report what the file has instead
        for k in wanted:
            if k not in out and k in present:
                raise DatasetError(f"{path}: could not read key {k!r}")
        missing = [k for k in wanted if k not in out]
        if missing:
            raise DatasetError(
                f"{path}: missing key {missing[0]!r} (the file has: {', '.join(sorted(present))})"
            )
    return out


def _v5_cell(cell: np.ndarray) -> np.ndarray:
    """Object array of 1-element char arrays (scipy's cell of strings) -> object array of str."""
    out = np.empty(cell.shape, dtype=object)
    for idx, el in np.ndenumerate(cell):
        if isinstance(el, np.ndarray) and el.dtype.kind == "U":
            out[idx] = str(el.ravel()[0]) if el.size else ""
        elif isinstance(el, str):
            out[idx] = el
        else:
            out[idx] = el
    return out


def _read_h5(path: Path, wanted: list[str] | None) -> dict[str, np.ndarray]:
    h5py = _import_h5py(path)
    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            present = [k for k in f.keys() if not k.startswith("#")]
            for key in present if wanted is None else wanted:
                if key not in f:
                    raise DatasetError(
                        f"{path}: missing key {key!r} (the file has: {', '.join(sorted(present))})"
                    )
                obj = f[key]
                if not isinstance(obj, h5py.Dataset):
                    raise DatasetError(f"{path}: key {key!r} is a MATLAB struct, which is not supported")
                out[key] = _h5_value(h5py, f, obj, path)
    except OSError as exc:
        raise DatasetError(f"{path}: unreadable HDF5 file ({exc})") from None
    return out


def _attr_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _h5_value(h5py: Any, f: Any, ds: Any, path: Path) -> Any:
    """One v7.3 dataset -> MATLAB-oriented array (or ``str`` for a char array)."""
    cls = _attr_str(ds.attrs.get("MATLAB_class", b""))
    if "MATLAB_empty" in ds.attrs and int(np.asarray(ds.attrs["MATLAB_empty"]).ravel()[0]):
        return "" if cls == "char" else np.zeros((0, 0))
    if h5py.check_dtype(ref=ds.dtype) is not None:
        refs = ds[()]
        cell = np.empty(refs.shape, dtype=object)
        for idx, ref in np.ndenumerate(refs):
            cell[idx] = _h5_value(h5py, f, f[ref], path)
        return cell.T
    data = ds[()]
    if cls == "char":
        return "".join(map(chr, np.asarray(data).T.ravel()))
    if cls == "logical":
        data = data.astype(bool)
    if cls in ("struct", "sparse") or data.dtype.names:
        raise DatasetError(f"{path}: variable {ds.name!r} is a MATLAB {cls or 'compound'}, not supported")
    return data.T if data.ndim >= 2 else data


_MATLAB_CLASS = {
    np.dtype(np.float64): "double", np.dtype(np.float32): "single", np.dtype(np.uint8): "uint8",
    np.dtype(np.uint16): "uint16", np.dtype(np.int32): "int32", np.dtype(np.int64): "int64",
    np.dtype(np.uint32): "uint32", np.dtype(np.int16): "int16", np.dtype(np.int8): "int8",
    np.dtype(np.uint64): "uint64", np.dtype(bool): "logical",
}


def write_mat(path: str | os.PathLike[str], arrays: Mapping[str, Any], *, version: str = "v5") -> Path:
    """Write a .mat file readable by MATLAB, scipy (v5) or h5py (v7.3).

    Args:
        path: the file to write.
        arrays: name -> numeric array in MATLAB orientation (e.g. features (d, N)), a ``str``, or an
            object array of ``str`` (a cell array, e.g. allclasses_names (C, 1)).
        version: "v5" (scipy.io.savemat, uncompressed) or "v7.3" (HDF5 with MATLAB's 512-byte header).
    """
    path = Path(path)
    if version == "v5":
        import scipy.io

        scipy.io.savemat(path, dict(arrays), do_compression=False, oned_as="column")
        return path
    if version not in ("v7.3", "v73"):
        raise ValueError(f"write_mat: version must be 'v5' or 'v7.3', got {version!r}")
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        counter = iter(range(1 << 62))
        for key, value in arrays.items():
            _h5_write(h5py, f, refs, counter, key, value)
    text = (f"MATLAB 7.3 MAT-file, Platform: zslbench, Created on: {time.asctime()} "
            "HDF5 schema 1.00 .").ljust(116).encode("ascii")
    with open(path, "r+b") as fh:
        fh.write(text + b"\x00" * 8 + b"\x00\x02IM")
    return path


def _h5_write(h5py: Any, parent: Any, refs: Any, counter: Any, key: str, value: Any) -> Any:
    if isinstance(value, str):
        if not value:
            ds = parent.create_dataset(key, data=np.array([0, 0], dtype=np.uint64))
            ds.attrs["MATLAB_empty"] = np.uint8(1)
        else:
            ds = parent.create_dataset(key, data=np.array([ord(c) for c in value], np.uint16)[:, None])
            ds.attrs["MATLAB_int_decode"] = np.int32(2)
        ds.attrs["MATLAB_class"] = np.bytes_(b"char")
        return ds
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind == "U":
        arr = arr.astype(object)
        cell = np.empty(arr.T.shape, dtype=h5py.ref_dtype)
        for idx, el in np.ndenumerate(arr.T):
            cell[idx] = _h5_write(h5py, refs, refs, counter, f"r{next(counter)}", el).ref
        ds = parent.create_dataset(key, data=cell)
        ds.attrs["MATLAB_class"] = np.bytes_(b"cell")
        return ds
    if arr.dtype not in _MATLAB_CLASS:
        raise ValueError(f"write_mat: {key!r} has unsupported dtype {arr.dtype}")
    if arr.ndim < 2:
        arr = arr.reshape(-1, 1)
    data = np.ascontiguousarray(arr.T)
    ds = parent.create_dataset(key, data=data.astype(np.uint8) if arr.dtype == bool else data)
    ds.attrs["MATLAB_class"] = np.bytes_(_MATLAB_CLASS[arr.dtype].encode())
    return ds


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
        h5py = _import_h5py(path)
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
            h5py = _import_h5py(path)
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
    train_cls, val_cls = np.unique(labels[splits.locs["train"]]), np.unique(labels[splits.locs["val"]])
    shared = np.intersect1d(train_cls, val_cls)
    if shared.size:
        raise DatasetError(
            f"{splits.path}: 'train_loc' and 'val_loc' share {shared.size} class(es), e.g. "
            f"{splits.class_names[int(shared[0])]!r}; the validation split needs disjoint val-seen and "
            "val-unseen classes"
        )
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
