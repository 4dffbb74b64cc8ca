"""The aggregate test scores of an experiment group: what ``dvc metrics`` shows and diffs.

:func:`aggregate_group` reduces a group's evaluated runs to mean, standard deviation and count over
seeds per (dataset, variant); ``dca report aggregate`` (the workflow's ``aggregate`` rule) writes
it to ``<paths.aggregates>/<group>.json`` (:func:`dca.layout.aggregate_file`).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from dca.experiments.grid import Grid
from dca.layout import run_folder
from dca.report.collect import read_metrics
from dca.utils.io import write_text

AGGREGATE_METRICS = ("dice", "iou", "hd95")


def _summary(values: list[float]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation and count of the finite ``values``; one value has no std (None, not 0)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(finite) if len(finite) > 1 else None
    return {"mean": statistics.fmean(finite), "std": std, "n": len(finite)}


def aggregate_group(grid: Grid, group: str, runs: str | Path | None = None) -> dict[str, Any]:
    """Mean and std over seeds of the test Dice, IoU and HD95 (units as evaluated: Dice/IoU in [0, 1]) of every
    (dataset, variant) of ``group``'s runs under ``runs`` (default: ``paths.runs``), keyed ``<dataset>/<variant>``
    by the runs' dataset id (a paper-protocol run's ``<dataset>@<paper split>`` first) with flat numbers (``dice``,
    ``dice_std``, ..., ``n`` seeds with a test Dice, ``dice_<class>`` per class): two levels, so ``dvc metrics
    show`` prints one readable column per number. A run not evaluated yet, or whose metrics lack the Dice, counts
    as missing (``missing``, not in ``n``); IoU or HD95 present for fewer seeds than ``n`` add ``<metric>_n``; a
    damaged metrics file is an error naming it (:func:`dca.report.collect.read_metrics`). ``hd95_undefined``
    carries the test cases whose HD95 was skipped (summed over seeds), so a mean over fewer cases is visible."""
    root = grid.paths["runs"] if runs is None else runs
    cells = {(run.dataset, run.variant) for run in grid.groups[group]}
    results: dict[str, Any] = {}
    missing = 0
    for dataset in grid.table_datasets(group):
        for variant in grid.config["experiments"][group]["variants"]:
            if (dataset, variant) not in cells:
                continue
            scores: list[dict[str, Any]] = []
            for seed in grid.config["seeds"]:
                metrics = read_metrics(run_folder(root, dataset, variant, seed).eval_metrics)
                if metrics is not None and _summary([metrics.get("dice")])["n"]:
                    scores.append(metrics)
                else:
                    missing += 1
            entry: dict[str, Any] = {}
            for metric in AGGREGATE_METRICS:
                summary = _summary([s.get(metric) for s in scores])
                entry[metric], entry[f"{metric}_std"] = summary["mean"], summary["std"]
                if summary["n"] < len(scores):
                    entry[f"{metric}_n"] = summary["n"]
            entry["n"] = len(scores)
            entry["hd95_undefined"] = sum(int(s.get("hd95_undefined") or 0) for s in scores)
            classes = list(dict.fromkeys(c for s in scores for c in s.get("per_class", {})))
            if len(classes) > 1:
                for c in classes:
                    dice = [s.get("per_class", {}).get(c, {}).get("dice") for s in scores]
                    entry[f"dice_{c}"] = _summary(dice)["mean"]
            entry["test_selected"] = any(s.get("test_selected") for s in scores)
            results[f"{dataset}/{variant}"] = entry
    return {**results, "missing": missing}


def write_aggregate(grid: Grid, group: str, out: str | Path, runs: str | Path | None = None) -> Path:
    """Write :func:`aggregate_group` as JSON to ``out`` (atomically) and return the path."""
    path = Path(out)
    write_text(path, json.dumps(aggregate_group(grid, group, runs), indent=2, sort_keys=False) + "\n")
    return path
