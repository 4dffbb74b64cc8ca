"""Figures of the fake group: qualitative grids, training curves, parameters vs Dice, as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dca.layout import figure_files
from dca.report.collect import collect_group, config_groups, load_config
from dca.report.figures import _view, figure_path, params_vs_dice, training_curves, write_figures


@pytest.fixture(scope="module")
def results(workspace: Path):
    """The collected runs of the fake group."""
    (group,) = config_groups(load_config(workspace / "config.yaml"), ["toy_table"])
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
