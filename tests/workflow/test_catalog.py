"""Workflow catalog conventions: the `.test/` config runs the workflow end to end (CI-size), and the files the
catalog expects (LICENSE, .snakemake-workflow-catalog.yml) are there; every Snakemake file is snakefmt clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest


def test_catalog_files(wf: Any) -> None:
    assert "MIT License" in (wf.repo / "LICENSE").read_text(encoding="utf-8")
    assert (wf.repo / ".snakemake-workflow-catalog.yml").is_file()


def test_snakefmt_clean(wf: Any) -> None:
    files = [str(wf.repo / "workflow/Snakefile"), *map(str, sorted((wf.repo / "workflow/rules").glob("*.smk")))]
    wf.run([wf.tool("snakefmt"), "--check", *files], wf.repo, timeout=120)


def env_without_dca(path: Path) -> Path:
    """A virtual environment at ``path`` that holds this one's packages but no dca: this environment's
    site-packages joins its sys.path through a .pth path line, whose folder's own .pth files (dca's editable
    install) are not run. What a conda env of workflow/envs/ is to the jobs: the dependencies, not the package."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    site = next(path.glob("lib/python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_test_config_runs_to_the_table(wf: Any, tmp_path: Path) -> None:
    """`snakemake --directory .test` (one run per protocol, one epoch) through every rule to its tables (about a
    minute) in an environment without an installed dca: the jobs' `python -m dca` and the parse import the package
    from the workflow's folder. The paper-protocol run is selected on test, scored with the official metric and
    labelled so in its table."""
    ws = wf.make_workspace(tmp_path / "ws", package=True)
    shutil.copytree(wf.repo / ".test", ws / ".test")
    venv = env_without_dca(tmp_path / "venv")
    env = wf.env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    python = str(venv / "bin" / "python")
    unavailable = subprocess.run([python, "-c", "import dca"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert unavailable.returncode != 0 and "No module named 'dca'" in unavailable.stderr
    cmd = ["timeout", "-s", "INT", "-k", "30", "600", python, "-m", "snakemake", "--directory", ".test", "--cores", "2"]
    done = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True, timeout=660)
    assert done.returncode == 0, done.stderr[-6000:]
    ws = ws / ".test"  # the results are the working directory's
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
    # ci_volumes: the volume models trained on patches, scored per volume by sliding windows, HD95 in mm
    volume = json.loads((ws / "results/runs/synthetic-acdc/unet3d-dca/seed0/eval/metrics.json").read_text())
    assert (volume["resolution"], volume["hd95_unit"], volume["convention"]) == ("volume", "mm", "transunet")
    saved = np.load(next((ws / "results/runs/synthetic-acdc/unet3d-dca/seed0/eval/predictions").glob("*.npy")))
    assert saved.ndim == 3 and saved.shape[0] == 8  # a whole predicted volume, not a patch
    rows = pd.read_csv(ws / "results/tables/ci_volumes.csv").dropna(subset=["dataset"])
    assert set(rows["variant"]) == {"unet3d", "unet3d-dca"} and "hd95" in set(rows["metric"])
    assert "No paper reports these numbers" in (ws / "results/tables/ci_volumes.tex").read_text(encoding="utf-8")
    claims = pd.read_csv(ws / "results/tables/dca3d_claims.csv")
    assert claims[["variant", "baseline"]].values.tolist() == [["unet3d-dca", "unet3d"]]
