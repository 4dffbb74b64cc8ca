"""``dca enhance METHOD --data DIR [--param key=value ...]``: cache an enhanced copy of a processed dataset."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dca.enhance import METHODS
from dca.enhance.dataset import enhance_dataset


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``enhance`` sub-command."""
    parser = subparsers.add_parser(
        "enhance",
        help="write enhanced/<method>/ for a processed dataset (cached by parameters)",
        description=__doc__,
    )
    parser.add_argument("method", choices=sorted(METHODS), help="enhancement method")
    parser.add_argument("--data", type=Path, required=True, help="processed dataset folder (holds index.csv)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method parameter, repeatable; VALUE is read as JSON (4, 0.02, null), else as a string",
    )
    parser.set_defaults(func=run)


def parse_params(items: list[str]) -> dict[str, Any]:
    """Turn ``["key=value", ...]`` into a dict, reading each value as JSON where it parses, else as a string."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def run(args: argparse.Namespace) -> int:
    """Enhance the dataset and print the output folder."""
    out_dir = enhance_dataset(args.data, args.method, **parse_params(args.param))
    print(out_dir)
    return 0
