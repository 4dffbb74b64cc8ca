"""Batching that depends only on (seed, epoch): the epoch's sample order, its loader, and model inputs.

With the loader's augmentation a function of (seed, epoch, index), an epoch can be replayed or
resumed part-way and see exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dca.train.device import to_device


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool = True) -> list[list[int]]:
    """Index batches of one epoch: a permutation of ``range(n)`` drawn from (seed, epoch), cut in order."""
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    return [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]


def make_loader(
    dataset: Dataset[Any], batches: list[list[int]], workers: int, seed: int, epoch: int, pin_memory: bool
) -> DataLoader[Any]:
    """A loader over exactly ``batches``; its own generator keeps the global torch RNG untouched."""
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, pin_memory=pin_memory, generator=generator)


def model_inputs(
    batch: dict[str, Any], inputs: Sequence[str], device: torch.device, channels_last: bool
) -> list[torch.Tensor]:
    """The model's forward arguments for a collated batch: ``image`` or ``enhanced[method]``, in order."""
    tensors = [batch["image"] if name == "image" else batch["enhanced"][name] for name in inputs]
    return [to_device(t, device, channels_last) for t in tensors]
