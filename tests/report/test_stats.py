"""Paired Wilcoxon tests: the p-value equals scipy's on the seed-averaged per-case scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dca.experiments.grid import Grid
from dca.report.collect import collect_group, report_groups
from dca.report.stats import compare, wilcoxon


@pytest.fixture(scope="module")
def results(workspace: Path, grid: Grid):
    """The collected runs of the fake group."""
    (group,) = report_groups(grid, ["toy_table"])
    return collect_group(group, workspace / "runs")


def case_dice(workspace: Path, dataset: str, variant: str, seed: int) -> pd.Series:
    """Per-case Dice (mean over classes, in %) read straight from a per_case.csv."""
    frame = pd.read_csv(workspace / "runs" / dataset / variant / f"seed{seed}" / "eval" / "per_case.csv")
    return frame.groupby("case")["dice"].mean() * 100


def test_p_value_matches_scipy_on_seed_means(workspace: Path, results) -> None:
    """Two seeds each side: average per case over seeds, then scipy.stats.wilcoxon over the cases."""
    x = (case_dice(workspace, "organs", "net-dca", 0) + case_dice(workspace, "organs", "net-dca", 1)) / 2
    y = (case_dice(workspace, "organs", "net", 0) + case_dice(workspace, "organs", "net", 1)) / 2
    row = compare(results, "net-dca", "net", "organs", ("dice", None))
    expected = stats.wilcoxon(x.to_numpy(), y.to_numpy())
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert row["statistic"] == pytest.approx(expected.statistic)
    assert row["n_cases"] == 8 and row["seeds"] == "0;1"
    assert row["mean_diff"] == pytest.approx(float((x - y).mean()))


def test_only_common_seeds_are_paired(workspace: Path, results) -> None:
    """net-cca lacks seed 1 on toy: the baseline's seed 1 is left out as well."""
    row = compare(results, "net-cca", "net", "toy", ("dice", None))
    x, y = case_dice(workspace, "toy", "net-cca", 0), case_dice(workspace, "toy", "net", 0)
    assert row["seeds"] == "0"
    assert row["p_value"] == pytest.approx(stats.wilcoxon(x.to_numpy(), y.to_numpy()).pvalue, rel=1e-12)


def test_no_common_run_and_no_difference_give_nan(results) -> None:
    """No run of the variant: no test; identical scores: no p-value (rather than a scipy warning)."""
    assert math.isnan(compare(results, "net-cca", "net", "organs", ("dice", None))["p_value"])
    assert all(math.isnan(v) for v in wilcoxon(np.ones(5), np.ones(5)))
