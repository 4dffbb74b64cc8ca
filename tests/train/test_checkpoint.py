"""Checkpoints: atomic writes, weights-only loading, exact RNG state round trips on any device, a full disk."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from dca.layout import RunDir
from dca.train import loop
from dca.train.checkpoint import (
    DiskFullError,
    load_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from dca.train.stop import StopRequest


def draws() -> tuple[float, float, float]:
    """One draw from each global generator."""
    return random.random(), float(np.random.rand()), torch.rand(1).item()


def test_rng_states_round_trip_through_a_checkpoint(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    save_checkpoint(tmp_path / "last.pt", {"rng": rng_state(), "epoch": 4})
    expected = draws()
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    set_rng_state(ckpt["rng"])
    assert draws() == expected and ckpt["epoch"] == 4


def test_save_is_atomic_and_loads_weights_only(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    state = {"model": model.state_dict(), "history": [{"epoch": 1, "val_dice": 0.5}], "best": {"score": None}}
    save_checkpoint(tmp_path / "best.pt", state)
    save_checkpoint(tmp_path / "best.pt", state)  # overwriting leaves no temporary file behind
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]
    loaded = load_checkpoint(tmp_path / "best.pt")
    assert torch.equal(loaded["model"]["weight"], model.weight) and loaded["history"] == state["history"]


def _generator_states() -> tuple:
    """The Python, NumPy and torch CPU generator states, comparable with ==."""
    return random.getstate(), repr(np.random.get_state()), torch.get_rng_state().tolist()


def test_resume_across_devices(make_config, tmp_path: Path) -> None:
    """Save on the CPU, load with a map_location to another device (meta stands in for CUDA), resume exactly."""
    quiet = lambda _: None  # noqa: E731
    reference = loop.Trainer(make_config(tmp_path / "reference", epochs=2), quiet)
    for epoch in range(2):
        reference.run_epoch(epoch, StopRequest(), {})

    first = loop.Trainer(make_config(tmp_path / "run", epochs=2), quiet)
    first.run_epoch(0, StopRequest(), {})  # saves last.pt after epoch 1
    expected_rng = _generator_states()
    on_meta = load_checkpoint(RunDir(tmp_path / "run").last, "meta")
    assert all(t.is_meta for t in on_meta["model"].values())  # the map_location did apply

    second = loop.Trainer(make_config(tmp_path / "run", epochs=2), quiet)
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    second.restore(load_checkpoint(RunDir(tmp_path / "run").last) | {"rng": on_meta["rng"]})
    assert _generator_states() == expected_rng
    second.run_epoch(1, StopRequest(), {})
    final, ref = second.model.state_dict(), reference.model.state_dict()
    assert all(torch.equal(final[k], ref[k]) for k in ref)
    assert [r["train_loss"] for r in second.progress.history] == [r["train_loss"] for r in reference.progress.history]


def test_resume_leaves_adam_step_counters_on_the_cpu_as_a_fresh_run(make_config, tmp_path: Path) -> None:
    """The full resume loads on the CPU whatever the run's device (meta stands in for CUDA) and lets
    ``load_state_dict`` place each tensor: Adam's ``step`` counters stay CPU tensors, as in a fresh run, so no
    step reads them back from the GPU."""
    quiet = lambda _: None  # noqa: E731
    fresh = loop.Trainer(make_config(tmp_path / "run", epochs=2), quiet)
    fresh.run_epoch(0, StopRequest(), {})  # saves last.pt after epoch 1
    fresh_steps = [s["step"] for s in fresh.optimizer.state.values()]
    resumed = loop.Trainer(make_config(tmp_path / "run", epochs=2), quiet)
    resumed.device = torch.device("meta")  # a map_location to the run's device would put every tensor there
    resumed.resume()
    steps = [s["step"] for s in resumed.optimizer.state.values()]
    assert len(steps) == len(fresh_steps) > 0
    assert [(t.device, t.dtype) for t in steps] == [(t.device, t.dtype) for t in fresh_steps]
    assert all(t.device.type == "cpu" and torch.equal(t, f) for t, f in zip(steps, fresh_steps, strict=True))


def test_load_weights_reads_only_the_model_state(tmp_path: Path) -> None:
    model = torch.nn.Linear(64, 64)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.rand(2, 64)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "last.pt", {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
    weights = load_weights(tmp_path / "last.pt", "cpu")
    assert weights.keys() == model.state_dict().keys()
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_a_full_disk_names_the_file_and_free_space_and_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})
    real_save = torch.save

    def full_disk(obj: object, f: object) -> None:
        real_save({"epoch": 2, "pad": torch.zeros(1000)}, f)  # part of the file is written, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(DiskFullError, match=r"cannot write .*last\.pt: No space left on device \(.* MiB free") as err:
        save_checkpoint(path, {"epoch": 2})
    assert "previous last.pt is kept" in str(err.value)
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


FILL_A_TINY_DISK = """
import sys, torch
from dca.train.checkpoint import DiskFullError, load_checkpoint, save_checkpoint
save_checkpoint(sys.argv[1], {"epoch": 1})
try:
    save_checkpoint(sys.argv[1], {"epoch": 2, "big": torch.zeros(2**20)})
except DiskFullError as err:
    print(err)
print(load_checkpoint(sys.argv[1]))
"""


def test_a_real_full_disk(tiny_disk) -> None:
    """The same on a real 1 MiB tmpfs."""
    proc = tiny_disk.run(FILL_A_TINY_DISK, "last.pt")
    assert "No space left on device" in proc.stdout and "MiB free" in proc.stdout, proc.stdout
    assert proc.stdout.strip().endswith("{'epoch': 1}")
