"""Claims tables (``<paper>_claims``): does each comparison a paper draws hold in our runs?

A comparison is a group's ``variant -> baseline`` pair on one table dataset (each protocol its own row):
the paper's reported Dice difference, ours (mean over seeds of the mean over test units) with a 95%
interval from a hierarchical bootstrap, and whether the sign holds. The Dice is the one the group's table
shows for that dataset (:meth:`~dca.report.collect.Group.metric_key`: under the DCA paper protocol the official
batch-pooled Dice), so each model's "ours" is its table cell. The bootstrap resamples both
sources of variation together: per replicate, the seeds of each model (independently: seed k of two
models are unrelated trainings) and the test units (once, shared by both models: paired by unit). A unit
is a case, or the patient of a case where the dataset records groups (ACDC frames pair by patient), weighted
by its number of cases so that the point estimate is the mean over cases; for a batch-pooled metric a unit is a
test batch (the official score is the mean over batches). Each row lists how our setting differs from the
paper's (``differences``), so a reduced run is not read as a failed reproduction.
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
from dca.report.collect import PER_CASE_COLUMNS, GroupResults, RunResult, scale
from dca.report.reported import find_column, find_row, load_reported
from dca.report.stats import compare
from dca.report.tables import escape, setting_differences

REPLICATES = 2000
CLAIM_COLUMNS = [
    "paper", "group", "dataset", "protocol", "variant", "baseline", "metric", "paper_variant", "paper_baseline",
    "reported_delta", "ours_variant", "ours_baseline", "delta", "ci_low", "ci_high", "holds", "seeds_variant",
    "seeds_baseline", "n_units", "differences", "wilcoxon_p_seed_averaged",
]  # fmt: skip


def case_units(processed: Path, dataset: str) -> dict[str, str]:
    """Case -> its unit of pairing (the patient where the dataset's description records groups; else none)."""
    if not ProcessedDir(processed / dataset).info.is_file():
        return {}
    return dict(dataset_info(processed / dataset).get("groups") or {})


def run_units(run: RunResult, key: str, units: dict[str, str]) -> tuple[pd.Series, pd.Series] | None:
    """One run's score ``key`` (report units) per test unit and each unit's weight; None when the run lacks it.

    A per-case metric: each unit the mean of its cases' scores, weighted by its number of cases. A batch-pooled
    metric (``<key>_batches`` in ``metrics.json``, the official DCA Dice): one unit per test batch, weight 1.
    """
    if key in PER_CASE_COLUMNS:
        if run.per_case is None:
            return None
        by_unit = run.case_scores(key).groupby(lambda case: units.get(str(case), str(case)))
        return by_unit.mean(), by_unit.size().astype(float)
    batches = run.metrics.get(f"{key}_batches")
    if not batches:
        return None
    index = [f"batch{i:05d}" for i in range(len(batches))]
    return pd.Series(batches, index, dtype=float) * scale(key), pd.Series(1.0, index)


def unit_matrix(
    results: GroupResults, dataset: str, variant: str, key: str, units: dict[str, str]
) -> tuple[pd.DataFrame, pd.Series]:
    """Seeds x units scores of ``variant`` (:func:`run_units`; runs without them left out) and the units' weights."""
    columns, weights = {}, pd.Series(dtype=float)
    for run in results.seeds(dataset, variant):
        found = run_units(run, key, units)
        if found is not None:
            columns[run.seed], weights = found[0], found[1].combine_first(weights)
    frame = pd.DataFrame(columns).T
    return frame, weights.reindex(frame.columns)


def weighted_mean(x: np.ndarray, weights: np.ndarray) -> float:
    """The mean over rows of the ``weights``-weighted mean over columns (the mean over cases of a unit matrix)."""
    return float(x.mean(axis=0) @ weights / weights.sum())


def hierarchical_bootstrap(
    x: np.ndarray, y: np.ndarray, replicates: int = REPLICATES, seed: int = 0, weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Mean difference and 95% interval of seeds x units score matrices ``x`` and ``y`` (same units, in order).

    Each replicate draws the rows (seeds) of ``x`` and of ``y`` with replacement, independently, and one set
    of columns (units) with replacement for both; the statistic is the difference of the grand means, each
    unit counted with its weight (``weights``: one per column, default equal).
    """
    rng = np.random.default_rng(seed)
    n_units = x.shape[1]
    w = np.ones(n_units) if weights is None else np.asarray(weights, float)
    deltas = np.empty(replicates)
    for i in range(replicates):
        cols = rng.integers(0, n_units, n_units)
        rows_x, rows_y = rng.integers(0, len(x), len(x)), rng.integers(0, len(y), len(y))
        deltas[i] = weighted_mean(x[np.ix_(rows_x, cols)], w[cols]) - weighted_mean(y[np.ix_(rows_y, cols)], w[cols])
    low, high = np.percentile(deltas, [2.5, 97.5])
    return weighted_mean(x, w) - weighted_mean(y, w), float(low), float(high)


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


def _reported_pair(
    results: GroupResults, frame: pd.DataFrame | None, dataset: str, variant: str, base: str
) -> tuple[float, float]:
    """The paper's Dice of ``variant`` and of ``base`` on ``dataset`` (NaN where it gives none)."""
    group = results.group
    if frame is None:
        return math.nan, math.nan
    single = len({group.base(d) for d in group.datasets}) == 1
    column = find_column(list(frame.columns), group.base(dataset), "dice", None, single)
    values = []
    for name in (variant, base):
        row = find_row(frame, group.reported_rows.get(name), group.labels[name])
        try:
            values.append(float(row[column]) if row is not None and column else math.nan)
        except ValueError:
            values.append(math.nan)
    return values[0], values[1]


def claim_differences(results: GroupResults, dataset: str, seeds: tuple[int, int]) -> str:
    """How the setting of a claim's runs differs from the paper's (protocol, size, epochs, batch, width) and its
    seeds (the papers state none): ``; ``-joined, empty when comparable."""
    found = setting_differences(results, dataset)
    configured = len(results.group.seeds)
    if min(seeds) < configured:
        found.append(f"seeds {seeds[0]} / {seeds[1]} of {configured} configured")
    elif configured == 1:
        found.append("one seed (no seed spread)")
    return "; ".join(found)


def group_claims(results: GroupResults, processed: Path, replicates: int = REPLICATES) -> list[dict[str, object]]:
    """One claims row per (baseline pair, table dataset) of a group."""
    group = results.group
    frame = load_reported(group.reported) if group.reported and group.reported.is_file() else None
    rows = []
    for variant, base in group.baselines.items():
        for dataset in group.datasets:
            units, key = case_units(processed, dataset), group.metric_key(dataset, "dice")
            (x, wx), (y, wy) = (unit_matrix(results, dataset, name, key, units) for name in (variant, base))
            ours = [weighted_mean(m.to_numpy(float), w.to_numpy(float)) if len(m) else math.nan
                    for m, w in ((x, wx), (y, wy))]  # fmt: skip
            shared = sorted(set(x.columns) & set(y.columns))
            delta = low = high = math.nan
            if len(x) and len(y) and shared:
                xm, ym = x[shared].to_numpy(float), y[shared].to_numpy(float)
                if np.isfinite(xm).all() and np.isfinite(ym).all():
                    delta, low, high = hierarchical_bootstrap(xm, ym, replicates, weights=wx[shared].to_numpy(float))
            paper = _reported_pair(results, frame, dataset, variant, base)
            reported = paper[0] - paper[1]
            p = compare(results, variant, base, dataset, ("dice", None))["p_value"]
            sign = holds(reported, low, high)
            rows.append({
                "paper": group.paper, "group": group.name, "dataset": dataset, "protocol": group.protocol(dataset),
                "variant": variant, "baseline": base, "metric": key, "paper_variant": paper[0],
                "paper_baseline": paper[1], "reported_delta": reported, "ours_variant": ours[0],
                "ours_baseline": ours[1], "delta": delta, "ci_low": low, "ci_high": high, "holds": sign,
                "seeds_variant": len(x), "seeds_baseline": len(y), "n_units": len(shared),
                "differences": claim_differences(results, dataset, (len(x), len(y))), "wilcoxon_p_seed_averaged": p,
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
    shown["Our setting differs"] = [escape(d) if isinstance(d, str) and d else "--" for d in frame["differences"]]
    body = shown.to_latex(index=False, escape=False, column_format="lllrrrrp{6cm}")
    note = (
        f"% {paper}_claims: generated by `dca report claims`; do not edit by hand.\n"
        "% Delta: points of the Dice each table shows (paper protocol: the paper's metric).\n"
        "% CI: hierarchical bootstrap over seeds and test units (cases, paired by case; by patient where the dataset\n"
        "% groups cases; batches for a batch-pooled metric); Wilcoxon p: over seed-averaged per-case Dice, ignores\n"
        "% seed variation.\n"
        "% Our setting differs: how our runs differ from the paper's setting (a reduced run is no reproduction test).\n"
    )
    return note + body
