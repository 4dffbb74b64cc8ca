"""Paired Wilcoxon signed-rank tests over test cases: each variant against its baseline.

Seeds: a case's score is averaged over the seeds that *both* the variant and the baseline have
(so a missing seed removes the same training noise from both sides), then one two-sided test
(``scipy.stats.wilcoxon`` defaults: exact for small samples, zero differences dropped) is run
over the cases. Averaging keeps the unit of replication the test case, which is what the
test's independence assumption needs; pooling (case, seed) pairs would count each case several
times. Cases with an undefined score (HD95 with an empty mask) on either side are dropped.
Means and differences are in report units (Dice and IoU in percent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from dca.report.collect import GroupResults, RunResult

Score = tuple[str, str | None]  # (metric, class or None for the mean over classes)
TEST_COLUMNS = [
    "group", "variant", "baseline", "dataset", "metric", "class", "n_cases", "seeds",
    "variant_mean", "baseline_mean", "mean_diff", "median_diff", "statistic", "p_value",
]  # fmt: skip


def wilcoxon(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank (statistic, p) of paired samples; NaNs when no difference is non-zero."""
    diff = np.asarray(x, float) - np.asarray(y, float)
    if not np.any(diff != 0):
        return math.nan, math.nan
    result = stats.wilcoxon(x, y, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def seed_mean(runs: Sequence[RunResult], metric: str, cls: str | None) -> pd.Series:
    """Per-case score averaged over ``runs`` (the seeds of one variant), NaN where any seed is undefined."""
    return pd.concat([run.case_scores(metric, cls) for run in runs], axis=1).mean(axis=1, skipna=False)


def compare(results: GroupResults, variant: str, baseline: str, dataset: str, score: Score) -> dict[str, object]:
    """One test row: ``variant`` vs ``baseline`` on ``dataset`` for ``score``, over the seeds both have."""
    metric, cls = score
    ours = {r.seed: r for r in results.seeds(dataset, variant) if r.per_case is not None}
    base = {r.seed: r for r in results.seeds(dataset, baseline) if r.per_case is not None}
    seeds = sorted(set(ours) & set(base))
    row: dict[str, object] = {
        "group": results.group.name, "variant": variant, "baseline": baseline, "dataset": dataset,
        "metric": metric, "class": cls or "", "n_cases": 0, "seeds": ";".join(map(str, seeds)),
    }  # fmt: skip
    nan = dict.fromkeys(("variant_mean", "baseline_mean", "mean_diff", "median_diff", "statistic", "p_value"), math.nan)
    if not seeds:
        return {**row, **nan}
    pairs = pd.concat(
        [seed_mean([ours[s] for s in seeds], metric, cls), seed_mean([base[s] for s in seeds], metric, cls)],
        axis=1,
        join="inner",
    ).dropna()
    if pairs.empty:
        return {**row, **nan}
    x, y = pairs.iloc[:, 0].to_numpy(), pairs.iloc[:, 1].to_numpy()
    statistic, p_value = wilcoxon(x, y)
    return {
        **row,
        "n_cases": len(pairs),
        "variant_mean": float(x.mean()),
        "baseline_mean": float(y.mean()),
        "mean_diff": float((x - y).mean()),
        "median_diff": float(np.median(x - y)),
        "statistic": statistic,
        "p_value": p_value,
    }


def group_tests(results: GroupResults, scores: dict[str, Sequence[Score]]) -> pd.DataFrame:
    """Every baseline pair of the group on every dataset, for the ``scores`` of each dataset."""
    rows = [
        compare(results, variant, baseline, dataset, score)
        for variant, baseline in results.group.baselines.items()
        for dataset in results.group.datasets
        for score in scores.get(dataset, ())
    ]
    return pd.DataFrame(rows, columns=TEST_COLUMNS)
