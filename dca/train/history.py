"""The per-epoch log: ``metrics.csv`` (rewritten atomically) and DVCLive curves, both driven by the
row history kept in the checkpoint, so a resumed run's logs match an uninterrupted one's."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from dvclive import Live

from dca.utils.io import write_text

METRICS_CSV = "metrics.csv"
DVCLIVE_DIR = "dvclive"


def write_metrics_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite ``path`` atomically with one CSV row per epoch (columns from the first row)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["epoch"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def _dvclive_step(live_dir: Path) -> int | None:
    """The last epoch DVCLive logged under ``live_dir`` (its ``metrics.json`` step), or None."""
    path = live_dir / "metrics.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("step")


class EpochLog:
    """Epoch rows to ``metrics.csv`` and DVCLive; on resume both are brought in line with ``history``.

    Rows logged by DVCLive after the checkpoint (none in the normal save order) start its folder
    afresh; rows missing from it are replayed. Every row has an ``epoch`` key (1-based), used as
    the DVCLive step. No ``dvc.yaml`` is written (parallel runs would race on it): the workflow's
    ``dvc.yaml`` declares ``<run>/dvclive/plots/metrics`` as plots.
    """

    def __init__(self, run_dir: Path, history: list[dict[str, Any]]) -> None:
        self.rows = list(history)
        self.csv_path = run_dir / METRICS_CSV
        live_dir = run_dir / DVCLIVE_DIR
        logged = _dvclive_step(live_dir)
        last = self.rows[-1]["epoch"] if self.rows else 0
        resume = logged is not None and logged <= last
        self.live = Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=False, resume=resume)
        write_metrics_csv(self.csv_path, self.rows)
        for row in self.rows:
            if not resume or row["epoch"] > logged:
                self._log_live(row)

    def _log_live(self, row: dict[str, Any]) -> None:
        """Send one epoch's numbers to DVCLive at step = epoch."""
        self.live.step = row["epoch"]
        for key, value in row.items():
            if key != "epoch":
                self.live.log_metric(key, value)
        self.live.next_step()

    def append(self, row: dict[str, Any]) -> None:
        """Record a finished epoch in both logs."""
        self.rows.append(row)
        write_metrics_csv(self.csv_path, self.rows)
        self._log_live(row)

    def close(self) -> None:
        """Finish the DVCLive session (summary, no DVC experiment)."""
        self.live.end()
