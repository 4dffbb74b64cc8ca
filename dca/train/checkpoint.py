"""Training checkpoints: atomic save/load of the full training state, RNG states included.

A checkpoint is a dict: ``model``, ``optimizer``, ``scheduler``, ``scaler`` state dicts,
``epoch`` (epochs completed), ``step`` (steps completed in epoch ``epoch``; non-zero only for
a mid-epoch save on SIGTERM), ``epoch_loss`` (the loss sum of those steps), ``best``
(selection score and epoch), ``history`` (the per-epoch log rows), ``rng`` and ``config``.
Everything is plain tensors and Python values, so it loads with ``weights_only=True``. The RNG
states are stored as bytes, not tensors, so a ``map_location`` (a resume on CUDA) cannot move
them off the CPU, where ``torch.set_rng_state`` needs them.

Evaluation needs only the weights: :func:`load_weights` memory-maps the file (``mmap=True``) and
copies out the ``model`` entry alone, so the optimiser state (two more copies of the weights with
Adam) is never read from disk.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dca.utils.io import DiskFullError as DiskFullError  # re-exported: what save_checkpoint raises on a full disk
from dca.utils.io import atomic_path


def rng_state() -> dict[str, Any]:
    """The Python, NumPy, torch CPU and CUDA generator states (NumPy's key as a list, for weights_only)."""
    kind, key, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, key.tolist(), pos, has_gauss, cached],
        "torch": _to_bytes(torch.get_rng_state()),
        "cuda": [_to_bytes(s) for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }


def _to_bytes(state: torch.Tensor) -> bytes:
    """A generator state (CPU uint8 tensor) as bytes, which no ``map_location`` moves."""
    return state.numpy().tobytes()


def _byte_tensor(state: bytes | torch.Tensor) -> torch.Tensor:
    """A saved generator state as the CPU ByteTensor torch needs (bytes, or a tensor of an older checkpoint)."""
    if isinstance(state, torch.Tensor):
        return state.to("cpu", torch.uint8)
    return torch.frombuffer(bytearray(state), dtype=torch.uint8)


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states saved by :func:`rng_state` (CUDA states only where CUDA is present)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, key, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(_byte_tensor(state["torch"]))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_byte_tensor(s) for s in state["cuda"]])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename); a full disk raises
    :class:`DiskFullError` (from :func:`atomic_path`) naming the file and the free space, the previous ``path`` kept."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)  # through a Python file, so the OSError of a full disk is kept (chained)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, tensors mapped to ``device`` (RNG states stay bytes)."""
    return torch.load(path, map_location=device, weights_only=True)


def load_weights(path: Path, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Only the model state dict of a checkpoint, on ``device``; the rest of the file is mapped, never read."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {name: tensor.to(device) for name, tensor in ckpt["model"].items()}
