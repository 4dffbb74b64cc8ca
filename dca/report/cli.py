"""``dca report tables|figures|claims|aggregate|curves|summary --config CONFIG``: the report of the config's groups.

CONFIG is a workflow config (the workflow passes its validated copy); every output root defaults to its ``paths``.
Each file written is printed on stdout, one per line; skipped groups and missing runs are info lines on stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dca.experiments.config import ConfigError, load_config
from dca.experiments.grid import Grid
from dca.layout import aggregate_file, claims_files, curves_file
from dca.report.aggregate import write_aggregate
from dca.report.claims import claims_frame, claims_latex, group_claims
from dca.report.collect import collect_group, report_groups
from dca.report.curves import write_group_curves
from dca.report.figures import write_figures
from dca.report.summary import group_summary
from dca.report.tables import write_table
from dca.utils.io import write_text
from dca.utils.log import stage_log

LOG = stage_log("report")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``report`` with its sub-commands (each one's output root is the ``paths`` key it is set with)."""
    parser = subparsers.add_parser(
        "report", help="tables, figures, claims, aggregate scores and curves of the experiment groups"
    )
    commands = parser.add_subparsers(dest="report_command", required=True)
    tables = commands.add_parser(
        "tables",
        help="one .tex + .csv (+ _tests.csv: seed-averaged Wilcoxon; the headline test is <paper>_claims) per group",
        description="Write <group>.tex (booktabs tabular for \\input), <group>.csv and <group>_tests.csv per group.",
    )
    figures = commands.add_parser(
        "figures",
        help="qualitative grids, training curves, parameters vs Dice (PNG + PDF)",
        description="Write <group>_qualitative_<dataset>, <group>_curves_<dataset>, <group>_params_dice (.png, .pdf).",
    )
    claims = commands.add_parser(
        "claims",
        help="<paper>_claims.tex/.csv: each comparison of the papers, reported vs our delta with a bootstrap CI",
        description="Write <paper>_claims.tex and .csv per paper whose groups have baselines (docs/protocols.md).",
    )
    aggregate = commands.add_parser(
        "aggregate",
        help="<group>.json per group: mean/std/n over seeds of the test Dice, IoU, HD95 (DVC metrics)",
        description="Write <group>.json per group, keyed <dataset>/<variant> (docs/experiments.md).",
    )
    curves = commands.add_parser(
        "curves",
        help="<group>.csv per group: every run's curves.csv, a run column first (DVC plots)",
        description="Write <group>.csv per group: one row per run and epoch.",
    )
    summary = commands.add_parser(
        "summary",
        help="print each group's test Dice over seeds and per test image, and its claims with how to read them",
        description="Print, per group, each variant's test Dice (seeds, per-image median and lowest) and each claim.",
    )
    subs = (
        *((tables, "tables"), (figures, "figures"), (claims, "tables"), (aggregate, "aggregates")),
        *((curves, "curves"), (summary, "tables")),
    )
    for sub, kind in subs:
        sub.add_argument("--config", type=Path, required=True, help="workflow config (YAML)")
        sub.add_argument("--groups", nargs="+", metavar="G", help="experiment groups (default: all)")
        sub.add_argument("--runs", type=Path, help="run folders root (default: the config's paths.runs)")
        sub.add_argument("--out", type=Path, help=f"output folder (default: the config's paths.{kind})")
        sub.set_defaults(func=run, kind=kind)
    for sub in (figures, claims, summary):
        sub.add_argument("--processed", type=Path, help="processed datasets (default: the config's paths.processed)")
    claims.set_defaults(func=run_claims)
    summary.set_defaults(func=run_summary)
    aggregate.set_defaults(func=run_group_files)
    curves.set_defaults(func=run_group_files)


def _wrote(paths: list[Path]) -> None:
    """Print the files written on stdout, one per line (the command's result, for scripts)."""
    print("\n".join(str(p) for p in paths), flush=True)


def config_grid(path: Path) -> Grid:
    """The experiment grid of the workflow config at ``path`` (validated, defaults filled); errors name the file."""
    try:
        return Grid(load_config(path), check=False)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def run(args: argparse.Namespace) -> int:
    """Write the tables or figures of every requested group; groups without any run are skipped with a message."""
    grid = config_grid(args.config)
    runs, out = args.runs or Path(grid.paths["runs"]), args.out or Path(grid.paths[args.kind])
    for group in report_groups(grid, args.groups):
        results = collect_group(group, runs)
        if not results.runs:
            LOG(f"{group.name}: no evaluated run under {runs}: skipped")
            continue
        if results.missing:
            listed = ", ".join(f"{d}/{v}/seed{s}" for d, v, s in results.missing)
            LOG(f"{group.name}: {len(results.missing)} run(s) missing: {listed}")
        if args.kind == "tables":
            written = list(write_table(results, out, LOG).values())
        else:
            written = write_figures(results, args.processed or Path(grid.paths["processed"]), out, LOG)
        _wrote(written)
    return 0


def run_claims(args: argparse.Namespace) -> int:
    """Write one claims table per paper from every requested group with baselines (absent runs give empty cells)."""
    grid = config_grid(args.config)
    runs, out = args.runs or Path(grid.paths["runs"]), args.out or Path(grid.paths["tables"])
    processed = args.processed or Path(grid.paths["processed"])
    rows: dict[str, list[dict[str, object]]] = {}
    for group in report_groups(grid, args.groups):
        if group.baselines:
            rows.setdefault(group.paper, []).extend(group_claims(collect_group(group, runs), processed))
    for paper, found in rows.items():
        frame = claims_frame(found)
        tex, csv = claims_files(out, paper)
        write_text(tex, claims_latex(frame, paper))
        write_text(csv, frame.to_csv(index=False, lineterminator="\n"))
        _wrote([tex, csv])
    return 0


def run_summary(args: argparse.Namespace) -> int:
    """Print the summary of every requested group with runs (stdout: it is the command's result)."""
    grid = config_grid(args.config)
    runs, processed = args.runs or Path(grid.paths["runs"]), args.processed or Path(grid.paths["processed"])
    for group in report_groups(grid, args.groups):
        results = collect_group(group, runs)
        if not results.runs:
            LOG(f"{group.name}: no evaluated run under {runs}: skipped")
            continue
        claims = group_claims(results, processed) if group.baselines else []
        print(group_summary(results, claims), flush=True)
    return 0


def run_group_files(args: argparse.Namespace) -> int:
    """Write the aggregate scores or the training curves of every requested group (groups without runs too)."""
    grid = config_grid(args.config)
    names = list(args.groups or grid.groups)
    grid.runs(names)  # an unknown group is an error listing the known ones
    write, name = (write_aggregate, aggregate_file) if args.kind == "aggregates" else (write_group_curves, curves_file)
    for group in names:
        path = write(grid, group, name(args.out or grid.paths[args.kind], group), args.runs)
        _wrote([path])
    return 0
