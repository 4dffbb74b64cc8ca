"""Killing the workflow in the middle of a training job, then rerunning it, resumes the run from last.pt."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from dca.layout import RunDir

EPOCHS = 12
KILL_AFTER_EPOCHS = 3
RUN = "results/runs/synthetic-binary/unet/seed0"


def epochs_done(path: Path) -> list[dict[str, str]]:
    """The rows of a run's curves.csv (empty while it does not exist)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_killed_training_resumes(wf: Any, tmp_path: Path, demo: dict[str, Any]) -> None:
    workspace = wf.make_workspace(tmp_path / "ws")
    demo["seeds"] = [0]
    demo["training"]["dca"]["epochs"] = EPOCHS
    demo["experiments"] = {"resume": {"paper": "dca", "datasets": ["synthetic-binary"], "variants": ["unet"]}}
    demo["bench"]["models"] = []
    wf.write_config(workspace / "resume.yaml", demo)
    args = [wf.tool("snakemake"), "evaluate_all", "--configfile", "resume.yaml"]
    run_dir = RunDir(workspace / RUN)
    log = workspace / "logs/train/synthetic-binary/unet/seed0.log"

    # 1. start the workflow and kill it (SIGKILL, the whole process group: Snakemake and the training job,
    #    as a lost node would) once a few epochs are done, well before the last one
    with (tmp_path / "first.log").open("w") as out:
        proc = subprocess.Popen(
            args, cwd=workspace, env=wf.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 400
            while len(epochs_done(run_dir.curves)) < KILL_AFTER_EPOCHS:
                assert proc.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline, "training did not reach the kill point"
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    before = epochs_done(run_dir.curves)
    assert KILL_AFTER_EPOCHS <= len(before) < EPOCHS
    assert run_dir.last.is_file() and not run_dir.summary.exists()
    assert "epoch" in log.read_text()

    # 2. rerun the same command (after releasing the dead Snakemake's lock): it resumes and finishes
    wf.run([*args, "--unlock"], workspace, timeout=120)
    wf.run(args, workspace, timeout=600)
    text = log.read_text()
    resumed = [line for line in text.splitlines() if "resuming from" in line]
    assert len(resumed) == 1, text[-3000:]
    done = int(resumed[0].split(": ")[1].split(" epoch")[0])
    assert len(before) <= done < EPOCHS  # at least every epoch logged before the kill was kept

    # 3. nothing lost or duplicated: one row per epoch, the rows written before the kill unchanged
    after = epochs_done(run_dir.curves)
    assert [int(row["epoch"]) for row in after] == list(range(1, EPOCHS + 1))
    assert after[: len(before)] == before  # same numbers and timings: not recomputed
    summary = json.loads(run_dir.summary.read_text())
    assert summary["epochs"] == EPOCHS and summary["status"] == "finished"
    assert run_dir.eval_metrics.is_file()

    # 4. the finished workflow has nothing left to do
    result = wf.run([wf.tool("snakemake"), "-n", *args[1:]], workspace, timeout=120)
    assert "Nothing to be done" in result.stdout + result.stderr
