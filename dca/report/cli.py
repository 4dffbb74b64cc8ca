"""``dca report tables|figures|claims --config CONFIG``: tables, figures and claims of the config's groups."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dca.layout import claims_files
from dca.report.claims import claims_frame, claims_latex, group_claims
from dca.report.collect import collect_group, config_groups, config_paths, load_config
from dca.report.figures import write_figures
from dca.report.tables import write_table
from dca.utils.io import write_text


def log_message(message: str) -> None:
    """Print a report message to stderr."""
    print(f"[dca report] {message}", file=sys.stderr)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``report`` with its ``tables`` and ``figures`` sub-commands."""
    parser = subparsers.add_parser("report", help="LaTeX/CSV tables and figures of the experiment groups")
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
    for sub, kind in ((tables, "tables"), (figures, "figures"), (claims, "tables")):
        sub.add_argument("--config", type=Path, required=True, help="experiment config (YAML)")
        sub.add_argument("--groups", nargs="+", metavar="G", help="experiment groups (default: all)")
        sub.add_argument("--runs", type=Path, help="run folders root (default: the config's paths.runs)")
        sub.add_argument("--out", type=Path, help=f"output folder (default: the config's paths.{kind})")
        sub.set_defaults(func=run, kind=kind)
    for sub in (figures, claims):
        sub.add_argument("--processed", type=Path, help="processed datasets (default: the config's paths.processed)")
    claims.set_defaults(func=run_claims)


def run(args: argparse.Namespace) -> int:
    """Write the tables or figures of every requested group; groups without any run are skipped with a message."""
    config = load_config(args.config)
    paths = config_paths(config)
    runs, out = args.runs or paths["runs"], args.out or paths[args.kind]
    for group in config_groups(config, args.groups):
        results = collect_group(group, runs)
        if not results.runs:
            log_message(f"{group.name}: no evaluated run under {runs}: skipped")
            continue
        if results.missing:
            listed = ", ".join(f"{d}/{v}/seed{s}" for d, v, s in results.missing)
            log_message(f"{group.name}: {len(results.missing)} run(s) missing: {listed}")
        if args.kind == "tables":
            written = list(write_table(results, out, log_message).values())
        else:
            written = write_figures(results, args.processed or paths["processed"], out, log_message)
        log_message(f"{group.name}: wrote {', '.join(str(p) for p in written)}")
    return 0


def run_claims(args: argparse.Namespace) -> int:
    """Write one claims table per paper from every requested group with baselines (absent runs give empty cells)."""
    config = load_config(args.config)
    paths = config_paths(config)
    runs, out, processed = args.runs or paths["runs"], args.out or paths["tables"], args.processed or paths["processed"]
    rows: dict[str, list[dict[str, object]]] = {}
    for group in config_groups(config, args.groups):
        if group.baselines:
            rows.setdefault(group.paper, []).extend(group_claims(collect_group(group, runs), processed))
    for paper, found in rows.items():
        frame = claims_frame(found)
        tex, csv = claims_files(out, paper)
        write_text(tex, claims_latex(frame, paper))
        write_text(csv, frame.to_csv(index=False, lineterminator="\n"))
        log_message(f"{paper}: wrote {tex}, {csv}")
    return 0
