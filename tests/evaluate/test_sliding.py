"""Tests of sliding-window inference for volume models (dca.evaluate.sliding)."""

from __future__ import annotations

import itertools

import pytest
import torch

from dca.evaluate.sliding import gaussian_weight, sliding_window, window_starts


def test_gaussian_weight_peaks_at_the_centre_and_is_positive_everywhere() -> None:
    weight = gaussian_weight((5, 8, 7))
    assert weight.shape == (5, 8, 7)
    assert float(weight.max()) == 1.0 and float(weight[2, 3:5, 3].min()) > float(weight[0, 0, 0]) > 0
    assert torch.allclose(weight, weight.flip(0, 1, 2))


@pytest.mark.parametrize(("size", "patch"), [(10, 4), (17, 8), (8, 8), (5, 8)])
def test_windows_cover_the_axis_with_the_overlap(size: int, patch: int) -> None:
    starts = window_starts(size, patch, 0.5)
    assert starts[0] == 0 and starts[-1] == max(size - patch, 0)
    assert all(b - a <= patch / 2 for a, b in itertools.pairwise(starts))


def test_weighted_windows_of_a_voxelwise_model_give_its_whole_volume_output() -> None:
    volume = torch.rand(2, 5, 19, 13)  # smaller than the patch along D: padded, then cut back

    def predict(windows: list[torch.Tensor]) -> torch.Tensor:
        x = windows[0]
        assert x.shape[1:] == (2, 8, 8, 8)
        return torch.cat([x.sum(1, keepdim=True), x[:, :1] - windows[1][:, 1:]], dim=1)

    out = sliding_window(predict, [volume, volume * 2], (8, 8, 8), overlap=0.5, batch=3)
    expected = torch.cat([volume.sum(0, keepdim=True), volume[:1] - 2 * volume[1:]])
    assert out.shape == (2, 5, 19, 13)
    assert torch.allclose(out, expected, atol=1e-5)


def test_a_bad_overlap_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        sliding_window(lambda x: x[0], [torch.zeros(1, 4, 4, 4)], (4, 4, 4), overlap=1.0)
