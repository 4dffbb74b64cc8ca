"""The demo workflow end to end: through `dvc repro`, and through a real single-node SLURM (same tables).

Both run config/demo.yaml with one seed, the SLURM test one of its groups (CI time: each run of the
demo costs minutes on two cores); `make demo` runs all of it with its two seeds. The SLURM test needs
root and apt (it installs Debian's SLURM with .ci/slurm-local.sh) and is skipped with the reason
otherwise.
"""

from __future__ import annotations

import csv
import math
import os
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

TABLES = "results/tables"
DEMO_GROUPS = ("demo_dca_table1", "demo_din_table4")
SLURM_GROUP = "demo_dca_table1"


#: Epochs per paper in the tests' demo: the tests compare tools (same tables through DVC and SLURM), not learning.
TEST_EPOCHS = {"dca": 4, "din": 2}
#: The tests' demo data: fewer and smaller synthetic images than the demo's (40 at 64x64), trained at this size.
TEST_IMAGES, TEST_SIZE = 20, 32


def one_seed_demo(wf: Any, workspace: Path) -> None:
    """Make the workspace's config (params.yaml, the demo) train one seed per run, for a few epochs, on
    ``TEST_IMAGES`` images of ``TEST_SIZE`` pixels a side."""
    path = workspace / "params.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["seeds"] = [0]
    config["datasets"]["synthetic-binary"]["synth"].update(n=TEST_IMAGES, size=[TEST_SIZE, TEST_SIZE])
    for paper, epochs in TEST_EPOCHS.items():
        config["training"][paper]["epochs"] = epochs
        config["training"][paper]["data"]["size"] = TEST_SIZE
    config["bench"]["size"] = TEST_SIZE
    wf.write_config(path, config)


def read_table(path: Path) -> list[dict[str, str]]:
    """A report CSV as rows."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def same_number(a: str, b: str) -> bool:
    """Cells equal as text, or as numbers to 1e-9 relative (both empty/NaN counts as equal)."""
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def assert_same_tables(first: Path, second: Path, groups: tuple[str, ...] = DEMO_GROUPS) -> None:
    """The groups' tables (CSV and tests CSV) of two workspaces hold the same numbers."""
    for group in groups:
        for name in (f"{group}.csv", f"{group}_tests.csv"):
            a, b = read_table(first / TABLES / name), read_table(second / TABLES / name)
            assert len(a) == len(b) and a, name
            for row_a, row_b in zip(a, b, strict=True):
                assert row_a.keys() == row_b.keys()
                diff = {k: (row_a[k], row_b[k]) for k in row_a if not same_number(row_a[k], row_b[k])}
                assert not diff, f"{name}: {diff}"


@pytest.fixture(scope="module")
def dvc_workspace(wf: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Git + DVC repository with the workflow, after `dvc repro` of the (one-seed) demo."""
    workspace = wf.make_workspace(tmp_path_factory.mktemp("dvc") / "repo", package=True)
    one_seed_demo(wf, workspace)
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org"]
    wf.run([*git, "init", "-q"], workspace, timeout=60)
    wf.run([wf.tool("dvc"), "init", "-q"], workspace, timeout=120)
    wf.run([*git, "add", "-A"], workspace, timeout=60)
    wf.run([*git, "commit", "-q", "-m", "workflow"], workspace, timeout=60)  # the workflow as committed
    wf.run([wf.tool("dvc"), "repro"], workspace, timeout=1500)
    return workspace


@pytest.mark.slow
def test_dvc_repro(wf: Any, dvc_workspace: Path) -> None:
    ws = dvc_workspace
    dvc = wf.tool("dvc")
    lock = yaml.safe_load((ws / "dvc.lock").read_text(encoding="utf-8"))
    assert set(lock["stages"]) == {"data", "runs", "report", "bench_models"}
    for group in DEMO_GROUPS:
        assert (ws / TABLES / f"{group}.tex").is_file()
        assert (ws / "results/aggregates" / f"{group}.json").is_file()
    metrics = wf.run([dvc, "metrics", "show", "--json"], ws, timeout=120).stdout
    assert "demo_dca_table1.json" in metrics
    # a second repro has nothing to do
    again = wf.run([dvc, "repro"], ws, timeout=300)
    assert "Data and pipelines are up to date" in again.stdout + again.stderr

    # share through a (local) remote: push, then delete every result and Snakemake's metadata (a fresh
    # clone) and pull. The pulled files have new times in any order: no training job reruns (evaluation
    # and report jobs may, by file times); `snakemake --touch` marks everything up to date.
    wf.run([dvc, "remote", "add", "-d", "local", str(ws.parent / "remote")], ws, timeout=60)
    wf.run([dvc, "push", "-q"], ws, timeout=600)
    shutil.rmtree(ws / "results")
    shutil.rmtree(ws / ".snakemake")
    wf.run([dvc, "pull", "-q"], ws, timeout=600)
    pulled = ws / "results/runs/synthetic-binary/unet-dca/seed0"
    assert (pulled / "best.pt").is_file() and not (pulled / "last.pt").exists()  # a finished run: last.pt pruned
    assert (ws / "results/data/synthetic-binary/index.csv").is_file()
    files = sorted((ws / "results").rglob("*"))
    random.Random(0).shuffle(files)
    for i, path in enumerate(files):
        os.utime(path, (1e9 + i, 1e9 + i))
    counts = dry_run_counts(wf, ws)
    assert not {"prepare", "enhance", "run_config", "train"} & set(counts), counts
    wf.run([wf.tool("snakemake"), "--touch"], ws, timeout=300)
    assert dry_run_counts(wf, ws) == {}
    status = wf.run([dvc, "status"], ws, timeout=300)
    assert "Data and pipelines are up to date" in status.stdout + status.stderr

    # ... while a changed run config is seen without that metadata (its stamp is named by its hash)
    config = yaml.safe_load((ws / "params.yaml").read_text(encoding="utf-8"))
    config["training"]["din"]["epochs"] += 1
    wf.write_config(ws / "params.yaml", config)
    counts = dry_run_counts(wf, ws)
    assert counts["run_config"] == counts["train"] == counts["evaluate"] == 2  # the one-seed DIN-tiny runs

    # a finished run's deleted summary.json is noticed by the default target (its training reruns)
    summary = ws / "results/runs/synthetic-binary/unet-dca/seed0/summary.json"
    kept, times = summary.read_bytes(), summary.stat()
    summary.unlink()
    assert dry_run_counts(wf, ws)["train"] == 3
    summary.write_bytes(kept)
    os.utime(summary, ns=(times.st_atime_ns, times.st_mtime_ns))


def dry_run_counts(wf: Any, workspace: Path) -> dict[str, int]:
    """The jobs a dry run of the default target lists, by rule ({} when nothing is to be done)."""
    dry = wf.run([wf.tool("snakemake"), "-n"], workspace, timeout=300)
    output = dry.stdout + dry.stderr
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def _slurm_unavailable() -> str | None:
    """Why the SLURM test cannot run here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (it installs and starts SLURM with .ci/slurm-local.sh)"
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return "needs a Debian system with apt-get (Debian's SLURM packages)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_slurm_unavailable() is not None, reason=str(_slurm_unavailable()))
def test_slurm_matches_dvc(wf: Any, tmp_path: Path, dvc_workspace: Path) -> None:
    """One demo group through a real SLURM (GPU jobs on fake GPUs fall back to the CPU and say so) gives
    the same tables as `dvc repro`. One group (two U-Net trainings and evaluations)
    keeps CI within its time: every job pays a Snakemake and torch start-up, and the executor's status
    polling backs off by 10 s per check while no job finishes."""
    up = subprocess.run(
        [str(wf.repo / ".ci/slurm-local.sh"), "up"], capture_output=True, text=True, timeout=900, check=False
    )
    if up.returncode != 0:
        pytest.fail(f".ci/slurm-local.sh up failed\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}")
    workspace = wf.make_workspace(tmp_path / "ws")
    one_seed_demo(wf, workspace)
    args = [
        *(SLURM_GROUP, "--profile", "workflow/profiles/slurm", "--jobs", "2"),
        "--slurm-no-account",  # the test cluster has no accounting database
        *("--slurm-status-command", "squeue"),  # ... so no sacct (the profile keeps the default)
        *("--slurm-init-seconds-before-status-checks", "2"),
        *("--config", "device=cuda"),  # ask for CUDA: the jobs must fall back to the CPU and say so
    ]
    wf.snakemake(workspace, *args, timeout=1500)
    log = (workspace / "logs/train/synthetic-binary/unet/seed0.log").read_text(encoding="utf-8")
    assert re.search(r"CUDA_VISIBLE_DEVICES=\d", log), log[:500]  # the job got a (fake) GPU from SLURM
    assert "no CUDA, running on CPU" in log
    assert any((workspace / "logs/slurm/rule_train").iterdir())  # it really went through sbatch
    assert_same_tables(workspace, dvc_workspace, (SLURM_GROUP,))
