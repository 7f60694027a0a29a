"""Expand the config into run specs (pure), skip finished runs, dispatch the rest (joblib).

Every run is named by the hash of its spec, so a re-launched sweep resumes: finished runs are skipped
(``--overwrite missing``), failed ones can be retried (``--overwrite failed``). Runs go through joblib,
so the same sweep runs in-process, on local worker processes (loky), or on a Dask / Ray cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from zslbench.config import Config, load_config
from zslbench.profiles import Profile
from zslbench.protocol import Setting, procedure as get_procedure, with_family
from zslbench.records import RunSpec, record_path, record_state, should_run

log = logging.getLogger(__name__)

BACKENDS = ("loky", "threading", "dask", "ray")


def make_specs(
    methods: Sequence[str],
    datasets: Sequence[str],
    seeds: Sequence[int],
    *,
    setting: Setting = Setting(),
    procedure: str | None = None,
    preset: str | None = None,
    hparams_overrides: dict[str, Any] | None = None,
    test_params: bool = False,
    trials: int | None = None,
    objective: str | None = None,
    descriptors: str | None = None,
    features: str | None = None,
    config: Config | None = None,
    data_root: Path | None = None,
    embeddings_dir: Path | None = None,
    profile: Profile | None = None,
) -> list[RunSpec]:
    """Every (dataset, method, seed) spec; pure apart from hashing the dataset files once each.

    Hyper-parameters: see :mod:`zslbench.hparams` for the precedence. ``descriptors`` / ``features``
    override the config's per-dataset choice. A procedure may name a default preset (the ``paper``
    procedure: each method's ``paper`` preset, unless a preset is named here or in the config). A
    ``profile`` (:mod:`zslbench.profiles`) fixes its caps over the config and labels the specs. The
    dataset's configured family goes into the spec (``spec.dataset["family"]``, when it is not the name's
    default), so config overrides and preset overrides use the same family.
    """
    from zslbench.data.sources import dataset_identity
    from zslbench.hparams import fixed_hparams
    from zslbench.registry import METHODS

    config = config or load_config()
    run_procedure = get_procedure(procedure or config.procedure)
    specs = []
    for dataset in datasets:
        dc = config.dataset(dataset)
        identity = with_family(dataset_identity(
            dataset, data_root=data_root, features=features or dc.features,
            descriptors=descriptors or dc.descriptors, embeddings_dir=embeddings_dir,
        ).to_json(), dc.family)
        for name in methods:
            cls = METHODS.get(name)
            mc = config.method(name)
            hp = fixed_hparams(cls, mc.hparams_for(dc.family), test_params=test_params,
                               profile=profile.hparams.get(name, {}) if profile is not None else None,
                               overrides=hparams_overrides)
            n_trials = trials if trials is not None else (mc.trials or config.trials)
            run_preset = run_procedure.preset_for(preset if preset is not None else mc.preset, cls.presets)
            for seed in seeds:
                specs.append(RunSpec(
                    method=name,
                    method_version=cls.version,
                    access=cls.access,
                    dataset=identity,
                    setting=setting.to_json(),
                    procedure=run_procedure.name,
                    preset=run_preset,
                    seed=int(seed),
                    hparams=hp,
                    search={"trials": int(n_trials), "objective": objective or config.objective},
                    base_classifier=(config.base_classifier_for(dc.family)
                                     | (dict(profile.base_classifier) if profile is not None else {}))
                    if cls.access == "image_free" else None,
                    profile=profile.name if profile is not None else None,
                ))
    return specs


def sweep_specs(
    name: str,
    config: Config | None = None,
    *,
    methods: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    **kwargs: Any,
) -> list[RunSpec]:
    """The specs of a named scarcity sweep of benchmark.toml (every setting x dataset x method x seed).

    ``methods`` / ``datasets`` / ``seeds`` replace the sweep's own lists (e.g. a quick subset).
    """
    config = config or load_config()
    if name not in config.sweeps:
        raise KeyError(f"no sweep {name!r} in {config.path} (sweeps: {sorted(config.sweeps)})")
    sw = config.sweeps[name]
    specs = []
    for setting in sw.settings():
        specs += make_specs(methods or sw.methods, datasets or sw.datasets, seeds or sw.seeds,
                            setting=setting, config=config, **kwargs)
    return specs


@dataclass(frozen=True)
class Plan:
    todo: list[RunSpec]
    skipped: list[RunSpec]
    unusable: list[str] = field(default_factory=list)
    """One line per existing record that cannot be used (named, with the problem); its run is in ``todo``."""


def plan(specs: Iterable[RunSpec], results_dir: Path, overwrite: str = "missing") -> Plan:
    """Split specs into those to run and those whose record already satisfies ``overwrite``.

    Duplicate specs are planned once. An unusable record (see :func:`zslbench.records.record_state`)
    counts as missing and is listed in ``unusable``.
    """
    todo, skipped, unusable, seen_ids = [], [], [], set()
    for spec in specs:
        if spec.run_id in seen_ids:
            continue
        seen_ids.add(spec.run_id)
        path = record_path(results_dir, spec)
        state, problem = record_state(path)
        if problem:
            unusable.append(problem)
        (todo if should_run(path, overwrite) else skipped).append(spec)
    return Plan(todo, skipped, unusable)


def remove_stale_temp_files(results_dir: Path, older_than: float = 60.0) -> int:
    """Delete temp files left by a writer that was killed mid-write (SIGKILL skips its cleanup)."""
    import time

    removed = 0
    for tmp in (Path(results_dir) / "runs").glob("*/*/.*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def threads_per_job(jobs: int) -> int:
    """Torch intra-op threads for each of ``jobs`` parallel runs: the cores shared out, at least one.

    ``ZSLBENCH_THREADS`` overrides. Oversubscribing is the expensive mistake: small-batch training with
    more threads than free cores measured several times slower than with one.
    """
    problem = threads_problem()
    if problem:
        raise ValueError(problem)
    if os.environ.get("ZSLBENCH_THREADS", "").strip():
        return int(os.environ["ZSLBENCH_THREADS"])
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def threads_problem() -> str | None:
    """Why ``$ZSLBENCH_THREADS`` is unusable (None when unset or a positive integer)."""
    value = os.environ.get("ZSLBENCH_THREADS", "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    return None if n >= 1 else f"ZSLBENCH_THREADS={value!r}: must be a positive integer (torch threads per run)"


def check_datasets(
    specs: Sequence[RunSpec],
    *,
    data_root: Path | None = None,
    embeddings_dir: Path | None = None,
    keep_loaded: bool = True,
) -> dict[str, str]:
    """Load every dataset the specs use, once; dataset name -> the error of each one that fails.

    A broken dataset then costs one line, not one failed record per method and seed. With
    ``keep_loaded`` the datasets stay in this process's cache for the runs made here.
    """
    from zslbench.data.sources import clear_cache, load_dataset

    broken: dict[str, str] = {}
    done: set[tuple[str, str, str]] = set()
    for spec in specs:
        key = (spec.dataset_name, str(spec.dataset["feature_id"]), str(spec.dataset["descriptor_id"]))
        if key in done or spec.dataset_name in broken:
            continue
        done.add(key)
        try:
            load_dataset(key[0], data_root=data_root, features=key[1], descriptors=key[2],
                         embeddings_dir=embeddings_dir)
        except (ValueError, OSError) as exc:
            broken[spec.dataset_name] = str(exc)
    if not keep_loaded:
        clear_cache()
    return broken


def _run_one(spec: RunSpec, results_dir: str, data_root: str | None, device: str, cache_dir: str | None,
             embeddings_dir: str | None, threads: int = 1, in_process: bool = True,
             parallel_splits: bool = False) -> dict[str, Any]:
    """Worker entry point (module level so every joblib backend can pickle it)."""
    import torch

    from zslbench.progress import PROGRESS_ENV
    from zslbench.runner import run

    logging.basicConfig(level=os.environ.get("ZSLBENCH_LOG", "WARNING"))
    if not in_process and not os.environ.get(PROGRESS_ENV):
        os.environ[PROGRESS_ENV] = "lines"  # parallel workers' bars would overwrite each other
    torch.set_num_threads(threads)
    record = run(spec, results_dir=Path(results_dir), data_root=Path(data_root) if data_root else None,
                 device=device, cache_dir=Path(cache_dir) if cache_dir else None,
                 embeddings_dir=Path(embeddings_dir) if embeddings_dir else None,
                 parallel_splits=parallel_splits)
    # Ship back only what the summary needs: per-class lists can be large.
    return {k: record.get(k) for k in ("run_id", "status", "error", "metrics", "timing")} | {
        "spec": record["spec"]}


@contextlib.contextmanager
def backend_context(backend: str, jobs: int, scheduler: str | None = None) -> Iterator[None]:
    """joblib's parallel config for a backend; dask connects to ``scheduler`` or starts a local cluster."""
    import joblib

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if backend == "dask":
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise RuntimeError("--backend dask needs dask[distributed]: pip install 'zslbench[dask]'") from exc
        if scheduler:
            client = Client(scheduler)
            cluster = None
        else:
            cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, host="127.0.0.1",
                                   dashboard_address=None, processes=True)
            client = Client(cluster)
        try:
            with joblib.parallel_config(backend="dask"):
                yield
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    elif backend == "ray":
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError as exc:
            raise RuntimeError("--backend ray needs ray: pip install 'zslbench[ray]'") from exc
        register_ray()
        if scheduler:
            ray.init(address=scheduler)
        with joblib.parallel_config(backend="ray"):
            yield
    else:
        if scheduler:
            raise ValueError("--scheduler only applies to --backend dask or ray")
        with joblib.parallel_config(backend=backend):
            yield


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Raise ``KeyboardInterrupt`` on SIGTERM, so a killed sweep also stops its workers.

    joblib aborts on any exception in the parent and kills its loky workers; a plain SIGTERM would end
    the parent alone and leave the workers to finish (and record) their current runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_specs(
    specs: Sequence[RunSpec],
    *,
    results_dir: Path,
    data_root: Path | None = None,
    jobs: int = 1,
    overwrite: str = "missing",
    device: str = "cpu",
    backend: str = "loky",
    scheduler: str | None = None,
    cache_dir: Path | None = None,
    embeddings_dir: Path | None = None,
    progress: bool | None = None,
    parallel_splits: bool = False,
) -> list[dict[str, Any]]:
    """Run every spec that ``overwrite`` says must run; return the summaries of the runs made.

    A failed run is recorded and the sweep goes on. With ``jobs == 1`` and the default backend, runs
    happen in this process (easiest to debug); otherwise through joblib with ``backend``.
    ``parallel_splits`` (in-process runs only) fits each run's validation and test splits at the same
    time in two processes (:func:`zslbench.runner.execute`).
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    in_process = jobs == 1 and backend == "loky" and not scheduler
    if parallel_splits and not in_process:
        raise ValueError("parallel_splits needs runs in this process (jobs=1, the loky backend, no scheduler)")
    results_dir = Path(results_dir)
    cache_dir = cache_dir or results_dir / "cache"
    remove_stale_temp_files(results_dir)
    todo = plan(specs, results_dir, overwrite).todo
    args = (str(results_dir), str(data_root) if data_root else None, device, str(cache_dir),
            str(embeddings_dir) if embeddings_dir else None, threads_per_job(jobs))
    bar = tqdm(total=len(todo), desc="runs", unit="run", disable=None if progress is None else not progress)
    out = []
    try:
        with sigterm_as_interrupt():
            if in_process:
                for spec in todo:
                    bar.set_postfix_str(spec.describe(), refresh=True)
                    out.append(_run_one(spec, *args, parallel_splits=parallel_splits))
                    bar.update()
            else:
                with backend_context(backend, jobs, scheduler):
                    parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
                    for summary in parallel(delayed(_run_one)(spec, *args, in_process=False) for spec in todo):
                        out.append(summary)
                        bar.set_postfix_str(f"{summary['spec']['method']} {summary['status']}", refresh=False)
                        bar.update()
    finally:
        bar.close()
    return out
