"""Plots: every figure kind is written as a non-empty PNG and PDF."""

from __future__ import annotations

from fixtures_records import write_fixture_results

from zslbench.report.aggregate import load_results
from zslbench.report.plots import make_plots, method_colors


def test_plots_write_png_and_pdf(tmp_path):
    write_fixture_results(tmp_path / "results")
    written = make_plots(load_results(tmp_path / "results"), tmp_path / "figures")
    names = {p.name for p in written}
    for stem in ("scarcity_seen_fraction_synth-tiny_synthetic", "scarcity_images_per_class_synth-tiny_synthetic",
                 "curve_CUB_res101_finetuned", "perclass_AWA2_res101_finetuned"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    for path in written:
        head = path.read_bytes()[:8]
        assert path.stat().st_size > 5000
        assert head.startswith(b"\x89PNG") if path.suffix == ".png" else head.startswith(b"%PDF")
    # Paper-procedure runs and the unfinished descriptor_dims factor draw nothing.
    assert not any("descriptor_dims" in n for n in names)


def test_method_colours_are_stable():
    a = method_colors(["icis", "conse", "costa"])
    b = method_colors(["costa", "icis", "conse", "icis"])
    assert a == b and len(set(a.values())) == 3


def test_scarcity_legend_names_the_seeds_behind_a_curve():
    import pandas as pd

    from zslbench.report.plots import _seed_count

    assert _seed_count(pd.Series([3, 3, 3])) == "n=3"
    assert _seed_count(pd.Series([1, 2, 2])) == "n=1-2"  # some points rest on fewer seeds than others
