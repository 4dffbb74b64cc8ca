"""The aggregate test scores of an experiment group: what ``dvc metrics`` shows and diffs.

:func:`aggregate_group` reduces a group's evaluated runs to mean, standard deviation and count over
seeds per (dataset, variant); ``dca experiments aggregate`` (the workflow's ``aggregate`` rule) writes
it to ``<paths.aggregates>/<group>.json``.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from dca.experiments.grid import Grid

AGGREGATE_METRICS = ("dice", "iou", "hd95")


def _summary(values: list[float]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation (0 for one value) and count of the finite ``values``."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return {"mean": statistics.fmean(finite), "std": std, "n": len(finite)}


def aggregate_group(grid: Grid, group: str) -> dict[str, Any]:
    """Mean/std/n over seeds of the test Dice, IoU and HD95 (units as evaluated: Dice/IoU in [0, 1])
    of every (dataset, variant) of ``group``, with per-class Dice; runs not evaluated yet count as missing."""
    spec = grid.config["experiments"][group]
    results: dict[str, Any] = {}
    missing: list[str] = []
    for dataset in spec["datasets"]:
        results[dataset] = {}
        for variant in spec["variants"]:
            scores: list[dict[str, Any]] = []
            for seed in grid.config["seeds"]:
                path = grid.run_dir(grid.run(dataset, variant, seed)).eval_metrics
                if path.is_file():
                    scores.append(json.loads(path.read_text(encoding="utf-8")))
                else:
                    missing.append(f"{dataset}/{variant}/seed{seed}")
            entry: dict[str, Any] = {m: _summary([s.get(m) for s in scores]) for m in AGGREGATE_METRICS}
            classes = list(dict.fromkeys(c for s in scores for c in s.get("per_class", {})))
            if len(classes) > 1:
                entry["per_class_dice"] = {
                    c: _summary([s.get("per_class", {}).get(c, {}).get("dice") for s in scores])["mean"]
                    for c in classes
                }
            entry["test_selected"] = any(s.get("test_selected") for s in scores)
            results[dataset][variant] = entry
    return {
        "group": group,
        "paper": spec["paper"],
        "seeds": list(grid.config["seeds"]),
        "missing": missing,
        "results": results,
    }


def write_aggregate(grid: Grid, group: str, out: str | Path) -> Path:
    """Write :func:`aggregate_group` as JSON to ``out`` (atomically) and return the path."""
    from dca.utils.io import write_text

    path = Path(out)
    write_text(path, json.dumps(aggregate_group(grid, group), indent=2, sort_keys=False) + "\n")
    return path
