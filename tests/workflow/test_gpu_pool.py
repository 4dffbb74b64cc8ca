"""Several GPUs on one machine: `snakemake --cores N --resources gpu=G` runs G trainings at once, each pinned
to its own GPU, or sharing one where the config's jobs_per_gpu allows it. On the CPU, with fake GPUs
(CUDA_VISIBLE_DEVICES; the CPU-only torch ignores it)."""

from __future__ import annotations

import datetime
import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

HELD = re.compile(r"^\[dca train\] (\S+) GPU (\S+) taken .*\n(?:.*\n)*?\[dca train\] (\S+) GPU \2 released$", re.M)


@pytest.mark.parametrize(
    ("visible", "jobs_per_gpu", "seeds"),
    [("0,1", 1, [0, 1, 2]), ("0", 2, [0, 1])],  # 3 trainings on 2 GPUs; 2 trainings allowed to share 1 GPU
)
def test_concurrent_trainings_share_a_gpu_only_when_allowed(
    wf: Any, tmp_path: Path, visible: str, jobs_per_gpu: int, seeds: list[int]
) -> None:
    workspace = wf.make_workspace(tmp_path / "ws")
    config = yaml.safe_load((wf.repo / ".test" / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["seeds"] = seeds
    config["jobs_per_gpu"] = jobs_per_gpu
    config["experiments"] = {"ci_table": config["experiments"]["ci_table"]}
    config["resources"]["train"]["gpu"] = 1
    wf.write_config(workspace / "gpus.yaml", config)
    env = wf.env(CUDA_VISIBLE_DEVICES=visible, DCA_GPU_SLOTS_DIR=str(tmp_path / "slots"))
    cmd = [wf.tool("snakemake"), "train_all", "--configfile", "gpus.yaml", "--cores", str(len(seeds))]
    cmd += ["--resources", "gpu=2"]
    result = subprocess.run(cmd, cwd=workspace, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-6000:]

    held = {}  # seed -> (GPU, taken, released)
    for seed in seeds:
        log = (workspace / f"logs/train/synthetic-binary/unet/seed{seed}.log").read_text(encoding="utf-8")
        assert f"CUDA_VISIBLE_DEVICES={visible}\n" in log  # what the job inherited ...
        (match,) = HELD.findall(log)  # ... and the one GPU it trained on
        held[seed] = (match[1], *(datetime.datetime.fromisoformat(t) for t in (match[0], match[2])))
    assert {gpu for gpu, _, _ in held.values()} <= set(visible.split(",")), held
    overlapping = [(a, b) for a, b in itertools.combinations(held.values(), 2) if a[1] < b[2] and b[1] < a[2]]
    assert overlapping, held  # two trainings did run at once (gpu=2) ...
    assert len(overlapping) < 3, held  # ... never three
    assert all((a[0] == b[0]) == (jobs_per_gpu > 1) for a, b in overlapping), held  # one GPU each unless shared
