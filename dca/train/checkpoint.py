"""Training checkpoints: atomic save/load of the full training state, RNG states included.

A checkpoint is a dict: ``model``, ``optimizer``, ``scheduler``, ``scaler`` state dicts,
``epoch`` (epochs completed), ``step`` (steps completed in epoch ``epoch``; non-zero only for
a mid-epoch save on SIGTERM), ``epoch_loss`` (the loss sum of those steps), ``best``
(selection score and epoch), ``history`` (the per-epoch log rows), ``rng`` and ``config``.
Everything is plain tensors and Python values, so it loads with ``weights_only=True``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dca.utils.io import atomic_path

LAST = "last.pt"
BEST = "best.pt"


def rng_state() -> dict[str, Any]:
    """The Python, NumPy, torch CPU and CUDA generator states (NumPy's key as a list, for weights_only)."""
    kind, key, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, key.tolist(), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states saved by :func:`rng_state` (CUDA states only where CUDA is present)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, key, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, tensors mapped to ``device``."""
    return torch.load(path, map_location=device, weights_only=True)
