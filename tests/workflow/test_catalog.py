"""Workflow catalog conventions: the `.test/` config runs the workflow end to end (CI-size), and the files the
catalog expects (LICENSE, .snakemake-workflow-catalog.yml) are there; every Snakemake file is snakefmt clean."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest


def test_catalog_files(wf: Any) -> None:
    assert "MIT License" in (wf.repo / "LICENSE").read_text(encoding="utf-8")
    assert (wf.repo / ".snakemake-workflow-catalog.yml").is_file()


def test_snakefmt_clean(wf: Any) -> None:
    files = [str(wf.repo / "Snakefile"), *map(str, sorted((wf.repo / "workflow/rules").glob("*.smk")))]
    wf.run([wf.tool("snakefmt"), "--check", *files], wf.repo, timeout=120)


@pytest.mark.slow
def test_test_config_runs_to_the_table(wf: Any, tmp_path: Path) -> None:
    """`.test/config.yaml` (one run per protocol, one epoch) through every rule to its tables (about a minute):
    the paper-protocol run is selected on test, scored with the official metric and labelled so in its table."""
    ws = wf.make_workspace(tmp_path / "ws")
    shutil.copytree(wf.repo / ".test", ws / ".test")
    wf.snakemake(ws, "--configfile=.test/config.yaml", "--cores", "2", timeout=600)
    assert (ws / "results/curves/ci_table.csv").is_file()
    honest = pd.read_csv(ws / "results/tables/ci_table.csv").dropna(subset=["dataset"])
    assert set(honest["protocol"]) == {"honest"} and not honest["test_selected"].any()

    paper = json.loads((ws / "results/runs/synthetic-binary@dca-paper/unet/seed0/eval/metrics.json").read_text())
    assert (paper["protocol"], paper["selection"], paper["test_selected"]) == ("paper", "test", True)
    assert 0 <= paper["dice_official"] <= 1
    aggregate = json.loads((ws / "results/aggregates/ci_paper.json").read_text())
    assert aggregate["synthetic-binary@dca-paper/unet"]["test_selected"] and aggregate["missing"] == 0
    assert aggregate["synthetic-binary@dca-paper/unet"]["dice"] == paper["dice"]
    rows = pd.read_csv(ws / "results/tables/ci_paper.csv").dropna(subset=["dataset"])
    assert set(rows["dataset"]) == {"synthetic-binary@dca-paper"} and set(rows["protocol"]) == {"paper"}
    assert rows["test_selected"].all()
    dice = rows.loc[(rows["metric"] == "dice_official") & (rows["variant"] == "unet"), "mean"]
    assert dice.tolist() == pytest.approx([100 * paper["dice_official"]])
    tex = (ws / "results/tables/ci_paper.tex").read_text(encoding="utf-8")
    assert r"DSC (\%)$^\dagger$" in tex and "Protocol: paper " in tex
    assert r"$^\dagger$ every model selected on the test split" in tex
    assert (ws / "results/figures/ci_paper_qualitative_synthetic-binary@dca-paper.png").is_file()
