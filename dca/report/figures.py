"""Figures of an experiment group (matplotlib, Agg): qualitative grids, training curves, parameters vs Dice.

Every figure is written as PNG and PDF under a stable name (:func:`dca.layout.figure_files`), atomically
and without time stamps, so re-running on the same results gives the same files. No figure claims more than
the runs show: spread is drawn only where there are two or more seeds and a single seed is said so, the Dice
axes span at least :data:`MIN_DICE_SPAN` points, and a variant is joined to its baseline by a plain line
labelled with the claims table's verdict (:mod:`dca.report.claims`), never an arrow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from dca.layout import CURVES, CURVES_FIGURE, FIGURE_FORMATS, PARAMS_FIGURE, QUALITATIVE_FIGURE, figure_stem
from dca.processed import ProcessedDir, dataset_info, load_case
from dca.report.claims import group_claims
from dca.report.collect import GroupResults, RunResult
from dca.utils.io import atomic_path
from dca.utils.log import Log

PREDICTION_SUFFIXES = {".png", ".npy"}
SAVE_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}
PANEL_INCHES = 1.6
OVERLAY_ALPHA = 0.5
#: The least range (Dice points) a Dice axis spans. The papers' claimed gains are 0.2-2.7 points; an axis fitted
#: to the points alone (once 58.8-61.0) stretches such a gap, or seed noise, to the figure's full height.
MIN_DICE_SPAN = 10.0
#: Margin around the drawn values (means and error bars), as a fraction of their range.
AXIS_MARGIN = 0.05
NOTE_SIZE = 6
#: The claims table's ``holds`` (variant vs baseline, 95% hierarchical bootstrap) as written on a connector.
HOLDS_TEXT = {
    "yes": "sign holds",
    "no": "sign fails",
    "open": "open",
    "clear": "clear (no paper delta)",
    "": "no interval",
}
#: (table dataset, variant, baseline) -> the claims table's ``holds`` of that comparison.
Claims = Mapping[tuple[str, str, str], str]


def figure_path(out: Path, group: str, kind: str, dataset: str | None = None) -> Path:
    """The stable path (without suffix) of one figure under ``out`` (:func:`dca.layout.figure_stem`)."""
    return Path(out) / figure_stem(group, kind, dataset)


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write ``fig`` as ``stem.png`` (150 dpi) and ``stem.pdf`` atomically, without time stamps; close it."""
    paths = []
    for fmt in FIGURE_FORMATS:
        path = stem.parent / f"{stem.name}.{fmt}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight", metadata=SAVE_METADATA[fmt])
        paths.append(path)
    plt.close(fig)
    return paths


def _first_seed(results: GroupResults, dataset: str, variant: str) -> RunResult | None:
    """The lowest-seed run of (dataset, variant) that saved predictions, or None."""
    return next((r for r in results.seeds(dataset, variant) if r.dir.predictions.is_dir()), None)


def _prediction(run: RunResult, case: str) -> np.ndarray:
    """A saved label map: ``<case>.png`` (2D) or ``<case>.npy`` (volumes)."""
    folder = run.dir.predictions
    png = folder / f"{case}.png"
    return np.asarray(Image.open(png)) if png.is_file() else np.load(folder / f"{case}.npy")


def _fit(labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A 2D label map resized to ``shape`` by nearest neighbour (predictions saved at the model resolution)."""
    if labels.shape == shape:
        return labels
    return np.asarray(Image.fromarray(labels.astype(np.uint8)).resize(shape[::-1], Image.NEAREST))


def _view(image: np.ndarray, truth: np.ndarray, preds: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list]:
    """2D panels of one case: volumes are cut at the slice with the most ground-truth foreground."""
    if truth.ndim == 3:
        k = int(np.argmax((truth > 0).reshape(len(truth), -1).sum(1)))
        return image[k], truth[k], [p[k] for p in preds]
    return image, truth, [_fit(p, truth.shape) for p in preds]


def _overlay(ax: plt.Axes, image: np.ndarray, labels: np.ndarray | None, n_labels: int) -> None:
    """Show ``image`` with the foreground of ``labels`` coloured by class (tab10), axes off."""
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    if labels is not None:
        colours = plt.get_cmap("tab10")(np.arange(max(n_labels - 1, 1)) % 10)
        rgba = np.zeros((*labels.shape, 4))
        for value in range(1, n_labels):
            rgba[labels == value] = [*colours[value - 1][:3], OVERLAY_ALPHA]
        ax.imshow(rgba)
    ax.set_axis_off()


def qualitative_figure(results: GroupResults, dataset: str, processed: Path, n_cases: int = 4) -> Figure | None:
    """A grid like the papers' Fig. 3: per case the image, ground truth and each variant's prediction (or None).

    Uses each variant's lowest seed with saved predictions (named in its title) and the first ``n_cases`` test
    cases (sorted ids, not picked) that all of them saved; the case Dice of that run is written on each prediction.
    """
    group = results.group
    runs = {v: run for v in group.variants if (run := _first_seed(results, dataset, v)) is not None}
    stems = [{p.stem for p in r.dir.predictions.iterdir() if p.suffix in PREDICTION_SUFFIXES} for r in runs.values()]
    cases = sorted(set.intersection(*stems))[:n_cases] if stems else []
    if not cases:
        return None
    root = Path(processed) / dataset
    n_labels = len(dataset_info(root)["labels"])
    fig, axes = plt.subplots(len(cases), 2 + len(runs), squeeze=False, figsize=(
        PANEL_INCHES * (2 + len(runs)), PANEL_INCHES * len(cases)))  # fmt: skip
    for i, case in enumerate(cases):
        image, truth = load_case(root, case)[:2]
        image, truth, preds = _view(image, truth, [_prediction(r, case) for r in runs.values()])
        _overlay(axes[i, 0], image, None, n_labels)
        _overlay(axes[i, 1], image, truth, n_labels)
        axes[i, 0].text(-0.04, 0.5, case, rotation=90, fontsize=7, ha="right", va="center",
                        transform=axes[i, 0].transAxes)  # fmt: skip
        for j, (run, pred) in enumerate(zip(runs.values(), preds, strict=True), start=2):
            _overlay(axes[i, j], image, pred, n_labels)
            dice = run.case_scores("dice").get(case) if run.per_case is not None else None
            if dice is not None:
                axes[i, j].text(0.02, 0.02, f"Dice {dice:.1f}", transform=axes[i, j].transAxes, fontsize=6,
                                color="white", backgroundcolor="black")  # fmt: skip
    titles = ["Image", "Ground truth", *(f"{group.labels[v]}\nseed {r.seed}" for v, r in runs.items())]
    for j, title in enumerate(titles):
        axes[0, j].set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def qualitative(results: GroupResults, dataset: str, processed: Path, stem: Path, n_cases: int = 4) -> list[Path]:
    """Write :func:`qualitative_figure` under ``stem``; nothing when no case was saved by every variant."""
    fig = qualitative_figure(results, dataset, processed, n_cases)
    return save_figure(fig, stem) if fig is not None else []


def dice_limits(low: float, high: float, span: float = MIN_DICE_SPAN) -> tuple[float, float]:
    """Axis limits holding ``low..high`` with margins, at least ``span`` wide, kept inside 0..100 where they fit."""
    margin = AXIS_MARGIN * (high - low)
    lo, hi = low - margin, high + margin
    if hi - lo < span:
        centre = (lo + hi) / 2
        lo, hi = centre - span / 2, centre + span / 2
    shift = max(min(0.0, low) - lo, 0.0) - max(hi - max(100.0, high), 0.0)
    return lo + shift, hi + shift


def _seeds_note(counts: Mapping[str, int], spread: str) -> str:
    """What the spread drawn means, and which series have a single seed (so none is drawn for them)."""
    single = [name for name, n in counts.items() if n < 2]
    if len(single) == len(counts):
        return f"single seed: no spread shown ({spread} needs >= 2 seeds)"
    note = f"{spread} over seeds (n = {min(counts.values())}-{max(counts.values())})"
    return f"{note}; single seed, no spread: {', '.join(single)}" if single else note


def _curves(runs: list[RunResult]) -> pd.DataFrame | None:
    """The seeds' ``curves.csv`` stacked (one row per seed and epoch, a ``seed`` column), or None when none has one."""
    frames = [pd.read_csv(r.dir.curves).assign(seed=r.seed) for r in runs if r.dir.curves.is_file()]
    return pd.concat(frames, ignore_index=True) if frames else None


def curves_figure(results: GroupResults, dataset: str) -> Figure | None:
    """Training loss and the selection split's Dice per epoch for every variant: seed mean, band = seed min..max.

    The band is drawn only for a variant with two or more seeds; the legend and a note say how many each has.
    """
    group = results.group
    curves = {v: c for v in group.variants if (c := _curves(results.seeds(dataset, v))) is not None}
    if not curves:
        return None
    fig, (loss_ax, dice_ax) = plt.subplots(1, 2, figsize=(9, 3.4))
    counts: dict[str, int] = {}
    dice_range = [np.inf, -np.inf]
    for variant, frame in curves.items():
        n_seeds = counts[group.labels[variant]] = int(frame["seed"].nunique())
        label = f"{group.labels[variant]} ({n_seeds} seed{'s' if n_seeds > 1 else ''})"
        for ax, column, scale in ((loss_ax, "train_loss", 1.0), (dice_ax, _dice_column(frame), 100.0)):
            if column is None:
                continue
            stats = frame.groupby("epoch")[column].agg(["mean", "min", "max"]) * scale
            (line,) = ax.plot(stats.index, stats["mean"], label=label, lw=1.2)
            if n_seeds > 1:
                ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.15, lw=0)
            if ax is dice_ax:
                dice_range = [min(dice_range[0], stats["min"].min()), max(dice_range[1], stats["max"].max())]
    split = next((_dice_column(f) for f in curves.values() if _dice_column(f)), "val_dice").split("_")[0]
    loss_ax.set(xlabel="epoch", ylabel="training loss", title=f"{dataset}: training loss")
    dice_ax.set(xlabel="epoch", ylabel=f"{split} Dice (%)", title=f"{dataset}: {split} Dice (model selection)")
    if np.isfinite(dice_range).all():
        dice_ax.set_ylim(*dice_limits(*dice_range))
    dice_ax.legend(fontsize=7, frameon=False)
    for ax in (loss_ax, dice_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.text(0.01, 0.01, f"Line: seed mean; {_seeds_note(counts, 'band: min-max')}.", fontsize=NOTE_SIZE)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def training_curves(results: GroupResults, dataset: str, stem: Path) -> list[Path]:
    """Write :func:`curves_figure` under ``stem``; nothing when no seed has ``curves.csv``."""
    fig = curves_figure(results, dataset)
    return save_figure(fig, stem) if fig is not None else []


def _dice_column(frame: pd.DataFrame) -> str | None:
    """The per-epoch Dice column of ``curves.csv`` (``val_dice`` or, for test selection, ``test_dice``)."""
    return next((c for c in ("val_dice", "test_dice") if c in frame.columns), None)


@dataclass(frozen=True)
class Point:
    """One variant on one dataset: parameters (M), seed mean of test Dice, its std (None for a single seed)."""

    params: float
    dice: float
    std: float | None
    seeds: int


def _points(results: GroupResults, dataset: str) -> dict[str, Point]:
    """Variant -> its point on ``dataset`` (variants without a parameter count or a test Dice are left out)."""
    points = {}
    for variant in results.group.variants:
        runs = results.seeds(dataset, variant)
        params = next((r.parameters for r in runs if r.parameters), None)
        dice = np.array([r.score("dice") for r in runs])
        dice = dice[np.isfinite(dice)]
        if params is not None and len(dice):
            std = float(dice.std(ddof=1)) if len(dice) > 1 else None
            points[variant] = Point(params, float(dice.mean()), std, len(dice))
    return points


def params_dice_figure(results: GroupResults, claims: Claims | None = None) -> Figure | None:
    """Test Dice (seed mean, error bar = seed std) against parameters per variant and dataset (or None).

    A variant with one seed is drawn as a bare marker labelled so (a single seed has no std); the legend shows an
    error bar only for a dataset that has one. A variant is joined to its baseline by a plain dotted line: the
    difference is a comparison, not a result; with ``claims`` the line carries the claims table's verdict.
    """
    group = results.group
    points = {d: p for d in group.datasets if (p := _points(results, d))}
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.3))
    counts: dict[str, int] = {}
    for k, dataset in enumerate(group.datasets):
        mine = points.get(dataset, {})
        spread = [p for p in mine.values() if p.std is not None]
        single = [p for p in mine.values() if p.std is None]
        if spread:
            ax.errorbar([p.params for p in spread], [p.dice for p in spread], yerr=[p.std for p in spread],
                        fmt="o", ms=4, capsize=2, color=f"C{k}", label=dataset)  # fmt: skip
        if single:
            label = "_nolegend_" if spread else dataset
            ax.plot([p.params for p in single], [p.dice for p in single], "o", ms=4, color=f"C{k}", label=label)
        for variant, p in mine.items():
            counts[f"{group.labels[variant]} ({dataset})"] = p.seeds
            text = group.labels[variant] + (" (1 seed)" if p.std is None else "")
            ax.annotate(text, (p.params, p.dice), fontsize=6, xytext=(3, 3), textcoords="offset points")
            base_name = group.baselines.get(variant, "")
            base = mine.get(base_name)
            if base is None:
                continue
            ax.plot([base.params, p.params], [base.dice, p.dice], ":", color=f"C{k}", lw=0.8, zorder=1)
            if claims is not None and (dataset, variant, base_name) in claims:
                verdict = HOLDS_TEXT.get(claims[(dataset, variant, base_name)], "")
                ax.annotate(verdict, ((base.params + p.params) / 2, (base.dice + p.dice) / 2), fontsize=5,
                            color=f"C{k}", xytext=(0, -7), textcoords="offset points", ha="center")  # fmt: skip
    drawn = [p for mine in points.values() for p in mine.values()]
    ax.set_ylim(*dice_limits(min(p.dice - (p.std or 0) for p in drawn), max(p.dice + (p.std or 0) for p in drawn)))
    ax.set(xlabel="parameters (M)", ylabel="test Dice (%)", title=f"{group.name}: parameters vs Dice")
    ax.legend(fontsize=7, frameon=False)
    joined = "dotted: variant vs its baseline" + (" (claims table: 95% bootstrap sign check)" if claims else "")
    note = f"Marker: seed mean; {_seeds_note(counts, 'error bar: std')}; {joined}."
    fig.text(0.01, 0.01, note, fontsize=NOTE_SIZE, wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def params_vs_dice(results: GroupResults, stem: Path, claims: Claims | None = None) -> list[Path]:
    """Write :func:`params_dice_figure` under ``stem``; nothing when no run has a parameter count."""
    fig = params_dice_figure(results, claims)
    return save_figure(fig, stem) if fig is not None else []


def figure_claims(results: GroupResults, processed: Path) -> Claims:
    """The claims table's verdict per (table dataset, variant, baseline) of a group, for the connectors."""
    return {(str(r["dataset"]), str(r["variant"]), str(r["baseline"])): str(r["holds"])
            for r in group_claims(results, processed)}  # fmt: skip


def write_figures(results: GroupResults, processed: Path, out: Path, log: Log) -> list[Path]:
    """All figures of one group that its results allow; what cannot be drawn is logged and skipped."""
    name = results.group.name
    written: list[Path] = []
    for dataset in results.group.datasets:
        if not ProcessedDir(Path(processed) / dataset).info.is_file():
            log(f"{name}/{dataset}: processed dataset not found under {processed}: no qualitative grid")
        elif not (
            grid := qualitative(results, dataset, processed, figure_path(out, name, QUALITATIVE_FIGURE, dataset))
        ):
            log(f"{name}/{dataset}: no saved predictions: no qualitative grid")
        else:
            written += grid
        curves = training_curves(results, dataset, figure_path(out, name, CURVES_FIGURE, dataset))
        if not curves:
            log(f"{name}/{dataset}: no {CURVES}: no training curves")
        written += curves
    scatter = params_vs_dice(results, figure_path(out, name, PARAMS_FIGURE), figure_claims(results, processed))
    if not scatter:
        log(f"{name}: no parameter counts (summary.json): no parameters-vs-Dice figure")
    return written + scatter
