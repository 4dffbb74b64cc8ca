"""Epoch batching depends only on (seed, epoch) and leaves the global RNG alone."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from dca.train.batches import epoch_batches, make_loader


def test_epoch_batches_are_a_function_of_seed_and_epoch() -> None:
    first = epoch_batches(10, 4, seed=3, epoch=2)
    assert first == epoch_batches(10, 4, seed=3, epoch=2)
    assert [len(b) for b in first] == [4, 4, 2] and sorted(i for b in first for i in b) == list(range(10))
    assert first != epoch_batches(10, 4, seed=3, epoch=3) and first != epoch_batches(10, 4, seed=4, epoch=2)
    assert epoch_batches(5, 2, seed=0, epoch=0, shuffle=False) == [[0, 1], [2, 3], [4]]


def test_loader_serves_the_given_batches_without_touching_the_global_rng() -> None:
    dataset = TensorDataset(torch.arange(10))
    batches = epoch_batches(10, 3, seed=0, epoch=1)
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    served = [b[0].tolist() for b in make_loader(dataset, batches[1:], workers=0, seed=0, epoch=1, pin_memory=False)]
    assert served == batches[1:]
    assert torch.equal(torch.rand(1), expected)
