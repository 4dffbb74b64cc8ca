"""``dca evaluate RUN_DIR``: test-split metrics and figure predictions of a finished training run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dca.evaluate.protocol import HD95_EMPTY
from dca.evaluate.run import evaluate_run, output_dir
from dca.layout import EVAL_DIR, EVAL_METRICS
from dca.train.config import RESOLUTIONS
from dca.train.gpus import gpu_slot
from dca.utils.log import stage_log


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a finished run on its test split",
        description=(
            "Score the selected checkpoint of a finished run (best.pt; last.pt for selection: last) on the test "
            f"split: per_case.csv, metrics.json and predictions/ under RUN_DIR/{EVAL_DIR} (or --out). stdout: the "
            "metrics.json written (--json: its content); stderr: progress and the test Dice."
        ),
    )
    parser.add_argument("run_dir", type=Path, help="run folder written by `dca train`")
    parser.add_argument(
        "--resolution", choices=RESOLUTIONS, help="2D: score at the model or the original resolution (default: config)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="a processed dataset folder to test on instead of the run's own (cross-dataset evaluation; output "
        f"default RUN_DIR/{EVAL_DIR}-<folder name>)",
    )
    parser.add_argument("--out", type=Path, help=f"output folder (default RUN_DIR/{EVAL_DIR})")
    parser.add_argument(
        "--hd95-empty",
        choices=HD95_EMPTY,
        default="skip",
        help="HD95 of a case with an empty prediction (or reference): skip it (counted in hd95_undefined) or score "
        "the image diagonal, the challenge convention (default: skip)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the metrics as one JSON object on stdout instead of their path"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate ``args.run_dir``, pinned to a free GPU of the machine's pool (as ``dca train``) before CUDA starts;
    print the metrics file written (``--json``: the metrics) on stdout, where a script reads it."""
    with gpu_slot("auto", stage_log("evaluate")):
        metrics = evaluate_run(
            args.run_dir, resolution=args.resolution, out=args.out, hd95_empty=args.hd95_empty, data=args.data
        )
    print(
        json.dumps(metrics, sort_keys=True)
        if args.json
        else output_dir(args.run_dir, args.out, args.data) / EVAL_METRICS
    )
    return 0
