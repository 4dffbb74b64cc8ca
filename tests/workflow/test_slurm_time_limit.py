"""A training job that outlives its SLURM time limit resumes as often as needed, on a real single-node SLURM:
a 2-minute limit, SIGTERM 60 s before it (`resources.train.slurm_extra`), `dca train` saves and exits 75,
Snakemake resubmits (`retries`), and the finished run holds every epoch once.

Needs root and apt (.ci/slurm-local.sh up); skipped with the reason otherwise. About 4 minutes (2 attempts).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

RUN = Path("results/runs/synthetic-binary/unet/seed0")
#: Epochs of the calibration run that measures this machine's seconds per epoch (about 0.1 s at 32x32 on 12 images).
CALIBRATION_EPOCHS = 40
#: Seconds of pure training the limited run gets. slurmctld checks time limits every 30 s, so the SIGTERM due 60 s
#: into an attempt comes 60-90 s in, less the job's start-up (Snakemake and torch imports, 10-25 s on 2 cores): an
#: attempt trains 35-80 s, so 90 s of epochs cannot fit in one attempt and fit in two. (A 1-minute limit left 3-20 s
#: of training per attempt: up to 10 attempts, 14 minutes; TERM 30 s before a 2-minute limit took 2-3, 5 minutes.)
TRAINING_S = 90.0


def _epochs_for(wf: Any, ws: Path, config: dict[str, Any], seconds: float) -> int:
    """Epochs that take ``seconds`` of training with one thread here, from a short run of ``config`` in the new
    workspace ``ws`` (the rule's threads are the job's one CPU, as under SLURM); ``ws`` keeps its prepared data."""
    wf.make_workspace(ws)
    calibration = {**config, "training": {"dca": {**config["training"]["dca"], "epochs": CALIBRATION_EPOCHS}}}
    wf.write_config(ws / "calibration.yaml", calibration)
    wf.snakemake(ws, "train_all", "--configfile=calibration.yaml", "--cores", "1", timeout=600)
    summary = json.loads((ws / RUN / "summary.json").read_text(encoding="utf-8"))
    return math.ceil(seconds / (summary["train_time_s"] / CALIBRATION_EPOCHS))


@pytest.mark.slow
def test_time_limited_training_resumes_until_finished(wf: Any, slurm: None, tmp_path: Path) -> None:
    config = yaml.safe_load((wf.repo / ".test/config/config.yaml").read_text(encoding="utf-8"))
    config["experiments"] = {"ci_table": config["experiments"]["ci_table"]}  # one run: the honest U-Net
    ws = tmp_path / "ws"  # calibrated in the same workspace: its data is prepared, SLURM runs only the training
    config["training"]["dca"]["epochs"] = _epochs_for(wf, ws, config, TRAINING_S)
    config["resources"]["train"] = {
        **{"cpus_per_task": 1, "mem_mb": 2000, "runtime": 2, "gpu": 0},
        **{"slurm_extra": "--signal=TERM@60", "retries": 10},
    }
    wf.write_config(ws / "limit.yaml", config)
    wf.snakemake(
        ws,
        "train_all",
        "--configfile=limit.yaml",
        "--profile",
        "workflow/profiles/slurm",
        *wf.slurm_flags,
        timeout=1500,
    )
    log = (ws / RUN / "train.log").read_text(encoding="utf-8")
    attempts = log.count("resuming from") + 1
    epochs = config["training"]["dca"]["epochs"]
    assert attempts >= 2, f"{epochs} epochs\n{log[-2000:]}"  # it really was stopped at the limit and resumed
    assert (ws / RUN / "summary.json").is_file()

    # every epoch once, in order, across the attempts (that the resumed curves equal an uninterrupted run's is
    # tests/train/test_resume.py's SIGTERM-to-the-process-group test, without SLURM's minute of waiting)
    rows = (ws / RUN / "curves.csv").read_text(encoding="utf-8").splitlines()
    column = rows[0].split(",").index("epoch")
    assert [int(row.split(",")[column]) for row in rows[1:]] == list(range(1, epochs + 1))
