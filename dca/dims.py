"""Which registered models take volumes, known without importing torch (the workflow and configs ask)."""

from __future__ import annotations

#: Models that take and return (B, C, D, H, W) volumes; every other one takes (B, C, H, W) images.
VOLUME_MODELS = frozenset({"unet3d"})


def model_dims(name: str) -> int:
    """The spatial dimensionality of the model ``name``: 3 for a volume model, 2 otherwise."""
    return 3 if name in VOLUME_MODELS else 2
