"""``dca train CONFIG``: train (or resume, or skip when finished) one run from a YAML config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dca.layout import LAST_CHECKPOINT, SUMMARY, TRAIN_LOG
from dca.train.config import PRESETS, RunConfig, dump_config, load_config, parse_overrides
from dca.train.stop import PREEMPTED_EXIT_CODE, Preempted, StopRequest


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train",
        help="train one run from a YAML config",
        description=(
            f"Train one run. Re-running resumes from the run's {LAST_CHECKPOINT}; a finished run ({SUMMARY}) is left "
            f"as it is. On SIGTERM (at any moment, start-up included) the state is saved and the exit code is "
            f"{PREEMPTED_EXIT_CODE} (requeue); a divergence, a full disk or a run folder another dca train holds "
            f"exit 1. Every message is also appended to the run folder's {TRAIN_LOG}. "
            f"Presets: {', '.join(PRESETS)}."
        ),
    )
    parser.add_argument("config", type=Path, help="run config (YAML)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set seed=1 --set optim.lr=3e-4 (values parsed as YAML)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Resolve the config and train; exit code 0 done, 1 failed (diverged, disk full, folder locked),
    PREEMPTED_EXIT_CODE stopped by SIGTERM (at any moment, start-up included)."""
    with StopRequest() as stop:  # before torch is imported: a SIGTERM from here on means "requeue"
        try:
            config = load_config(args.config, parse_overrides(args.overrides))
            if args.print_config:
                print(dump_config(config), end="")
                return 0
            print(f"[dca train] {config.run_dir}: starting", file=sys.stderr, flush=True)
            return _train(config, stop)
        except Preempted:
            return PREEMPTED_EXIT_CODE


def _train(config: RunConfig, stop: StopRequest) -> int:
    """Import the training engine (torch: seconds) and train; runtime failures exit 1 with their message."""
    from dca.train.checkpoint import DiskFullError
    from dca.train.lock import RunLockedError
    from dca.train.loop import DivergedError, train

    try:
        train(config, stop=stop)
    except (DivergedError, DiskFullError, RunLockedError) as err:
        print(f"dca train: error: {err}", file=sys.stderr)
        return 1
    return 0
