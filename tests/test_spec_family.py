"""A dataset's family lives in its spec: config overrides, base-classifier settings and preset overrides
all follow the family benchmark.toml gives it, and the run ids of default specs do not move."""

from __future__ import annotations

from zslbench.config import load_config
from zslbench.data.sources import dataset_identity
from zslbench.hparams import resolve_hparams
from zslbench.protocol import dataset_family, without_family
from zslbench.sweep import make_specs

CONFIG = """
[suite]
seeds = [0]
[datasets.synth-cub]
family = "AWA2"
[base_classifier]
epochs = 100
[base_classifier.per_dataset.AWA2]
batch_size = 20
[methods.f_clswgan.per_dataset.AWA2]
cls_epochs = 7
[methods.f_clswgan.per_dataset.CUB]
cls_epochs = 3
"""


def test_a_configured_family_drives_config_overrides_and_presets_alike(tmp_path):
    path = tmp_path / "benchmark.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    [gan, ridge] = make_specs(["f_clswgan", "ridge_injection"], ["synth-cub"], [0], procedure="paper",
                              config=config)
    assert gan.dataset["family"] == "AWA2" == dataset_family(gan.dataset)
    hp = resolve_hparams(gan)
    assert hp["cls_epochs"] == 7  # the config's AWA2 override ...
    assert (hp["epochs"], hp["n_syn"]) == (30, 1800)  # ... and the paper preset's AWA2 settings (CUB: 56, 300)
    assert ridge.base_classifier["batch_size"] == 20  # the base classifier's AWA2 settings
    # the runner compares the spec's dataset with the loaded one's identity without the family
    assert without_family(gan.dataset) == dataset_identity("synth-cub").to_json()


def test_the_default_family_is_not_written_into_the_spec(tmp_path):
    path = tmp_path / "benchmark.toml"
    path.write_text(CONFIG.replace('family = "AWA2"', 'family = "CUB"'))
    [explicit] = make_specs(["f_clswgan"], ["synth-cub"], [0], preset="paper", config=load_config(path))
    path.write_text(CONFIG.replace('family = "AWA2"\n', ""))
    [implicit] = make_specs(["f_clswgan"], ["synth-cub"], [0], preset="paper", config=load_config(path))
    assert "family" not in explicit.dataset and explicit.run_id == implicit.run_id
    assert dataset_family(explicit.dataset) == "CUB" and resolve_hparams(explicit)["epochs"] == 56
    assert resolve_hparams(explicit)["cls_epochs"] == 3
