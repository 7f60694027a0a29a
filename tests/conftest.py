"""Shared test fixtures.

Data folders in the xlsa17 layout:

- ``make_xlsa17_root(names=("CUB",), version="v5", feature_dim=32)``: a data root built from the REAL
  split and label files in ``../shared/data/xlsa17`` (labels, image_files, att_splits.mat) plus generated
  features; tests using it skip when that folder is absent (mark them ``realdata``).
- ``make_toy_xlsa17(name="TOY", ...)``: a tiny fully synthetic dataset folder (no shared data needed), for
  error paths: get the arrays with :func:`toy_xlsa17_arrays`, break something, write with
  :func:`write_xlsa17_folder`.
- ``shared_data``: the ``../shared/data`` folder (skips when absent).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""The shared real-data folder, relative to the repository root (never copied into the repository)."""
SHARED_XLSA17 = SHARED_DATA / "xlsa17"
SHARED_EMBEDDINGS = SHARED_DATA / "class_embeddings"


def pytest_configure(config: pytest.Config) -> None:
    # One torch thread in tests: the suite's networks are tiny, and with more threads than free cores
    # (CI runs on 2) small-batch training slows down many times over.
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("ZSLBENCH_THREADS", "1")
    os.environ.setdefault("ZSLBENCH_PROGRESS", "0")  # no progress bars or lines from training loops
    config.addinivalue_line("markers", "realdata: tests that read ../shared/data (skipped when absent)")


def _require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (see ../shared/data/README.md)")
    return path


# ---------------------------------------------------------------------------------------------------
# real splits + generated features


def make_xlsa17_root(
    root: Path,
    names: tuple[str, ...] = ("CUB",),
    version: str = "v5",
    feature_dim: int = 32,
    seed: int = 0,
) -> Path:
    """Build ``root/<NAME>/res101.mat`` + ``att_splits.mat`` in the exact xlsa17 layout.

    Labels and image_files come from the real ``res101_labels.mat``, the split file is the real one
    (copied for v5, rewritten as MATLAB v7.3 for ``version="v73"``); features (feature_dim x N, float32)
    are generated: a random class mean plus noise, so classes are separable.
    """
    from zslbench.data.xlsa17 import read_mat, write_mat

    mat_version = {"v5": "v5", "v73": "v7.3", "v7.3": "v7.3"}[version]
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = _require_shared(SHARED_XLSA17 / name)
        labels_file = src / "res101_labels.mat"
        if not labels_file.is_file():
            raise ValueError(f"{name}: the shared data has no res101_labels.mat, cannot build res101.mat")
        meta = read_mat(labels_file, ["labels", "image_files"])
        labels = np.asarray(meta["labels"]).ravel().astype(np.int64)
        rng = np.random.default_rng([seed, len(name)])
        means = rng.standard_normal((labels.max(), feature_dim)).astype(np.float32)
        feats = means[labels - 1] + 0.5 * rng.standard_normal((labels.size, feature_dim)).astype(np.float32)
        folder = root / name
        folder.mkdir(exist_ok=True)
        write_mat(
            folder / "res101.mat",
            {"features": np.abs(feats).T, "labels": meta["labels"], "image_files": meta["image_files"]},
            version=mat_version,
        )
        if mat_version == "v5":
            shutil.copyfile(src / "att_splits.mat", folder / "att_splits.mat")
        else:
            write_mat(folder / "att_splits.mat", read_mat(src / "att_splits.mat"), version=mat_version)
    return root


# ---------------------------------------------------------------------------------------------------
# a tiny synthetic dataset folder


def toy_xlsa17_arrays(
    n_classes: int = 6,
    n_unseen: int = 2,
    n_val_unseen: int = 1,
    per_class: int = 10,
    feature_dim: int = 8,
    att_dim: int = 5,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(res101.mat contents, att_splits.mat contents) of a tiny dataset, in MATLAB orientation.

    Classes ``0..C-U-1`` are seen (the last ``n_val_unseen`` of them are val-unseen), the last ``n_unseen``
    are unseen; each seen class puts 20% of its images in test_seen. Indices 1-based uint16, labels
    1-based float64 (N, 1), like the released files.
    """
    rng = np.random.default_rng(seed)
    C, N = n_classes, n_classes * per_class
    labels = np.repeat(np.arange(C), per_class)
    feats = (rng.standard_normal((C, feature_dim))[labels] + 0.3 * rng.standard_normal((N, feature_dim)))
    original = rng.uniform(0, 100, size=(att_dim, C))
    att = original / np.linalg.norm(original, axis=0, keepdims=True)
    seen = np.arange(C - n_unseen)
    val_unseen = seen[-n_val_unseen:]
    test_seen = np.concatenate([np.flatnonzero(labels == c)[: max(1, per_class // 5)] for c in seen])
    trainval = np.setdiff1d(np.flatnonzero(np.isin(labels, seen)), test_seen)
    test_unseen = np.flatnonzero(~np.isin(labels, seen))
    train = trainval[~np.isin(labels[trainval], val_unseen)]
    val = trainval[np.isin(labels[trainval], val_unseen)]

    def loc(idx: np.ndarray) -> np.ndarray:
        return (np.sort(idx) + 1).astype(np.uint16).reshape(-1, 1)

    names = np.empty((C, 1), dtype=object)
    for c in range(C):
        names[c, 0] = f"{c + 1:03d}.toy_class_{c}"
    files = np.empty((N, 1), dtype=object)
    for i in range(N):
        files[i, 0] = f"images/{names[labels[i], 0]}/img_{i:04d}.jpg"
    res101 = {
        "features": np.abs(feats).T.astype(np.float32),
        "labels": (labels + 1).astype(np.float64).reshape(-1, 1),
        "image_files": files,
    }
    att_splits = {
        "att": att,
        "original_att": original,
        "allclasses_names": names,
        "trainval_loc": loc(trainval),
        "test_seen_loc": loc(test_seen),
        "test_unseen_loc": loc(test_unseen),
        "train_loc": loc(train),
        "val_loc": loc(val),
    }
    return res101, att_splits


def write_xlsa17_folder(
    root: Path,
    name: str,
    res101: dict[str, Any] | None,
    att_splits: dict[str, Any] | None,
    version: str = "v5",
) -> Path:
    """Write ``root/name/res101.mat`` and ``att_splits.mat`` (either may be None: not written)."""
    from zslbench.data.xlsa17 import write_mat

    mat_version = {"v5": "v5", "v73": "v7.3", "v7.3": "v7.3"}[version]
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if res101 is not None:
        write_mat(folder / "res101.mat", res101, version=mat_version)
    if att_splits is not None:
        write_mat(folder / "att_splits.mat", att_splits, version=mat_version)
    return folder


def make_toy_xlsa17(root: Path, name: str = "TOY", version: str = "v5", **sizes: Any) -> Path:
    """Write a valid tiny dataset folder ``root/name`` (see :func:`toy_xlsa17_arrays`); returns root."""
    res101, att_splits = toy_xlsa17_arrays(**sizes)
    write_xlsa17_folder(root, name, res101, att_splits, version=version)
    return root


# ---------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (skips the test when absent)."""
    return _require_shared(SHARED_DATA)


@pytest.fixture
def xlsa17_root_factory(tmp_path: Path) -> Callable[..., Path]:
    """``factory(names=("CUB",), version="v5", feature_dim=32)`` -> a data root in tmp_path (real splits)."""

    def factory(names: tuple[str, ...] = ("CUB",), version: str = "v5", feature_dim: int = 32,
                seed: int = 0) -> Path:
        return make_xlsa17_root(tmp_path / f"data_{version}", names, version, feature_dim, seed)

    return factory


@pytest.fixture
def toy_root(tmp_path: Path) -> Path:
    """A data root with one valid tiny dataset ``TOY`` (MATLAB v5)."""
    return make_toy_xlsa17(tmp_path / "toydata")


@pytest.fixture(autouse=True)
def _fresh_dataset_cache() -> Any:
    """Tests never see a dataset cached by another test."""
    yield
    sources = sys.modules.get("zslbench.data.sources")
    if sources is not None:
        sources.clear_cache()


@pytest.fixture(scope="session")
def tiny():
    """The synth-tiny dataset (built once; datasets are read-only)."""
    from zslbench.data.synthetic import make_synthetic

    return make_synthetic("synth-tiny")


@pytest.fixture(scope="module")
def tiny_view():
    """(dataset, test split, image-free view) of synth-tiny with a quickly trained base classifier."""
    from zslbench.base_classifier import BaseClassifierSettings, get_base_classifier
    from zslbench.data.synthetic import make_synthetic
    from zslbench.protocol import test_split, train_view

    ds = make_synthetic("synth-tiny")
    split = test_split(ds)
    base, _ = get_base_classifier(ds, split, settings=BaseClassifierSettings(epochs=30), seed=0)
    return ds, split, train_view(ds, split, access="image_free", base=base)
