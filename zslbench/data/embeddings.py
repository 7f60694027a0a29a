"""Class-name embeddings as class descriptors (instead of attributes).

Layout of an embeddings folder (default ``<data_root>/class_embeddings``)::

    <NAME>_<kind>.npy       (C, D) float, one row per class in att_splits.mat's allclasses_names order
    <NAME>_classnames.txt   optional: the C class names, one a line, in row order

Kinds shipped with the ICIS experiments: ``wiki2vec`` and ``conceptnet`` (300-d). A user ``.npy`` path is
also accepted (relative paths are taken inside the dataset folder); its descriptor id is the file stem,
and a ``<NAME>_classnames.txt`` next to it is checked in the same way.

A bare name that is not in the embeddings folder is also looked up as ``<dataset folder>/<name>.npy``.
Run specs hold no paths, only the descriptor id (the file stem), so a file used by runs must be found
again from its id: keep it in the dataset folder or the embeddings folder, not elsewhere.

Rows are L2-normalised on load (all-zero rows are an error). When the class-names file exists its lines
must equal ``allclasses_names`` (for FLO, which has no names, only their number is checked).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from zslbench.data.dataset import DatasetError

EMBEDDING_KINDS: tuple[str, ...] = ("wiki2vec", "conceptnet")
EMBEDDINGS_FOLDER = "class_embeddings"
"""Default embeddings folder, next to the dataset folders under the data root."""


def embedding_file_name(name: str, kind: str) -> str:
    return f"{name}_{kind}.npy"


def resolve_embedding_file(
    name: str,
    descriptors: str,
    *,
    folder: Path,
    embeddings_dir: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path | None, str]:
    """Find the embedding file for ``descriptors`` (a kind or an .npy path).

    Args:
        name: dataset name (file prefix).
        descriptors: an embedding kind (``wiki2vec``) or a path ending in ``.npy``.
        folder: the dataset folder (``<data_root>/<NAME>``).
        embeddings_dir: folder of ``<NAME>_<kind>.npy`` files (default ``<data_root>/class_embeddings``).

    Returns:
        (embedding file, class-names file or None, descriptor id).
    """
    folder = Path(folder)
    if descriptors.endswith(".npy") or "/" in descriptors or os.sep in descriptors:
        path = Path(descriptors).expanduser()
        path = path if path.is_absolute() else folder / path
        if path.suffix != ".npy":
            raise DatasetError(f"{path}: descriptor files must be .npy (C, D) arrays")
        if not path.is_file():
            raise DatasetError(f"{path}: descriptor file not found")
        names_file = path.parent / f"{name}_classnames.txt"
        return path, names_file if names_file.is_file() else None, path.stem
    emb_dir = Path(embeddings_dir).expanduser() if embeddings_dir is not None else folder.parent / EMBEDDINGS_FOLDER
    path = emb_dir / embedding_file_name(name, descriptors)
    local = folder / f"{descriptors}.npy"
    if not path.is_file() and local.is_file():
        names_file = folder / f"{name}_classnames.txt"
        return local, names_file if names_file.is_file() else None, descriptors
    if not path.is_file():
        if not descriptors.isidentifier():
            raise DatasetError(f"descriptors {descriptors!r}: not a descriptor kind nor an .npy path")
        available = sorted(p.stem[len(name) + 1:] for p in emb_dir.glob(f"{name}_*.npy")) if emb_dir.is_dir() else []
        known = ("att", "original_att", "sent", *EMBEDDING_KINDS)
        if descriptors not in known and not available:
            raise DatasetError(
                f"{path}: unknown descriptors {descriptors!r} (use one of {', '.join(known)} or an .npy path)"
            )
        where = f"available here: {', '.join(available)}" if available else (
            "the folder does not exist" if not emb_dir.is_dir() else f"no {name}_*.npy file there"
        )
        raise DatasetError(
            f"{path}: embedding file not found for descriptors {descriptors!r} ({where}; pass "
            "embeddings_dir / --embeddings-dir to use another folder)"
        )
    names_file = emb_dir / f"{name}_classnames.txt"
    return path, names_file if names_file.is_file() else None, descriptors


def read_class_names(path: str | os.PathLike[str]) -> list[str]:
    """Lines of a class-names file, trailing whitespace and trailing empty lines removed."""
    path = Path(path)
    try:
        lines = [line.rstrip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read class names ({exc})") from None
    while lines and not lines[-1]:
        lines.pop()
    return lines


def load_embedding_matrix(
    path: str | os.PathLike[str],
    class_names: Sequence[str],
    *,
    classnames_file: str | os.PathLike[str] | None = None,
    names_known: bool = True,
) -> np.ndarray:
    """Load a (C, D) class-embedding matrix, check it against the classes, L2-normalise its rows.

    Args:
        path: the .npy file.
        class_names: (C,) the dataset's class names (allclasses_names order).
        classnames_file: optional file whose lines must equal ``class_names``.
        names_known: False when the dataset has no real class names (FLO): only the count is checked.

    Returns:
        (C, D) float64 with unit-norm rows.
    """
    from sklearn.preprocessing import normalize

    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DatasetError(f"{path}: unreadable .npy file ({type(exc).__name__}: {exc})") from None
    C = len(class_names)
    if arr.ndim != 2 or arr.dtype.kind not in "iuf":
        raise DatasetError(f"{path}: embeddings must be a numeric (C, D) matrix, got {arr.dtype} {arr.shape}")
    if arr.shape[0] != C:
        raise DatasetError(f"{path}: {arr.shape[0]} embedding rows but the dataset has {C} classes")
    if not np.isfinite(arr).all():
        raise DatasetError(f"{path}: embeddings contain NaN or inf")
    norms = np.linalg.norm(arr.astype(np.float64), axis=1)
    if (norms == 0).any():
        row = int(np.flatnonzero(norms == 0)[0])
        raise DatasetError(f"{path}: embedding row {row} (class {class_names[row]!r}) is all zeros")
    if classnames_file is not None:
        names_path = Path(classnames_file)
        names = read_class_names(names_path)
        if len(names) != C:
            raise DatasetError(f"{names_path}: {len(names)} class names but the dataset has {C} classes")
        if names_known:
            for i, (a, b) in enumerate(zip(names, class_names)):
                if a != b:
                    raise DatasetError(
                        f"{names_path}: row {i} is {a!r} but allclasses_names has {b!r} there (the embedding "
                        "rows must follow allclasses_names order)"
                    )
    return normalize(arr.astype(np.float64), norm="l2", axis=1)
