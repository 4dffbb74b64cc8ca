"""Tests marked ``cuda`` run on a CUDA GPU only (``make gpu-check``); without one they are skipped, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dca.data.convert import prepare
from dca.data.synthetic import synthesize

NO_CUDA = "needs a CUDA GPU: torch.cuda.is_available() is False here (run `make gpu-check` on a GPU machine)"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a ``cuda``-marked test when torch sees no CUDA device."""
    if item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
        pytest.skip(NO_CUDA)


@pytest.fixture(autouse=True)
def _isolated(isolated_torch: None) -> None:
    """Every CUDA test runs isolated (see ``isolated_torch`` in tests/conftest.py)."""


@pytest.fixture(scope="session")
def polyps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared synthetic binary dataset (Kvasir-SEG layout, random split): 22 train, 2 val, 6 test images."""
    folder = tmp_path_factory.mktemp("polyps")
    return prepare("synthetic-binary", synthesize("binary", folder / "raw", n=30, size=(72, 80)), folder / "data").out


@pytest.fixture(scope="session")
def organs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared synthetic 3D multi-class dataset (Synapse raw layout, NIfTI) of a few small volumes."""
    pytest.importorskip("nibabel", reason="the synthetic 3D volumes are NIfTI files: needs nibabel")
    folder = tmp_path_factory.mktemp("organs")
    raw = synthesize("multiclass", folder / "raw", n=5, size=(64, 64), depth=6)
    return prepare("synthetic-multiclass", raw, folder / "data").out
