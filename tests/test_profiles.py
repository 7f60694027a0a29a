"""The quick run profile (``run --quick``) and the dry run's wall-time estimate."""

from __future__ import annotations

import json
import os

from zslbench.cli import main
from zslbench.estimate import estimate
from zslbench.profiles import PROFILES, QUICK
from zslbench.protocol import Setting
from zslbench.records import iter_records
from zslbench.registry import METHODS
from zslbench.sweep import make_specs


def test_profile_caps_name_registered_methods_and_parameters():
    for profile in PROFILES.values():
        for method, caps in profile.hparams.items():
            space = METHODS.get(method).space  # unknown method names raise here
            assert set(caps) <= set(space), (profile.name, method, set(caps) - set(space))
        for method in profile.left_out:
            METHODS.get(method)
        assert set(profile.hparams) <= set(profile.left_out), "what runs by default runs at full settings"
        assert profile.seeds and profile.datasets


def test_quick_banner_names_the_left_out_methods_and_their_caps():
    banner = QUICK.banner()
    assert banner.startswith("QUICK PROFILE") and "LEFT OUT" in banner
    assert all(m in banner for m in QUICK.left_out) and "UNDER-TRAINED" in banner
    assert "icis," not in banner and "icis (" not in banner  # ICIS itself runs at its full settings


def test_quick_run_leaves_out_its_left_out_methods_unless_named(tmp_path, capsys):
    assert {"f_clswgan", "icis_mlp", "wdae"} <= set(QUICK.left_out)
    assert main(["run", "--quick", "--dry-run", "--results", str(tmp_path)]) == 0
    planned = capsys.readouterr().out
    assert "  icis on synth-cub seed=0 [quick profile]" in planned
    for method in QUICK.left_out:
        assert f"  {method} on " not in planned
    named = next(iter(QUICK.left_out))
    assert main(["run", "--quick", "--dry-run", "-m", named, "--results", str(tmp_path)]) == 0
    assert f"  {named} on synth-cub seed=0 [quick profile]" in capsys.readouterr().out


def test_quick_icis_and_base_classifier_match_the_full_run_but_for_the_label():
    for method in ("icis", "costa", "smo"):
        [plain] = make_specs([method], ["synth-cub"], [0])
        [quick] = make_specs([method], ["synth-cub"], [0], profile=QUICK)
        full, labelled = plain.to_json(), quick.to_json()
        assert labelled.pop("profile") == "quick" and labelled == full, method


def test_profile_labels_specs_and_leaves_benchmark_run_ids_alone():
    [plain] = make_specs(["icis_mlp"], ["synth-tiny"], [0])
    [quick] = make_specs(["icis_mlp"], ["synth-tiny"], [0], profile=QUICK)
    assert "profile" not in plain.to_json()  # unprofiled specs hash exactly as before
    assert quick.to_json()["profile"] == "quick" and quick.run_id != plain.run_id
    assert quick.hparams["max_epochs"] == QUICK.hparams["icis_mlp"]["max_epochs"] != plain.hparams.get("max_epochs")
    assert "[quick profile]" in quick.describe()


def test_quick_run_writes_labelled_records_and_outputs_in_its_own_folder(tmp_path, capsys):
    assert main(["run", "--quick", "-m", "conse", "ridge_v2s", "-d", "synth-tiny", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    quick = tmp_path / "quick"
    assert not (tmp_path / "runs").exists()  # never mixed with the benchmark's records
    recs = [rec for _, rec in iter_records(quick)]
    assert len(recs) == 2 and {r["spec"]["profile"] for r in recs} == {"quick"}
    by_method = {r["spec"]["method"]: r for r in recs}
    if (os.cpu_count() or 1) >= 2:  # validation and test fits side by side when nothing is selected first
        assert by_method["conse"]["timing"]["parallel_splits"]
    # ridge V->S compares its penalties on validation before the final fit: no parallel splits
    assert "parallel_splits" not in by_method["ridge_v2s"]["timing"]
    assert len(by_method["ridge_v2s"]["validation"]["trials"]) == len(METHODS.get("ridge_v2s").space["alpha"].choices)
    assert f"leaderboard: {quick / 'leaderboard.md'}" in out and f"figures:     {quick / 'figures'}/" in out
    assert (quick / "tables" / "icis.md").read_text().startswith("**QUICK PROFILE")
    assert (quick / "leaderboard.md").read_text().startswith("**QUICK PROFILE")
    assert json.loads((quick / "leaderboard.json").read_text())["profile_warning"].startswith("QUICK PROFILE")
    assert list((quick / "figures").glob("*.png"))


def test_dry_run_prints_an_estimate_from_recorded_timings(tmp_path, capsys):
    assert main(["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "0", "--results", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "0", "1", "--results", str(tmp_path),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "estimated wall time of all 2 planned runs" in out
    assert "recorded run times of 2 of them" in out  # seed 1 borrows the median of seed 0's record


def test_the_estimate_prefers_records_of_the_same_method_version(tmp_path, capsys):
    assert main(["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "0", "--results", str(tmp_path)]) == 0
    capsys.readouterr()
    (path,) = tmp_path.glob("runs/*/*/*.json")
    record = json.loads(path.read_text())
    record["timing"]["total_seconds"] = 100.0
    path.write_text(json.dumps(record))
    older = dict(record, run_id="0" * 16)
    older["spec"] = dict(record["spec"], method_version=record["spec"]["method_version"] - 1, seed=7)
    older["timing"] = dict(record["timing"], total_seconds=900.0)
    (path.parent / "older.json").write_text(json.dumps(older))
    specs = make_specs(["ridge_v2s"], ["synth-tiny"], [1])
    # the other version's 900 s is not mixed in while a record of the same version exists
    assert estimate(specs, [tmp_path]) == (100.0, 1, 0, 0, 0)
    path.unlink()
    assert estimate(specs, [tmp_path]) == (900.0, 1, 0, 1, 0)
    assert main(["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "1", "--results", str(tmp_path),
                 "--dry-run"]) == 0
    assert "1 from another version of the method" in capsys.readouterr().out


def test_the_estimate_prices_a_sweep_setting_by_records_of_that_setting(tmp_path, capsys):
    """A reduced setting's runs are priced by records of that setting when there are any; otherwise by the
    full data's, and the estimate says how many were priced so."""
    assert main(["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "0", "--results", str(tmp_path)]) == 0
    assert main(["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "0", "--seen-fraction", "0.5",
                 "--results", str(tmp_path)]) == 0
    capsys.readouterr()
    for path in tmp_path.glob("runs/*/*/*.json"):
        record = json.loads(path.read_text())
        record["timing"]["total_seconds"] = 10.0 if record["spec"]["setting"]["seen_fraction"] < 1 else 100.0
        path.write_text(json.dumps(record))
    half = make_specs(["ridge_v2s"], ["synth-tiny"], [1], setting=Setting(seen_fraction=0.5))
    assert estimate(half, [tmp_path]) == (10.0, 1, 0, 0, 0)
    quarter = make_specs(["ridge_v2s"], ["synth-tiny"], [1], setting=Setting(seen_fraction=0.25))
    assert estimate(quarter, [tmp_path])[::4] == (55.0, 1)  # the median over both settings, flagged
    assert main(["run", "-m", "ridge_v2s", "-d", "synth-tiny", "--seeds", "1", "--seen-fraction", "0.25",
                 "--results", str(tmp_path), "--dry-run"]) == 0
    assert "1 from another data setting" in capsys.readouterr().out
