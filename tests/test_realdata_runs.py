"""End-to-end runs on the real split files of ../shared/data with generated features in the exact
res101.mat layout (skipped with a reason when ../shared/data is absent)."""

import pytest

from zslbench.cli import main
from zslbench.records import iter_records

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize("version", ["v5", "v73"])
def test_run_on_real_cub_splits(xlsa17_root_factory, tmp_path, capsys, version):
    root = xlsa17_root_factory(("CUB",), version=version, feature_dim=48)
    results = tmp_path / "results"
    code = main(["run", "-m", "ridge_v2s", "ridge_injection", "-d", "CUB", "--seeds", "0", "--test-params",
                 "--data-root", str(root), "--results", str(results)])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    records = [r for _, r in iter_records(results)]
    assert sorted(r["spec"]["method"] for r in records) == ["ridge_injection", "ridge_v2s"]
    for rec in records:
        assert rec["status"] == "ok", rec.get("error")
        ds = rec["spec"]["dataset"]
        assert ds["name"] == "CUB" and ds["split_version"] == "PS-v2.0"
        assert ds["feature_id"] == "res101" and ds["descriptor_id"] == "att"
        assert {"res101.mat", "att_splits.mat"} <= set(ds["checksums"])
        assert len(rec["per_class"]["unseen_classes"]) == 50 and len(rec["per_class"]["seen_classes"]) == 150
        assert rec["per_class"]["unseen_classes"][0].startswith(("0", "1", "2"))  # real CUB class names
        assert rec["synthetic"] is False


def test_ls_datasets_finds_real_folders(xlsa17_root_factory, capsys):
    root = xlsa17_root_factory(("CUB",), feature_dim=16)
    assert main(["ls", "datasets", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "CUB" in out and "synth-cub" in out and "SYNTHETIC" in out
