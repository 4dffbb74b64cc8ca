"""Fixtures for the workflow tests: the repository's configs, and workspaces that run the real workflow.

A workspace is a temporary copy of what the workflow needs (workflow/ with its Snakefile, profiles/, config/,
params.yaml, dvc.yaml); the workflow imports `dca` from the workspace (``package=True`` copies it there) or else
from the installed (editable) package, so jobs run this checkout's code either way. The
helpers are reached through the ``wf`` fixture (tests import nothing from here: --import-mode=importlib).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dca.experiments.config import load_yaml

REPO = Path(__file__).resolve().parents[2]
FULL_CONFIG = REPO / "config" / "config.yaml"
DEMO_CONFIG = REPO / "config" / "demo.yaml"
WORKSPACE_FILES = (
    "workflow",
    "profiles",
    "config",
    "params.yaml",
    "dvc.yaml",
    ".dvcignore",
    "environment.yml",
)
BIN = Path(sys.executable).parent
#: Snakemake flags for the test cluster of .ci/slurm-local.sh: no accounting database, so no account and no sacct.
SLURM_FLAGS = (
    "--slurm-no-account",
    *("--slurm-status-command", "squeue"),
    *("--slurm-init-seconds-before-status-checks", "2"),
)


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for workflow subprocesses: this interpreter's bin folder first on PATH (so `dca`,
    `snakemake` and `dvc` are this environment's even when the venv is not activated), quiet progress bars."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TQDM_MININTERVAL", "5")
    env.pop("SNAKEMAKE_PROFILE", None)
    env.update(extra)
    return env


def tool(name: str) -> str:
    """Path of a console script of this environment."""
    return str(BIN / name)


def make_workspace(path: Path, package: bool = False) -> Path:
    """Copy the workflow files into ``path`` (created) and return it; ``package`` copies dca/ too (DVC
    hashes it as a dependency of its stages)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in (*WORKSPACE_FILES, *(["dca"] if package else [])):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, path / name)
    return path


def place_manual_raw(ws: Path) -> None:
    """Empty raw folders in ``ws`` for the data a user puts there by hand (the registry's manual datasets and the
    ``raw`` folders the shipped configs name): a dry run then plans their preparation instead of stopping at the
    first one not there (what it rightly does for a user)."""
    registry = yaml.safe_load((REPO / "config/datasets.yaml").read_text(encoding="utf-8"))
    folders = {f"data/raw/{name}" for name, spec in registry["datasets"].items() if spec["source"]["kind"] == "manual"}
    for config in (ws / "config").glob("*.yaml"):
        datasets = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("datasets") or {}
        folders |= {entry["raw"] for entry in datasets.values() if isinstance(entry, dict) and "raw" in entry}
    for folder in folders:
        (ws / folder).mkdir(parents=True, exist_ok=True)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write a workflow config as YAML and return its path."""
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run(cmd: list[str], cwd: Path, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in ``cwd`` with :func:`tool_env`; on failure, fail the test with its output."""
    result = subprocess.run(
        cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if result.returncode != 0:
        output = f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        pytest.fail(f"{' '.join(cmd)} exited {result.returncode}\n{output}")
    return result


def slurm_unavailable() -> str | None:
    """Why a real single-node SLURM cannot be started here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (it installs and starts SLURM with .ci/slurm-local.sh)"
    if shutil.which("apt-get") is None:
        return "needs a Debian system with apt-get (Debian's SLURM packages)"
    return None


def snakemake(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run Snakemake in ``cwd`` (bounded: a hung Snakemake ignores SIGTERM, so SIGINT then SIGKILL)."""
    cmd = ["timeout", "-s", "INT", "-k", "30", str(int(timeout)), tool("snakemake"), *args]
    return run(cmd, cwd, timeout + 60)


class Workflow:
    """The helpers above, as one fixture object."""

    repo = REPO
    full_config = FULL_CONFIG
    demo_config = DEMO_CONFIG
    env = staticmethod(tool_env)
    tool = staticmethod(tool)
    make_workspace = staticmethod(make_workspace)
    place_manual_raw = staticmethod(place_manual_raw)
    write_config = staticmethod(write_config)
    run = staticmethod(run)
    snakemake = staticmethod(snakemake)
    slurm_flags = SLURM_FLAGS


@pytest.fixture(scope="session")
def wf() -> Workflow:
    """The workflow test helpers."""
    return Workflow()


@pytest.fixture(scope="session")
def slurm() -> None:
    """A real single-node SLURM on this machine (.ci/slurm-local.sh up: installs once, then about a second);
    the test is skipped, with the reason, where it cannot run."""
    reason = slurm_unavailable()
    if reason is not None:
        pytest.skip(reason)
    up = subprocess.run([str(REPO / ".ci/slurm-local.sh"), "up"], capture_output=True, text=True, timeout=900)
    assert up.returncode == 0, f"{up.stdout[-3000:]}\n{up.stderr[-3000:]}"


@pytest.fixture(scope="session")
def full_config() -> dict[str, Any]:
    """The full matrix of both papers (as written, without defaults)."""
    return load_yaml(FULL_CONFIG)


@pytest.fixture(scope="session")
def demo_config() -> dict[str, Any]:
    """The embedded demo config (as written, without defaults)."""
    return load_yaml(DEMO_CONFIG)


@pytest.fixture
def demo(demo_config: dict[str, Any]) -> dict[str, Any]:
    """A fresh deep copy of the demo config to modify."""
    return copy.deepcopy(demo_config)
