"""Workflow catalog conventions: the `.test/` config runs the workflow end to end (CI-size), and the files the
catalog expects (LICENSE, .snakemake-workflow-catalog.yml) are there; every Snakemake file is snakefmt clean."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest


def test_catalog_files(wf: Any) -> None:
    assert "MIT License" in (wf.repo / "LICENSE").read_text(encoding="utf-8")
    assert (wf.repo / ".snakemake-workflow-catalog.yml").is_file()


def test_snakefmt_clean(wf: Any) -> None:
    files = [str(wf.repo / "Snakefile"), *map(str, sorted((wf.repo / "workflow/rules").glob("*.smk")))]
    wf.run([wf.tool("snakefmt"), "--check", *files], wf.repo, timeout=120)


@pytest.mark.slow
def test_test_config_runs_to_the_table(wf: Any, tmp_path: Path) -> None:
    """`.test/config.yaml` (one run, one epoch) through every rule to its table (about a minute)."""
    ws = wf.make_workspace(tmp_path / "ws")
    shutil.copytree(wf.repo / ".test", ws / ".test")
    wf.snakemake(ws, "--configfile=.test/config.yaml", "--cores", "2", timeout=600)
    assert (ws / "results/tables/ci_table.csv").is_file()
    assert (ws / "results/curves/ci_table.csv").is_file()
