"""The quick run profile (``run --quick``) and the dry run's wall-time estimate."""

from __future__ import annotations

import json

from zslbench.cli import main
from zslbench.profiles import PROFILES, QUICK
from zslbench.records import iter_records
from zslbench.registry import METHODS
from zslbench.sweep import make_specs


def test_profile_caps_name_registered_methods_and_parameters():
    for profile in PROFILES.values():
        for method, caps in profile.hparams.items():
            space = METHODS.get(method).space  # unknown method names raise here
            assert set(caps) <= set(space), (profile.name, method, set(caps) - set(space))
        assert profile.seeds and profile.datasets


def test_profile_labels_specs_and_leaves_benchmark_run_ids_alone():
    [plain] = make_specs(["icis"], ["synth-tiny"], [0])
    [quick] = make_specs(["icis"], ["synth-tiny"], [0], profile=QUICK)
    assert "profile" not in plain.to_json()  # unprofiled specs hash exactly as before
    assert quick.to_json()["profile"] == "quick" and quick.run_id != plain.run_id
    assert quick.hparams["max_epochs"] == QUICK.hparams["icis"]["max_epochs"]
    assert quick.base_classifier["epochs"] == QUICK.base_classifier["epochs"]
    assert "[quick profile]" in quick.describe()


def test_quick_run_writes_labelled_records_and_outputs_in_its_own_folder(tmp_path, capsys):
    assert main(["run", "--quick", "-m", "conse", "ridge_v2s", "-d", "synth-tiny", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    quick = tmp_path / "quick"
    assert not (tmp_path / "runs").exists()  # never mixed with the benchmark's records
    recs = [rec for _, rec in iter_records(quick)]
    assert len(recs) == 2 and {r["spec"]["profile"] for r in recs} == {"quick"}
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
