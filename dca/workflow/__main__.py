"""``python -m dca.workflow check|runs|counts|aggregate CONFIG``: the experiment grid without Snakemake.

``check`` validates a config (schema, names, every run's training config); ``runs`` prints one run
folder per line; ``counts`` prints the training runs per group (table cells times seeds);
``aggregate`` writes a group's mean/std/n over seeds as JSON (``--out``), as the workflow's
aggregate rule does. ``--group`` restricts runs and counts to some groups.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dca.workflow.config import ConfigError, load_config
from dca.workflow.grid import Grid


def main(argv: list[str] | None = None) -> int:
    """Run the command line; exit code 0, or 2 with the error on stderr for an invalid config."""
    parser = argparse.ArgumentParser(prog="python -m dca.workflow", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("check", "runs", "counts", "aggregate"))
    parser.add_argument("config", type=Path, help="workflow config (config/config.yaml, config/demo.yaml)")
    parser.add_argument("--group", action="append", default=None, help="restrict to this group (repeatable)")
    parser.add_argument("--out", type=Path, help="aggregate: the JSON file to write (one --group)")
    args = parser.parse_args(argv)
    try:
        grid = Grid(load_config(args.config))
        if args.command == "check":
            print(f"{args.config}: valid; {len(grid.groups)} groups, {len(grid.runs())} distinct runs")
        elif args.command == "runs":
            for run in grid.runs(args.group):
                print(run.folder(grid.paths["runs"]))
        elif args.command == "counts":
            counts = grid.counts()
            grid.runs(args.group)  # unknown groups are an error
            for group in args.group or counts:
                print(f"{group}\t{counts[group]}")
        else:
            if not args.group or len(args.group) != 1 or args.out is None:
                parser.error("aggregate needs exactly one --group and --out")
            from dca.workflow.report import write_aggregate

            grid.runs(args.group)
            print(write_aggregate(grid, args.group[0], args.out))
    except ConfigError as err:
        print(f"{args.config}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
