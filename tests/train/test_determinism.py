"""``device.determinism: strict`` is refused up front on CUDA for models whose ops have no deterministic CUDA kernel."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest
import torch

from dca.experiments.config import ConfigError, check_run_determinism
from dca.train import loop
from dca.train.config import resolve_config, to_dict
from dca.train.determinism import StrictDeterminismError, nondeterministic_cuda_ops

Run = namedtuple("Run", "dataset variant seed")


def test_the_ops_are_found_on_the_models_cuda_paths() -> None:
    """Traced on fake CUDA tensors with deterministic algorithms on, as a strict run has them: bilinear up-sampling
    then takes torch's deterministic decomposition, so a binary task (BCE) has no such op, and a multi-class one
    has the NLL of its cross-entropy; traced without determinism the up-sampling kernel shows."""
    assert nondeterministic_cuda_ops("unet", dca=True) == []
    assert nondeterministic_cuda_ops("unet", num_classes=4) == ["NLL / cross-entropy loss"]
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the trace


def test_a_volume_model_is_traced_on_volumes() -> None:
    """The 3D U-Net + DCA gets (B, C, D, H, W) inputs: its patch embedding's 3D average pooling has no
    deterministic CUDA backward, so a strict run of it is refused."""
    ops = nondeterministic_cuda_ops("unet3d", dca=True, in_channels=1, img_size=(16, 16, 16), options={"width": 0.125})
    assert ops == ["average pooling 3D (backward)"]


def test_dca_train_refuses_strict_on_cuda_before_training(make_config, tmp_path: Path) -> None:
    trainer = loop.Trainer(
        make_config(tmp_path / "run", device={"determinism": "strict"}, loss={"ce": 0.5}), lambda _: None
    )
    trainer._refuse_strict_on_cuda(3)  # on the CPU strict runs: nothing refused
    trainer.device = torch.device("cuda")  # the check itself needs no GPU (fake tensors)
    trainer._refuse_strict_on_cuda(3)  # binary (BCE): every op has a deterministic CUDA path, CE term included
    trainer.train_set.info["labels"] = ["background", "a", "b"]  # stands in for a multi-class dataset
    with pytest.raises(
        StrictDeterminismError, match=r"strict cannot run unet(\+DCA)? on CUDA: NLL / cross-entropy loss"
    ):
        trainer._refuse_strict_on_cuda(3)
    assert not (tmp_path / "run" / "last.pt").exists()
    trainer.determinism = "seeded"
    trainer._refuse_strict_on_cuda(3)


def test_experiments_check_refuses_strict_runs_that_may_land_on_cuda() -> None:
    def config(model: str, device: str) -> dict:
        raw = {"preset": "dca-kvasir-seg", "model": {"name": model}, "data": {"root": "d", "size": 64}, "out": "o"}
        raw["loss"] = {"dice": 1.0, "ce": 1.0}  # the cross-entropy term is what needs NLL
        return to_dict(resolve_config(raw, {"device": {"name": device, "determinism": "strict"}}))

    run = Run("synapse", "unet_dca", 0)
    with pytest.raises(ConfigError, match=r"variants.unet_dca .*device auto.*NLL / cross-entropy loss"):
        check_run_determinism({run: config("unet", "auto")}, {run: 9})
    check_run_determinism({run: config("unet", "cpu")}, {run: 9})  # the CPU has every deterministic kernel
    check_run_determinism({run: config("unet", "cuda")}, {run: 2})  # binary: nothing without a deterministic kernel
