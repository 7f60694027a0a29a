"""The xlsa17 loader, descriptors, identity and the dataset entry point (zslbench.data.sources)."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_EMBEDDINGS, SHARED_XLSA17, toy_xlsa17_arrays, write_xlsa17_folder
from zslbench.data import sources, xlsa17, xlsa17_files
from zslbench.data.dataset import DatasetError
from zslbench.data.xlsa17 import EXPECTED, read_att_splits, read_mat, write_mat

# --------------------------------------------------------------------------------------------------
# real splits (../shared/data)


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["CUB", "AWA2", "SUN"])
def test_real_datasets_load_with_published_counts(xlsa17_root_factory, name):
    root = xlsa17_root_factory(names=(name,), feature_dim=16)
    ds = sources.load_dataset(name, data_root=root)
    want = EXPECTED[name]
    s = ds.summary()
    assert (s["images"], s["classes"], s["seen"], s["unseen"], s["descriptor_dim"]) == (
        want.images, want.classes, want.seen, want.unseen, want.descriptor_dim)
    assert (s["trainval_images"], s["test_seen_images"], s["test_unseen_images"]) == (
        want.trainval, want.test_seen, want.test_unseen)
    assert ds.features.dtype == np.float32 and ds.features.shape == (want.images, 16)
    assert ds.labels.min() == 0 and ds.labels.max() == want.classes - 1
    # indices are 0-based: the file's 1-based trainval_loc minus one
    raw = read_mat(root / name / "att_splits.mat", ["trainval_loc"])["trainval_loc"].ravel().astype(np.int64)
    np.testing.assert_array_equal(ds.splits["trainval"], np.sort(raw) - 1)
    # descriptors are att transposed (C, A), unit-norm rows as released
    np.testing.assert_allclose(np.linalg.norm(ds.descriptors, axis=1), 1.0, atol=1e-6)
    ident = ds.identity
    assert ident.split_version == "PS-v2.0" and ident.feature_id == "res101" and ident.descriptor_id == "att"
    assert set(ident.checksums) == {"res101.mat", "att_splits.mat"}
    assert ident.checksums["att_splits.mat"] == hashlib.sha256(
        (SHARED_XLSA17 / name / "att_splits.mat").read_bytes()).hexdigest()
    assert "original_att" in ds.extras and ds.extras["original_att"].shape == ds.descriptors.shape


@pytest.mark.realdata
def test_real_cub_label_order_follows_allclasses_names(xlsa17_root_factory):
    root = xlsa17_root_factory()
    ds = sources.load_dataset("CUB", data_root=root)
    assert ds.class_names[0] == "002.Laysan_Albatross"
    # every image's label names the folder its image file is in
    files = read_mat(root / "CUB" / "res101.mat", ["image_files"])["image_files"].ravel()
    folders = [f.split("/")[-2] for f in files]
    assert [ds.class_names[c] for c in ds.labels] == folders
    assert files[0].endswith("001.Black_footed_Albatross/Black_Footed_Albatross_0001_796111.jpg")
    assert ds.labels[0] == ds.class_names.index("001.Black_footed_Albatross") == 150


@pytest.mark.realdata
def test_real_cub_v5_and_v73_load_identically(xlsa17_root_factory):
    v5 = sources.load_dataset("CUB", data_root=xlsa17_root_factory(version="v5"))
    root73 = xlsa17_root_factory(version="v73")
    assert xlsa17.mat_version(root73 / "CUB" / "res101.mat") == "v7.3"
    assert xlsa17.mat_version(root73 / "CUB" / "att_splits.mat") == "v7.3"
    v73 = sources.load_dataset("CUB", data_root=root73)
    np.testing.assert_array_equal(v5.features, v73.features)
    np.testing.assert_array_equal(v5.labels, v73.labels)
    np.testing.assert_array_equal(v5.descriptors, v73.descriptors)
    np.testing.assert_array_equal(v5.extras["original_att"], v73.extras["original_att"])
    assert v5.class_names == v73.class_names
    for key in v5.splits:
        np.testing.assert_array_equal(v5.splits[key], v73.splits[key])
    # same content, different files: the checksums tell them apart
    assert v5.identity.checksums != v73.identity.checksums


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["CUB", "AWA2", "SUN", "AWA1", "APY", "FLO"])
def test_real_att_splits_files(shared_data, name):
    splits = read_att_splits(SHARED_XLSA17 / name / "att_splits.mat")
    want = EXPECTED[name]
    assert splits.n_classes == want.classes
    assert splits.att.shape == (want.classes, want.descriptor_dim)
    assert [splits.locs[k].size for k in ("trainval", "test_seen", "test_unseen")] == [
        want.trainval, want.test_seen, want.test_unseen]
    for idx in splits.locs.values():
        assert idx.min() >= 0 and idx.max() < want.images  # 0-based, in range
        assert np.all(np.diff(idx) > 0)
    # together, trainval + test_seen + test_unseen cover every image exactly once
    union = np.concatenate([splits.locs[k] for k in ("trainval", "test_seen", "test_unseen")])
    assert union.size == want.images and np.unique(union).size == want.images
    if name == "FLO":
        assert not splits.has_names and splits.class_names[:2] == ("class_001", "class_002")
        assert splits.original_att is None
    else:
        assert splits.has_names and splits.original_att is not None


@pytest.mark.realdata
def test_no_test_image_reaches_validation_on_real_cub(xlsa17_root_factory):
    from zslbench.protocol import validation_split

    root = xlsa17_root_factory()
    # the trap is real: the released train_loc / val_loc overlap test_seen_loc
    raw = read_mat(root / "CUB" / "att_splits.mat")
    loc = {k: np.asarray(raw[k]).ravel().astype(np.int64) for k in xlsa17.LOC_KEYS.values()}
    assert np.intersect1d(loc["train_loc"], loc["test_seen_loc"]).size == 1173
    assert np.intersect1d(loc["val_loc"], loc["test_seen_loc"]).size == 591

    ds = sources.load_dataset("CUB", data_root=root)
    split = validation_split(ds)
    used = np.concatenate([split.train, split.eval_seen, split.eval_unseen])
    assert np.isin(used, ds.splits["trainval"]).all()
    assert not np.isin(used, ds.splits["test_seen"]).any()
    assert not np.isin(used, ds.splits["test_unseen"]).any()
    # the validation classes do come from train_loc / val_loc
    assert np.isin(split.unseen, np.unique(ds.labels[ds.splits["val"]])).all()
    assert split.unseen.size == 50 and split.seen.size == 100


@pytest.mark.realdata
@pytest.mark.parametrize("kind", ["wiki2vec", "conceptnet"])
def test_real_class_embeddings(xlsa17_root_factory, kind):
    root = xlsa17_root_factory()
    ds = sources.load_dataset("CUB", data_root=root, descriptors=kind, embeddings_dir=SHARED_EMBEDDINGS)
    assert ds.descriptors.shape == (200, 300)
    np.testing.assert_allclose(np.linalg.norm(ds.descriptors, axis=1), 1.0, atol=1e-9)
    raw = np.load(SHARED_EMBEDDINGS / f"CUB_{kind}.npy").astype(np.float64)
    np.testing.assert_allclose(ds.descriptors[5], raw[5] / np.linalg.norm(raw[5]), atol=1e-9)
    assert ds.identity.descriptor_id == kind
    assert {f"CUB_{kind}.npy", "CUB_classnames.txt"} <= set(ds.identity.checksums)
    assert ds.extras["att"].shape == (200, 312)


# --------------------------------------------------------------------------------------------------
# a tiny synthetic folder: loading, formats, descriptors


def test_toy_loads_and_converts_to_zero_based(toy_root):
    ds = sources.load_dataset("TOY", data_root=toy_root)
    res101, att_splits = toy_xlsa17_arrays()
    np.testing.assert_array_equal(ds.labels, res101["labels"].ravel().astype(int) - 1)
    np.testing.assert_array_equal(ds.splits["test_unseen"], att_splits["test_unseen_loc"].ravel().astype(int) - 1)
    np.testing.assert_allclose(ds.features, res101["features"].T)
    assert ds.class_names[0] == "001.toy_class_0" and not ds.synthetic
    assert ds.source == str(toy_root / "TOY")


def test_toy_v73_equals_v5(tmp_path):
    res101, att_splits = toy_xlsa17_arrays()
    write_xlsa17_folder(tmp_path / "a", "TOY", res101, att_splits, version="v5")
    write_xlsa17_folder(tmp_path / "b", "TOY", res101, att_splits, version="v73")
    a = sources.load_dataset("TOY", data_root=tmp_path / "a")
    b = sources.load_dataset("TOY", data_root=tmp_path / "b")
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.descriptors, b.descriptors)
    assert a.class_names == b.class_names


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_write_read_mat_roundtrip(tmp_path, version):
    cell = np.empty((3, 1), dtype=object)
    cell[:, 0] = ["a", "bc", ""]
    arrays = {"m": np.arange(6, dtype=np.float64).reshape(2, 3), "idx": np.array([[1], [5]], np.uint16),
              "names": cell, "s": "hello"}
    write_mat(tmp_path / "x.mat", arrays, version=version)
    out = read_mat(tmp_path / "x.mat")
    np.testing.assert_array_equal(out["m"], arrays["m"])
    np.testing.assert_array_equal(np.asarray(out["idx"]).ravel(), [1, 5])
    assert list(np.asarray(out["names"], dtype=object).ravel()) == ["a", "bc", ""]
    assert str(np.asarray(out["s"]).ravel()[0] if isinstance(out["s"], np.ndarray) else out["s"]) == "hello"


@pytest.mark.parametrize("fmt", ["npz", "npz_nolabels", "npy", "h5", "finetuned"])
def test_other_feature_files(toy_root, fmt):
    folder = toy_root / "TOY"
    res101, _ = toy_xlsa17_arrays()
    X = np.random.default_rng(1).random((60, 12)).astype(np.float32)
    labels = res101["labels"].ravel()
    if fmt == "npz":
        np.savez(folder / "clip.npz", features=X, labels=labels)
    elif fmt == "npz_nolabels":
        np.savez(folder / "clip.npz", features=X)
    elif fmt == "npy":
        np.save(folder / "clip.npy", X)
    elif fmt == "h5":
        import h5py

        with h5py.File(folder / "clip.h5", "w") as f:
            f["features"], f["labels"] = X, labels
    else:
        write_mat(folder / "res101_finetuned.mat", {"features": X.T, "labels": res101["labels"]})
    feature_id = "res101_finetuned" if fmt == "finetuned" else "clip"
    ds = sources.load_dataset("TOY", data_root=toy_root, features=feature_id)
    np.testing.assert_array_equal(ds.features, X)
    np.testing.assert_array_equal(ds.labels, labels.astype(int) - 1)
    assert ds.identity.feature_id == feature_id
    # a file without labels takes them from res101.mat, which is then part of the identity
    assert ("res101.mat" in ds.identity.checksums) == (fmt in ("npz_nolabels", "npy"))
    assert sources.dataset_identity("TOY", data_root=toy_root, features=feature_id) == ds.identity


def test_ambiguous_feature_files_are_refused(toy_root):
    folder = toy_root / "TOY"
    np.save(folder / "clip.npy", np.zeros((60, 4), np.float32))
    np.savez(folder / "clip.npz", features=np.zeros((60, 4), np.float32))
    with pytest.raises(DatasetError, match="ambiguous features 'clip'"):
        sources.load_dataset("TOY", data_root=toy_root, features="clip")


def test_sent_descriptors(toy_root):
    sent = np.random.default_rng(0).random((7, 6))
    write_mat(toy_root / "TOY" / "sent_splits.mat", {"att": sent})
    ds = sources.load_dataset("TOY", data_root=toy_root, descriptors="sent")
    np.testing.assert_allclose(ds.descriptors, sent.T)
    assert ds.identity.descriptor_id == "sent" and "sent_splits.mat" in ds.identity.checksums


def test_missing_sent_file(toy_root):
    with pytest.raises(DatasetError, match=r"sent_splits\.mat: file not found"):
        sources.load_dataset("TOY", data_root=toy_root, descriptors="sent")


def _toy_embeddings(toy_root: Path, rows: int = 6, names: list[str] | None = None) -> Path:
    emb = toy_root / "class_embeddings"
    emb.mkdir(exist_ok=True)
    np.save(emb / "TOY_wiki2vec.npy", np.random.default_rng(0).random((rows, 4)).astype(np.float32) + 0.1)
    names = names if names is not None else [f"{c + 1:03d}.toy_class_{c}" for c in range(6)]
    (emb / "TOY_classnames.txt").write_text("\n".join(names) + "\n")
    return emb


def test_embeddings_default_folder_and_normalised(toy_root):
    _toy_embeddings(toy_root)
    ds = sources.load_dataset("TOY", data_root=toy_root, descriptors="wiki2vec")
    assert ds.descriptors.shape == (6, 4)
    np.testing.assert_allclose(np.linalg.norm(ds.descriptors, axis=1), 1.0)
    assert {"TOY_wiki2vec.npy", "TOY_classnames.txt"} <= set(ds.identity.checksums)


def test_embeddings_class_name_mismatch(toy_root):
    names = [f"{c + 1:03d}.toy_class_{c}" for c in range(6)]
    names[2], names[3] = names[3], names[2]
    _toy_embeddings(toy_root, names=names)
    with pytest.raises(DatasetError, match=r"TOY_classnames\.txt: row 2 is '004\.toy_class_3'"):
        sources.load_dataset("TOY", data_root=toy_root, descriptors="wiki2vec")


def test_embeddings_row_count_mismatch(toy_root):
    _toy_embeddings(toy_root, rows=5)
    with pytest.raises(DatasetError, match=r"TOY_wiki2vec\.npy: 5 embedding rows but the dataset has 6 classes"):
        sources.load_dataset("TOY", data_root=toy_root, descriptors="wiki2vec")


def test_embeddings_zero_row(toy_root):
    emb = _toy_embeddings(toy_root)
    arr = np.load(emb / "TOY_wiki2vec.npy")
    arr[1] = 0
    np.save(emb / "TOY_wiki2vec.npy", arr)
    with pytest.raises(DatasetError, match=r"TOY_wiki2vec\.npy: embedding row 1 .* all zeros"):
        sources.load_dataset("TOY", data_root=toy_root, descriptors="wiki2vec")


def test_missing_embedding_kind_names_file(toy_root):
    _toy_embeddings(toy_root)
    with pytest.raises(DatasetError, match=r"TOY_conceptnet\.npy: embedding file not found .*available here: wiki2vec"):
        sources.load_dataset("TOY", data_root=toy_root, descriptors="conceptnet")


def test_user_npy_descriptors_round_trip_by_id(toy_root):
    vecs = np.random.default_rng(2).random((6, 3)) + 0.1
    np.save(toy_root / "TOY" / "my_vectors.npy", vecs)
    ds = sources.load_dataset("TOY", data_root=toy_root, descriptors="my_vectors.npy")
    assert ds.identity.descriptor_id == "my_vectors"
    np.testing.assert_allclose(ds.descriptors, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    # run specs only hold the id: it finds the same file again
    again = sources.dataset_identity("TOY", data_root=toy_root, descriptors="my_vectors")
    assert again == ds.identity


# --------------------------------------------------------------------------------------------------
# every error path names the file and the fact


def _write(root: Path, res101=None, att=None, version="v5") -> Path:
    r, a = toy_xlsa17_arrays()
    write_xlsa17_folder(root, "TOY", r if res101 is None else res101, a if att is None else att, version=version)
    return root


def _load_error(root: Path, **kw) -> str:
    with pytest.raises(DatasetError) as info:
        sources.load_dataset("TOY", data_root=root, **kw)
    return str(info.value)


def test_error_missing_features_file(tmp_path):
    _, att = toy_xlsa17_arrays()
    write_xlsa17_folder(tmp_path, "TOY", None, att)
    msg = _load_error(tmp_path)
    assert "res101.mat" in msg and "not found" in msg


def test_error_missing_splits_file(tmp_path):
    res, _ = toy_xlsa17_arrays()
    write_xlsa17_folder(tmp_path, "TOY", res, None)
    msg = _load_error(tmp_path)
    assert "att_splits.mat" in msg and "not found" in msg


@pytest.mark.parametrize("version", ["v5", "v73"])
def test_error_missing_key(tmp_path, version):
    res, att = toy_xlsa17_arrays()
    del att["test_seen_loc"]
    msg = _load_error(_write(tmp_path, att=att, version=version))
    assert "att_splits.mat" in msg and "missing key 'test_seen_loc'" in msg


def test_error_missing_features_key(tmp_path):
    res, _ = toy_xlsa17_arrays()
    del res["features"]
    res["feats"] = np.zeros((8, 60), np.float32)
    msg = _load_error(_write(tmp_path, res101=res))
    assert "res101.mat" in msg and "missing key 'features'" in msg


def test_error_not_a_mat_file(toy_root):
    (toy_root / "TOY" / "res101.mat").write_bytes(b"<html>404 Not Found</html>" * 10)
    msg = _load_error(toy_root)
    assert "res101.mat" in msg and "not a MATLAB" in msg


def test_error_truncated_mat_file(toy_root):
    path = toy_root / "TOY" / "res101.mat"
    path.write_bytes(path.read_bytes()[:400])
    msg = _load_error(toy_root)
    assert "res101.mat" in msg and "unreadable MATLAB file" in msg


def test_error_features_labels_count_mismatch(tmp_path):
    res, _ = toy_xlsa17_arrays()
    res["features"] = res["features"][:, :59]
    msg = _load_error(_write(tmp_path, res101=res))
    assert "res101.mat" in msg and "holds 59 images but there are 60 labels" in msg


def test_error_transposed_features(tmp_path):
    res, _ = toy_xlsa17_arrays()
    res["features"] = np.ascontiguousarray(res["features"].T)
    msg = _load_error(_write(tmp_path, res101=res))
    assert "res101.mat" in msg and "looks transposed" in msg


def test_error_descriptor_class_count_mismatch(tmp_path):
    _, att = toy_xlsa17_arrays()
    att["att"] = att["att"][:, :5]
    msg = _load_error(_write(tmp_path, att=att))
    assert "att_splits.mat" in msg and "'allclasses_names' has 6 names but 'att' has 5 classes" in msg


def test_error_zero_based_indices(tmp_path):
    _, att = toy_xlsa17_arrays()
    for key in xlsa17.LOC_KEYS.values():  # a file written with 0-based indices
        att[key] = att[key].astype(np.int64) - 1
    msg = _load_error(_write(tmp_path, att=att))
    assert "att_splits.mat" in msg and "'test_seen_loc' contains index 0" in msg and "1-based" in msg


def test_error_index_out_of_range(tmp_path):
    _, att = toy_xlsa17_arrays()
    att["test_unseen_loc"] = np.vstack([att["test_unseen_loc"], [[65]]]).astype(np.uint16)
    msg = _load_error(_write(tmp_path, att=att))
    assert "att_splits.mat" in msg and "'test_unseen_loc' contains image index 65" in msg
    assert "only 60 images" in msg


def test_error_duplicate_index(tmp_path):
    _, att = toy_xlsa17_arrays()
    att["test_seen_loc"] = np.vstack([att["test_seen_loc"], att["test_seen_loc"][:1]])
    msg = _load_error(_write(tmp_path, att=att))
    assert "att_splits.mat" in msg and "'test_seen_loc' lists 1 image index(es) more than once" in msg


def test_error_seen_unseen_class_overlap(tmp_path):
    _, att = toy_xlsa17_arrays()
    tu = att["test_unseen_loc"].ravel()
    att["trainval_loc"] = np.sort(np.append(att["trainval_loc"].ravel(), tu[0])).astype(np.uint16)[:, None]
    att["test_unseen_loc"] = tu[1:, None]
    msg = _load_error(_write(tmp_path, att=att))
    assert "att_splits.mat" in msg and "seen classes" in msg and "overlap" in msg and "toy_class_4" in msg


def test_error_test_image_in_trainval(tmp_path):
    _, att = toy_xlsa17_arrays()
    tu = att["test_unseen_loc"].ravel()
    att["trainval_loc"] = np.sort(np.append(att["trainval_loc"].ravel(), tu[0])).astype(np.uint16)[:, None]
    msg = _load_error(_write(tmp_path, att=att))
    assert "att_splits.mat" in msg and "'trainval_loc' and 'test_unseen_loc' share 1 image(s)" in msg


def test_error_class_without_images(tmp_path):
    res, att = toy_xlsa17_arrays()
    att["att"] = np.hstack([att["att"], att["att"][:, :1]])
    att["original_att"] = np.hstack([att["original_att"], att["original_att"][:, :1]])
    names = np.empty((7, 1), dtype=object)
    names[:6, 0] = att["allclasses_names"].ravel()
    names[6, 0] = "007.never_photographed"
    att["allclasses_names"] = names
    msg = _load_error(_write(tmp_path, res101=res, att=att))
    assert "res101.mat" in msg and "'007.never_photographed' (label 7) has no images" in msg


def test_error_nan_features(tmp_path):
    res, _ = toy_xlsa17_arrays()
    res["features"][3, 10] = np.nan
    msg = _load_error(_write(tmp_path, res101=res))
    assert "res101.mat" in msg and "NaN or inf in 1 image(s)" in msg and "image 11" in msg


def test_error_zero_based_labels(tmp_path):
    res, _ = toy_xlsa17_arrays()
    res["labels"] = res["labels"] - 1
    msg = _load_error(_write(tmp_path, res101=res))
    assert "res101.mat" in msg and "'labels' contains 0" in msg and "1-based" in msg


def test_error_label_beyond_classes(tmp_path):
    res, _ = toy_xlsa17_arrays()
    res["labels"][0, 0] = 9
    msg = _load_error(_write(tmp_path, res101=res))
    assert "res101.mat" in msg and "class 9 but att_splits.mat has only 6 classes" in msg


def test_error_v73_without_h5py(tmp_path, monkeypatch):
    root = _write(tmp_path, version="v73")
    monkeypatch.setitem(sys.modules, "h5py", None)  # `import h5py` now raises ImportError
    msg = _load_error(root)
    assert ".mat" in msg and "MATLAB v7.3 (HDF5)" in msg and "needs h5py" in msg


# --------------------------------------------------------------------------------------------------
# the entry point: names, roots, identity, cache


def test_available_datasets(tmp_path):
    assert sources.available_datasets(None) == list(sources.SYNTHETIC)
    res, att = toy_xlsa17_arrays()
    write_xlsa17_folder(tmp_path, "CUB", res, att)
    write_xlsa17_folder(tmp_path, "SUN", None, att)  # no features: not available
    got = sources.available_datasets(tmp_path)
    assert got[: len(sources.SYNTHETIC)] == list(sources.SYNTHETIC)
    assert got[len(sources.SYNTHETIC):] == ["CUB"]


def test_standard_names_are_case_insensitive_and_sizes_are_checked(tmp_path, caplog):
    res, att = toy_xlsa17_arrays()
    write_xlsa17_folder(tmp_path, "CUB", res, att)
    with caplog.at_level(logging.WARNING, logger="zslbench.data.xlsa17"):
        ds = sources.load_dataset("cub", data_root=tmp_path)
    assert ds.name == "CUB"
    assert "differ from the published PS v2.0 sizes" in caplog.text


def test_unknown_names_and_missing_root(tmp_path, toy_root):
    with pytest.raises(DatasetError, match="needs a data root.*ZSLBENCH_DATA"):
        sources.load_dataset("CUB")
    with pytest.raises(DatasetError, match="did you mean 'synth-tiny'"):
        sources.load_dataset("synth-tin")
    with pytest.raises(DatasetError, match="did you mean 'TOY'"):
        sources.load_dataset("TOYY", data_root=toy_root)
    nested = tmp_path / "unzipped" / "xlsa17" / "data" / "CUB"
    nested.mkdir(parents=True)
    with pytest.raises(DatasetError, match="use --data-root .*xlsa17/data"):
        sources.load_dataset("CUB", data_root=tmp_path / "unzipped")


def test_resolve_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("ZSLBENCH_DATA", raising=False)
    assert sources.resolve_data_root(None) is None
    monkeypatch.setenv("ZSLBENCH_DATA", str(tmp_path / "env"))
    assert sources.resolve_data_root(None) == tmp_path / "env"
    assert sources.resolve_data_root(tmp_path / "cli") == tmp_path / "cli"  # the CLI wins
    assert sources.resolve_data_root(str(tmp_path / "cli")) == tmp_path / "cli"


def test_synthetic_names(monkeypatch):
    from zslbench.data.synthetic import make_synthetic

    assert sources.load_dataset("synth-tiny") is make_synthetic("synth-tiny")
    assert sources.dataset_identity("synth-tiny") == make_synthetic("synth-tiny").identity
    ds = sources.load_dataset("synth-tiny", descriptors="original_att")
    np.testing.assert_array_equal(ds.descriptors, make_synthetic("synth-tiny").extras["original_att"])
    assert ds.identity == sources.dataset_identity("synth-tiny", descriptors="original_att")
    assert ds.identity.descriptor_id == "original_att"
    # what the runner passes back from a recorded spec
    assert sources.load_dataset("synth-tiny", features="synthetic") is make_synthetic("synth-tiny")
    with pytest.raises(DatasetError, match="synthetic datasets only have descriptors"):
        sources.load_dataset("synth-tiny", descriptors="wiki2vec")


def test_identity_without_loading_features(toy_root, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("features were read")

    monkeypatch.setattr(xlsa17, "read_features", boom)
    ident = sources.dataset_identity("TOY", data_root=toy_root)
    path = toy_root / "TOY" / "res101.mat"
    assert ident.checksums["res101.mat"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ident.name == "TOY" and ident.feature_id == "res101" and ident.split_version == "PS-v2.0"


def test_identity_stable_cached_and_changes_with_a_file(toy_root, monkeypatch):
    first = sources.dataset_identity("TOY", data_root=toy_root)
    assert sources.load_dataset("TOY", data_root=toy_root).identity == first
    # cached per (path, size, mtime): a second call hashes nothing
    class NoHashing:
        @staticmethod
        def sha256(*a, **k):
            raise AssertionError("a file was hashed again")

    monkeypatch.setattr(xlsa17_files, "hashlib", NoHashing)  # file_sha256 lives there
    assert sources.dataset_identity("TOY", data_root=toy_root) == first
    monkeypatch.undo()
    # change a descriptor value: the identity (and the cached dataset) change
    _, att = toy_xlsa17_arrays()
    att["att"] = att["att"].copy()
    att["att"][0, 0] += 1e-3
    path = toy_root / "TOY" / "att_splits.mat"
    write_mat(path, att)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = sources.dataset_identity("TOY", data_root=toy_root)
    assert second.checksums["att_splits.mat"] != first.checksums["att_splits.mat"]
    assert second.checksums["res101.mat"] == first.checksums["res101.mat"]
    assert sources.load_dataset("TOY", data_root=toy_root).identity == second


def test_dataset_cache(toy_root):
    a = sources.load_dataset("TOY", data_root=toy_root)
    assert sources.load_dataset("TOY", data_root=toy_root) is a
    assert sources.load_dataset("TOY", data_root=toy_root, descriptors="original_att") is not a
    sources.clear_cache()
    assert sources.load_dataset("TOY", data_root=toy_root) is not a
