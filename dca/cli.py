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
    "experiments": "dca.experiments.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` only that sub-command's module is imported (torch costs seconds)."""
    parser = argparse.ArgumentParser(prog="dca", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        if command in (None, name):
            importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(command).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, TypeError) as err:
        print(f"dca {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
