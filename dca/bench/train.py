"""Training throughput per model: images per second of the training engine's own step.

Each model (plain and with DCA) runs the step ``dca train`` runs (forward under the configured
AMP, the run's loss, backward through the GradScaler, an Adam update, the loss read back) on a
fixed random batch, after warm-up steps, on the selected device. Data loading is not included.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from dca.models import build_model
from dca.train.config import DeviceConfig, LossConfig, OptimConfig
from dca.train.device import amp_dtype, configure_torch, make_scaler, prepare_model, select_device, to_device
from dca.train.loop import forward_loss, log_message, optimizer_step
from dca.train.losses import SegmentationLoss
from dca.train.setup import build_optimizer

PAPER_MODELS = ("unet", "vnet", "r2unet", "resunetpp", "doubleunet", "multiresunet")


def _synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that wall times are complete."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_train(
    models: Sequence[str] = PAPER_MODELS,
    *,
    batch: int = 4,
    size: int = 224,
    steps: int = 5,
    warmup: int = 2,
    dca: Sequence[bool] = (False, True),
    device: DeviceConfig | None = None,
    loss: LossConfig | None = None,
) -> list[dict[str, Any]]:
    """One row per (model, dca): median seconds per training step and images per second (RGB in, binary out)."""
    device_config = device or DeviceConfig(deterministic=False)
    dev = select_device(device_config, log_message)
    configure_torch(device_config, dev)
    amp = amp_dtype(device_config, dev)
    criterion = SegmentationLoss(loss or LossConfig())
    generator = torch.Generator().manual_seed(0)
    image = to_device(torch.rand(batch, 3, size, size, generator=generator), dev, device_config.channels_last)
    mask = to_device((torch.rand(batch, size, size, generator=generator) > 0.7).long(), dev, False)
    rows = []
    for name in models:
        for with_dca in dca:
            torch.manual_seed(0)
            model = build_model(name, dca=with_dca, img_size=size)
            net = prepare_model(model, device_config, dev)
            optimizer = build_optimizer(OptimConfig(), model.parameters())
            scaler = make_scaler(dev, amp)
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            timings = []
            for _ in range(warmup + steps):
                start = time.perf_counter()
                step_loss = forward_loss(net, criterion, [image], mask, dev, amp)
                optimizer_step(step_loss, optimizer, scaler)
                step_loss.item()
                _synchronize(dev)
                timings.append(time.perf_counter() - start)
            seconds = sorted(timings[warmup:])[len(timings[warmup:]) // 2]
            rows.append(
                {
                    "model": name,
                    "dca": with_dca,
                    "device": str(dev),
                    "threads": torch.get_num_threads() if dev.type == "cpu" else None,
                    "amp": device_config.amp if amp is not None else "none",
                    "channels_last": device_config.channels_last and dev.type == "cuda",
                    "compile": device_config.compile,
                    "batch": batch,
                    "size": size,
                    "steps": steps,
                    "step_s": seconds,
                    "images_per_s": batch / seconds,
                    "peak_memory_gib": torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None,
                }
            )
    return rows
