"""A training job that outlives its SLURM time limit resumes as often as needed, on a real single-node SLURM:
a 1-minute limit, SIGTERM 30 s before it (`resources.train.slurm_extra`), `dca train` saves and exits 75,
Snakemake resubmits (`retries`), and the finished run has the same curves as an uninterrupted one.

Needs root and apt (.ci/slurm-local.sh up); skipped with the reason otherwise. About 4 minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

RUN = Path("results/runs/synthetic-binary/unet/seed0")
#: CPU epochs at 32x32 on 12 images take about 0.1 s; SIGTERM comes at most 30 s into an attempt, of which start-up
#: takes about 8 s: 400 epochs need at least two attempts.
EPOCHS = 400


def _slurm_unavailable() -> str | None:
    """Why the test cannot run here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (it installs and starts SLURM with .ci/slurm-local.sh)"
    if shutil.which("apt-get") is None:
        return "needs a Debian system with apt-get (Debian's SLURM packages)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_slurm_unavailable() is not None, reason=str(_slurm_unavailable()))
def test_time_limited_training_resumes_until_finished(wf: Any, tmp_path: Path) -> None:
    up = subprocess.run([str(wf.repo / ".ci/slurm-local.sh"), "up"], capture_output=True, text=True, timeout=900)
    assert up.returncode == 0, f"{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
    ws = wf.make_workspace(tmp_path / "ws")
    config = yaml.safe_load((wf.repo / ".test/config.yaml").read_text(encoding="utf-8"))
    config["training"]["dca"]["epochs"] = EPOCHS
    config["resources"]["train"] = {
        **{"cpus_per_task": 1, "mem_mb": 2000, "runtime": 1, "gpu": 0},
        **{"slurm_extra": "--signal=TERM@30", "retries": 10},
    }
    wf.write_config(ws / "limit.yaml", config)
    ci_flags = [
        "--slurm-no-account",  # the test cluster has no accounting database ...
        *("--slurm-status-command", "squeue"),  # ... so no sacct
        *("--slurm-init-seconds-before-status-checks", "2"),
    ]
    wf.snakemake(
        ws, "train_all", "--configfile=limit.yaml", "--profile", "workflow/profiles/slurm", *ci_flags, timeout=900
    )
    log = (ws / RUN / "train.log").read_text(encoding="utf-8")
    attempts = log.count("resuming from") + 1
    assert attempts >= 2, log[-2000:]  # it really was stopped at the limit and resumed
    assert (ws / RUN / "summary.json").is_file()

    # the same run uninterrupted, here
    alone = tmp_path / "alone"
    run_config = yaml.safe_load((ws / RUN / "run.yaml").read_text(encoding="utf-8"))
    run_config["out"] = str(alone)
    run_config["data"]["root"] = str(ws / run_config["data"]["root"])
    wf.write_config(tmp_path / "alone.yaml", run_config)
    alone_args = ["--set", "device.threads=1", "--set", "data.workers=0"]  # as the job ran (the rule's threads)
    wf.run([wf.tool("dca"), "train", str(tmp_path / "alone.yaml"), *alone_args], tmp_path, timeout=900)

    def scores(path: Path) -> list[tuple[str, str, str]]:
        rows = [line.split(",") for line in path.read_text(encoding="utf-8").splitlines()]
        header = rows[0]
        columns = [header.index(name) for name in ("epoch", "train_loss", "val_dice")]
        return [tuple(row[i] for i in columns) for row in rows[1:]]

    assert scores(ws / RUN / "curves.csv") == scores(alone / "curves.csv")
