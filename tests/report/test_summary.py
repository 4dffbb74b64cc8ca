"""The printed summary: per-variant Dice over seeds and per test image, claims, and the images that make a gap."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dca.layout import RunDir
from dca.report.claims import group_claims
from dca.report.cli import run_summary
from dca.report.collect import Group, GroupResults, RunResult
from dca.report.summary import gap_reading, group_summary


def _run(variant: str, seed: int, dice: np.ndarray) -> RunResult:
    frame = pd.DataFrame({"case": [f"c{i}" for i in range(len(dice))], "class": "fg", "label": 1, "dice": dice})
    return RunResult("toy", variant, seed, RunDir(f"/nowhere/{variant}/{seed}"), {"dice": dice.mean()}, frame, None)


def _results() -> GroupResults:
    """Eight test images; the variant equals the baseline on seven and fails on c5 (as the demo's DCA runs do)."""
    base = np.array([0.97, 0.94, 0.97, 0.91, 0.96, 0.95, 0.94, 0.97])
    net = base + np.array([0.01, 0.0, 0.0, 0.0, 0.0, -0.5, 0.0, 0.0])
    runs = {("toy", v, s): _run(v, s, d + 0.002 * s) for v, d in (("base", base), ("net", net)) for s in (0, 1)}
    group = Group(
        "g", "a toy group", ("toy",), ("base", "net"), {"base": "Base", "net": "Net"}, {"net": "base"}, (0, 1)
    )
    return GroupResults(group, runs, [])


def test_one_image_that_makes_the_gap_is_named() -> None:
    reading = gap_reading(_results(), "toy", "net", "base")
    assert "1 of 8 test images make 80% of the mean gap" in reading
    assert "below the baseline on 1 images, the other way on 1" in reading
    assert "c5 (-50.0 points)" in reading


def test_summary_lists_seeds_per_image_median_and_the_claim(tmp_path: Path) -> None:
    results = _results()
    text = group_summary(results, group_claims(results, tmp_path, replicates=200))
    lines = text.splitlines()
    assert lines[0] == "g: a toy group"
    net = next(line for line in lines if line.strip().startswith("Net"))
    assert "over 2 seed(s)" in net and "median 95.10" in net and "lowest 45.10 (c5) of 8 images" in net
    claim = next(line for line in lines if line.strip().startswith("net vs base"))
    assert "-6.12 points" in claim and "over 8 units" in claim


def test_summary_command_skips_a_group_without_runs(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(config=workspace / "config.yaml", groups=None, runs=None, processed=None)
    assert run_summary(args) == 0
    out = capsys.readouterr().out
    assert "test Dice, points" in out and " vs " in out
