"""``python -m dca.bench NAME`` / ``dca bench NAME``: run one benchmark and write its tables."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from dca.utils.io import write_json, write_text


def _models(args: argparse.Namespace) -> dict[str, list[dict]]:
    from dca.bench import models

    names = args.models or list(models.PAPER_MODELS)
    result = models.run(names, batch=args.batch, size=args.size, repeats=args.repeats, memory=not args.no_memory)
    print("\n".join(models.summary_lines(result)))
    return result


BENCHES: dict[str, Callable[[argparse.Namespace], dict[str, list[dict]]]] = {"models": _models}


def write_tables(name: str, result: dict[str, list[dict]], out: Path) -> list[Path]:
    """Write each table of a benchmark as ``<name>.csv`` (first) or ``<name>_<table>.csv``, plus a JSON."""
    written = []
    for i, (table, rows) in enumerate(result.items()):
        if not rows:
            continue
        path = out / (f"{name}.csv" if i == 0 else f"{name}_{table}.csv")
        write_text(path, pd.DataFrame(rows).to_csv(index=False))
        written.append(path)
    write_json(out / f"{name}.json", result)
    written.append(out / f"{name}.json")
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bench", choices=sorted(BENCHES), help="which benchmark to run")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="output folder")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    parser.add_argument("--models", nargs="*", help="models (models bench; default: the six paper models)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median reported)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess probes")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    result = BENCHES[args.bench](args)
    for path in write_tables(args.bench, result, args.out):
        print(f"wrote {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark (models, data, train)")
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dca.bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
