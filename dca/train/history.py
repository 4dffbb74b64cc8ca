"""The per-epoch log ``curves.csv``, rewritten atomically from the row history kept in the checkpoint,
so a resumed run's curves match an uninterrupted one's.

One logger, the CSV: DVC plots read it natively (``dvc.yaml``), and ``dca train`` then needs nothing of
the workflow stack (no DVCLive) on compute nodes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from dca.layout import RunDir
from dca.utils.io import write_text


def write_curves_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite ``path`` atomically with one CSV row per epoch (columns from the first row)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["epoch"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


class EpochLog:
    """Epoch rows to the run's ``curves.csv``; on resume the file is rewritten from ``history`` (the rows of
    the checkpoint), so rows written after the checkpoint are dropped."""

    def __init__(self, run_dir: Path, history: list[dict[str, Any]]) -> None:
        self.rows = list(history)
        self.csv_path = RunDir(run_dir).curves
        write_curves_csv(self.csv_path, self.rows)

    def append(self, row: dict[str, Any]) -> None:
        """Record a finished epoch."""
        self.rows.append(row)
        write_curves_csv(self.csv_path, self.rows)

    def close(self) -> None:
        """End the log. Every row is on disk already (each append rewrites the file), so nothing is left to do."""
