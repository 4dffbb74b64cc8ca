"""A training that fails for a real reason, on a real single-node SLURM: it runs on a GPU once; the retry
Snakemake makes after it is sized before submission (no GPU, one minute) and stops at once, and the Snakemake
inside each cluster job retries nothing. The profile comes from $SNAKEMAKE_PROFILE, the way `dvc repro` sends its
stages to SLURM.

Needs root and apt (the ``slurm`` fixture); skipped with the reason otherwise. About a minute (mostly status polling).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

RETRIES = 1
PROCESSED = Path("results/data/synthetic-binary")
SUMMARY = Path("results/runs/synthetic-binary/unet/seed0/summary.json")
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+)")
ATTEMPT = re.compile(r"^\[workflow\] \S+ \S+ attempt (\d+) CUDA_VISIBLE_DEVICES=(\S+)$", re.MULTILINE)
#: The resources Snakemake prints for a job (the submitting Snakemake and the one inside the cluster job).
RESOURCES = re.compile(r"^\s*resources: .*\bruntime=(\d+), .*\bgpu=(\d+), attempt=(\d+)$", re.MULTILINE)


def test_a_failed_training_runs_on_a_gpu_once(wf: Any, slurm: None, tmp_path: Path) -> None:
    ws = wf.make_workspace(tmp_path / "ws")
    config = yaml.safe_load((wf.repo / ".test" / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["experiments"] = {"retries": {**config["experiments"]["ci_table"], "title": "retries"}}
    config["resources"]["train"] = {"cpus_per_task": 1, "mem_mb": 1000, "runtime": 10, "gpu": 1, "retries": RETRIES}
    wf.write_config(ws / "fail.yaml", config)
    wf.snakemake(ws, "data_all", "--configfile=fail.yaml", "--cores", "1", timeout=300)
    shutil.rmtree(ws / PROCESSED / "images")  # its index (the training's input) stays: training fails at once

    # the SLURM profile through $SNAKEMAKE_PROFILE, as a DVC stage's plain `snakemake` gets it on a cluster
    cmd = [wf.tool("snakemake"), "train_all", "--configfile=fail.yaml", *wf.slurm_flags, "--latency-wait", "1"]
    env = {**wf.env(), "SNAKEMAKE_PROFILE": "workflow/profiles/slurm"}
    result = subprocess.run(
        ["timeout", "-s", "INT", "-k", "30", "240", *cmd], cwd=ws, env=env, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode not in (0, 124), output[-6000:]
    # Snakemake's retries are a count per rule, whatever the failure: the job is submitted 1 + RETRIES times ...
    assert len(SUBMITTED.findall(output)) == RETRIES + 1, output[-6000:]
    # ... but only the first holds a GPU and trains; the others were sized down before submission and refused
    sizes = {attempt: set() for attempt in range(1, RETRIES + 2)}
    for runtime, gpu, attempt in RESOURCES.findall(output):
        sizes[int(attempt)].add((int(runtime), int(gpu)))
    assert sizes == {1: {(10, 1)}, **{n: {(1, 0)} for n in range(2, RETRIES + 2)}}, output[-6000:]
    attempts = ATTEMPT.findall(output)
    assert attempts == [("1", "0"), *((str(n), "unset") for n in range(2, RETRIES + 2))], output[-6000:]
    assert len(re.findall(r"^\[dca train\] .*: starting$", output, re.MULTILINE)) == 1, output[-6000:]
    assert len(re.findall(r"^\[workflow\] not retried: ", output, re.MULTILINE)) == RETRIES, output[-6000:]
    assert not (ws / SUMMARY).exists()
