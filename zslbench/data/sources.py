"""The one entry point the runner uses to find and load datasets by name.

Names: the built-in synthetic datasets (``synth-tiny``, ``synth-cub``, ...; no files needed) and xlsa17
datasets under a data root (``<data_root>/<NAME>/res101.mat`` + ``att_splits.mat``). The standard names
are :data:`XLSA17_NAMES` (matched case-insensitively); any other folder of the root in the xlsa17 layout
loads too, under its folder name.

The data root comes from ``--data-root`` on the command line, else the ``ZSLBENCH_DATA`` environment
variable (:func:`resolve_data_root`). Loaded datasets are cached per process (the last few), keyed by
name, choices and the files' checksums, so a changed file is reloaded.
"""

from __future__ import annotations

import difflib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from zslbench.data.dataset import Dataset, DatasetError, DatasetIdentity
from zslbench.data.synthetic import SYNTHETIC, make_synthetic, synthetic_identity
from zslbench.data.xlsa17 import DatasetFiles, load_xlsa17, resolve_files

log = logging.getLogger(__name__)

XLSA17_NAMES: tuple[str, ...] = ("CUB", "AWA2", "SUN", "AWA1", "APY", "FLO")
DATA_ENV = "ZSLBENCH_DATA"
SYNTHETIC_DESCRIPTORS: tuple[str, ...] = ("att", "original_att")
CACHE_SIZE = 3
"""Datasets kept in memory per process (a CUB-sized dataset is ~100 MB, AWA2 ~300 MB)."""

_cache: "OrderedDict[tuple, Dataset]" = OrderedDict()
_cache_lock = threading.Lock()


def resolve_data_root(cli_value: str | os.PathLike[str] | None) -> Path | None:
    """The data root: the CLI's ``--data-root`` if given, else $ZSLBENCH_DATA if set, else None."""
    if cli_value not in (None, ""):
        return Path(cli_value).expanduser()
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser() if env else None


def _canonical(name: str) -> str:
    for std in XLSA17_NAMES:
        if name.upper() == std:
            return std
    return name


def available_datasets(data_root: str | os.PathLike[str] | None, features: str = "res101") -> list[str]:
    """Synthetic names, then the xlsa17 names with ``<data_root>/<NAME>/<features>.*`` present."""
    names = list(SYNTHETIC)
    if data_root is None:
        return names
    root = Path(data_root)
    for name in XLSA17_NAMES:
        folder = root / name
        if (folder / "att_splits.mat").is_file() and any(
            (folder / f"{features}{suffix}").is_file() for suffix in (".mat", ".npz", ".npy", ".h5")
        ):
            names.append(name)
    return names


def _folder(name: str, data_root: str | os.PathLike[str] | None) -> Path:
    """The dataset folder of an xlsa17 name, or a DatasetError saying what to do."""
    if data_root is None:
        known = list(SYNTHETIC) + list(XLSA17_NAMES)
        close = difflib.get_close_matches(name, known, n=1)
        if name.upper() in XLSA17_NAMES:
            raise DatasetError(
                f"dataset {name!r} needs a data root: pass --data-root DIR or set ${DATA_ENV} "
                "(see `zslbench data download xlsa17 --to DIR`)"
            )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DatasetError(f"unknown dataset {name!r} (no data root given; built-in: {', '.join(SYNTHETIC)}){hint}")
    root = Path(data_root)
    folder = root / name
    if folder.is_dir():
        return folder
    nested = root / "xlsa17" / "data" / name
    if nested.is_dir():
        raise DatasetError(
            f"{folder}: dataset folder not found, but {nested} exists: use --data-root {nested.parent}"
        )
    if name.upper() in XLSA17_NAMES:
        raise DatasetError(f"{folder}: dataset folder not found (expected {folder}/res101.mat and att_splits.mat)")
    candidates = list(SYNTHETIC) + [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else list(SYNTHETIC)
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DatasetError(f"{folder}: unknown dataset {name!r} (no such folder under the data root){hint}")


def dataset_files(
    name: str,
    *,
    data_root: str | os.PathLike[str] | None = None,
    features: str = "res101",
    descriptors: str = "att",
    embeddings_dir: str | os.PathLike[str] | None = None,
) -> DatasetFiles:
    """The files an xlsa17 dataset would be read from (nothing loaded); DatasetError if any is missing."""
    name = _canonical(name)
    return resolve_files(
        _folder(name, data_root), name=name, features=features, descriptors=descriptors,
        embeddings_dir=embeddings_dir,
    )


def _check_synthetic_choices(name: str, features: str, descriptors: str) -> None:
    if descriptors not in SYNTHETIC_DESCRIPTORS:
        raise DatasetError(
            f"{name}: synthetic datasets only have descriptors {', '.join(SYNTHETIC_DESCRIPTORS)}, not {descriptors!r}"
        )
    if features not in ("res101", "synthetic"):
        raise DatasetError(f"{name}: synthetic datasets have only their generated features, not {features!r}")


def dataset_identity(
    name: str,
    *,
    data_root: str | os.PathLike[str] | None = None,
    features: str = "res101",
    descriptors: str = "att",
    embeddings_dir: str | os.PathLike[str] | None = None,
) -> DatasetIdentity:
    """The identity of a dataset without loading it (sha256 of its files, cached by size and mtime)."""
    if name in SYNTHETIC:
        _check_synthetic_choices(name, features, descriptors)
        ident = synthetic_identity(name)
        if descriptors != "att":
            from dataclasses import replace

            ident = replace(ident, descriptor_id=descriptors)
        return ident
    files = dataset_files(name, data_root=data_root, features=features, descriptors=descriptors,
                          embeddings_dir=embeddings_dir)
    return files.identity()


def descriptor_dim(
    name: str,
    *,
    data_root: str | os.PathLike[str] | None = None,
    features: str = "res101",
    descriptors: str = "att",
    embeddings_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Dimensions of a dataset's descriptors, read without loading its features."""
    import numpy as np

    if name in SYNTHETIC:
        _check_synthetic_choices(name, features, descriptors)
        return int(SYNTHETIC[name].att_dim)
    files = dataset_files(name, data_root=data_root, features=features, descriptors=descriptors,
                          embeddings_dir=embeddings_dir)
    if files.descriptor_key is not None:
        from zslbench.data.xlsa17 import read_mat

        arr = np.asarray(read_mat(files.descriptors, [files.descriptor_key])[files.descriptor_key])
        return int(arr.shape[0]) if arr.ndim == 2 else 0
    try:
        arr = np.load(files.descriptors, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise DatasetError(f"{files.descriptors}: unreadable embedding file ({type(exc).__name__}: {exc})") from None
    return int(arr.shape[1]) if arr.ndim == 2 else 0


def load_dataset(
    name: str,
    *,
    data_root: str | os.PathLike[str] | None = None,
    features: str = "res101",
    descriptors: str = "att",
    embeddings_dir: str | os.PathLike[str] | None = None,
) -> Dataset:
    """Load a dataset by name (synthetic or xlsa17); the last :data:`CACHE_SIZE` are kept in memory.

    Args:
        name: "synth-tiny", "CUB", ... (see :func:`available_datasets`).
        data_root: folder holding ``<NAME>/`` dataset folders (see :func:`resolve_data_root`).
        features: feature file name or path (xlsa17 only; see :mod:`zslbench.data.xlsa17`).
        descriptors: "att", "original_att", "sent", "wiki2vec", "conceptnet" or an .npy path.
        embeddings_dir: folder of class-name embeddings (default ``<data_root>/class_embeddings``).

    Raises:
        DatasetError: naming the file and the problem.
    """
    if name in SYNTHETIC:
        _check_synthetic_choices(name, features, descriptors)
        ds = make_synthetic(name)
        if descriptors == "original_att":
            from dataclasses import replace

            ds = replace(
                ds,
                descriptors=ds.extras["original_att"],
                identity=replace(ds.identity, descriptor_id="original_att"),
                extras={"att": ds.descriptors},
            )
        return ds
    files = dataset_files(name, data_root=data_root, features=features, descriptors=descriptors,
                          embeddings_dir=embeddings_dir)
    identity = files.identity()
    key = (files.name, str(files.folder.resolve()), files.feature_id, files.descriptor_id,
           tuple(str(p.resolve()) for p in files.all()), tuple(sorted(identity.checksums.items())))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    log.info("loading %s from %s (features %s, descriptors %s)", files.name, files.folder,
             files.feature_id, files.descriptor_id)
    ds = load_xlsa17(files.folder, name=files.name, files=files)
    with _cache_lock:
        _cache[key] = ds
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return ds


def clear_cache() -> None:
    """Forget the loaded datasets (tests; memory)."""
    with _cache_lock:
        _cache.clear()
