"""Validate a model spec without allocating memory: the experiment grid's check before any job is queued."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from dca.models.registry import build_model


def check_model(
    name: str,
    dca: bool = False,
    options: Mapping[str, object] | None = None,
    in_channels: int = 3,
    num_classes: int = 1,
    img_size: int = 224,
) -> None:
    """Build ``name`` on the meta device (no memory, about a second for DIN), which checks every option and
    ``img_size``; a bad spec raises a ValueError naming the model and the unknown option (with the known ones),
    the bad value, or the size (with the nearest valid sizes), or the missing weights file."""
    try:
        with torch.device("meta"):
            build_model(
                name, dca=dca, in_channels=in_channels, num_classes=num_classes, img_size=img_size, **(options or {})
            )
    except KeyError as err:  # unknown model: KeyError's str() would quote the message
        raise ValueError(err.args[0]) from err
    except (TypeError, ValueError, FileNotFoundError) as err:
        message = str(err)
        raise ValueError(message if message.startswith(f"{name}:") else f"{name}: {message}") from err
