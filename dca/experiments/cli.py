"""``dca experiments check|runs|counts CONFIG``, ``stamp RUN``: the grid without Snakemake.

``check`` validates a config (schema, names, every run's training config); ``runs`` prints one run
folder per line; ``counts`` prints the training runs per group (table cells times seeds). ``--group``
restricts runs and counts to some groups (a group's aggregate scores and curves: ``dca report``).
``stamp RUN --digest D`` writes the run config read from stdin to ``RUN/run.yaml`` and its stamp, moving a
run of another config aside (:mod:`dca.experiments.stamp`), as the workflow's run_config job does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dca.experiments.config import ConfigError, load_config
from dca.experiments.grid import Grid

SUBCOMMANDS = {
    "check": "validate the config (schema, names, every run's training config)",
    "runs": "print the run folders, one per line",
    "counts": "print the training runs per group (table cells times seeds)",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``experiments`` with its sub-commands: the ``SUBCOMMANDS`` over a workflow config, and ``stamp``."""
    parser = subparsers.add_parser(
        "experiments", help="the experiment grid of a workflow config", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="experiments_command", required=True)
    for name, help_text in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("config", type=Path, help="workflow config (config/config.yaml, config/demo.yaml)")
        sub.add_argument("--group", action="append", default=None, help="restrict to this group (repeatable)")
        sub.set_defaults(func=run)
    stamp = commands.add_parser("stamp", help=STAMP_HELP, description=STAMP_HELP)
    stamp.add_argument("run_dir", type=Path, help="the run folder")
    stamp.add_argument("--digest", required=True, help="the run config's digest (the stamp's name)")
    stamp.set_defaults(func=run_stamp)


STAMP_HELP = "write the run config from stdin to RUN/run.yaml and its stamp, keeping a run of another config"


def run_stamp(args: argparse.Namespace) -> int:
    """``dca experiments stamp``: the run_config job (messages on stdout)."""
    from dca.experiments.stamp import stamp_run
    from dca.layout import RunDir

    try:
        for line in stamp_run(RunDir(args.run_dir), sys.stdin.read(), args.digest):
            print(line)
    except ConfigError as err:
        print(f"dca experiments stamp: error: {err}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    """Run one sub-command; exit code 0, or 1 with the error (config path first) on stderr."""
    try:
        grid = Grid(load_config(args.config))
        command = args.experiments_command
        if command == "check":
            from dca.data.registry import get_dataset
            from dca.experiments.config import check_run_determinism, check_run_models

            configs = {run_: grid.run_config(run_) for run_ in grid.runs()}
            check_run_models(configs)
            classes = {run_: get_dataset(grid.dataset(run_.dataset).registry).num_classes for run_ in configs}
            check_run_determinism(configs, classes)
            print(f"{args.config}: valid; {len(grid.groups)} groups, {len(grid.runs())} distinct runs")
        elif command == "runs":
            for run_ in grid.runs(args.group):
                print(run_.folder(grid.paths["runs"]))
        else:
            counts = grid.counts()
            grid.runs(args.group)  # unknown groups are an error
            for group in args.group or counts:
                print(f"{group}\t{counts[group]}")
    except ConfigError as err:
        print(f"dca experiments: error: {args.config}: {err}", file=sys.stderr)
        return 1
    return 0
