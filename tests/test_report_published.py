"""Published numbers: percent in the CSV, fractions after loading; bad files give clear errors."""

from __future__ import annotations

import pytest

from zslbench.report.published import default_published_path, full_data_numbers, load_published


def test_loads_the_repository_copy_as_fractions():
    pub = load_published()
    assert default_published_path().is_file()
    icis = pub[(pub["method"] == "icis") & (pub["dataset"] == "CUB") & (pub["metric"] == "gzsl_h")
               & pub["seen_classes"].isna()]
    assert icis["value"].tolist() == pytest.approx([0.565])
    assert pub["value"].between(0, 1).all()
    assert set(pub["access"]) == {"image_free", "inductive"}


def test_full_data_prefers_table_rows_over_figure_points():
    full = full_data_numbers(load_published())
    icis_cub = full[(full["method"] == "icis") & (full["dataset"] == "CUB") & (full["metric"] == "zsl_top1")]
    assert icis_cub["value"].tolist() == pytest.approx([0.606])  # Table 1, not the figure's 60.9
    mlp = full[(full["method"] == "icis_mlp") & (full["dataset"] == "CUB")]
    assert set(mlp["seen_classes"]) == {150.0} and len(mlp) == 2  # figure point = full CUB data
    assert not (full["seen_classes"] < 150).any()


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_published(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("method,features,setting,dataset,metric,value,source\nicis,r,image_free,CUB,zsl_top1,0.6x,s\n")
    with pytest.raises(ValueError):
        load_published(bad)
    bad.write_text("method,features,setting,dataset,metric,value,source\nicis,r,image_free,CUB,zsl_top1,160,s\n")
    with pytest.raises(ValueError, match=r"percentage in \[0, 100\]"):
        load_published(bad)
    bad.write_text("method,features,dataset,metric,value,source\n")
    with pytest.raises(ValueError, match="missing column"):
        load_published(bad)
