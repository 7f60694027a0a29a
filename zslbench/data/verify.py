"""``zslbench data verify DIR``: check every dataset folder of a data root and say what is wrong.

For each folder in the xlsa17 layout (a sub-folder with att_splits.mat or res101.mat): which files
exist, what loads (split file, labels, features, fine-tuned features, sentence descriptors, class-name
embeddings), the counts of images / classes / seen / unseen / descriptor dimensions / split sizes against
the published sizes (:data:`zslbench.data.xlsa17.EXPECTED`), and every problem found. A folder is OK only
when a run could use it: its features load and every check passes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zslbench.data.dataset import Dataset, DatasetError, DatasetIdentity
from zslbench.data.embeddings import EMBEDDINGS_FOLDER, load_embedding_matrix, read_class_names
from zslbench.data.xlsa17 import (
    EXPECTED,
    FEATURE_SUFFIXES,
    LABEL_FILES,
    LOC_KEYS,
    SPLITS_FILE,
    mat_keys,
    resolve_files,
    read_att_splits,
    read_features,
    read_labels,
    read_mat,
    check_split_labels,
)

log = logging.getLogger(__name__)

KNOWN_FILES: tuple[str, ...] = (
    "res101.mat", "att_splits.mat", "res101_finetuned.mat", "sent_splits.mat", "res101_labels.mat",
)
COUNT_ORDER: tuple[str, ...] = (
    "images", "classes", "seen", "unseen", "descriptor_dim", "trainval", "test_seen", "test_unseen", "feature_dim",
)


@dataclass
class DatasetCheck:
    """What ``verify`` found in one dataset folder."""

    name: str
    folder: Path
    files: dict[str, bool] = field(default_factory=dict)
    loaded: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "folder": str(self.folder), "ok": self.ok, "files": self.files,
            "loaded": self.loaded, "counts": self.counts, "expected": self.expected,
            "problems": self.problems, "notes": self.notes,
        }


@dataclass
class VerifyReport:
    """All folders of a data root; ``ok`` when there is at least one dataset and nothing is wrong."""

    root: Path
    datasets: list[DatasetCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.datasets) and all(d.ok for d in self.datasets)

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root), "ok": self.ok, "problems": self.problems, "notes": self.notes,
            "datasets": [d.to_json() for d in self.datasets],
        }

    def format(self) -> str:
        """A readable multi-line report."""
        lines = [f"Data root: {self.root}"]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        for d in self.datasets:
            lines.append("")
            lines.append(f"{d.name}  ({d.folder})  {'OK' if d.ok else 'PROBLEMS'}")
            present = [f for f, there in d.files.items() if there]
            absent = [f for f, there in d.files.items() if not there]
            lines.append(f"  files present: {', '.join(present) or 'none'}")
            if absent:
                lines.append(f"  files absent:  {', '.join(absent)}")
            if d.loaded:
                lines.append(f"  loaded: {', '.join(d.loaded)}")
            if d.counts:
                parts = []
                order = {k: i for i, k in enumerate(COUNT_ORDER)}
                for key, value in sorted(d.counts.items(), key=lambda kv: order.get(kv[0], len(order))):
                    want = (d.expected or {}).get(key)
                    if want is None:
                        parts.append(f"{key} {value}")
                    else:
                        parts.append(f"{key} {value}" + ("" if want == value else f" (EXPECTED {want})"))
                lines.append("  counts: " + ", ".join(parts))
            lines += [f"  PROBLEM: {p}" for p in d.problems]
            lines += [f"  note: {n}" for n in d.notes]
        n_ok = sum(d.ok for d in self.datasets)
        lines.append("")
        lines.append(
            f"Summary: {n_ok} of {len(self.datasets)} dataset folder(s) OK"
            + ("" if self.ok else " -- something is wrong (see PROBLEM lines)")
        )
        return "\n".join(lines)


def find_dataset_folders(root: Path) -> list[Path]:
    """Sub-folders of ``root`` that look like xlsa17 dataset folders, sorted by name."""
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and any((p / f).is_file() for f in ("att_splits.mat", "res101.mat"))),
        key=lambda p: p.name,
    )


def verify_root(
    root: str | os.PathLike[str],
    *,
    names: list[str] | None = None,
    embeddings_dir: str | os.PathLike[str] | None = None,
    features: bool = True,
) -> VerifyReport:
    """Check a data root.

    Args:
        root: the folder holding ``<NAME>/`` dataset folders.
        names: only these dataset folders (each must exist); default: every dataset folder found.
        embeddings_dir: class-name embeddings folder (default ``root/class_embeddings`` when it exists).
        features: also read the feature matrices (False: splits and labels only, fast).
    """
    root = Path(root).expanduser()
    report = VerifyReport(root=root)
    if not root.is_dir():
        report.problems.append(f"{root}: folder not found")
        return report
    if (root / SPLITS_FILE).is_file():
        report.problems.append(
            f"{root}: this is a dataset folder itself; pass the folder that contains it ({root.parent})"
        )
        return report
    if names:
        folders = []
        for name in names:
            if not (root / name).is_dir():
                report.problems.append(f"{root / name}: dataset folder not found")
            else:
                folders.append(root / name)
    else:
        folders = find_dataset_folders(root)
        if not folders:
            nested = root / "xlsa17" / "data"
            hint = f" ({nested} exists: verify that folder instead)" if nested.is_dir() else ""
            report.problems.append(
                f"{root}: no dataset folder found (expected <NAME>/att_splits.mat and res101.mat){hint}"
            )
    emb_dir = Path(embeddings_dir).expanduser() if embeddings_dir is not None else root / EMBEDDINGS_FOLDER
    for folder in folders:
        report.datasets.append(check_folder(folder, embeddings_dir=emb_dir, features=features))
    return report


def check_folder(folder: Path, *, embeddings_dir: Path | None = None, features: bool = True) -> DatasetCheck:
    """Check one dataset folder; never raises for a data problem (it is recorded instead)."""
    name = folder.name
    check = DatasetCheck(name=name, folder=folder)
    check.files = {f: (folder / f).is_file() for f in KNOWN_FILES}
    for extra in sorted(folder.iterdir()):
        if extra.is_file() and extra.name not in KNOWN_FILES and extra.suffix in (".mat", ".npz", ".npy", ".h5"):
            check.files[extra.name] = True
    expected = EXPECTED.get(name)
    if expected is not None:
        check.expected = {
            "images": expected.images, "classes": expected.classes, "seen": expected.seen,
            "unseen": expected.unseen, "descriptor_dim": expected.descriptor_dim,
            "trainval": expected.trainval, "test_seen": expected.test_seen, "test_unseen": expected.test_unseen,
        }
    else:
        check.notes.append(f"{name!r} is not a standard xlsa17 dataset: sizes are not checked against published ones")

    # 1. the split file
    if not check.files["att_splits.mat"]:
        check.problems.append(f"{folder / SPLITS_FILE}: file not found")
        return check
    try:
        splits = read_att_splits(folder / SPLITS_FILE)
    except DatasetError as exc:
        check.problems.append(str(exc))
        return check
    check.loaded.append(SPLITS_FILE)
    check.counts["classes"] = splits.n_classes
    check.counts["descriptor_dim"] = int(splits.att.shape[1])
    for split in ("trainval", "test_seen", "test_unseen"):
        check.counts[split] = int(splits.locs[split].size)
    if not splits.has_names:
        check.notes.append("att_splits.mat has no allclasses_names: classes are named class_001, class_002, ...")
    for quirk in ("train", "val"):
        leak = np.intersect1d(splits.locs[quirk], splits.locs["test_seen"]).size
        if leak:
            check.notes.append(
                f"{LOC_KEYS[quirk]} overlaps test_seen_loc by {leak} images (known PS v2.0 quirk; the protocol "
                "takes validation images from trainval_loc only)"
            )

    # 2. the files a run would read, found by the resolver `run` uses; then the labels
    files = None
    try:
        files = resolve_files(folder, name=name, features="res101", descriptors="att")
    except DatasetError as exc:
        check.problems.append(str(exc))
    if files is not None:
        labels_file: Path | None = files.labels or files.features
    else:  # no usable feature file: still count what the labels say
        labels_file = next((folder / f for f in LABEL_FILES if (folder / f).is_file()
                            and _has_labels(folder / f)), None)
    labels = None
    if labels_file is None:
        check.notes.append(f"the split file indexes at least {splits.max_index + 1} images")
    else:
        try:
            labels = read_labels(labels_file, splits.n_classes)
            check.counts["images"] = int(labels.size)
            classes = check_split_labels(splits, labels, labels_file)
            check.counts["seen"] = int(classes["seen"].size)
            check.counts["unseen"] = int(classes["unseen"].size)
            check.loaded.append(f"labels ({labels_file.name})")
        except DatasetError as exc:
            check.problems.append(str(exc))
            labels = None

    # 3. features: the resolved res101 file, and res101_finetuned when there is one
    if labels is not None and files is not None and features:
        feature_files = [(files.features, None)]
        if any((folder / f"res101_finetuned{sfx}").is_file() for sfx in FEATURE_SUFFIXES):
            try:
                ft = resolve_files(folder, name=name, features="res101_finetuned", descriptors="att")
                feature_files.append((ft.features, ft.labels or ft.features))
            except DatasetError as exc:
                check.problems.append(str(exc))
        for path, own_labels in feature_files:
            try:
                if own_labels is not None and own_labels != labels_file:
                    own = read_labels(own_labels, splits.n_classes)
                    if not np.array_equal(own, labels):
                        raise DatasetError(f"{own_labels}: its labels differ from {labels_file.name}'s (another image order?)")
                X = read_features(path, n_expected=labels.size)
                if own_labels is None:
                    check.counts["feature_dim"] = int(X.shape[1])
                    Dataset(
                        features=X, labels=labels, descriptors=splits.att, class_names=splits.class_names,
                        splits=dict(splits.locs), identity=_identity(name),
                        source=str(folder),
                    ).validate()
                check.loaded.append(f"features ({path.name}, {X.shape[0]} x {X.shape[1]})")
                del X
            except DatasetError as exc:
                check.problems.append(str(exc))
    if not features and files is not None:
        check.notes.append("features not read (--no-features)")

    # 4. other descriptors
    if check.files["sent_splits.mat"]:
        path = folder / "sent_splits.mat"
        try:
            sent = np.asarray(read_mat(path, ["att"])["att"])
            if sent.ndim != 2 or sent.shape[1] != splits.n_classes:
                raise DatasetError(f"{path}: 'att' has shape {sent.shape}, expected (D, {splits.n_classes})")
            check.loaded.append(f"sentence descriptors (sent_splits.mat, {sent.shape[0]}-d)")
        except DatasetError as exc:
            check.problems.append(str(exc))
    if embeddings_dir is not None and embeddings_dir.is_dir():
        names_file = embeddings_dir / f"{name}_classnames.txt"
        for emb in sorted(embeddings_dir.glob(f"{name}_*.npy")):
            try:
                mat = load_embedding_matrix(
                    emb, splits.class_names, classnames_file=names_file if names_file.is_file() else None,
                    names_known=splits.has_names,
                )
                check.loaded.append(f"embeddings ({emb.name}, {mat.shape[1]}-d)")
            except DatasetError as exc:
                check.problems.append(str(exc))
        if names_file.is_file() and not any(embeddings_dir.glob(f"{name}_*.npy")):
            check.notes.append(f"{names_file} has {len(read_class_names(names_file))} names but no embeddings")

    # 5. published sizes
    if check.expected is not None:
        for key, want in check.expected.items():
            got = check.counts.get(key)
            if got is not None and got != want:
                check.problems.append(f"{name}: {key} is {got}, the published PS v2.0 value is {want}")
    return check


def _has_labels(path: Path) -> bool:
    try:
        return "labels" in mat_keys(path)
    except DatasetError:
        return True  # let reading it report the problem


def _identity(name: str) -> DatasetIdentity:
    return DatasetIdentity(name=name, split_version="PS-v2.0", feature_id="res101", descriptor_id="att")
