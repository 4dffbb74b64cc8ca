"""Device set-up for a run: device choice, seeds and determinism, AMP, channels_last and torch.compile."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from dca.train.config import DeviceConfig

Log = Callable[[str], None]


def select_device(config: DeviceConfig, log: Log) -> torch.device:
    """CUDA when asked for (or ``auto``) and present, else the CPU, saying so when a GPU was asked for."""
    if config.name == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if config.name == "cuda":
        log("no CUDA, running on CPU")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all CUDA devices included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_torch(config: DeviceConfig, device: torch.device) -> None:
    """Thread count and determinism flags; on CUDA deterministic mode only warns for ops without a
    deterministic kernel (several pooling/upsampling backwards), on the CPU it is strict."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    if config.deterministic:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        if torch.are_deterministic_algorithms_enabled():  # the call imports torch._inductor: seconds
            torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = device.type == "cuda"


def amp_dtype(config: DeviceConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (bf16 or fp16), or None for full precision; AMP is CUDA-only here."""
    if config.amp == "none" or device.type != "cuda":
        return None
    return torch.bfloat16 if config.amp == "bf16" else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Autocast to ``dtype`` on ``device``, or nothing when ``dtype`` is None."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def make_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 and fp32 need no loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def prepare_model(model: nn.Module, config: DeviceConfig, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device`` (channels_last on CUDA when asked); return it, compiled when asked.

    The returned module runs the forward; ``model`` itself stays the one whose state is saved.
    """
    model.to(device)
    if config.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return torch.compile(model) if config.compile else model


def to_device(tensor: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Move a batch to ``device`` (non-blocking), in channels_last layout for 4D inputs when asked."""
    tensor = tensor.to(device, non_blocking=True)
    if channels_last and device.type == "cuda" and tensor.ndim == 4:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    return tensor
