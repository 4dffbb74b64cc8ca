"""``dca enhance METHOD --data DIR [--param key=value ...]``: cache an enhanced copy of a processed dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from dca.enhance import METHODS
from dca.enhance.dataset import enhance_dataset
from dca.utils.cli import parse_key_values


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``enhance`` sub-command."""
    parser = subparsers.add_parser(
        "enhance",
        help="write enhanced/<method>/ for a processed dataset (cached by parameters)",
        description=__doc__,
    )
    parser.add_argument("method", choices=sorted(METHODS), help="enhancement method")
    parser.add_argument("--data", type=Path, required=True, help="processed dataset folder (dca data prepare --out)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method parameter, repeatable; VALUE is read as YAML (4, 0.02, null, true, or a string)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Enhance the dataset and print the output folder."""
    out_dir = enhance_dataset(args.data, args.method, **parse_key_values(args.param, "--param"))
    print(out_dir)
    return 0
