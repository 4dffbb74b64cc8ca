"""The training curves of an experiment group in one long CSV: what ``dvc plots show`` overlays per group.

One row per (run, epoch), the run named ``<dataset>/<variant>/seed<k>`` in a ``run`` column, then the
columns of each run's ``curves.csv`` (``dca train``'s per-epoch log). DVC draws one plot per group file
(:func:`dca.layout.curves_file`) with one line per run (``workflow/report/dvc_runs.json``, a Vega-Lite
template coloured by ``run``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dca.experiments.grid import Grid
from dca.utils.io import write_text


def group_curves(grid: Grid, group: str) -> str:
    """The CSV text of every run's curves of ``group`` (runs without a curves.csv are left out)."""
    rows: list[dict[str, str]] = []
    columns: list[str] = ["run"]
    for run in grid.runs([group]):
        path = grid.run_dir(run).curves
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


def write_group_curves(grid: Grid, group: str, out: str | Path) -> Path:
    """Write :func:`group_curves` to ``out`` (atomically) and return the path."""
    path = Path(out)
    write_text(path, group_curves(grid, group))
    return path
