"""A training that fails for a real reason is not retried: only `dca train` exit 75 (saved, stopped) is resubmitted."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

RETRIES = 3
PROCESSED = "results/data/synthetic-binary"
LOG = "logs/train/synthetic-binary/unet/seed0.log"
FAILED = "logs/train/synthetic-binary/unet/seed0.failed"
SUMMARY = "results/runs/synthetic-binary/unet/seed0/summary.json"


def test_failed_training_is_not_retried(wf: Any, tmp_path: Path) -> None:
    workspace = wf.make_workspace(tmp_path / "ws")
    config = yaml.safe_load((wf.repo / ".test" / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["experiments"] = {"retries": {**config["experiments"]["ci_table"], "title": "retries"}}
    config["resources"]["train"]["retries"] = RETRIES
    wf.write_config(workspace / "retries.yaml", config)
    args = ["--configfile", "retries.yaml", "--cores", "1"]

    # 1. prepare the dataset, then damage it: its images are gone, its index (the train job's input) stays
    wf.snakemake(workspace, "data_all", *args, timeout=300)
    images = workspace / PROCESSED / "images"
    assert any(images.iterdir())
    shutil.rmtree(images)

    # 2. training fails on every attempt. Snakemake empties the log before each attempt and prints each failed
    #    attempt's log (--show-failed-logs): one `dca train`, then attempts that stop at once
    cmd = ["timeout", "-s", "INT", "-k", "30", "300", wf.tool("snakemake"), "train_all", *args, "--show-failed-logs"]
    result = subprocess.run(cmd, cwd=workspace, env=wf.env(), capture_output=True, text=True, timeout=360)
    output = result.stdout + result.stderr
    assert result.returncode not in (0, 124), output[-6000:]
    attempts = re.findall(r"^\[workflow\] \S+ \S+ attempt (\d+) ", output, re.MULTILINE)
    assert attempts == [str(n) for n in range(1, RETRIES + 2)], output[-6000:]  # every attempt Snakemake may make
    assert len(re.findall(r"^\[dca train\] .*: starting$", output, re.MULTILINE)) == 1, output[-6000:]
    assert f"No such file or directory: '{PROCESSED}/images/" in output  # the real failure (first attempt)
    assert len(re.findall(r"^\[workflow\] not retried: ", output, re.MULTILINE)) == RETRIES, output[-6000:]
    last = (workspace / LOG).read_text(encoding="utf-8")  # the last attempt's log
    assert f"attempt {RETRIES + 1} " in last and "[workflow] not retried" in last and "[dca train]" not in last, last
    assert (workspace / FAILED).is_file() and not (workspace / SUMMARY).exists()
