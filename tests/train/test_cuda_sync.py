"""On CUDA a training step never waits for the GPU: the loss sum and the finite check stay on the device."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dca.train import loop
from dca.train.batches import epoch_batches
from dca.train.stop import StopRequest

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def _steps_without_sync(trainer: loop.Trainer, epoch: int) -> None:
    """Run ``epoch``'s steps with every host synchronisation an error (after one warm-up step)."""
    config = trainer.config
    trainer.train_set.set_epoch(epoch)
    batches = epoch_batches(len(trainer.train_set), config.batch_size, config.seed, epoch)
    loaded = list(trainer.train_loader.epoch(batches))
    trainer.train_step(loaded[0], epoch, 0)  # warm-up: cuDNN autotuning and lazy initialisation may synchronise
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step, batch in enumerate(loaded[1:], start=1):
            trainer.train_step(batch, epoch, step)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    total, bad = trainer.losses.read()
    assert bad is None and total > 0


def test_training_steps_do_not_synchronise_with_the_host(make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path / "run", device={"name": "cuda", "determinism": "seeded"})
    _steps_without_sync(loop.Trainer(config, lambda _: None), 0)


def test_resumed_training_steps_do_not_synchronise_with_the_host(make_config, tmp_path: Path) -> None:
    """After a resume from ``last.pt`` the steps are as a fresh run's: Adam's ``step`` counters are CPU tensors
    (a checkpoint mapped to the GPU would put them there, and every step would read them back)."""
    config = make_config(tmp_path / "run", device={"name": "cuda", "determinism": "seeded"}, epochs=2)
    first = loop.Trainer(config, lambda _: None)
    first.run_epoch(0, StopRequest(), {})  # saves last.pt after epoch 1
    resumed = loop.Trainer(config, lambda _: None)
    resumed.resume()
    assert resumed.progress.epoch == 1
    assert all(state["step"].device.type == "cpu" for state in resumed.optimizer.state.values())
    _steps_without_sync(resumed, 1)
