"""Records, run ids, resume, failures and interruption."""

import json

import numpy as np
import pytest

from zslbench.cli import main
from zslbench.hparams import validation_grid
from zslbench.method import Method, Param
from zslbench.methods.linear_mappings import BILINEAR_DECAY_GRID, BILINEAR_LR_GRID, RidgeSemanticToVisual
from zslbench.protocol import Setting
from zslbench.data import dataset_layout_sha256
from zslbench.records import RunSpec, iter_records, read_record, record_path, write_record
from zslbench.registry import METHODS
from zslbench.sweep import make_specs, plan, run_specs


def test_run_id_is_a_hash_of_the_spec_without_paths():
    [spec] = make_specs(["ridge_v2s"], ["synth-tiny"], [0])
    assert spec.run_id == RunSpec.from_json(spec.to_json()).run_id
    assert "/" not in json.dumps(spec.to_json())  # no paths in a spec
    [other_seed] = make_specs(["ridge_v2s"], ["synth-tiny"], [1])
    [other_hp] = make_specs(["ridge_v2s"], ["synth-tiny"], [0], hparams_overrides={"alpha": 2.0})
    [other_setting] = make_specs(["ridge_v2s"], ["synth-tiny"], [0], setting=Setting(seen_fraction=0.5))
    assert len({spec.run_id, other_seed.run_id, other_hp.run_id, other_setting.run_id}) == 4


def test_paper_procedure_takes_the_paper_preset_unless_one_is_named():
    [icis] = make_specs(["icis"], ["synth-tiny"], [0], procedure="paper")
    assert icis.procedure == "paper" and icis.preset == "paper"
    [named] = make_specs(["icis"], ["synth-tiny"], [0], procedure="paper", preset="none-yet")
    assert named.preset == "none-yet"
    [no_preset] = make_specs(["ridge_v2s"], ["synth-tiny"], [0], procedure="paper")
    assert no_preset.preset is None  # a method without a paper preset runs its defaults
    [default] = make_specs(["icis"], ["synth-tiny"], [0], procedure="validation")
    assert default.preset is None


def test_atomic_write_leaves_nothing_when_interrupted(tmp_path, monkeypatch):
    import os

    path = tmp_path / "runs" / "x" / "y" / "abc.json"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_record(path, {"a": 1})
    assert list(path.parent.iterdir()) == []


def test_written_records_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    path = tmp_path / "abc.json"
    write_record(path, {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # as open(); not mkstemp's private 0600
    assert json.loads(path.read_text()) == {"a": 1}


def test_records_have_the_schema_and_rerun_skips(tmp_path):
    specs = make_specs(["random", "ridge_v2s"], ["synth-tiny"], [0, 1])
    done = run_specs(specs, results_dir=tmp_path, progress=False)
    assert len(done) == 4 and all(r["status"] == "ok" for r in done)
    rec = read_record(record_path(tmp_path, specs[2]))
    for key in ("schema_version", "run_id", "status", "spec", "metrics", "per_class", "timing", "provenance",
                "validation", "selected_hparams", "curve"):
        assert key in rec, key
    m = rec["metrics"]
    for key in ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h", "gzsl_seen_cs", "gzsl_unseen_cs",
                "gzsl_h_cs", "cs_gamma", "ausuc"):
        assert isinstance(m[key], float)
    assert all(0 <= v <= 1 for k, v in m.items() if k != "cs_gamma")
    assert len(rec["per_class"]["zsl"]) == len(rec["per_class"]["unseen_classes"]) == 4
    assert rec["spec"]["method"] == "ridge_v2s" and rec["run_id"] == specs[2].run_id
    assert rec["provenance"]["libraries"]["numpy"]
    assert set(rec["provenance"]["cpu"]) == {"model", "torch_capability"}  # float results depend on the CPU
    from zslbench.data.synthetic import make_synthetic
    assert rec["provenance"]["dataset_layout_sha256"] == dataset_layout_sha256(make_synthetic("synth-tiny"))
    timing = rec["timing"]
    assert 0 < timing["cpu_seconds"] and timing["torch_threads"] >= 1 and timing["cpu_count"] >= 1
    assert timing["total_seconds"] >= timing["fit_seconds"] + timing["score_seconds"]
    # validation chose gamma; the record says the selection score came from validation
    assert rec["validation"]["objective"] == "gzsl_h"
    assert plan(specs, tmp_path).todo == []
    assert run_specs(specs, results_dir=tmp_path, progress=False) == []
    assert len(run_specs(specs, results_dir=tmp_path, overwrite="always", progress=False)) == 4


class Exploding(Method):
    access = "inductive"

    def fit(self, view, *, rng):
        raise RuntimeError("boom in fit")


class Interrupted(Method):
    access = "inductive"

    def fit(self, view, *, rng):
        raise KeyboardInterrupt


@pytest.fixture
def extra_methods(monkeypatch):
    METHODS._ensure()
    monkeypatch.setitem(METHODS._items, "exploding", Exploding)
    monkeypatch.setitem(METHODS._items, "interrupted", Interrupted)
    Exploding.name, Interrupted.name = "exploding", "interrupted"


def test_a_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path, extra_methods):
    specs = make_specs(["exploding", "random"], ["synth-tiny"], [0])
    out = run_specs(specs, results_dir=tmp_path, progress=False)
    assert [r["status"] for r in out] == ["failed", "ok"]
    rec = read_record(record_path(tmp_path, specs[0]))
    assert rec["error"]["type"] == "RuntimeError" and "boom in fit" in rec["error"]["message"]
    # --overwrite failed retries only the failed one
    assert [s.method for s in plan(specs, tmp_path, "failed").todo] == ["exploding"]


def test_interruption_leaves_only_complete_records(tmp_path, extra_methods):
    specs = make_specs(["random", "interrupted", "ridge_v2s"], ["synth-tiny"], [0])
    with pytest.raises(KeyboardInterrupt):
        run_specs(specs, results_dir=tmp_path, progress=False)
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert [p.parent.name for p in files] == ["random"]
    assert all(p.suffix == ".json" for p in files)
    # resuming completes exactly the missing runs
    assert [s.method for s in plan(specs, tmp_path).todo] == ["interrupted", "ridge_v2s"]


def test_cli_dry_run_and_unknown_method(tmp_path, capsys):
    assert main(["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "0", "--results", str(tmp_path),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would run" in out and "ridge_v2s on synth-tiny seed=0" in out
    assert not (tmp_path / "runs").exists()
    assert main(["run", "-m", "ridge_vs2", "-d", "synth-tiny", "--results", str(tmp_path)]) == 2
    assert "did you mean 'ridge_v2s'" in capsys.readouterr().err


def test_cli_run_then_summary_and_validate(tmp_path, capsys):
    assert main(["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "0", "--results", str(tmp_path),
                 "--seen-fraction", "0.5", "--set", "alpha=2.0"]) == 0
    out = capsys.readouterr().out
    assert "1 runs made" in out and "ok" in out
    [(_, rec)] = list(iter_records(tmp_path))
    assert rec["spec"]["setting"]["seen_fraction"] == 0.5 and rec["selected_hparams"]["alpha"] == 2.0
    assert main(["validate"]) == 0


def test_hparam_search_selects_on_validation(tmp_path):
    [spec] = make_specs(["ale"], ["synth-tiny"], [0], trials=4, test_params=True)
    [summary] = run_specs([spec], results_dir=tmp_path, progress=False)
    rec = read_record(record_path(tmp_path, spec))
    trials = rec["validation"]["trials"]
    # 4 random draws (margin is searched at random), each crossed with the lr x weight-decay validation grid
    assert len({t["hparams"]["margin"] for t in trials}) == 4
    assert len(trials) == 4 * len(BILINEAR_LR_GRID) * len(BILINEAR_DECAY_GRID)
    assert {t["hparams"]["lr"] for t in trials} == set(BILINEAR_LR_GRID)
    best = max(trials, key=lambda t: t["score"])
    assert rec["selected_hparams"] == best["hparams"]
    assert rec["validation"]["score"] == pytest.approx(best["score"])


class _GridRidge(RidgeSemanticToVisual):
    """ridge_s2v whose penalty every run compares on validation; ``refit`` when ``refits`` is set."""

    space = {"alpha": Param(1.0, choices=(0.01, 1.0, 100.0), select_on_validation=True)}
    fits = 0

    def fit(self, view, *, rng):
        type(self).fits += 1
        self.view_ = view
        return super().fit(view, rng=rng)

    def refit(self, **changes):
        self.alpha = changes["alpha"]
        return RidgeSemanticToVisual.fit(self, self.view_, rng=np.random.default_rng(0))


@pytest.mark.parametrize("refits", [True, False])
def test_validation_grid_compares_every_choice_and_refits_when_the_method_can(tmp_path, monkeypatch, refits):
    cls = type("GridRidge", (_GridRidge,), {"refit_params": frozenset({"alpha"} if refits else ())})
    METHODS._ensure()
    monkeypatch.setitem(METHODS._items, "grid_ridge", cls)
    cls.name = "grid_ridge"
    [spec] = make_specs(["grid_ridge"], ["synth-tiny"], [0], trials=2)
    run_specs([spec], results_dir=tmp_path, progress=False)
    rec = read_record(record_path(tmp_path, spec))
    trials = rec["validation"]["trials"]
    # two trials (the second draws nothing: alpha is the grid's) times three values, each once
    assert [t["hparams"]["alpha"] for t in trials] == [1.0, 0.01, 100.0] * 2
    best = max(trials, key=lambda t: t["score"])
    assert rec["selected_hparams"] == best["hparams"]
    # one fit per trial plus the final one when refitting; one per value otherwise
    assert cls.fits == (2 + 1 if refits else 6 + 1)
    # with one trial the grid still needs the validation results first: no parallel splits
    [single] = make_specs(["grid_ridge"], ["synth-tiny"], [0])
    run_specs([single], results_dir=tmp_path / "single", progress=False, parallel_splits=True)
    rec = read_record(record_path(tmp_path / "single", single))
    assert len(rec["validation"]["trials"]) == 3 and "parallel_splits" not in rec["timing"]
    # a value fixed by the spec is not compared
    [fixed] = make_specs(["grid_ridge"], ["synth-tiny"], [0], hparams_overrides={"alpha": 0.01})
    assert validation_grid(fixed) == {} and validation_grid(spec) == {"alpha": (0.01, 1.0, 100.0)}


def test_paper_procedure_is_labelled_and_uses_raw_rows_on_both_splits(tmp_path, monkeypatch):
    import zslbench.base_classifier as bc

    calls = []
    real = bc.get_base_classifier

    def spy(ds, split, *, settings, **kw):
        calls.append((split.kind, settings.selection, settings.center_rows, kw.get("test_seen") is not None))
        return real(ds, split, settings=settings, **kw)

    monkeypatch.setattr(bc, "get_base_classifier", spy)
    [spec] = make_specs(["costa"], ["synth-tiny"], [0], procedure="paper", test_params=True)
    [summary] = run_specs([spec], results_dir=tmp_path, progress=False)
    assert summary["status"] == "ok"
    rec = read_record(record_path(tmp_path, spec))
    assert rec["spec"]["procedure"] == "paper" and rec["uses_test_data_for_selection"] is True
    assert rec["base_classifier"]["selection"] == "test_seen" and rec["base_classifier"]["rows_centred"] is False
    # validation never sees test images; both splits use the same (raw) row representation
    assert ("validation", "last", False, False) in calls and ("test", "test_seen", False, True) in calls


def test_parallel_splits_give_the_numbers_of_a_sequential_one_thread_run(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("ZSLBENCH_THREADS", "1")
    specs = make_specs(["icis"], ["synth-tiny"], [0], test_params=True)
    before = torch.get_num_threads()
    for folder, parallel in (("seq", False), ("par", True)):
        run_specs(specs, results_dir=tmp_path / folder, cache_dir=tmp_path / "cache", progress=False,
                  parallel_splits=parallel)
    assert torch.get_num_threads() == before
    for spec in specs:
        seq, par = (read_record(record_path(tmp_path / d, spec)) for d in ("seq", "par"))
        assert par["status"] == "ok" and par["timing"]["parallel_splits"] is True
        assert "parallel_splits" not in seq["timing"]
        for key in ("metrics", "validation", "per_class", "selected_hparams", "method_info"):
            if key == "validation":
                seq[key].pop("seconds"), par[key].pop("seconds")
            assert par[key] == seq[key], key


def test_parallel_splits_need_runs_in_process(tmp_path, capsys):
    with pytest.raises(ValueError, match="parallel_splits"):
        run_specs(make_specs(["random"], ["synth-tiny"], [0]), results_dir=tmp_path, jobs=2,
                  parallel_splits=True)
    code = main(["run", "-m", "random", "-d", "synth-tiny", "--seeds", "0", "--jobs", "2", "--parallel-splits",
                 "--results", str(tmp_path)])
    assert code == 2 and "--parallel-splits needs runs in this process" in capsys.readouterr().err


def test_a_choice_at_the_edge_of_a_numeric_grid_is_flagged():
    from zslbench.runner import grid_edges

    grid = {"a": (1e-2, 1.0, 1e2), "b": ("x", "y", "z"), "c": (1, 2), "d": (1, 10, 100)}
    assert grid_edges(grid, {"a": 1e2, "b": "z", "c": 2, "d": 10}) == ["a"]
    assert grid_edges(grid, {"a": 1e-2, "b": "x", "c": 1, "d": 1}) == ["a", "d"]
    assert grid_edges(grid, {"a": 1.0, "b": "y", "c": 1, "d": 10}) == []
