"""Figures of the fake group: qualitative grids, training curves, parameters vs Dice, as PNG and PDF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Annotation
from PIL import Image

from dca.experiments.grid import Grid
from dca.layout import figure_files
from dca.report.collect import GroupResults, collect_group, report_groups
from dca.report.figures import (
    HOLDS_TEXT,
    MIN_DICE_SPAN,
    _view,
    curves_figure,
    dice_limits,
    figure_claims,
    figure_path,
    params_dice_figure,
    params_vs_dice,
    qualitative_figure,
    training_curves,
    write_figures,
)


@pytest.fixture(scope="module")
def results(workspace: Path, grid: Grid):
    """The collected runs of the fake group."""
    (group,) = report_groups(grid, ["toy_table"])
    return collect_group(group, workspace / "runs")


def test_all_figures_written_under_stable_names(workspace: Path, results, tmp_path: Path) -> None:
    """Every figure kind for both datasets, each a readable PNG and a PDF, nothing temporary left behind."""
    written = write_figures(results, workspace / "data", tmp_path, lambda message: None)
    assert sorted(written) == sorted(figure_files(tmp_path, "toy_table", ["toy", "organs"]))
    for path in written:
        if path.suffix == ".png":
            with Image.open(path) as image:
                assert image.size[0] > 200 and image.size[1] > 100
        else:
            assert path.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    grid = Image.open(tmp_path / "toy_table_qualitative_toy.png")
    assert grid.size[0] > grid.size[1]  # five columns (image, truth, three variants), three cases


def test_same_results_same_bytes(workspace: Path, results, tmp_path: Path) -> None:
    """No time stamps: drawing the same figures twice gives identical PNG and PDF files."""
    first, second = (
        params_vs_dice(results, figure_path(out, "g", "params_dice"))
        + training_curves(results, "toy", figure_path(out, "g", "curves", "toy"))
        for out in (tmp_path / "a", tmp_path / "b")
    )
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_missing_inputs_are_logged(results, tmp_path: Path) -> None:
    """Without the processed dataset there is no qualitative grid, and the log says why."""
    messages: list[str] = []
    written = write_figures(results, tmp_path / "nowhere", tmp_path / "out", messages.append)
    assert not any("qualitative" in p.name for p in written)
    assert sum("no qualitative grid" in m for m in messages) == 2


def test_volume_view_cuts_the_fullest_slice() -> None:
    """3D cases are shown at the slice with the most ground-truth foreground, predictions cut alike."""
    truth = np.zeros((4, 6, 6), np.uint8)
    truth[2, 1:5, 1:5] = 1
    truth[1, 2, 2] = 1
    image = np.arange(4)[:, None, None] * np.ones((4, 6, 6))
    shown, labels, (pred,) = _view(image, truth, [truth * 2])
    assert (shown == 2).all() and labels.sum() == 16 and pred.max() == 2


def test_predictions_at_model_resolution_are_resized() -> None:
    """A 2D prediction saved at another size is resized (nearest) to the ground truth's."""
    truth = np.zeros((12, 12), np.uint8)
    _, _, (pred,) = _view(np.zeros((12, 12, 3), np.uint8), truth, [np.ones((8, 8), np.uint8)])
    assert pred.shape == (12, 12) and set(np.unique(pred)) == {1}


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    """Close the figures a test drew (the figure builders leave them open for inspection)."""
    yield
    plt.close("all")


def _seed0(results: GroupResults) -> GroupResults:
    """The same group with only seed 0 of every run: one seed everywhere."""
    return GroupResults(results.group, {k: r for k, r in results.runs.items() if k[2] == 0}, results.missing)


def _texts(fig: Figure) -> str:
    """Every text of a figure (figure notes, axes texts and annotations), joined."""
    return " | ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "figure")))


def _bar_lengths(container: ErrorbarContainer) -> list[float]:
    """The drawn lengths (top minus bottom) of an error bar container's vertical bars."""
    (bars,) = container.lines[2]
    return [float(seg[1, 1] - seg[0, 1]) for seg in bars.get_segments()]


def test_params_figure_bars_are_the_seed_std(results) -> None:
    """Two-seed points carry their seed std as error bars; the one-seed point has none and is labelled so."""
    fig = params_dice_figure(results)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2  # toy and organs; net-cca on toy (one seed) is outside both
    toy = next(c for c in bars if c.get_label() == "toy")
    expected = [np.std([r.score("dice") for r in results.seeds("toy", v)], ddof=1) * 2 for v in ("net", "net-dca")]
    assert _bar_lengths(toy) == pytest.approx(expected)
    assert all(length > 0 for c in bars for length in _bar_lengths(c))
    xs = [x for c in bars for x in c.lines[0].get_xdata()]
    assert 1.05 not in xs  # net-cca's parameters (M): drawn without a bar
    assert "Net (CCA) (1 seed)" in _texts(fig) and "single seed, no spread: Net (CCA) (toy)" in _texts(fig)
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["toy", "organs"] and all(h in bars for h in handles)


def test_single_seed_has_no_error_bars_and_says_so(results) -> None:
    """With one seed per variant no error bar is drawn or promised by the legend, and the figure says why."""
    fig = params_dice_figure(_seed0(results))
    ax = fig.axes[0]
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["toy", "organs"]
    assert all(isinstance(h, Line2D) and h.get_linestyle() == "None" and h.get_marker() == "o" for h in handles)
    assert "single seed: no spread shown" in _texts(fig)


def test_dice_axis_keeps_context(results) -> None:
    """The Dice axis spans at least MIN_DICE_SPAN points and holds every mean and error bar with margins."""
    ax = params_dice_figure(results).axes[0]
    low, high = ax.get_ylim()
    assert high - low >= MIN_DICE_SPAN - 1e-9
    tops = [y for line in ax.lines for y in line.get_ydata()] + [
        y for c in ax.containers for seg in c.lines[2][0].get_segments() for y in seg[:, 1]
    ]
    assert low < min(tops) and max(tops) < high
    assert dice_limits(58.8, 61.0) == pytest.approx((54.9, 64.9))
    assert dice_limits(97.0, 99.5) == pytest.approx((90.0, 100.0))  # kept inside 0..100
    assert dice_limits(20.0, 80.0) == pytest.approx((17.0, 83.0))  # wide data: margins only


def test_baseline_connectors_are_plain_lines(results, workspace: Path) -> None:
    """Variant and baseline are joined by a dotted line, never an arrow; the line carries the claims verdict."""
    claims = figure_claims(results, workspace / "data")
    pairs = {(d, v, b) for d in results.group.datasets for v, b in results.group.baselines.items()}
    assert set(claims) == pairs and claims[("organs", "net-cca", "net")] == ""  # no net-cca run on organs
    assert set(claims.values()) <= set(HOLDS_TEXT)
    fig = params_dice_figure(results, claims)
    ax = fig.axes[0]
    assert not ax.patches  # no FancyArrow / FancyArrowPatch drawn directly
    assert all(a.arrow_patch is None for a in fig.findobj(Annotation))  # nor as an annotation's arrow
    dotted = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(dotted) == 3  # toy: net-dca and net-cca vs net; organs: net-dca vs net
    verdicts = [HOLDS_TEXT[claims[("toy", "net-dca", "net")]], HOLDS_TEXT[claims[("toy", "net-cca", "net")]]]
    assert all(v in _texts(fig) for v in verdicts)


def test_curves_band_only_where_there_are_seeds(results) -> None:
    """The min..max band is drawn only for variants with two seeds; the legend gives each variant's seed count."""
    fig = curves_figure(results, "toy")
    _, dice_ax = fig.axes
    assert len([c for c in dice_ax.collections if isinstance(c, PolyCollection)]) == 2
    assert dice_ax.get_legend_handles_labels()[1] == ["Net (2 seeds)", "Net (DCA) (2 seeds)", "Net (CCA) (1 seed)"]
    low, high = dice_ax.get_ylim()
    assert high - low >= MIN_DICE_SPAN
    single = curves_figure(_seed0(results), "toy")
    assert not [c for ax in single.axes for c in ax.collections if isinstance(c, PolyCollection)]
    assert "single seed: no spread shown" in _texts(single)


def test_qualitative_titles_name_the_seed(results, workspace: Path) -> None:
    """Each prediction column says which seed it shows (one run, not a seed average)."""
    fig = qualitative_figure(results, "toy", workspace / "data")
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles == ["Image", "Ground truth", "Net\nseed 0", "Net (DCA)\nseed 0", "Net (CCA)\nseed 0"]
