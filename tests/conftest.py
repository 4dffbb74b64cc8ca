"""Fixtures shared by test folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


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
