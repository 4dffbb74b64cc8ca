"""Local pretrained-weights files for the models that take ``encoder_weights``: never downloaded, always a file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor


def weights_file(model: str, value: object, advice: str) -> Path | None:
    """The local file named by ``encoder_weights`` (None: random init); weight names and missing files fail.

    ``advice`` says where a user gets the file; it ends both errors.
    """
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        raise ValueError(f"{model}: encoder_weights must be None or a local file path, got {value!r}")
    path = Path(value).expanduser()
    if path.is_file():
        return path
    if path.suffix == "" and len(path.parts) == 1:  # 'imagenet', 'ssl', ...: a name some libraries download
        raise ValueError(
            f"{model}: encoder_weights={str(value)!r} is not a file; weight names such as {str(value)!r} are not "
            f"supported. {advice}"
        )
    raise FileNotFoundError(f"{model}: encoder weights file {str(path)!r} does not exist. {advice}")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Tensors of a local weights file: ``.safetensors`` or a ``torch.save``-d state dict (a ``state_dict`` or
    ``model`` entry of a checkpoint is unwrapped). Memory-mapped where the format allows, so that a meta-device
    build (``dca.models.check_model``) reads no tensor data."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: object = load_file(path, device="cpu")
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # files in torch's legacy (pre-zip) format cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(state)
