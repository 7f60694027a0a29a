"""``zslbench run | ls | validate | data | report | leaderboard | plot | check``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from zslbench.protocol import OBJECTIVES, PROCEDURES
from zslbench.records import OVERWRITE_MODES


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (the option and the problem), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_set(items: Sequence[str]) -> dict[str, Any]:
    out = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = _parse_value(value)
    return out


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder with xlsa17 datasets (<DIR>/<NAME>/res101.mat ...); default: $ZSLBENCH_DATA")
    p.add_argument("--embeddings-dir", type=Path, default=None,
                   help="folder of class-name embeddings ({NAME}_{wiki2vec,conceptnet}.npy)")
    p.add_argument("--config", type=Path, default=None,
                   help="benchmark.toml (default: ./benchmark.toml if present, else the installed default)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zslbench", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run methods on datasets and write one JSON record per run")
    run.add_argument("--all", action="store_true",
                     help="every registered method on every available dataset (built-in data without a data root)")
    run.add_argument("-m", "--methods", nargs="+", default=None, metavar="METHOD")
    run.add_argument("-d", "--datasets", nargs="+", default=None, metavar="DATASET")
    run.add_argument("--seeds", nargs="+", type=int, default=None)
    run.add_argument("--sweep", default=None,
                     help="run a named scarcity sweep of benchmark.toml (-m/-d/--seeds narrow it)")
    run.add_argument("--seen-fraction", type=float, default=1.0, help="share of seen classes used for training")
    run.add_argument("--images-per-class", type=int, default=None,
                     help="at most this many images per seen class (0: all, as in benchmark.toml)")
    run.add_argument("--descriptor-dims", type=int, default=None,
                     help="keep this many descriptor dimensions (0: all, as in benchmark.toml)")
    run.add_argument("--descriptors", default=None,
                     help="descriptor id: att, original_att, sent, wiki2vec, conceptnet, or a .npy file "
                          "(keep custom files in the dataset or embeddings folder so records can find them again)")
    run.add_argument("--features", default=None, help="feature file stem (res101, res101_finetuned, ...)")
    run.add_argument("--procedure", choices=tuple(PROCEDURES), default=None,
                     help="; ".join(f"{p.name}: {p.summary}" for p in PROCEDURES.values()))
    run.add_argument("--preset", default=None, help="method preset (e.g. fast, paper)")
    run.add_argument("--trials", type=int, default=None, help="random-search trials per run (1 = defaults only)")
    run.add_argument("--objective", choices=OBJECTIVES, default=None,
                     help="validation metric the search maximises (default: suite.objective)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="fix a hyper-parameter for the methods that have it (repeatable)")
    run.add_argument("--test-params", action="store_true", help="use each method's tiny test settings")
    run.add_argument("--jobs", "-j", type=int, default=1)
    run.add_argument("--parallel-splits", action="store_true", help="fit validation and test splits at once, "
                     "one thread each (one trial, --jobs 1; numbers of ZSLBENCH_THREADS=1; on in --quick)")
    run.add_argument("--backend", choices=("loky", "threading", "dask", "ray"), default="loky")
    run.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler / Ray cluster")
    run.add_argument("--device", default="cpu", help="torch device for methods that use torch (default cpu)")
    run.add_argument("--results", type=Path, default=Path("results"))
    run.add_argument("--overwrite", choices=OVERWRITE_MODES, default="missing")
    run.add_argument("--dry-run", action="store_true",
                     help="print what would run and its estimated wall time (from recorded timings); run nothing")
    run.add_argument("--quick", action="store_true",
                     help="a first run in minutes: the 'quick' profile (one seed, synth-cub, capped epochs; "
                          "-m/-d/--seeds narrow it), records labelled, outputs in <results>/quick")
    _add_data_options(run)
    run.set_defaults(func=cmd_run)

    ls = sub.add_parser("ls", help="list methods or datasets")
    ls.add_argument("what", choices=("methods", "datasets"))
    _add_data_options(ls)
    ls.set_defaults(func=cmd_ls)

    val = sub.add_parser("validate", help="check benchmark.toml against the registries")
    val.add_argument("config_path", nargs="?", type=Path, default=None)
    val.set_defaults(func=cmd_validate)

    from zslbench.check_suite import add_check_command
    from zslbench.data.cli import add_data_commands
    from zslbench.report.cli import add_report_commands

    add_data_commands(sub)
    add_report_commands(sub)
    add_check_command(sub)
    return parser


def _datasets_for(args, config) -> list[str]:
    from zslbench.data.sources import available_datasets, resolve_data_root

    if args.datasets:
        return list(args.datasets)
    root = resolve_data_root(args.data_root)
    available = [d for d in available_datasets(root) if not d.startswith("synth-")]
    if available:
        return available
    return list(config.default_datasets)


def _unique(values: Sequence[Any] | None) -> list[Any] | None:
    """The values in order without repeats (``--seeds 0 0`` runs seed 0 once)."""
    return None if values is None else list(dict.fromkeys(values))


def _device_problem(device: str) -> str | None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        return f"--device {device!r}: not a torch device (use cpu, cuda or cuda:N)"
    if dev.type == "cuda" and not torch.cuda.is_available():
        return f"--device {device!r}: CUDA is not available on this machine (use --device cpu)"
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        return f"--device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
    if dev.type not in ("cpu", "cuda", "mps"):
        return f"--device {device!r}: unsupported device type {dev.type!r} (use cpu or cuda:N)"
    return None


def _run_problems(args: argparse.Namespace, methods: Sequence[str], overrides: dict[str, Any],
                  config: Any) -> list[str]:
    """Every invalid command-line value of ``run`` (one line each), checked before anything is planned."""
    import math

    from zslbench.config import seeds_problem
    from zslbench.method import hparam_problems
    from zslbench.provenance import mixed_checkout_problem
    from zslbench.registry import METHODS
    from zslbench.sweep import threads_problem

    problems = []
    if args.seeds is not None:
        problem = seeds_problem(args.seeds)
        if problem:
            problems.append(f"--seeds {problem}")
    f = args.seen_fraction
    if not (math.isfinite(f) and 0 < f <= 1):
        problems.append(f"--seen-fraction must be in (0, 1] (a share of the seen classes), got {f}")
    for opt, value in (("--images-per-class", args.images_per_class), ("--descriptor-dims", args.descriptor_dims)):
        if value is not None and value < 0:
            problems.append(f"{opt} must be >= 0 (0: all), got {value}")
    if args.trials is not None and args.trials < 1:
        problems.append(f"--trials must be >= 1 (1: the defaults only), got {args.trials}")
    if args.jobs < 1:
        problems.append(f"--jobs must be >= 1, got {args.jobs}")
    if args.parallel_splits and (args.jobs != 1 or args.backend != "loky" or args.scheduler):
        problems.append("--parallel-splits needs runs in this process: --jobs 1, the loky backend, no --scheduler")
    for key, value in overrides.items():
        having = [m for m in methods if key in METHODS.get(m).space]
        if not having:
            problems.append(f"--set {key}: no selected method has that hyper-parameter")
        for m in having:
            problems += [f"--set {key}={value!r}: {p}" for p in hparam_problems(m, METHODS.get(m).space,
                                                                                 {key: value})]
    if args.preset is not None:
        lacking = [m for m in methods if args.preset not in METHODS.get(m).presets]
        if lacking:
            problems.append(f"--preset {args.preset!r}: not a preset of {', '.join(lacking)} "
                            f"(presets: {', '.join(sorted({p for m in methods for p in METHODS.get(m).presets})) or 'none'})")
    problems += [p for p in (_device_problem(args.device), threads_problem(), mixed_checkout_problem()) if p]
    return problems


def _descriptor_dims_problem(value: int | None, datasets: Sequence[str], args, config, data_root) -> str | None:
    """--descriptor-dims beyond a dataset's descriptors would change nothing but the run id."""
    from zslbench.data.sources import descriptor_dim

    if value is None:
        return None
    for d in datasets:
        dc = config.dataset(d)
        dims = descriptor_dim(d, data_root=data_root, features=args.features or dc.features,
                              descriptors=args.descriptors or dc.descriptors, embeddings_dir=args.embeddings_dir)
        if value > dims:
            return f"--descriptor-dims {value}: {d} has only {dims} descriptor dimensions"
    return None


def _check_results_dir(results: Path, specs: Sequence[Any], write: bool = True) -> str | None:
    """Why records cannot be read or written under ``results`` (None when they can).

    Every folder a record of ``specs`` would go to (or its nearest existing parent) must be readable and,
    with ``write``, take a temporary file.
    """
    import tempfile

    from zslbench.records import record_path

    if results.exists() and not results.is_dir():
        return f"--results {results}: is a file, not a folder"
    folders = {results / "runs", results / "cache"} | {record_path(results, s).parent for s in specs}
    for folder in sorted(folders):
        probe_in = folder
        while not probe_in.exists() and probe_in != probe_in.parent:
            probe_in = probe_in.parent
        try:
            if not probe_in.is_dir():
                return f"--results {results}: {probe_in} is a file, not a folder"
            if not os.access(probe_in, os.R_OK | os.X_OK):
                return f"--results {results}: cannot read {probe_in} (permission denied)"
            if write:
                with tempfile.TemporaryFile(dir=probe_in):
                    pass
        except OSError as exc:
            return f"--results {results}: cannot write to {probe_in} ({exc.strerror or exc})"
    return None


def cmd_run(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from zslbench.config import load_config, validate_config
    from zslbench.data.sources import resolve_data_root
    from zslbench.protocol import Setting
    from zslbench.records import RecordError, read_record, record_path
    from zslbench.registry import METHODS
    from zslbench.sweep import check_datasets, make_specs, plan, run_specs, sweep_specs

    config = load_config(args.config)
    data_root = resolve_data_root(args.data_root)
    problems = validate_config(config, data_root)
    if problems:
        for p in problems:
            print(f"zslbench run: error: {p}", file=sys.stderr)
        return 2
    overrides = _parse_set(args.set)
    args.methods, args.datasets, args.seeds = _unique(args.methods), _unique(args.datasets), _unique(args.seeds)
    for opt in ("images_per_class", "descriptor_dims"):
        if getattr(args, opt) == 0:  # 0 means "all", as in benchmark.toml's sweeps
            setattr(args, opt, None)
    common = dict(procedure=args.procedure, preset=args.preset, hparams_overrides=overrides,
                  test_params=args.test_params, trials=args.trials, objective=args.objective,
                  descriptors=args.descriptors, features=args.features, config=config, data_root=data_root,
                  embeddings_dir=args.embeddings_dir)
    profile = None
    if args.quick:
        from zslbench.profiles import QUICK as profile

        if args.sweep:
            print("zslbench run: --quick and --sweep cannot be combined", file=sys.stderr)
            return 2
        args.all = True
        args.datasets = args.datasets or list(profile.datasets)
        args.seeds = args.seeds or list(profile.seeds)
        args.results = Path(args.results) / profile.results_subdir
        common["profile"] = profile
        args.parallel_splits |= (profile.parallel_splits and (os.cpu_count() or 1) >= 2 and args.jobs == 1
                                 and args.backend == "loky" and not args.scheduler)
        print(profile.banner())
    if args.sweep:
        if args.sweep not in config.sweeps:
            raise KeyError(f"--sweep {args.sweep!r}: no such sweep in {config.path} (sweeps: {sorted(config.sweeps)})")
        sweep = config.sweeps[args.sweep]
        methods, datasets = args.methods or list(sweep.methods), args.datasets or list(sweep.datasets)
        dims = [v for v in sweep.descriptor_dims if v is not None]
    else:
        if not (args.all or args.methods):
            print("zslbench run: error: give --all, --quick, -m/--methods or --sweep", file=sys.stderr)
            return 2
        left_out = set(config.exclude_from_all) | set(profile.left_out if profile else ())
        methods = args.methods or [m for m in METHODS.names() if m not in left_out]
        datasets = None
        dims = [args.descriptor_dims] if args.descriptor_dims is not None else []
    for m in methods:
        METHODS.get(m)  # unknown names fail here with "did you mean"
    problems = _run_problems(args, methods, overrides, config)
    if not problems and dims:
        datasets = datasets or _datasets_for(args, config)
        problems = [p for p in [_descriptor_dims_problem(max(dims), datasets, args, config, data_root)] if p]
    if problems:
        for p in problems:
            print(f"zslbench run: error: {p}", file=sys.stderr)
        return 2
    if args.sweep:
        specs = sweep_specs(args.sweep, methods=args.methods, datasets=args.datasets, seeds=args.seeds, **common)
    else:
        datasets = datasets or _datasets_for(args, config)
        setting = Setting(seen_fraction=args.seen_fraction, images_per_class=args.images_per_class,
                          descriptor_dims=args.descriptor_dims)
        specs = make_specs(methods, datasets, args.seeds or config.seeds, setting=setting, **common)
    problem = _check_results_dir(args.results, specs, write=not args.dry_run)
    if problem:
        print(f"zslbench run: error: {problem}", file=sys.stderr)
        return 2
    p = plan(specs, args.results, args.overwrite)
    for line in p.unusable:
        print(f"warning: {line}; treated as missing (the run is made again)", file=sys.stderr)
    print(f"{len(specs)} runs planned: {len(p.todo)} to run, {len(p.skipped)} already done "
          f"(--overwrite {args.overwrite}); results in {args.results}/runs")
    if args.dry_run:
        for spec in p.todo:
            print(f"  would run  {spec.run_id}  {spec.describe()}")
        from zslbench.estimate import print_estimate

        print_estimate(specs, p.todo, [args.results, Path("results")], int(args.jobs))
        return 0
    broken = check_datasets(p.todo, data_root=data_root, embeddings_dir=args.embeddings_dir,
                            keep_loaded=args.jobs == 1 and args.backend == "loky" and not args.scheduler)
    for name, message in broken.items():
        n = sum(1 for spec in p.todo if spec.dataset_name == name)
        print(f"zslbench run: error: {message} ({n} run(s) of {name} not made)", file=sys.stderr)
    todo = [spec for spec in p.todo if spec.dataset_name not in broken]
    started = time.perf_counter()
    summaries = run_specs(todo, results_dir=args.results, data_root=data_root, jobs=args.jobs, device=args.device,
                          overwrite=args.overwrite, backend=args.backend, scheduler=args.scheduler,
                          embeddings_dir=args.embeddings_dir, parallel_splits=args.parallel_splits)
    wall = time.perf_counter() - started
    rows = []
    for spec in {s.run_id: s for s in specs}.values():
        path = record_path(args.results, spec)
        try:
            rec = read_record(path)
        except RecordError:
            rows.append([spec.method, spec.dataset_name, spec.seed, "missing", "", "", ""])
            continue
        m = rec.get("metrics") or {}
        fmt = lambda k: f"{100 * m[k]:.1f}" if k in m else ""  # noqa: E731
        error = (rec.get("error") or {}).get("message", "")
        status = rec["status"] if rec["status"] == "ok" else f"FAILED: {str(error)[:60]}"
        rows.append([spec.method, spec.dataset_name, spec.seed, status, fmt("zsl_top1"), fmt("gzsl_h"),
                     f"{(rec.get('timing') or {}).get('total_seconds', 0):.1f}"])
    print(tabulate(rows, headers=["method", "dataset", "seed", "status", "ZSL top-1", "GZSL H", "seconds"]))
    failed = sum(1 for s in summaries if s["status"] != "ok")
    print(f"{len(summaries)} runs made in {wall:.1f} s, {failed} failed")
    if profile is not None:
        _write_outputs(args.results)
    return 1 if failed or broken else 0


def _write_outputs(results: Path) -> None:
    """Tables, leaderboard and figures of ``results`` (a profile's own folder), then say where they are."""
    from zslbench.report.cli import main as report_main

    tables = results / "tables"
    for layout in ("icis", "gbu"):
        report_main(["report", "--results", str(results), "--layout", layout, "--format", "md",
                     "--out", str(tables / f"{layout}.md")])
    report_main(["leaderboard", "--results", str(results)])
    report_main(["plot", "--results", str(results)])
    print(f"\ntables:      {tables}/\nleaderboard: {results / 'leaderboard.md'}\n"
          f"figures:     {results / 'figures'}/\nrecords:     {results / 'runs'}/")


def cmd_ls(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    if args.what == "methods":
        from zslbench.registry import METHODS

        rows = [[name, cls.access, cls.version, ", ".join(sorted(cls.presets)) or "-",
                 (cls.description or (cls.__doc__ or "").strip().splitlines()[0])[:70]]
                for name, cls in METHODS.items()]
        print(tabulate(rows, headers=["method", "access", "version", "presets", "description"]))
        return 0
    from zslbench.data.sources import available_datasets, resolve_data_root

    root = resolve_data_root(args.data_root)
    rows = []
    for name in available_datasets(root):
        kind = "built-in (SYNTHETIC)" if name.startswith("synth-") else f"xlsa17 under {root}"
        rows.append([name, kind])
    print(tabulate(rows, headers=["dataset", "source"]))
    if root is None:
        print("(no data root: give --data-root DIR or set ZSLBENCH_DATA to list real datasets)")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from zslbench.config import ConfigError, load_config, validate_config

    from zslbench.data.sources import resolve_data_root

    try:
        config = load_config(args.config_path)
    except ConfigError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    problems = validate_config(config, resolve_data_root(None))
    for p in problems:
        print(f"invalid: {p}", file=sys.stderr)
    if not problems:
        print(f"{config.path}: valid ({len(config.methods)} methods configured, {len(config.sweeps)} sweeps, "
              f"seeds {list(config.seeds)})")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted: finished runs are recorded; re-run the same command to resume", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:  # e.g. a report command without its plotting / table library
        if args.verbose:
            raise
        print(f"zslbench: error: this command needs the Python module {exc.name!r}, which is not installed "
              "(install zslbench with its dependencies: pip install -e .)", file=sys.stderr)
        return 2
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        # Known user-facing errors (bad names, bad files, bad config) get one clear line, no traceback.
        if args.verbose:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"zslbench: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
