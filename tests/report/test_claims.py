"""Claims tables: a hierarchical bootstrap over seeds and cases, the Wilcoxon p only as an extra."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from dca.layout import RunDir, claims_files
from dca.report.claims import group_claims, hierarchical_bootstrap, holds
from dca.report.cli import run_claims
from dca.report.collect import Group, GroupResults, RunResult


def _run(variant: str, seed: int, dice: np.ndarray) -> RunResult:
    frame = pd.DataFrame({"case": [f"c{i:02d}" for i in range(len(dice))], "class": "fg", "label": 1, "dice": dice})
    return RunResult("toy", variant, seed, RunDir(f"/nowhere/{variant}/{seed}"), {"dice": dice.mean()}, frame, None)


def test_seed_spread_of_40_points_is_not_a_significant_claim(tmp_path: Path) -> None:
    """The demo's flaw: seeds 40 points apart, a steady 1-point case difference, Wilcoxon p << 0.01; the
    bootstrap interval must span zero (so the sign is open), the p stays a named extra."""
    rng = np.random.default_rng(0)
    cases = rng.uniform(-0.02, 0.02, 30)
    runs = {
        ("toy", "base", 0): _run("base", 0, 0.40 + cases),
        ("toy", "base", 1): _run("base", 1, 0.80 + cases),
        ("toy", "net", 0): _run("net", 0, 0.41 + cases),
        ("toy", "net", 1): _run("net", 1, 0.81 + cases),
    }
    group = Group("g", "g", ("toy",), ("base", "net"), {"base": "B", "net": "N"}, {"net": "base"}, (0, 1), paper="x")
    (row,) = group_claims(GroupResults(group, runs, []), tmp_path, replicates=500)
    assert row["wilcoxon_p_seed_averaged"] < 0.01
    assert abs(row["delta"] - 1.0) < 1e-9  # Dice points
    assert row["ci_low"] < 0 < row["ci_high"] and row["holds"] == "open"
    assert (row["seeds_variant"], row["seeds_baseline"], row["n_units"]) == (2, 2, 30)


def test_bootstrap_pairs_units_and_decides_the_sign() -> None:
    x = np.array([[0.9, 0.5, 0.7], [0.9, 0.5, 0.7]])
    delta, low, high = hierarchical_bootstrap(x, x - 0.1, replicates=200)
    assert abs(delta - 0.1) < 1e-12 and abs(low - 0.1) < 1e-9 and abs(high - 0.1) < 1e-9  # paired: no unit noise
    assert holds(2.0, 0.5, 1.0) == "yes" and holds(-2.0, 0.5, 1.0) == "no" and holds(2.0, -0.5, 1.0) == "open"
    # no reported delta: no paper claim to hold, only whether our interval excludes zero
    assert holds(float("nan"), 0.5, 1.0) == "clear" and holds(float("nan"), -0.5, 1.0) == "open"


def test_claims_command_writes_the_layout_files(workspace: Path, tmp_path: Path) -> None:
    args = argparse.Namespace(config=workspace / "config.yaml", groups=None, runs=None, out=tmp_path, processed=None)
    assert run_claims(args) == 0
    tex, csv = claims_files(tmp_path, "dca")
    frame = pd.read_csv(csv)
    assert set(frame["variant"]) == {"net-dca", "net-cca"} and set(frame["dataset"]) == {"toy", "organs"}
    assert "hierarchical bootstrap" in tex.read_text() and "Wilcoxon" in tex.read_text()
