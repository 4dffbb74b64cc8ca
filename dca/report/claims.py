"""Claims tables (``<paper>_claims``): does each comparison a paper draws hold in our runs?

A comparison is a group's ``variant -> baseline`` pair on one table dataset (each protocol its own row):
the paper's reported Dice difference, ours (mean over seeds of the mean over test units) with a 95%
interval from a hierarchical bootstrap, and whether the sign holds. The bootstrap resamples both
sources of variation together: per replicate, the seeds of each model (independently: seed k of two
models are unrelated trainings) and the test units (once, shared by both models: paired by unit). A unit
is a case, or the patient of a case where the dataset records groups (ACDC frames pair by patient).
``holds``: yes when the interval lies on the reported side of zero, no when on the other, open otherwise
(``clear`` where the paper reports no delta and the interval excludes zero).
The Wilcoxon p over seed-averaged case scores (:mod:`dca.report.stats`) is kept as a named extra column:
it ignores seed variation, so it is not the headline.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from dca.processed import ProcessedDir, dataset_info
from dca.report.collect import GroupResults
from dca.report.reported import find_column, find_row, load_reported
from dca.report.stats import compare

REPLICATES = 2000
CLAIM_COLUMNS = [
    "paper", "group", "dataset", "protocol", "variant", "baseline", "metric", "reported_delta", "delta",
    "ci_low", "ci_high", "holds", "seeds_variant", "seeds_baseline", "n_units", "wilcoxon_p_seed_averaged",
]  # fmt: skip


def case_units(processed: Path, dataset: str) -> dict[str, str]:
    """Case -> its unit of pairing (the patient where the dataset's description records groups; else none)."""
    if not ProcessedDir(processed / dataset).info.is_file():
        return {}
    return dict(dataset_info(processed / dataset).get("groups") or {})


def unit_matrix(results: GroupResults, dataset: str, variant: str, units: dict[str, str]) -> pd.DataFrame:
    """Seeds x units Dice (percent) of ``variant``: each unit the mean of its cases' scores."""
    columns = {}
    for run in results.seeds(dataset, variant):
        if run.per_case is None:
            continue
        scores = run.case_scores("dice")
        columns[run.seed] = scores.groupby(lambda case: units.get(str(case), str(case))).mean()
    return pd.DataFrame(columns).T


def hierarchical_bootstrap(
    x: np.ndarray, y: np.ndarray, replicates: int = REPLICATES, seed: int = 0
) -> tuple[float, float, float]:
    """Mean difference and 95% interval of seeds x units score matrices ``x`` and ``y`` (same units, in order).

    Each replicate draws the rows (seeds) of ``x`` and of ``y`` with replacement, independently, and one set
    of columns (units) with replacement for both; the statistic is the difference of the grand means.
    """
    rng = np.random.default_rng(seed)
    n_units = x.shape[1]
    deltas = np.empty(replicates)
    for i in range(replicates):
        cols = rng.integers(0, n_units, n_units)
        rows_x, rows_y = rng.integers(0, len(x), len(x)), rng.integers(0, len(y), len(y))
        deltas[i] = x[np.ix_(rows_x, cols)].mean() - y[np.ix_(rows_y, cols)].mean()
    low, high = np.percentile(deltas, [2.5, 97.5])
    return float(x.mean() - y.mean()), float(low), float(high)


def holds(reported: float, low: float, high: float) -> str:
    """``yes`` / ``no`` / ``open``: the interval on the reported side of zero, on the other side, or across it;
    without a reported delta (NaN): ``clear`` when the interval excludes zero (no paper claim to hold), else open."""
    if not math.isfinite(low):
        return ""
    if not math.isfinite(reported):
        return "open" if low <= 0 <= high else "clear"
    if reported == 0:
        return ""
    if (low > 0 and reported > 0) or (high < 0 and reported < 0):
        return "yes"
    if (low > 0 and reported < 0) or (high < 0 and reported > 0):
        return "no"
    return "open"


def _reported_delta(results: GroupResults, frame: pd.DataFrame | None, dataset: str, variant: str, base: str) -> float:
    """The paper's Dice of ``variant`` minus ``base`` on ``dataset`` (NaN when it lacks either)."""
    group = results.group
    if frame is None:
        return math.nan
    single = len({group.base(d) for d in group.datasets}) == 1
    column = find_column(list(frame.columns), group.base(dataset), "dice", None, single)
    values = []
    for name in (variant, base):
        row = find_row(frame, group.reported_rows.get(name), group.labels[name])
        try:
            values.append(float(row[column]) if row is not None and column else math.nan)
        except ValueError:
            values.append(math.nan)
    return values[0] - values[1]


def group_claims(results: GroupResults, processed: Path, replicates: int = REPLICATES) -> list[dict[str, object]]:
    """One claims row per (baseline pair, table dataset) of a group."""
    group = results.group
    frame = load_reported(group.reported) if group.reported and group.reported.is_file() else None
    rows = []
    for variant, base in group.baselines.items():
        for dataset in group.datasets:
            units = case_units(processed, dataset)
            x, y = unit_matrix(results, dataset, variant, units), unit_matrix(results, dataset, base, units)
            shared = sorted(set(x.columns) & set(y.columns))
            delta = low = high = math.nan
            if len(x) and len(y) and shared:
                xm, ym = x[shared].to_numpy(float), y[shared].to_numpy(float)
                if np.isfinite(xm).all() and np.isfinite(ym).all():
                    delta, low, high = hierarchical_bootstrap(xm, ym, replicates)
            reported = _reported_delta(results, frame, dataset, variant, base)
            p = compare(results, variant, base, dataset, ("dice", None))["p_value"]
            sign = holds(reported, low, high)
            rows.append({
                "paper": group.paper, "group": group.name, "dataset": dataset, "protocol": group.protocol(dataset),
                "variant": variant, "baseline": base, "metric": "dice", "reported_delta": reported, "delta": delta,
                "ci_low": low, "ci_high": high, "holds": sign,
                "seeds_variant": len(x), "seeds_baseline": len(y), "n_units": len(shared),
                "wilcoxon_p_seed_averaged": p,
            })  # fmt: skip
    return rows


def claims_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The claims rows as a table in :data:`CLAIM_COLUMNS` order."""
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def claims_latex(frame: pd.DataFrame, paper: str) -> str:
    """A booktabs tabular of one paper's claims (differences in Dice points), with its note."""
    shown = pd.DataFrame({
        "Comparison": frame["variant"] + " vs " + frame["baseline"],
        "Dataset": frame["dataset"], "Protocol": frame["protocol"],
        "Paper $\\Delta$": frame["reported_delta"].map(lambda v: f"{v:+.2f}" if math.isfinite(v) else "--"),
        "Ours $\\Delta$ [95\\% CI]": [
            f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]" if math.isfinite(d) else "--"
            for d, lo, hi in zip(frame["delta"], frame["ci_low"], frame["ci_high"], strict=True)
        ],
        "Sign holds": frame["holds"].replace("", "--"),
        "Wilcoxon $p$": frame["wilcoxon_p_seed_averaged"].map(lambda p: f"{p:.3f}" if math.isfinite(p) else "--"),
    })  # fmt: skip
    shown = shown.map(lambda s: s.replace("_", r"\_") if isinstance(s, str) else s)
    body = shown.to_latex(index=False, escape=False, column_format="lllrrrr")
    note = (
        f"% {paper}_claims: generated by `dca report claims`; do not edit by hand.\n"
        "% Delta: Dice points; CI: hierarchical bootstrap over seeds and test cases (paired by case; by patient\n"
        "% where the dataset groups cases); Wilcoxon p: over seed-averaged cases, ignores seed variation.\n"
    )
    return note + body
