"""The training curves of an experiment group in one long CSV: what ``dvc plots show`` overlays per group.

One row per (run, epoch), the run named ``<dataset>/<variant>/seed<k>`` in a ``run`` column, then the
columns of each run's ``curves.csv`` (``dca train``'s per-epoch log). ``dca report curves`` (the workflow's
``curves`` rule) writes it; DVC draws one plot per group file (:func:`dca.layout.curves_file`) with one line
per run (``workflow/report/dvc_runs.json``, a Vega-Lite template coloured by ``run``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dca.experiments.grid import Grid
from dca.utils.io import write_text


def group_curves(grid: Grid, group: str, runs: str | Path | None = None) -> str:
    """The CSV text of every run's curves of ``group`` under ``runs`` (default: ``paths.runs``); runs without a
    curves.csv are left out."""
    root = grid.paths["runs"] if runs is None else runs
    rows: list[dict[str, str]] = []
    columns: list[str] = ["run"]
    for run in grid.runs([group]):
        path = run.dir(root).curves
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                rows.append({"run": f"{run.dataset}/{run.variant}/seed{run.seed}", **row})
                columns += [key for key in row if key not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_group_curves(grid: Grid, group: str, out: str | Path, runs: str | Path | None = None) -> Path:
    """Write :func:`group_curves` to ``out`` (atomically) and return the path."""
    path = Path(out)
    write_text(path, group_curves(grid, group, runs))
    return path
