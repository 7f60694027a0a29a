import pytest

from zslbench.method import Method, Param, sample_hparams
from zslbench.registry import METHODS, Registry, RegistryError


def test_duplicate_names_are_rejected():
    reg = Registry("thing")
    reg.add("a", object)
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("a", int)


def test_unknown_name_suggests_close_names():
    with pytest.raises(RegistryError, match="did you mean 'ridge_v2s'"):
        METHODS.get("ridge_vs2")


def test_method_rejects_unknown_hyperparameters():
    cls = METHODS.get("ridge_v2s")
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        cls(alpah=1.0)
    m = cls(alpha=3.0)
    assert m.alpha == 3.0 and m.hparams == {"alpha": 3.0} and m.device == "cpu"


def test_adding_a_parameter_does_not_change_other_draws():
    space = {"lr": Param(1e-3, low=1e-5, high=1e-1, log=True), "k": Param(5, choices=[1, 3, 5, 10])}
    bigger = {**space, "dropout": Param(0.5, low=0.0, high=0.9)}
    for trial in range(1, 6):
        a = sample_hparams(space, seed=3, trial=trial)
        b = sample_hparams(bigger, seed=3, trial=trial)
        assert a["lr"] == b["lr"] and a["k"] == b["k"]
    assert sample_hparams(space, seed=3, trial=0) == {"lr": 1e-3, "k": 5}
    assert sample_hparams(space, seed=3, trial=1) != sample_hparams(space, seed=3, trial=2)


def test_every_registered_method_follows_the_contract_metadata():
    for name, cls in METHODS.items():
        assert issubclass(cls, Method) and cls.name == name
        assert cls.access in ("inductive", "image_free"), name
        assert isinstance(cls.version, int) and cls.version >= 1, name
        assert set(cls.test_params) <= set(cls.space), name
        for preset in cls.presets.values():
            assert set(preset) <= set(cls.space), name
        for preset, families in cls.presets_per_family.items():
            assert preset in cls.presets, name
            assert all(set(overrides) <= set(cls.space) for overrides in families.values()), name
