"""Figures of an experiment group (matplotlib, Agg): qualitative grids, training curves, parameters vs Dice.

Every figure is written as PNG and PDF under a stable name (:func:`dca.layout.figure_files`), atomically
and without time stamps, so re-running on the same results gives the same files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from dca.data.loader import dataset_info, load_case
from dca.layout import CURVES, CURVES_FIGURE, FIGURE_FORMATS, PARAMS_FIGURE, QUALITATIVE_FIGURE, figure_stem
from dca.report.collect import GroupResults, RunResult
from dca.utils.io import atomic_path

Log = Callable[[str], None]
PREDICTION_SUFFIXES = {".png", ".npy"}
SAVE_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}
PANEL_INCHES = 1.6
OVERLAY_ALPHA = 0.5


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


def qualitative(results: GroupResults, dataset: str, processed: Path, stem: Path, n_cases: int = 4) -> list[Path]:
    """A grid like the papers' Fig. 3: per case the image, ground truth and each variant's prediction.

    Uses each variant's lowest seed with saved predictions and the first ``n_cases`` test cases
    (sorted ids) that all of them saved; the case Dice of that run is written under each prediction.
    """
    group = results.group
    runs = {v: run for v in group.variants if (run := _first_seed(results, dataset, v)) is not None}
    stems = [{p.stem for p in r.dir.predictions.iterdir() if p.suffix in PREDICTION_SUFFIXES} for r in runs.values()]
    cases = sorted(set.intersection(*stems))[:n_cases] if stems else []
    if not cases:
        return []
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
    for j, title in enumerate(["Image", "Ground truth", *(group.labels[v] for v in runs)]):
        axes[0, j].set_title(title, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, stem)


def _curves(runs: list[RunResult]) -> pd.DataFrame | None:
    """The seeds' ``curves.csv`` stacked (one row per seed and epoch), or None when no seed has one."""
    frames = [pd.read_csv(r.dir.curves) for r in runs if r.dir.curves.is_file()]
    return pd.concat(frames, ignore_index=True) if frames else None


def training_curves(results: GroupResults, dataset: str, stem: Path) -> list[Path]:
    """Training loss and the selection split's Dice per epoch for every variant: seed mean, band = min..max."""
    group = results.group
    curves = {v: c for v in group.variants if (c := _curves(results.seeds(dataset, v))) is not None}
    if not curves:
        return []
    fig, (loss_ax, dice_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
    for variant, frame in curves.items():
        for ax, column, scale in ((loss_ax, "train_loss", 1.0), (dice_ax, _dice_column(frame), 100.0)):
            if column is None:
                continue
            stats = frame.groupby("epoch")[column].agg(["mean", "min", "max"]) * scale
            (line,) = ax.plot(stats.index, stats["mean"], label=group.labels[variant], lw=1.2)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.15, lw=0)
    split = next((_dice_column(f) for f in curves.values() if _dice_column(f)), "val_dice").split("_")[0]
    loss_ax.set(xlabel="epoch", ylabel="training loss", title=f"{dataset}: training loss")
    dice_ax.set(xlabel="epoch", ylabel=f"{split} Dice (%)", title=f"{dataset}: {split} Dice (model selection)")
    dice_ax.legend(fontsize=7, frameon=False)
    for ax in (loss_ax, dice_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return save_figure(fig, stem)


def _dice_column(frame: pd.DataFrame) -> str | None:
    """The per-epoch Dice column of ``curves.csv`` (``val_dice`` or, for test selection, ``test_dice``)."""
    return next((c for c in ("val_dice", "test_dice") if c in frame.columns), None)


def params_vs_dice(results: GroupResults, stem: Path) -> list[Path]:
    """Test Dice (seed mean +- std) against parameters per variant and dataset; arrows baseline -> variant."""
    group = results.group
    points: dict[tuple[str, str], tuple[float, float, float]] = {}
    for dataset in group.datasets:
        for variant in group.variants:
            runs = results.seeds(dataset, variant)
            params = next((r.parameters for r in runs if r.parameters), None)
            if params is not None:
                dice = np.array([r.score("dice") for r in runs])
                spread = float(dice.std(ddof=1)) if len(dice) > 1 else 0.0
                points[(dataset, variant)] = (params, float(dice.mean()), spread)
    if not points:
        return []
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, dataset in enumerate(group.datasets):
        mine = {v: p for (d, v), p in points.items() if d == dataset}
        if not mine:
            continue
        xs, ys, es = zip(*mine.values(), strict=True)
        ax.errorbar(xs, ys, yerr=es, fmt="o", ms=4, capsize=2, color=f"C{k}", label=dataset)
        for variant, (x, y, _) in mine.items():
            ax.annotate(group.labels[variant], (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
            base = mine.get(group.baselines.get(variant, ""))
            if base is not None:
                arrow = {"arrowstyle": "->", "color": f"C{k}", "lw": 0.8}
                ax.annotate("", (x, y), (base[0], base[1]), arrowprops=arrow)
    ax.set(xlabel="parameters (M)", ylabel="test Dice (%)", title=f"{group.name}: parameters vs Dice")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return save_figure(fig, stem)


def write_figures(results: GroupResults, processed: Path, out: Path, log: Log) -> list[Path]:
    """All figures of one group that its results allow; what cannot be drawn is logged and skipped."""
    name = results.group.name
    written: list[Path] = []
    for dataset in results.group.datasets:
        if not (Path(processed) / dataset / "dataset.json").is_file():
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
    scatter = params_vs_dice(results, figure_path(out, name, PARAMS_FIGURE))
    if not scatter:
        log(f"{name}: no parameter counts (summary.json): no parameters-vs-Dice figure")
    return written + scatter
