"""The ``dca`` command line: one sub-command per pipeline stage.

Each stage package that has a command exposes ``add_parser(subparsers)``; the parser it
registers sets ``func`` to the function that runs the command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command name -> module providing add_parser(subparsers)
COMMANDS = {
    "models": "dca.models.cli",
    "bench": "dca.bench.cli",
    "train": "dca.train.cli",
    "evaluate": "dca.evaluate.cli",
    "enhance": "dca.enhance.cli",
    "data": "dca.data.cli",
    "report": "dca.report.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dca", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, TypeError) as err:
        print(f"dca {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
