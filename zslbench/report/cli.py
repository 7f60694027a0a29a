"""Command-line entry points of the reporting part: ``report``, ``reproduce``, ``leaderboard``, ``plot``
(``check`` runs experiments, so it lives with the harness: :mod:`zslbench.check_suite`).

:func:`add_report_commands` adds them to the main ``zslbench`` parser's subparsers; each sets
``func(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _add_results(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="results directory holding runs/<dataset>/<method>/<run_id>.json (default: results)")


def add_report_commands(subparsers: Any) -> None:
    """Add ``report``, ``reproduce``, ``leaderboard`` and ``plot`` to ``subparsers``."""
    from zslbench.report.render import FORMATS
    from zslbench.report.tables import LAYOUTS

    rep = subparsers.add_parser("report", help="results table (Markdown, LaTeX or CSV)")
    _add_results(rep)
    rep.add_argument("--format", choices=FORMATS, default="md")
    rep.add_argument("--layout", choices=sorted([*LAYOUTS, "selection"]), default="icis",
                     help="icis: ICIS Table 1; gbu: GBU paper; ablation: the ICIS ablation rows; selection: "
                          "validation-class against test-class T1 and H per run (validation procedure)")
    rep.add_argument("--calibrated", action="store_true",
                     help="add calibrated-stacking S/U/H columns (gamma chosen on validation)")
    rep.add_argument("--ausuc", action="store_true", help="add an AUSUC column per dataset")
    rep.add_argument("--published", action=argparse.BooleanOptionalAction, default=None,
                     help="place published numbers beside ours (default: on)")
    rep.add_argument("--published-csv", type=Path, default=None,
                     help="published numbers file (default: results/published/published.csv of the checkout)")
    rep.add_argument("--procedure", default="validation",
                     help="which procedure's runs to tabulate (default: validation; 'paper' is labelled)")
    rep.add_argument("--out", type=Path, default=None, help="write here instead of standard output")
    rep.set_defaults(func=cmd_report)

    rp = subparsers.add_parser("reproduce", help="our numbers beside the published ones, with rank "
                               "correlations (Markdown + JSON; on built-in data: a realism measure)")
    _add_results(rp)
    rp.add_argument("--published-csv", type=Path, default=None,
                    help="published numbers file (default: results/published/published.csv of the checkout)")
    rp.add_argument("--procedure", default="validation", help="which procedure's runs to compare (default: validation)")
    rp.add_argument("--out", type=Path, default=None,
                    help="write <OUT>.md and <OUT>.json (default: print the Markdown)")
    rp.set_defaults(func=cmd_reproduce)

    lb = subparsers.add_parser("leaderboard", help="rank methods by mean GZSL H (Markdown + JSON)")
    _add_results(lb)
    lb.add_argument("--out", type=Path, default=None,
                    help="folder for leaderboard.md and leaderboard.json (default: the results directory)")
    lb.set_defaults(func=cmd_leaderboard)

    pl = subparsers.add_parser("plot", help="data-scarcity, seen-unseen and per-class figures (PNG + PDF)")
    _add_results(pl)
    pl.add_argument("--out", type=Path, default=None, help="output folder (default: <results>/figures)")
    pl.set_defaults(func=cmd_plot)


def _load(results: Path):
    from zslbench.report.aggregate import load_results

    res = load_results(results)
    if res.runs.empty and res.failed.empty:
        raise SystemExit(f"error: no usable run records under {results}/runs")
    return res


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)


def cmd_report(args: argparse.Namespace) -> int:
    from zslbench.report.published import load_published
    from zslbench.report.render import render
    from zslbench.report.tables import build_table

    if args.layout == "selection" and (args.procedure != "validation" or args.calibrated or args.ausuc
                                       or args.published is not None or args.published_csv is not None):
        print("error: --layout selection compares validation and test scores of the validation procedure; it takes "
              "no --procedure, --calibrated, --ausuc, --published, --no-published or --published-csv",
              file=sys.stderr)
        return 2
    res = _load(args.results)
    if args.layout == "selection":
        from zslbench.report.selection import build_selection_table

        table = build_selection_table(res)
    else:
        published = None if args.published is False else load_published(args.published_csv)
        table = build_table(res, layout=args.layout, procedure=args.procedure, calibrated=args.calibrated,
                            ausuc=args.ausuc, published=published)
    if not table.columns:
        print(f"error: no full-data '{args.procedure}' runs under {args.results}", file=sys.stderr)
        return 1
    text = render(table, args.format)
    banner = _profile_banner(res)
    if banner:
        prefix = {"md": f"**{banner}**\n\n", "latex": f"% {banner}\n"}.get(args.format, f"# {banner}\n")
        text = prefix + text
    _write(text, args.out)
    return 0


def _profile_banner(res) -> str | None:
    """The warning for records of a reduced run profile (``run --quick``), else None."""
    from zslbench.profiles import banner_for, profile_of

    return banner_for(profile_of(res.records.values()))


def cmd_reproduce(args: argparse.Namespace) -> int:
    from zslbench.report.published import load_published
    from zslbench.report.reproduce import build_reproduction, render_markdown, write_reproduction

    rep = build_reproduction(_load(args.results), load_published(args.published_csv), procedure=args.procedure)
    if rep.rows.empty:
        print(f"error: no '{args.procedure}' run under {args.results} has a published number for its dataset "
              "and features", file=sys.stderr)
        return 1
    if args.out is None:
        sys.stdout.write(render_markdown(rep))
        return 0
    md, js = write_reproduction(rep, args.out)
    print(f"wrote {md} and {js}", file=sys.stderr)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from zslbench.report.leaderboard import write_leaderboard

    res = _load(args.results)
    md, js = write_leaderboard(res, args.out or args.results)
    banner = _profile_banner(res)
    if banner:  # a reduced profile's leaderboard says so at the top of both files
        import json

        Path(md).write_text(f"**{banner}**\n\n" + Path(md).read_text(encoding="utf-8"), encoding="utf-8")
        board = json.loads(Path(js).read_text(encoding="utf-8"))
        Path(js).write_text(json.dumps({"profile_warning": banner, **board}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {md} and {js}", file=sys.stderr)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from zslbench.report.plots import make_plots

    written = make_plots(_load(args.results), args.out or args.results / "figures")
    for path in written:
        print(path)
    if not written:
        print("no figure: no records with curves, per-class accuracies or data-scarcity settings",
              file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m zslbench.report.cli <command> ...`` (the same commands without the main CLI)."""
    parser = argparse.ArgumentParser(prog="zslbench-report")
    add_report_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
