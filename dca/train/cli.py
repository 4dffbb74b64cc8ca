"""``dca train CONFIG``: train (or resume, or skip when finished) one run from a YAML config."""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import sys
from pathlib import Path

from dca.layout import LAST_CHECKPOINT, PREVIOUS_DIR, SUMMARY, TRAIN_LOG
from dca.train.config import PRESETS, RunConfig, dump_config, load_run_config, parse_overrides
from dca.train.gpus import gpu_slot
from dca.train.stop import PREEMPTED_EXIT_CODE, Preempted, StopRequest
from dca.utils.io import write_text
from dca.utils.log import info


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train",
        help="train one run from a YAML config",
        description=(
            f"Train one run. Re-running resumes from the run's {LAST_CHECKPOINT}; a finished run ({SUMMARY}) is left "
            f"as it is, or given more epochs (optim.scheduler: none) continues, the finished run kept in "
            f"{PREVIOUS_DIR}/. On SIGTERM (at any moment, start-up included) the state is saved and the exit code is "
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
    parser.add_argument(
        "--attempt",
        type=_positive_int,
        metavar="N",
        help="the scheduler's try number of this run (Snakemake's attempt): printed with the host and "
        "CUDA_VISIBLE_DEVICES; with --failed-marker, a try after the first refuses at once when the marker exists",
    )
    parser.add_argument(
        "--failed-marker",
        type=Path,
        metavar="PATH",
        help=f"file written when training fails for a real reason (any exit but 0 and {PREEMPTED_EXIT_CODE}), "
        "so that a scheduler's retries of the run stop at once; removed when a first attempt starts",
    )
    parser.set_defaults(func=run)


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _workflow(message: str, refusal: bool = False) -> None:
    """Print one ``[workflow]`` line (a scheduler attempt's own report, in the job log): an info line (none under
    ``dca -q``), or the ``refusal`` that ends the attempt (always)."""
    if refusal:
        print(f"[workflow] {message}", file=sys.stderr, flush=True)
    else:
        info(f"[workflow] {message}")


def run(args: argparse.Namespace) -> int:
    """Train as one attempt of a scheduler: refuse a retry of a run whose last attempt failed for a real reason
    (``--failed-marker`` exists), else clear the marker, train, and leave the marker on any exit but 0 and
    PREEMPTED_EXIT_CODE (stopped by SIGTERM, ``last.pt`` saved: the one failure a retry resumes)."""
    attempt, marker = args.attempt or 1, args.failed_marker
    if args.attempt is not None:
        when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        devices = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
        _workflow(f"{when} {socket.gethostname()} attempt {attempt} CUDA_VISIBLE_DEVICES={devices}")
    if marker is not None:
        if attempt > 1 and marker.exists():
            _workflow(f"not retried: the previous attempt failed (not a time limit), see {marker}", refusal=True)
            return 1
        marker.unlink(missing_ok=True)
    code = 1  # an exception is a failure (dca.cli reports it and exits 1)
    try:
        code = _run(args)
    finally:
        if marker is not None and code not in (0, PREEMPTED_EXIT_CODE):
            write_text(marker, f"dca train {args.config} failed with exit code {code} (attempt {attempt})\n")
        if code == PREEMPTED_EXIT_CODE and args.attempt is not None:
            _workflow(f"stopped and saved (exit {PREEMPTED_EXIT_CODE}): resubmitted to resume")
    return code


def _run(args: argparse.Namespace) -> int:
    """Resolve the config and train; exit code 0 done, 1 failed (diverged, disk full, folder locked),
    PREEMPTED_EXIT_CODE stopped by SIGTERM (at any moment, start-up included)."""
    with StopRequest() as stop:  # before torch is imported: a SIGTERM from here on means "requeue"
        try:
            config = load_run_config(args.config, parse_overrides(args.overrides))
            if args.print_config:
                print(dump_config(config), end="")
                return 0
            info(f"[dca train] {config.run_dir}: starting")
            with gpu_slot(config.device.name, lambda m: info(f"[dca train] {m}")):
                return _train(config, stop)  # pinned to a free GPU of the machine's pool (before CUDA starts)
        except Preempted:
            return PREEMPTED_EXIT_CODE


def _train(config: RunConfig, stop: StopRequest) -> int:
    """Import the training engine (torch: seconds) and train; runtime failures exit 1 with their message."""
    from dca.train.checkpoint import DiskFullError
    from dca.train.determinism import StrictDeterminismError
    from dca.train.loop import DivergedError, train
    from dca.utils.lock import RunLockedError

    try:
        train(config, stop=stop)
    except (DivergedError, DiskFullError, RunLockedError, StrictDeterminismError) as err:
        print(f"dca train: error: {err}", file=sys.stderr)
        return 1
    return 0
