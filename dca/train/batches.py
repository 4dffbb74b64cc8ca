"""Batching that depends only on (seed, epoch): the epoch's sample order, its loader, and model inputs.

With the loader's augmentation a function of (seed, epoch, index), an epoch can be replayed or
resumed part-way and see exactly the same batches, whatever the number of workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from dca.train.device import to_device
from dca.train.loader import default_workers
from dca.train.stop import ignore_sigterm


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool = True) -> list[list[int]]:
    """Index batches of one epoch: a permutation of ``range(n)`` drawn from (seed, epoch), cut in order."""
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    return [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]


def _generator(seed: int, epoch: int) -> torch.Generator:
    """The loader's own generator (worker base seeds), so the global torch RNG stays untouched."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))


def make_loader(
    dataset: Dataset[Any], batches: list[list[int]], workers: int | None, seed: int, epoch: int, pin_memory: bool
) -> DataLoader[Any]:
    """A one-pass loader over exactly ``batches`` (``workers`` None: :func:`default_workers`)."""
    workers = default_workers() if workers is None else workers
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=workers,
        pin_memory=pin_memory,
        generator=_generator(seed, epoch),
        worker_init_fn=ignore_sigterm if workers else None,
    )


class _EpochSampler(Sampler[list[int]]):
    """The batches of the current epoch, replaced between epochs (the sampler runs in the main process)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class EpochLoader:
    """One DataLoader for a whole run: its workers start once and persist across epochs (and ignore SIGTERM,
    see :func:`dca.train.stop.ignore_sigterm`); each epoch serves the batches given to :meth:`epoch`."""

    def __init__(self, dataset: Dataset[Any], workers: int, seed: int, pin_memory: bool) -> None:
        self._sampler = _EpochSampler()
        self.loader = DataLoader(
            dataset,
            batch_sampler=self._sampler,
            num_workers=workers,
            pin_memory=pin_memory,
            generator=_generator(seed, 0),
            persistent_workers=workers > 0,
            worker_init_fn=ignore_sigterm if workers else None,
        )

    def epoch(self, batches: list[list[int]]) -> Iterator[Any]:
        """Iterate exactly ``batches`` (set the dataset's epoch before calling: workers prefetch at once)."""
        self._sampler.batches = batches
        return iter(self.loader)


def model_inputs(
    batch: dict[str, Any], inputs: Sequence[str], device: torch.device, channels_last: bool
) -> list[torch.Tensor]:
    """The model's forward arguments for a collated batch: ``image`` or ``enhanced[method]``, in order."""
    tensors = [batch["image"] if name == "image" else batch["enhanced"][name] for name in inputs]
    return [to_device(t, device, channels_last) for t in tensors]
