"""What a run builds from its config: datasets, model, optimiser and learning-rate schedule."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from dca.models import build_model
from dca.train.config import OptimConfig, RunConfig
from dca.train.loader import AUGMENTATIONS, SegmentationDataset
from dca.train.patches import VolumePatchDataset

POLY_POWER = 0.9  # the usual polynomial decay power (TransUNet)


def num_outputs(labels: Sequence[str]) -> int:
    """Model output channels for a label list: 1 (sigmoid) for binary, one per label (softmax) otherwise."""
    return 1 if len(labels) == 2 else len(labels)


def make_dataset(config: RunConfig, split: str, augment: bool) -> SegmentationDataset | VolumePatchDataset:
    """The ``split`` of the run's processed dataset with its enhanced inputs: images (or slices) at the run's size
    for a 2D model, random patches (``data.patch``) for a volume model."""
    data = config.data
    if data.patch is not None:
        return VolumePatchDataset(
            data.root, split, patch=data.patch, augment=augment, enhanced=data.enhanced, seed=config.seed
        )
    return SegmentationDataset(
        data.root,
        split,
        size=data.size,
        augment=augment,
        enhanced=data.enhanced,
        seed=config.seed,
        augmentation=AUGMENTATIONS[data.augmentation](),
    )


def input_channels(dataset: SegmentationDataset | VolumePatchDataset, inputs: Sequence[str]) -> int:
    """Channels of the model's first input, read off the dataset's first item."""
    item = dataset[0]
    first = item["image"] if inputs[0] == "image" else item["enhanced"][inputs[0]]
    return int(first.shape[0])


def model_size(config: RunConfig) -> int | tuple[int, ...]:
    """The input size the run's model is built for: ``data.size``, or the patch (D, H, W) of a volume model."""
    return config.data.size if config.data.patch is None else config.data.patch.size


def build_run_model(config: RunConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The run's model from the registry (``model.options`` passed through)."""
    return build_model(
        config.model.name,
        dca=config.model.dca,
        in_channels=in_channels,
        num_classes=num_classes,
        img_size=model_size(config),
        **config.model.options,
    )


def build_optimizer(config: OptimConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam or AdamW with the configured learning rate and weight decay (PyTorch's default betas)."""
    cls = torch.optim.Adam if config.name == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def _lr_factor(kind: str, epochs: int, epoch: int) -> float:
    """Learning-rate multiplier after ``epoch`` epochs: constant, cosine to zero, or polynomial decay."""
    progress = min(epoch / epochs, 1.0)
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if kind == "poly":
        return (1.0 - progress) ** POLY_POWER
    return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: OptimConfig, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-epoch schedule (a constant one for ``none``, so every run has scheduler state to save)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(_lr_factor, config.scheduler, epochs))
