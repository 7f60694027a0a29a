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

from zslbench.protocol import OBJECTIVES, PROCEDURES, Setting, family_of

CHECKOUT_CONFIG = Path(__file__).resolve().parents[1] / "benchmark.toml"
"""The checkout's benchmark.toml (an editable install runs from the checkout)."""
PACKAGED_CONFIG = Path(__file__).resolve().parent / "defaults" / "benchmark.toml"
"""The copy shipped inside a built wheel (``setup.py`` puts it there)."""
DEFAULT_CONFIG = PACKAGED_CONFIG if PACKAGED_CONFIG.is_file() else CHECKOUT_CONFIG
"""The default suite of this installation: the packaged copy, else the checkout's file."""


def config_path(path: Path | str | None = None) -> Path:
    """Which benchmark.toml to read: ``path`` (``--config``), else ``./benchmark.toml``, else the default."""
    if path not in (None, ""):
        return Path(path).expanduser()
    local = Path("benchmark.toml")
    if local.is_file():
        return local
    return DEFAULT_CONFIG


class ConfigError(ValueError):
    """benchmark.toml is malformed or names something unknown; the message names the file and key."""


@dataclass(frozen=True)
class DatasetConfig:
    """A dataset's options; ``family`` picks the per-family config overrides *and* presets of its runs."""

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


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _subtables(value: Any, where: str) -> dict[str, dict[str, Any]]:
    """A table of tables (``per_dataset``) as plain dicts; ConfigError naming ``where`` otherwise."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table")
    for k, v in value.items():
        if not isinstance(v, Mapping):
            raise ConfigError(f"{where}.{k} must be a table, got {v!r}")
    return {k: dict(v) for k, v in value.items()}


def _as_tuple(value: Any) -> tuple:
    """A TOML value that should be a list, as a tuple (a scalar becomes one item; validated later)."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _list_or_raw(value: Any) -> Any:
    """A TOML list as a tuple; anything else as it is (validation names it)."""
    return tuple(value) if isinstance(value, list) else value


def _all_or_int(value: Any) -> Any:
    """Sweep values of images_per_class / descriptor_dims: 0 means "all" (None); others kept to validate."""
    return None if value == 0 and not isinstance(value, bool) else value


def load_config(path: Path | str | None = None) -> Config:
    """Parse benchmark.toml (see :func:`config_path` for which file); ConfigError names the file and key."""
    path = config_path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file (give the path of a benchmark.toml)")
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    where = str(path)
    suite = _table(data, "suite", where)
    ds_table = _table(data, "datasets", where)
    datasets = {}
    for name, opts in ds_table.items():
        if not isinstance(opts, Mapping):
            raise ConfigError(f"{where}: [datasets.{name}] must be a table, got {opts!r}")
        datasets[name] = DatasetConfig(name=name, family=opts.get("family", family_of(name)),
                                       features=opts.get("features", "res101"),
                                       descriptors=opts.get("descriptors", "att"))
    methods = {}
    for name, opts in _table(data, "methods", where).items():
        if not isinstance(opts, Mapping):
            raise ConfigError(f"{where}: [methods.{name}] must be a table")
        hparams = opts.get("hparams", {})
        if not isinstance(hparams, Mapping):
            raise ConfigError(f"{where}: [methods.{name}.hparams] must be a table")
        methods[name] = MethodConfig(
            name=name,
            hparams=dict(hparams),
            per_family=_subtables(opts.get("per_dataset", {}), f"{where}: methods.{name}.per_dataset"),
            preset=opts.get("preset"),
            trials=opts.get("trials"),
        )
    bc = dict(_table(data, "base_classifier", where))
    bc_family = _subtables(bc.pop("per_dataset", {}), f"{where}: base_classifier.per_dataset")
    sweeps = {}
    for name, opts in _table(data, "sweeps", where).items():
        if not isinstance(opts, Mapping):
            raise ConfigError(f"{where}: [sweeps.{name}] must be a table")
        sweeps[name] = SweepConfig(
            name=name,
            methods=_as_tuple(opts.get("methods", ())),
            datasets=_as_tuple(opts.get("datasets", ())),
            seeds=_list_or_raw(opts.get("seeds", suite.get("seeds", (0,)))),
            seen_fraction=_as_tuple(opts.get("seen_fraction", (1.0,))),
            # TOML has no null: 0 means "all images" / "all dimensions" (as on the command line)
            images_per_class=tuple(_all_or_int(v) for v in _as_tuple(opts.get("images_per_class", (0,)))),
            descriptor_dims=tuple(_all_or_int(v) for v in _as_tuple(opts.get("descriptor_dims", (0,)))),
        )
    trials = suite.get("trials", 1)
    return Config(
        path=where,
        seeds=_list_or_raw(suite.get("seeds", (0,))),
        default_datasets=_as_tuple(suite.get("default_datasets", ())),
        datasets=datasets,
        methods=methods,
        exclude_from_all=_as_tuple(suite.get("exclude_from_all", ())),
        base_classifier=bc,
        base_classifier_per_family=bc_family,
        trials=trials,
        objective=suite.get("objective", "gzsl_h"),
        procedure=suite.get("procedure", "validation"),
        sweeps=sweeps,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def seeds_problem(seeds: Any) -> str | None:
    """Why a list of seeds is unusable (None when it is fine): non-negative integers, no repeats."""
    if not isinstance(seeds, (list, tuple)) or not seeds:
        return f"must be a non-empty list of integers, got {seeds!r}"
    bad = [s for s in seeds if not _is_int(s) or s < 0]
    if bad:
        return f"must be non-negative integers, got {bad[0]!r}"
    if len(set(seeds)) != len(seeds):
        return f"lists a seed more than once ({list(seeds)})"
    return None


def known_dataset_names(data_root: Path | None = None) -> set[str]:
    """Names a run could load: built-in, the standard xlsa17 names, and folders of the data root."""
    from zslbench.data.sources import XLSA17_NAMES
    from zslbench.data.synthetic import SYNTHETIC

    names = set(SYNTHETIC) | set(XLSA17_NAMES)
    if data_root is not None and Path(data_root).is_dir():
        names |= {p.name for p in Path(data_root).iterdir() if p.is_dir()}
    return names


def dataset_problem(name: Any, data_root: Path | None = None) -> str | None:
    if not isinstance(name, str):
        return f"dataset names are strings, got {name!r}"
    from zslbench.data.sources import XLSA17_NAMES

    if name in known_dataset_names(data_root) or name.upper() in XLSA17_NAMES:
        return None
    import difflib

    close = difflib.get_close_matches(name, sorted(known_dataset_names(data_root)), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown dataset {name!r}{hint}"


def validate_config(config: Config, data_root: Path | None = None) -> list[str]:
    """Problems in the config, checked against the registries (empty list: valid).

    ``zslbench validate`` and ``zslbench run`` both call this, before planning anything.
    """
    from zslbench.base_classifier import BaseClassifierSettings
    from zslbench.method import Param, hparam_problems
    from zslbench.registry import METHODS, RegistryError

    problems = []
    where = config.path
    problem = seeds_problem(config.seeds)
    if problem:
        problems.append(f"{where}: suite.seeds {problem}")
    for name in config.default_datasets:
        problem = dataset_problem(name, data_root)
        if problem:
            problems.append(f"{where}: suite.default_datasets: {problem}")
    if not _is_int(config.trials) or config.trials < 1:
        problems.append(f"{where}: suite.trials must be an integer >= 1, got {config.trials!r}")
    for name, mc in config.methods.items():
        try:
            cls = METHODS.get(name)
        except RegistryError as exc:
            problems.append(f"{where}: [methods.{name}]: {exc}")
            continue
        for fam, hp in [("", mc.hparams), *mc.per_family.items()]:
            scope = f".per_dataset.{fam}" if fam else ""
            for p in hparam_problems(name, cls.space, hp):
                problems.append(f"{where}: [methods.{name}{scope}]: {p}")
        if mc.preset is not None and mc.preset not in cls.presets:
            problems.append(f"{where}: [methods.{name}]: unknown preset {mc.preset!r}; known: {sorted(cls.presets)}")
        if mc.trials is not None and (not _is_int(mc.trials) or mc.trials < 1):
            problems.append(f"{where}: [methods.{name}]: trials must be an integer >= 1, got {mc.trials!r}")
    for name in config.exclude_from_all:
        if name not in METHODS:
            problems.append(f"{where}: suite.exclude_from_all: unknown method {name!r}")
    known_bc = set(BaseClassifierSettings.__dataclass_fields__)
    for fam, opts in [("", config.base_classifier), *config.base_classifier_per_family.items()]:
        scope = f"[base_classifier{'.per_dataset.' + fam if fam else ''}]"
        unknown = sorted(set(opts) - known_bc)
        if unknown:
            problems.append(f"{where}: {scope}: unknown setting(s) {unknown}; known: {sorted(known_bc)}")
            continue
        merged = {**config.base_classifier, **opts}
        for key, value in opts.items():
            default = BaseClassifierSettings.__dataclass_fields__[key].default
            p = Param(default, low=0.0 if isinstance(default, (int, float)) else None).problem(value)
            if p:
                problems.append(f"{where}: {scope}: {key} {p}")
                merged = None
        if merged is not None:
            try:
                BaseClassifierSettings(**merged)
            except (TypeError, ValueError) as exc:
                problems.append(f"{where}: {scope}: {exc}")
    if config.objective not in OBJECTIVES:
        problems.append(f"{where}: suite.objective must be one of {OBJECTIVES}, got {config.objective!r}")
    if config.procedure not in PROCEDURES:
        problems.append(f"{where}: suite.procedure must be one of {tuple(PROCEDURES)}, got {config.procedure!r}")
    for sweep in config.sweeps.values():
        scope = f"{where}: [sweeps.{sweep.name}]"
        if not sweep.methods:
            problems.append(f"{scope}: lists no methods")
        for m in sweep.methods:
            if m not in METHODS:
                problems.append(f"{scope}: unknown method {m!r}")
        for d in sweep.datasets:
            problem = dataset_problem(d, data_root)
            if problem:
                problems.append(f"{scope}: {problem}")
        problem = seeds_problem(sweep.seeds)
        if problem:
            problems.append(f"{scope}: seeds {problem}")
        for f in sweep.seen_fraction:
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
                problems.append(f"{scope}: seen_fraction {f!r} not in (0, 1]")
        for key in ("images_per_class", "descriptor_dims"):
            for v in getattr(sweep, key):
                if v is not None and (not _is_int(v) or v < 0):
                    problems.append(f"{scope}: {key} {v!r} must be an integer >= 0 (0: all)")
    return problems
