"""Device set-up for a run: device choice, seeds and determinism, AMP, channels_last and torch.compile."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from dca.train.config import DeviceConfig
from dca.utils.log import Log


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


def determinism(config: DeviceConfig, device: torch.device) -> str:
    """The run's determinism mode: ``strict`` or ``seeded`` (``auto``: strict on the CPU, seeded on CUDA)."""
    if config.determinism != "auto":
        return config.determinism
    return "seeded" if device.type == "cuda" else "strict"


def configure_torch(config: DeviceConfig, device: torch.device) -> str:
    """Thread count, determinism and fast-math flags; return the determinism mode in force.

    ``strict``: deterministic algorithms without ``warn_only`` (an op with no deterministic kernel
    raises, see :func:`strict_error`), fp32 matmuls in full precision, no cuDNN autotuning.
    ``seeded``: TF32 matmuls and convolutions and cuDNN autotuning on CUDA.
    """
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    mode = determinism(config, device)
    strict = mode == "strict"
    if strict:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    elif torch.are_deterministic_algorithms_enabled():  # the call imports torch._inductor: seconds
        torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = strict
    torch.backends.cudnn.benchmark = device.type == "cuda" and not strict
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = not strict
        torch.backends.cudnn.allow_tf32 = not strict
        torch.set_float32_matmul_precision("highest" if strict else "high")
    return mode


def strict_error(err: RuntimeError) -> ValueError | None:
    """A clear error for an op that has no deterministic kernel under ``determinism: strict``, else None."""
    text = str(err)
    if "does not have a deterministic implementation" not in text:
        return None
    op = text.split(" does not have", 1)[0].strip()
    return ValueError(
        f"device.determinism: strict: the op {op} has no deterministic kernel on this device, so the run cannot "
        "be bit-exact; use device.determinism: seeded (seeded, fast, not bit-exact) or a model without this op"
    )


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


def restore_scaler(scaler: torch.amp.GradScaler, state: dict, log: Log) -> None:
    """Load a saved scaler state; a run resumed in fp16 after one without loss scaling starts a fresh scale."""
    if scaler.is_enabled() and not state:
        log("the checkpoint has no loss-scaler state (saved without fp16): starting the fp16 loss scale afresh")
        return
    scaler.load_state_dict(state)


def prepare_model(model: nn.Module, config: DeviceConfig, device: torch.device) -> nn.Module:
    """Move ``model`` to ``device`` (channels_last on CUDA when asked); return it, compiled when asked.

    The returned module runs the forward; ``model`` itself stays the one whose state is saved.
    """
    model.to(device)
    if config.channels_last and device.type == "cuda":
        volume = any(p.ndim == 5 for p in model.parameters())
        model.to(memory_format=torch.channels_last_3d if volume else torch.channels_last)
    return torch.compile(model) if config.compile else model


def to_device(tensor: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Move a batch to ``device`` (non-blocking), channels_last (4D) or channels_last_3d (5D) when asked."""
    tensor = tensor.to(device, non_blocking=True)
    if channels_last and device.type == "cuda" and tensor.ndim == 4:
        tensor = tensor.contiguous(memory_format=torch.channels_last)
    elif channels_last and device.type == "cuda" and tensor.ndim == 5:
        tensor = tensor.contiguous(memory_format=torch.channels_last_3d)
    return tensor
