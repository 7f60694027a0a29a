"""The ``zslbench data`` command: ``data verify DIR``, ``data download xlsa17 --to DIR`` and ``data export NAME
--to DIR``.

:func:`add_data_commands` adds the command to the main parser's sub-parsers; each sub-command's
``func(args) -> int`` returns the exit code (0: fine, 1: something is wrong). Also runnable alone:
``python -m zslbench.data.cli verify DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence


def add_data_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``data`` with ``verify``, ``download`` and ``export`` to an argparse sub-parsers object."""
    data = subparsers.add_parser("data", help="check, download or export datasets (xlsa17 layout)",
                                 description="Check, download or export datasets in the xlsa17 layout.")
    sub = data.add_subparsers(dest="data_command", metavar="{verify,download,export}", required=True)

    verify = sub.add_parser(
        "verify", help="check every dataset folder of DIR; exit code 1 when something is wrong",
        description="Check every dataset folder of DIR (files, what loads, counts vs published sizes).",
    )
    verify.add_argument("dir", type=Path, help="data root holding <NAME>/att_splits.mat, res101.mat, ...")
    verify.add_argument("--dataset", action="append", default=None, metavar="NAME",
                        help="only this dataset folder (repeatable)")
    verify.add_argument("--embeddings-dir", type=Path, default=None,
                        help="class-name embeddings folder (default DIR/class_embeddings)")
    verify.add_argument("--no-features", action="store_true",
                        help="skip reading the feature matrices (splits and labels only; fast)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_verify)

    download = sub.add_parser(
        "download", help="download, check and unpack a dataset bundle, then verify it",
        description="Download (resuming a partial download), check the sha256, unpack to DIR/<NAME>/ and "
                    "verify. No official checksum is pinned: without --sha256 the computed one is printed "
                    "and NOT verified.",
    )
    download.add_argument("what", choices=("xlsa17",), help="the bundle")
    download.add_argument("--to", dest="to", type=Path, required=True, help="data root to fill")
    download.add_argument("--url", default=None,
                          help="mirror URL (default: $ZSLBENCH_MIRROR, else the official MPI address)")
    download.add_argument("--sha256", default=None, help="expected sha256 of the zip")
    download.add_argument("--keep-archive", action="store_true", help="keep DIR/xlsa17.zip after unpacking")
    download.add_argument("--no-verify", action="store_true", help="do not run `data verify` afterwards")
    download.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")
    download.set_defaults(func=cmd_download)

    export = sub.add_parser(
        "export", help="write a dataset (e.g. a built-in one) as DIR/<NAME>/res101.mat + att_splits.mat",
        description="Write a dataset in the xlsa17 layout (1-based indices, features d x N), so that other "
                    "code, such as an author's release run as a peer check, reads exactly the data of a record.",
    )
    export.add_argument("name", help="dataset name (built-in synth-*, or a folder under --data-root)")
    export.add_argument("--to", dest="to", type=Path, required=True, help="data root to write <NAME>/ into")
    export.add_argument("--mat", choices=("v5", "v7.3"), default="v5", help="MATLAB file version (default v5)")
    export.add_argument("--data-root", type=Path, default=None, help="where to load a non-built-in dataset from")
    export.add_argument("--overwrite", action="store_true", help="replace the files of an earlier export")
    export.set_defaults(func=cmd_export)
    return data


def cmd_verify(args: argparse.Namespace) -> int:
    from zslbench.data.verify import verify_root

    report = verify_root(args.dir, names=args.dataset, embeddings_dir=args.embeddings_dir,
                         features=not args.no_features)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.format())
    return 0 if report.ok else 1


def cmd_download(args: argparse.Namespace) -> int:
    from zslbench.data.download import DownloadError, download_xlsa17, resolve_url
    from zslbench.data.verify import verify_root

    url = resolve_url(args.url)
    print(f"Downloading {args.what} from {url} to {args.to}", file=sys.stderr)
    try:
        result = download_xlsa17(args.to, url=args.url, sha256=args.sha256, keep_archive=args.keep_archive,
                                 timeout=args.timeout)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.resumed_from:
        print(f"resumed from byte {result.resumed_from}")
    if result.verified:
        print(f"sha256 {result.sha256}: verified")
    else:
        print(f"sha256 {result.sha256}: NOT verified (no expected checksum given; pass --sha256 to check)")
    print(f"unpacked: {', '.join(result.datasets)} -> {args.to}")
    if result.archive is not None:
        print(f"archive kept at {result.archive}")
    if args.no_verify:
        return 0
    report = verify_root(args.to, names=result.datasets)
    print(report.format())
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace) -> int:
    from zslbench.data.dataset import DatasetError
    from zslbench.data.export import export_xlsa17
    from zslbench.data.sources import load_dataset

    folder = args.to / args.name
    existing = [p for p in (folder / "res101.mat", folder / "att_splits.mat") if p.exists()]
    if existing and not args.overwrite:
        print(f"error: {existing[0]} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    try:
        ds = load_dataset(args.name, data_root=args.data_root)
    except (DatasetError, KeyError, ValueError) as exc:
        print(f"error: dataset {args.name!r}: {exc}", file=sys.stderr)
        return 1
    try:
        features, splits = export_xlsa17(ds, folder, version=args.mat)
    except OSError as exc:
        print(f"error: cannot write {folder}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    kind = "synthetic, " if ds.synthetic else ""
    print(f"wrote {features} and {splits} ({kind}{len(ds.labels)} images, {ds.n_classes} classes, "
          f"layout of {ds.identity.split_version})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zslbench.data.cli verify DIR`` (the same as ``zslbench data verify DIR``)."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="zslbench")
    sub = parser.add_subparsers(dest="command", required=True)
    add_data_commands(sub)
    args = parser.parse_args(["data", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
