"""``benchmark.toml`` -> frozen dataclasses, and its validation against the registries.

The file declares the suite: seeds, the default datasets, per-dataset options (descriptors, a "family"
so that e.g. ``synth-cub`` takes CUB's per-dataset settings), the base classifier of image-free methods,
per-method fixed hyper-parameters (globally and per dataset family), presets, the hyper-parameter search,
and named scarcity sweeps.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from zslbench.protocol import Setting

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "benchmark.toml"


class ConfigError(ValueError):
    """benchmark.toml is malformed or names something unknown; the message names the file and key."""


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    family: str
    features: str = "res101"
    descriptors: str = "att"


@dataclass(frozen=True)
class MethodConfig:
    name: str
    hparams: Mapping[str, Any] = field(default_factory=dict)
    per_family: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    preset: str | None = None
    trials: int | None = None

    def hparams_for(self, family: str) -> dict[str, Any]:
        return {**self.hparams, **self.per_family.get(family, {})}


@dataclass(frozen=True)
class SweepConfig:
    """A named data-scarcity sweep: every combination of the listed setting values."""

    name: str
    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    seen_fraction: tuple[float, ...] = (1.0,)
    images_per_class: tuple[int | None, ...] = (None,)
    descriptor_dims: tuple[int | None, ...] = (None,)

    def settings(self) -> list[Setting]:
        return [
            Setting(seen_fraction=f, images_per_class=i, descriptor_dims=a)
            for f in self.seen_fraction for i in self.images_per_class for a in self.descriptor_dims
        ]


@dataclass(frozen=True)
class Config:
    path: str
    seeds: tuple[int, ...]
    default_datasets: tuple[str, ...]
    datasets: Mapping[str, DatasetConfig]
    methods: Mapping[str, MethodConfig]
    exclude_from_all: tuple[str, ...]
    base_classifier: Mapping[str, Any]
    base_classifier_per_family: Mapping[str, Mapping[str, Any]]
    trials: int = 1
    objective: str = "gzsl_h"
    procedure: str = "validation"
    sweeps: Mapping[str, SweepConfig] = field(default_factory=dict)

    def dataset(self, name: str) -> DatasetConfig:
        """Options of a dataset; one not declared gets defaults and its own (or synthetic) family."""
        if name in self.datasets:
            return self.datasets[name]
        return DatasetConfig(name=name, family=family_of(name))

    def method(self, name: str) -> MethodConfig:
        return self.methods.get(name, MethodConfig(name=name))

    def base_classifier_for(self, family: str) -> dict[str, Any]:
        return {**self.base_classifier, **self.base_classifier_per_family.get(family, {})}


def family_of(dataset: str) -> str:
    """``synth-cub`` -> ``CUB``; real names are their own family."""
    return dataset[len("synth-"):].upper() if dataset.startswith("synth-") else dataset


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def load_config(path: Path | str | None = None) -> Config:
    """Parse benchmark.toml (the repository's own by default)."""
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    where = str(path)
    suite = _table(data, "suite", where)
    ds_table = _table(data, "datasets", where)
    datasets = {
        name: DatasetConfig(name=name, family=opts.get("family", family_of(name)),
                            features=opts.get("features", "res101"), descriptors=opts.get("descriptors", "att"))
        for name, opts in ds_table.items() if isinstance(opts, Mapping)
    }
    methods = {}
    for name, opts in _table(data, "methods", where).items():
        if not isinstance(opts, Mapping):
            raise ConfigError(f"{where}: [methods.{name}] must be a table")
        methods[name] = MethodConfig(
            name=name,
            hparams=dict(opts.get("hparams", {})),
            per_family={k: dict(v) for k, v in opts.get("per_dataset", {}).items()},
            preset=opts.get("preset"),
            trials=opts.get("trials"),
        )
    bc = dict(_table(data, "base_classifier", where))
    bc_family = {k: dict(v) for k, v in bc.pop("per_dataset", {}).items()}
    sweeps = {}
    for name, opts in _table(data, "sweeps", where).items():
        sweeps[name] = SweepConfig(
            name=name,
            methods=tuple(opts.get("methods", ())),
            datasets=tuple(opts.get("datasets", ())),
            seeds=tuple(opts.get("seeds", suite.get("seeds", (0,)))),
            seen_fraction=tuple(opts.get("seen_fraction", (1.0,))),
            # TOML has no null: 0 means "all images" / "all dimensions"
            images_per_class=tuple(v or None for v in opts.get("images_per_class", (0,))),
            descriptor_dims=tuple(v or None for v in opts.get("descriptor_dims", (0,))),
        )
    return Config(
        path=where,
        seeds=tuple(suite.get("seeds", (0,))),
        default_datasets=tuple(suite.get("default_datasets", ())),
        datasets=datasets,
        methods=methods,
        exclude_from_all=tuple(suite.get("exclude_from_all", ())),
        base_classifier=bc,
        base_classifier_per_family=bc_family,
        trials=int(suite.get("trials", 1)),
        objective=suite.get("objective", "gzsl_h"),
        procedure=suite.get("procedure", "validation"),
        sweeps=sweeps,
    )


def validate_config(config: Config) -> list[str]:
    """Problems in the config, checked against the method registry (empty list: valid)."""
    from zslbench.base_classifier import BaseClassifierSettings
    from zslbench.registry import METHODS, RegistryError
    from zslbench.runner import OBJECTIVES, PROCEDURES

    problems = []
    where = config.path
    for name, mc in config.methods.items():
        try:
            cls = METHODS.get(name)
        except RegistryError as exc:
            problems.append(f"{where}: [methods.{name}]: {exc}")
            continue
        for fam, hp in [("", mc.hparams), *mc.per_family.items()]:
            unknown = sorted(set(hp) - set(cls.space))
            if unknown:
                scope = f".per_dataset.{fam}" if fam else ""
                problems.append(f"{where}: [methods.{name}{scope}]: unknown hyper-parameter(s) {unknown}; "
                                f"known: {sorted(cls.space)}")
        if mc.preset is not None and mc.preset not in cls.presets:
            problems.append(f"{where}: [methods.{name}]: unknown preset {mc.preset!r}; known: {sorted(cls.presets)}")
    for name in config.exclude_from_all:
        if name not in METHODS:
            problems.append(f"{where}: suite.exclude_from_all: unknown method {name!r}")
    known_bc = set(BaseClassifierSettings.__dataclass_fields__)
    for fam, opts in [("", config.base_classifier), *config.base_classifier_per_family.items()]:
        unknown = sorted(set(opts) - known_bc)
        if unknown:
            problems.append(f"{where}: [base_classifier{'.per_dataset.' + fam if fam else ''}]: unknown "
                            f"setting(s) {unknown}; known: {sorted(known_bc)}")
    if config.objective not in OBJECTIVES:
        problems.append(f"{where}: suite.objective must be one of {OBJECTIVES}")
    if config.procedure not in PROCEDURES:
        problems.append(f"{where}: suite.procedure must be one of {PROCEDURES}")
    for sweep in config.sweeps.values():
        for m in sweep.methods:
            if m not in METHODS:
                problems.append(f"{where}: [sweeps.{sweep.name}]: unknown method {m!r}")
        for f in sweep.seen_fraction:
            if not 0 < f <= 1:
                problems.append(f"{where}: [sweeps.{sweep.name}]: seen_fraction {f} not in (0, 1]")
    return problems
