"""Fixtures shared by test folders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from dca.data.loader import load_case, read_index


@pytest.fixture
def isolated_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run each test on one CPU thread (the machine is shared) in a temporary folder (DVCLive looks for a
    Git/DVC repository from the working directory), restoring the global torch flags a run sets."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) != flags:
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])


def _trivial_dice(root: Path) -> float:
    """The better mean test Dice of predicting all background (0) or all foreground."""
    scores = []
    for row in read_index(root):
        if row["split"] == "test":
            ref = load_case(root, row["id"])[1] > 0
            scores.append(2 * ref.sum() / (ref.sum() + ref.size))
    return max(0.0, float(np.mean(scores)))


@pytest.fixture
def trivial_dice() -> Callable[[Path], float]:
    """The trivial-predictor baseline that trained models must clearly beat."""
    return _trivial_dice
