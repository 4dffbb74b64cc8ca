"""``dca experiments check|runs|counts CONFIG``, ``stamp RUN``, ``prune RUNS``: the grid without Snakemake.

``check`` validates a config (schema, names, every run's training config); ``runs`` prints one run
folder per line; ``counts`` prints the training runs per group (table cells times seeds). ``--group``
restricts runs and counts to some groups (a group's aggregate scores and curves: ``dca report``).
``params CONFIG`` writes the config with its defaults filled in, as DVC's params.yaml. ``stamp RUN --digest D``
writes the run config read from stdin to ``RUN/run.yaml`` and its stamp, moving a run of another config aside
(:mod:`dca.experiments.stamp`), as the workflow's run_config job does. ``prune RUNS`` bounds what finished run
folders keep (:mod:`dca.experiments.prune`), as the workflow does when it succeeds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dca.experiments.config import ConfigError, load_config
from dca.experiments.grid import Grid, dump_yaml

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
    params = commands.add_parser("params", help=PARAMS_HELP, description=PARAMS_HELP)
    params.add_argument("config", type=Path, help="workflow config (config/demo.yaml, config/config.yaml)")
    params.add_argument("--out", type=Path, default=Path("params.yaml"), help="where to write (default: params.yaml)")
    params.set_defaults(func=run_params)
    stamp = commands.add_parser("stamp", help=STAMP_HELP, description=STAMP_HELP)
    stamp.add_argument("run_dir", type=Path, help="the run folder")
    stamp.add_argument("--digest", required=True, help="the run config's digest (the stamp's name)")
    stamp.set_defaults(func=run_stamp)
    prune = commands.add_parser("prune", help=PRUNE_HELP, description=PRUNE_HELP)
    prune.add_argument("runs", type=Path, help="a run folder, or a runs root (paths.runs) to prune every run under it")
    prune.add_argument("--keep-last", action="store_true", help="keep last.pt of finished runs (storage.keep_last)")
    prune.add_argument(
        "--previous", type=int, default=2, help="runs of older configs kept per folder (storage.previous; default 2)"
    )
    prune.set_defaults(func=run_prune)


STAMP_HELP = "write the run config from stdin to RUN/run.yaml and its stamp, keeping a run of another config"
PRUNE_HELP = "remove last.pt of finished runs and all but the newest .previous/ runs (never an unfinished run's)"
PARAMS_HELP = "write the config with every schema default filled in, as DVC's params.yaml (so -S can set any key)"


def params_text(config_path: Path) -> str:
    """The validated config at ``config_path`` with its defaults (unset optional keys left out), as YAML headed
    by where it came from: DVC interpolates ``${paths.*}`` from it and ``dvc exp run -S`` sets only keys it has."""
    grid = Grid(load_config(config_path))
    header = (
        f"# DVC's params.yaml, the workflow config {config_path.as_posix()} with its defaults filled in\n"
        f"# (`python -m dca experiments params {config_path.as_posix()}`): edit it, `dvc exp run -S key=value`,\n"
        "# or regenerate it from another config. Keys are explained in config/README.md.\n"
    )
    return header + dump_yaml(grid.effective_config())


def run_params(args: argparse.Namespace) -> int:
    """``dca experiments params``: write params.yaml atomically; exit code 0, or 1 with the config at fault."""
    from dca.utils.io import write_text

    try:
        text = params_text(args.config)
    except ConfigError as err:
        print(f"dca experiments params: error: {args.config}: {err}", file=sys.stderr)
        return 1
    write_text(args.out, text)
    print(args.out)
    return 0


def run_prune(args: argparse.Namespace) -> int:
    """``dca experiments prune``: print each removed path; exit code 0, or 1 naming a bad argument."""
    from dca.experiments.prune import prune_runs

    try:
        if args.previous < 0:
            raise ConfigError(f"--previous {args.previous}: give 0 or more")
        removed = prune_runs(args.runs, args.keep_last, args.previous)
    except ConfigError as err:
        print(f"dca experiments prune: error: {err}", file=sys.stderr)
        return 1
    for path in removed:
        print(f"removed {path}")
    return 0


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
        print(f"dca experiments {args.experiments_command}: error: {args.config}: {err}", file=sys.stderr)
        return 1
    return 0
