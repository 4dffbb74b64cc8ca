"""The ``dca`` command line: one sub-command per pipeline stage.

Each stage package that has a command exposes ``add_parser(subparsers)``; the parser it
registers sets ``func`` to the function that runs the command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from dca.utils.io import DiskFullError
from dca.utils.lock import RunLockedError
from dca.utils.log import quiet

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


#: Errors that mean bad input (a config, a file, a value), a full disk or an output another process holds: one line
#: on stderr and exit 1 (``--debug``: the traceback). Anything else is a bug and keeps Python's traceback.
INPUT_ERRORS = (
    ValueError,
    KeyError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
    TypeError,
    DiskFullError,
    RunLockedError,
)
#: The exit code of a command interrupted by ctrl-C (SIGINT), as a shell reports it: 128 + 2.
INTERRUPTED_EXIT_CODE = 130
#: Global options that take no value (they come before the sub-command).
GLOBAL_FLAGS = {"-v", "--verbose", "-q", "--quiet", "--debug"}


def _version() -> str:
    """The installed package's version (the source tree's when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dca")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` only that sub-command's module is imported (torch costs seconds)."""
    parser = argparse.ArgumentParser(
        prog="dca",
        description=__doc__.splitlines()[0],
        epilog="Exit codes: 0 done, 1 failed (bad input, full disk: one line, --debug for the traceback), "
        "2 usage error, 75 training stopped by SIGTERM and saved (rerun to resume), 130 interrupted (ctrl-C).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log messages (-vv: debug)")
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="no progress or info lines on stderr (warnings and errors only)",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        if command in (None, name):
            importlib.import_module(module).add_parser(sub)
    return parser


def _command(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (after the global flags), if it is one."""
    rest = [arg for arg in argv if arg not in GLOBAL_FLAGS and not (arg.startswith("-") and set(arg[1:]) <= {"v", "q"})]
    return rest[0] if rest and rest[0] in COMMANDS else None


def command_name(args: argparse.Namespace) -> str:
    """The full sub-command of parsed ``args`` (``data prepare``); a group keeps its choice in ``<group>_command``."""
    return " ".join([args.command, *filter(None, [getattr(args, f"{args.command}_command", None)])])


def main(argv: list[str] | None = None) -> int:
    """Run ``dca``: exit code 0 done, 1 failed, 2 usage error (argparse), 130 interrupted, or the command's own (75)."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_command(argv)).parse_args(argv)
    level = logging.INFO + 10 * (args.quiet - args.verbose)
    logging.basicConfig(level=max(logging.DEBUG, min(level, logging.ERROR)), format="%(message)s")
    try:
        with quiet(args.quiet > 0):
            return int(args.func(args) or 0)
    except INPUT_ERRORS as err:
        if args.debug:
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"dca {command_name(args)}: error: {message} (--debug shows the traceback)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(
            f"dca {command_name(args)}: interrupted (ctrl-C); outputs are only renamed into place once complete, so "
            "none is half-written: run the same command again",
            file=sys.stderr,
        )
        return INTERRUPTED_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
