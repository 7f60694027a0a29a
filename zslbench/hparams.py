"""Hyper-parameters of a run, resolved in one place.

Precedence, lowest first: the method's defaults (``space``) < its preset < the preset's overrides for the
dataset's family (``presets_per_family``) < the hyper-parameters fixed in the spec. The spec's fixed ones
are themselves, lowest first: benchmark.toml (global, then the dataset family's) < the method's
``test_params`` (``--test-params``) < a run profile's caps < ``--set``. Names are checked once, by
:func:`zslbench.method.unknown_hparams`.
"""

from __future__ import annotations

from typing import Any, Mapping

from zslbench.method import sample_hparams, unknown_hparams
from zslbench.protocol import dataset_family
from zslbench.records import RunSpec
from zslbench.registry import METHODS


def fixed_hparams(
    cls: Any,
    configured: Mapping[str, Any],
    *,
    test_params: bool = False,
    profile: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The hyper-parameters a spec fixes for method ``cls``: ``configured`` (benchmark.toml, already merged
    for the dataset family) < ``test_params`` < ``profile`` caps < ``overrides`` (``--set``). Profile caps and
    overrides apply to the methods that have the parameter (the CLI checks each is known to some method)."""
    hp = dict(configured)
    if test_params:
        hp |= dict(cls.test_params)
    hp |= {k: v for k, v in (profile or {}).items() if k in cls.space}
    hp |= {k: v for k, v in (overrides or {}).items() if k in cls.space}
    return hp


def resolve_hparams(spec: RunSpec) -> dict[str, Any]:
    """Defaults <- preset <- the preset's overrides for the spec's dataset family <- the spec's fixed ones.

    An unknown preset or hyper-parameter name raises ValueError.
    """
    cls = METHODS.get(spec.method)
    out = {k: p.default for k, p in cls.space.items()} | preset_values(spec)
    problem = unknown_hparams(spec.method, cls.space, spec.hparams)
    if problem:
        raise ValueError(problem)
    out.update(spec.hparams)
    return out


def preset_values(spec: RunSpec) -> dict[str, Any]:
    """What the spec's named preset sets, its overrides for the dataset family included ({} without one).

    An unknown preset raises ValueError.
    """
    if spec.preset is None:
        return {}
    cls = METHODS.get(spec.method)
    if spec.preset not in cls.presets:
        raise ValueError(f"{spec.method} has no preset {spec.preset!r} (presets: {sorted(cls.presets)})")
    return {**cls.presets[spec.preset],
            **cls.presets_per_family.get(spec.preset, {}).get(dataset_family(spec.dataset), {})}


def trial_candidates(spec: RunSpec) -> list[dict[str, Any]]:
    """The hyper-parameter candidates of a run: trial 0 is the resolved defaults; further trials draw
    every searchable parameter that the spec does not fix, per name from the run seed (except those of
    :func:`validation_grid`, which every trial compares in full)."""
    cls = METHODS.get(spec.method)
    base = resolve_hparams(spec)
    trials = int(spec.search.get("trials", 1))
    free = {k: p for k, p in cls.space.items()
            if p.searchable and not p.select_on_validation and k not in spec.hparams}
    out = [base]
    for t in range(1, trials):
        out.append(base | sample_hparams(free, seed=spec.seed, trial=t))
    return out


def validation_grid(spec: RunSpec) -> dict[str, tuple[Any, ...]]:
    """Name -> values that every trial of the run compares on the validation split: the method's
    ``select_on_validation`` parameters that neither the spec nor its named preset fixes."""
    cls = METHODS.get(spec.method)
    fixed = set(spec.hparams) | set(preset_values(spec))
    return {k: tuple(p.choices) for k, p in cls.space.items() if p.select_on_validation and k not in fixed}
