"""Checkpoints: atomic writes, weights-only loading and exact RNG state round trips."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from dca.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def draws() -> tuple[float, float, float]:
    """One draw from each global generator."""
    return random.random(), float(np.random.rand()), torch.rand(1).item()


def test_rng_states_round_trip_through_a_checkpoint(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    save_checkpoint(tmp_path / "last.pt", {"rng": rng_state(), "epoch": 4})
    expected = draws()
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    set_rng_state(ckpt["rng"])
    assert draws() == expected and ckpt["epoch"] == 4


def test_save_is_atomic_and_loads_weights_only(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    state = {"model": model.state_dict(), "history": [{"epoch": 1, "val_dice": 0.5}], "best": {"score": None}}
    save_checkpoint(tmp_path / "best.pt", state)
    save_checkpoint(tmp_path / "best.pt", state)  # overwriting leaves no temporary file behind
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]
    loaded = load_checkpoint(tmp_path / "best.pt")
    assert torch.equal(loaded["model"]["weight"], model.weight) and loaded["history"] == state["history"]
