"""The few lines a newcomer reads after a run: each variant's test Dice over seeds and per test image, each claim's
delta with its interval and verdict, and how much of a gap the worst test images make, so a difference on a
handful of test images is read as such (``dca report summary``)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from dca.report.collect import GroupResults


def _case_frame(results: GroupResults, dataset: str, variant: str) -> pd.DataFrame:
    """Per test image (rows) and seed (columns): the foreground Dice in points."""
    runs = results.seeds(dataset, variant)
    return pd.DataFrame({run.seed: run.case_scores("dice") for run in runs})


def variant_lines(results: GroupResults, dataset: str) -> list[str]:
    """One line per variant: mean +- std over seeds, the median and the lowest test image, the image count."""
    lines = []
    for variant in results.group.variants:
        runs = results.seeds(dataset, variant)
        if not runs:
            continue
        means = np.array([run.score("dice") for run in runs])
        cases = _case_frame(results, dataset, variant)
        worst = cases.mean(axis=1).idxmin()
        std = f" +- {means.std(ddof=1):.2f}" if len(means) > 1 else ""
        lines.append(
            f"  {results.group.labels.get(variant, variant):<24} {means.mean():6.2f}{std} over {len(runs)} seed(s);"
            f" per test image median {np.nanmedian(cases.to_numpy()):.2f}, lowest {cases.mean(axis=1).min():.2f}"
            f" ({worst}) of {len(cases)} images"
        )
    return lines


def gap_reading(results: GroupResults, dataset: str, variant: str, baseline: str) -> str:
    """How the mean gap splits over test images: the share of it that the images with the largest gaps make."""
    gap = (_case_frame(results, dataset, variant) - _case_frame(results, dataset, baseline)).mean(axis=1).dropna()
    if gap.empty or gap.mean() == 0:
        return ""
    sign = np.sign(gap.mean())
    ordered = (gap * sign).sort_values(ascending=False)  # the images that push the mean gap's way, first
    total = float(ordered.sum())
    share = ordered.cumsum() / total
    k = int((share < 0.8).sum()) + 1  # images that make 80% of the mean gap
    side = "above" if sign > 0 else "below"
    return (
        f"    {k} of {len(gap)} test images make 80% of the mean gap ({side} the baseline on"
        f" {int((gap * sign > 0).sum())} images, the other way on {int((gap * sign < 0).sum())}):"
        f" the largest is {ordered.index[0]} ({float(gap[ordered.index[0]]):+.1f} points)"
    )


def claim_lines(rows: Iterable[dict[str, object]], results: GroupResults) -> list[str]:
    """One line per claims row (delta, 95% interval, verdict), the gap's reading under it."""
    lines = []
    for row in rows:
        dataset, variant, baseline = str(row["dataset"]), str(row["variant"]), str(row["baseline"])
        verdict = {"open": "open (the interval spans zero: no difference shown)"}.get(str(row["holds"]), row["holds"])
        lines.append(
            f"  {variant} vs {baseline}: {float(row['delta']):+.2f} points, 95% interval"
            f" [{float(row['ci_low']):+.2f}, {float(row['ci_high']):+.2f}] over {row['n_units']} units: {verdict}"
        )
        reading = gap_reading(results, dataset, variant, baseline)
        if reading:
            lines.append(reading)
    return lines


def group_summary(results: GroupResults, claims: list[dict[str, object]]) -> str:
    """The summary of one group: its title, per dataset the variant lines, then the claims."""
    lines = [f"{results.group.name}: {results.group.title}"]
    for dataset in results.group.datasets:
        lines += [f" {dataset} (test Dice, points)", *variant_lines(results, dataset)]
        lines += claim_lines((row for row in claims if row["dataset"] == dataset), results)
    return "\n".join(lines)
