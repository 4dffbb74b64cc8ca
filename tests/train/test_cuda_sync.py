"""On CUDA a training step never waits for the GPU: the loss sum and the finite check stay on the device."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dca.train import loop
from dca.train.batches import epoch_batches

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_training_steps_do_not_synchronise_with_the_host(make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path / "run", device={"name": "cuda", "determinism": "seeded"})
    trainer = loop.Trainer(config, lambda _: None)
    trainer.train_set.set_epoch(0)
    batches = epoch_batches(len(trainer.train_set), config.batch_size, config.seed, 0)
    loaded = list(trainer.train_loader.epoch(batches))
    trainer.train_step(loaded[0], 0, 0)  # warm-up: cuDNN autotuning and lazy initialisation may synchronise
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step, batch in enumerate(loaded[1:], start=1):
            trainer.train_step(batch, 0, step)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    total, bad = trainer.losses.read()
    assert bad is None and total > 0
