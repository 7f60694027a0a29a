"""``zslbench data export``: a dataset written in the xlsa17 layout reads back to the same arrays."""

from __future__ import annotations

import numpy as np
import pytest

from zslbench.cli import main
from zslbench.data.dataset import SPLIT_KEYS, dataset_layout_sha256
from zslbench.data.export import export_xlsa17
from zslbench.data.sources import load_dataset
from zslbench.data.xlsa17 import load_xlsa17


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_export_reads_back_to_the_same_dataset(tmp_path, version):
    ds = load_dataset("synth-tiny")
    export_xlsa17(ds, tmp_path / "synth-tiny", version=version)
    back = load_xlsa17(tmp_path / "synth-tiny")
    np.testing.assert_array_equal(back.features, ds.features)
    np.testing.assert_array_equal(back.labels, ds.labels)
    np.testing.assert_allclose(back.descriptors, ds.descriptors, rtol=0, atol=0)
    assert back.class_names == ds.class_names
    for key in SPLIT_KEYS:
        np.testing.assert_array_equal(back.splits[key], ds.splits[key])
    np.testing.assert_array_equal(back.extras["original_att"], ds.extras["original_att"])
    assert dataset_layout_sha256(back) == dataset_layout_sha256(ds)
    assert sorted(p.name for p in (tmp_path / "synth-tiny").iterdir()) == ["att_splits.mat", "res101.mat"]
    if version == "v5":  # index types as in the real xlsa17 files, which other code indexes with directly
        import scipy.io

        locs = scipy.io.loadmat(tmp_path / "synth-tiny" / "att_splits.mat")
        assert all(locs[f"{key}_loc"].dtype == np.uint16 for key in SPLIT_KEYS)


def test_cli_exports_and_refuses_to_overwrite_or_guess(tmp_path, capsys):
    assert main(["data", "export", "synth-tiny", "--to", str(tmp_path)]) == 0
    assert "480 images, 12 classes" in capsys.readouterr().out
    before = (tmp_path / "synth-tiny" / "res101.mat").stat().st_mtime_ns
    assert main(["data", "export", "synth-tiny", "--to", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "res101.mat exists; pass --overwrite" in err[0]
    assert (tmp_path / "synth-tiny" / "res101.mat").stat().st_mtime_ns == before
    assert main(["data", "export", "synth-tiny", "--to", str(tmp_path), "--overwrite", "--mat", "v7.3"]) == 0
    assert main(["data", "export", "no-such-set", "--to", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'no-such-set'" in err[-1] and not (tmp_path / "no-such-set").exists()


def test_a_failed_export_leaves_the_earlier_pair_and_no_partial_file(tmp_path, monkeypatch):
    import zslbench.data.export as export

    ds = load_dataset("synth-tiny")
    first = export_xlsa17(ds, tmp_path / "t")
    before = [p.read_bytes() for p in first]
    real_write = export.write_mat

    def fail_on_splits(path, arrays, **kwargs):
        if "att" in arrays:
            raise OSError("disk full")
        return real_write(path, arrays, **kwargs)

    monkeypatch.setattr(export, "write_mat", fail_on_splits)
    with pytest.raises(OSError, match="disk full"):
        export_xlsa17(ds, tmp_path / "t", version="v7.3")
    assert [p.read_bytes() for p in first] == before
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["att_splits.mat", "res101.mat"]


def test_cli_names_an_unwritable_target_in_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["data", "export", "synth-tiny", "--to", str(blocker)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(blocker / "synth-tiny") in err[0]
