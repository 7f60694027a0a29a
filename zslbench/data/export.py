"""Write a dataset in the xlsa17 layout, so that code written for the real benchmarks reads it unchanged.

The main use is a peer check: run another implementation (an author's release) on exactly the built-in
data a record was made on. ``zslbench data export synth-cub --to DIR`` writes ``DIR/synth-cub/``:

    res101.mat       features (d x N) single, labels (N x 1) double, 1-based rows of allclasses_names
    att_splits.mat   att (A x C), original_att (A x C) when the dataset has one, allclasses_names (C x 1
                     cell), trainval_loc, test_seen_loc, test_unseen_loc, train_loc, val_loc (1-based,
                     uint16 as in the real files; uint32 past 65,535 images)

:func:`zslbench.data.xlsa17.load_xlsa17` reads the folder back to the same arrays, class names and splits.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zslbench.data.dataset import SPLIT_KEYS, Dataset
from zslbench.data.matfile import write_mat


def export_xlsa17(ds: Dataset, folder: str | os.PathLike[str], *, version: str = "v5") -> tuple[Path, Path]:
    """Write ``ds`` as ``folder/res101.mat`` and ``folder/att_splits.mat`` (MATLAB ``version`` "v5" or
    "v7.3"); returns the two paths. Both files are written under temporary names and renamed only when both
    are complete, so a failed export leaves an earlier one (or nothing) in place, never a mixed pair."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    index_type = np.uint16 if len(ds.labels) < np.iinfo(np.uint16).max else np.uint32  # as the real files
    splits = {f"{key}_loc": (np.asarray(ds.splits[key]) + 1).astype(index_type).reshape(-1, 1) for key in SPLIT_KEYS}
    att = {"att": np.asarray(ds.descriptors, np.float64).T,
           "allclasses_names": np.array(ds.class_names, dtype=object).reshape(-1, 1), **splits}
    if "original_att" in ds.extras:
        att["original_att"] = np.asarray(ds.extras["original_att"], np.float64).T
    features = {"features": np.asarray(ds.features, np.float32).T,
                "labels": (np.asarray(ds.labels, np.float64) + 1.0).reshape(-1, 1)}
    files = {"res101.mat": features, "att_splits.mat": att}
    partials = {name: folder / f".{name}.partial" for name in files}
    try:
        for name, arrays in files.items():
            write_mat(partials[name], arrays, version=version)
    except BaseException:
        for partial in partials.values():
            partial.unlink(missing_ok=True)
        raise
    for name, partial in partials.items():
        partial.replace(folder / name)
    return folder / "res101.mat", folder / "att_splits.mat"
