"""A DIN run with pretrained encoders lists in its training log which tensors loaded and which did not."""

from __future__ import annotations

from pathlib import Path

import timm
import torch

from dca.train import loop
from dca.train.config import resolve_config


def test_training_log_lists_loaded_and_initialised_encoder_tensors(tmp_path: Path, discs: Path) -> None:
    """A timm ConvNeXt at din-tiny's sizes, saved to a file, stands in for the ImageNet checkpoint."""
    torch.manual_seed(0)
    weights = tmp_path / "convnext.pt"
    convnext = timm.create_model("convnext_base", pretrained=False, depths=(1, 1, 1, 1), dims=(8, 16, 32, 64))
    torch.save(convnext.state_dict(), weights)
    config = {
        "preset": "din",
        "model": {"name": "din-tiny", "options": {"encoder_weights": str(weights)}},
        "data": {"root": str(discs), "size": 64, "workers": 0, "inputs": ["image", "half"]},
        "device": {"name": "cpu", "threads": 1},
        "out": str(tmp_path / "run"),
    }
    lines: list[str] = []
    trainer = loop.Trainer(resolve_config(config, {}), lines.append)
    logged = [line for line in lines if line.startswith("encoder_weights: ")]
    assert len(logged) == 3, lines  # one line per encoder, one for the file's tensors left out
    for index in (0, 1):
        assert logged[index].startswith(f"encoder_weights: encoder {index}: loaded 50 of its 64 tensors from {weights}")
        assert "stem.0.weight" in logged[index] and "edge_pools." in logged[index]  # DIN's own stem and edge pools
    assert "stem.0.weight" in logged[2] and "head." in logged[2]
    stage = trainer.model.encoders[1].stages[2].blocks[0].conv_dw.weight
    torch.testing.assert_close(stage, convnext.state_dict()["stages.2.blocks.0.conv_dw.weight"], rtol=0, atol=0)
