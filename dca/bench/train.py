"""Training throughput per model: images/s, epoch time and model FLOP utilisation of the engine's own step.

Each case (model, DCA or not, precision) runs the step ``dca train`` runs (forward under the
configured AMP, the run's loss, backward through the GradScaler, an Adam update) on the selected
device, as nnU-Net's benchmark trainers do, twice: with data loading bypassed (a fixed batch of
dummy tensors already on the device) and with the project's loader over a prepared dataset
(``SegmentationDataset`` + ``EpochLoader``, augmentation on, the run's persistent workers). FLOPs per step
(forward + backward) come from ``torch.utils.flop_counter``; model FLOP utilisation divides the
achieved FLOP/s by the matrix-product peak of the row's math measured in the same run (one large GEMM in
bf16, or in TF32 for fp32 rows on CUDA) and by the GPU's datasheet dense peak (:mod:`dca.bench.peaks`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dca.bench import peaks
from dca.models import build_model
from dca.train.batches import EpochLoader, epoch_batches, model_inputs
from dca.train.config import DeviceConfig, LossConfig, OptimConfig
from dca.train.device import amp_dtype, configure_torch, make_scaler, prepare_model, select_device, to_device
from dca.train.loader import SegmentationDataset
from dca.train.loop import LossSum, forward_loss, optimizer_step
from dca.train.losses import SegmentationLoss
from dca.train.setup import build_optimizer
from dca.utils.log import stage_log

PAPER_MODELS = ("unet", "vnet", "r2unet", "resunetpp", "doubleunet", "multiresunet")
GPU_MODELS = (*PAPER_MODELS, "din")
NO_DCA = frozenset({"din", "din-tiny"})  # DIN's skip fusion is the DIFM: it has no DCA variant
# The papers' batch sizes: DCA on Kvasir-SEG and CVC-ClinicDB (16, the 224x224 polyp sets), DIN (3).
PAPER_BATCH = {"din": 3, "din-tiny": 3}
DCA_PAPER_BATCH = 16
# name -> (device.amp, device.compile)
PRECISIONS = {
    "fp32": ("none", False),
    "bf16": ("bf16", False),
    "bf16-compile": ("bf16", True),
    "fp16": ("fp16", False),
    "fp32-compile": ("none", True),
}
PEAK_GEMM_SIZE = 8192


def paper_batch(model: str) -> int:
    """The batch size the papers train ``model`` with at 224x224."""
    return PAPER_BATCH.get(model, DCA_PAPER_BATCH)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that wall times are complete."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_tflops(
    device: torch.device, n: int = PEAK_GEMM_SIZE, repeats: int = 20, math: str = "bf16"
) -> float | None:
    """The matrix-product peak of this GPU in TFLOP/s in ``math`` (``bf16``, or ``tf32``: fp32 tensors with TF32
    allowed): an ``n``^3 GEMM timed with CUDA events (None on CPU).

    Measured as well as taken from a datasheet (:mod:`dca.bench.peaks`), so that utilisation also compares
    against what this card, clock and driver deliver (an H200 gives about 790 of its 989 datasheet TFLOP/s).
    """
    if device.type != "cuda":
        return None
    dtype = torch.bfloat16 if math == "bf16" else torch.float32
    allowed = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = math == "tf32"
    try:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        out = torch.empty(n, n, device=device, dtype=dtype)
        for _ in range(3):
            torch.mm(a, b, out=out)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            torch.mm(a, b, out=out)
        end.record()
        end.synchronize()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allowed
    seconds = start.elapsed_time(end) / 1e3 / repeats
    del a, b, out
    return 2 * n**3 / seconds / 1e12


def measured_peaks(device: torch.device) -> dict[str, float | None]:
    """The measured GEMM peaks a benchmark divides by: ``{"bf16": ..., "tf32": ...}`` (None on the CPU)."""
    return {math: matmul_peak_tflops(device, math=math) for math in ("bf16", "tf32")}


def step_flops(net: nn.Module, criterion: nn.Module, inputs: list[torch.Tensor], target: torch.Tensor) -> float:
    """FLOPs of one training step (forward + loss + backward) at this batch, counted by torch's FLOP counter."""
    counter = FlopCounterMode(display=False)
    with counter:
        criterion(net(*inputs), target).backward()
    net.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


@dataclass(frozen=True)
class BenchCase:
    """One benchmarked configuration: model, DCA on or off, official-style DCA, precision."""

    model: str
    dca: bool
    precision: str
    official_style: bool = False

    @property
    def label(self) -> str:
        """``unet+DCA bf16`` style name for printing."""
        kind = "+DCA(official-style)" if self.official_style else "+DCA" if self.dca else ""
        return f"{self.model}{kind} {self.precision}"


class _Step:
    """A model, its optimiser, scaler and loss sum on the device: calling it runs one step of ``dca train``."""

    def __init__(self, case: BenchCase, device_config: DeviceConfig, dev: torch.device, size: int) -> None:
        from dca.bench.models import use_reference_dca  # the official-style swap lives with the model benchmark

        torch.manual_seed(0)
        self.model = build_model(case.model, dca=case.dca, img_size=size)
        if case.official_style:
            use_reference_dca(self.model)
        self.inputs_count = 2 if case.model in NO_DCA else 1  # DIN: (image, enhanced image)
        self.net = prepare_model(self.model, device_config, dev)
        self.optimizer = build_optimizer(OptimConfig(), self.model.parameters())
        self.amp = amp_dtype(device_config, dev)
        self.scaler = make_scaler(dev, self.amp)
        self.losses = LossSum(0.0, dev)  # the run's device-side loss sum and finite check: no host sync per step
        self.dev = dev

    def __call__(self, criterion: nn.Module, inputs: list[torch.Tensor], target: torch.Tensor) -> None:
        _, loss = forward_loss(self.net, criterion, inputs, target, self.dev, self.amp)
        self.losses.add(loss, 0)
        optimizer_step(loss, self.optimizer, self.scaler)


def _timed(fn: Callable[[], int], dev: torch.device) -> tuple[int, float]:
    """Run ``fn`` (returns images processed) and return (images, wall seconds including queued GPU work)."""
    synchronize(dev)
    start = time.perf_counter()
    images = fn()
    synchronize(dev)
    return images, time.perf_counter() - start


def _dummy_batch(
    batch: int, size: int, count: int, dev: torch.device, channels_last: bool
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A fixed random batch already on the device: ``count`` RGB inputs and a binary mask."""
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(batch, 3, size, size, generator=generator) for _ in range(count)]
    mask = (torch.rand(batch, size, size, generator=generator) > 0.7).long()
    return [to_device(x, dev, channels_last) for x in images], to_device(mask, dev, False)


def _real_epoch(
    step: _Step,
    criterion: nn.Module,
    dataset: SegmentationDataset,
    loader: EpochLoader,
    batch: int,
    epoch: int,
    channels_last: bool,
) -> int:
    """One training epoch through the run's persistent loader, as ``dca train`` runs it; returns the images seen."""
    dataset.set_epoch(epoch)
    images = 0
    for item in loader.epoch(epoch_batches(len(dataset), batch, 0, epoch)):
        inputs = model_inputs(item, ("image",), step.dev, channels_last) * step.inputs_count
        step(criterion, inputs, to_device(item["mask"], step.dev, False))
        images += item["image"].shape[0]
    return images


def bench_case(
    case: BenchCase,
    *,
    batch: int,
    size: int,
    steps: int,
    warmup: int,
    dev: torch.device,
    channels_last: bool,
    peak_tflops: Mapping[str, float | None] | None,
    dataset: SegmentationDataset | None = None,
    workers: int = 0,
    criterion: nn.Module | None = None,
) -> dict[str, Any]:
    """Time one case: median step of the dummy-batch runs, images/s, MFU, and (with a dataset) real-data epochs.

    ``peak_tflops`` holds the measured GEMM peaks by math (:func:`measured_peaks`); MFU divides by the one of the
    row's math (``mfu``) and by the detected GPU's datasheet peak (``mfu_datasheet``, None for an unlisted GPU).
    """
    amp_name, compile_ = PRECISIONS[case.precision]
    device_config = DeviceConfig(
        name=dev.type, amp=amp_name, channels_last=channels_last, compile=compile_, determinism="seeded"
    )
    configure_torch(device_config, dev)
    criterion = criterion or SegmentationLoss(LossConfig())
    step = _Step(case, device_config, dev, size)
    inputs, target = _dummy_batch(batch, size, step.inputs_count, dev, device_config.channels_last)
    flops = step_flops(step.model, criterion, inputs, target)  # eager, full precision: the model's arithmetic
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    compile_start = time.perf_counter()
    for _ in range(warmup):
        step(criterion, inputs, target)
    synchronize(dev)
    warmup_s = time.perf_counter() - compile_start

    def dummy_steps() -> int:
        for _ in range(steps):
            step(criterion, inputs, target)
        return batch * steps

    # Three timed rounds of ``steps`` steps; the median round is reported (one slow spell moves nothing).
    rounds = [_timed(dummy_steps, dev)[1] for _ in range(3)]
    step_s = statistics.median(rounds) / steps
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    amp_used = amp_name if step.amp is not None else "none"
    math = peaks.row_math(amp_used, dev.type == "cuda", torch.backends.cuda.matmul.allow_tf32)
    measured = (peak_tflops or {}).get(peaks.measured_peak_key(math))
    datasheet = peaks.datasheet_peak(gpu, math)
    achieved = flops / step_s / 1e12
    row: dict[str, Any] = {
        "model": case.model,
        "dca": case.dca,
        "official_style": case.official_style,
        "precision": case.precision,
        "device": str(dev),
        "gpu": gpu,
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "amp": amp_used,
        "math": peaks.MATH_LABELS[math],
        "channels_last": device_config.channels_last and dev.type == "cuda",
        "compile": compile_,
        "batch": batch,
        "size": size,
        "steps": steps,
        "warmup_s": warmup_s,
        "step_s": step_s,
        "images_per_s": batch / step_s,
        "gflops_per_step": flops / 1e9,
        "tflops_per_s": achieved,
        "peak_tflops_measured": measured,
        "mfu": achieved / measured if measured else None,
        "peak_tflops_datasheet": datasheet,
        "mfu_datasheet": achieved / datasheet if datasheet else None,
    }
    if dataset is not None:
        steps_per_epoch = -(-len(dataset) // batch)
        row["epoch_images"] = len(dataset)
        row["epoch_s_no_data_loading"] = step_s * steps_per_epoch
        loader = EpochLoader(dataset, workers, 0, dev.type == "cuda")  # workers start once, as in a run
        cl = device_config.channels_last
        _real_epoch(step, criterion, dataset, loader, batch, 0, cl)  # warm-up epoch: workers started, cache mapped
        images, seconds = _timed(lambda: _real_epoch(step, criterion, dataset, loader, batch, 1, cl), dev)
        row["workers"] = workers
        row["epoch_s"] = seconds
        row["images_per_s_real_data"] = images / seconds
        row["real_vs_no_data_loading"] = seconds / row["epoch_s_no_data_loading"]
    row["peak_memory_gib"] = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None
    return row


def _release(dev: torch.device, compiled: bool) -> None:
    """Free the last case's graphs and cached blocks, so cases do not share memory or recompile limits."""
    if compiled:
        torch._dynamo.reset()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def bench_loader(dataset: SegmentationDataset, batch: int, workers: int, pin_memory: bool) -> dict[str, Any]:
    """Images/s the run's loader delivers alone (augmentation on; second epoch: workers started, cache warm)."""
    loader = EpochLoader(dataset, workers, 0, pin_memory)
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        start, images = time.perf_counter(), 0
        for item in loader.epoch(epoch_batches(len(dataset), batch, 0, epoch)):
            images += item["image"].shape[0]
        seconds = time.perf_counter() - start
    return {
        "workers": workers,
        "batch": batch,
        "size": dataset.size,
        "images": images,
        "epoch_s": seconds,
        "images_per_s": images / seconds,
    }


def bench_train(
    models: Sequence[str] = PAPER_MODELS,
    *,
    batch: int | None = 4,
    size: int = 224,
    steps: int = 5,
    warmup: int = 2,
    dca: Sequence[bool] = (False, True),
    precisions: Sequence[str] = ("fp32",),
    device: DeviceConfig | None = None,
    channels_last: bool | None = None,
    official_style: Sequence[str] = (),
    data: Path | None = None,
    workers: int = 0,
    loss: LossConfig | None = None,
    peak_tflops: Mapping[str, float | None] | None = None,
) -> list[dict[str, Any]]:
    """One row per (model, dca, precision), plus official-style DCA rows for the ``official_style`` models.

    ``batch`` None takes each model's paper batch; ``data`` (a processed dataset) adds real-data epochs
    of its train split at ``workers``; ``channels_last`` None means on CUDA only.
    """
    log = stage_log("bench")
    dev = select_device(device or DeviceConfig(determinism="seeded"), log)
    channels_last = dev.type == "cuda" if channels_last is None else channels_last
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown:
        raise ValueError(f"unknown precision(s) {', '.join(unknown)}; known: {', '.join(PRECISIONS)}")
    dataset = SegmentationDataset(data, "train", size=size, augment=True) if data is not None else None
    criterion = SegmentationLoss(loss or LossConfig())
    rows = []
    for name in models:
        for precision in precisions:
            if dev.type != "cuda" and PRECISIONS[precision][0] != "none":
                log(f"{name} {precision}: skipped, autocast is CUDA-only in dca train (this run is on CPU)")
                continue
            variants = [BenchCase(name, d, precision) for d in dca if not (d and name in NO_DCA)]
            if name in official_style and True in dca and name not in NO_DCA and not PRECISIONS[precision][1]:
                variants.append(BenchCase(name, True, precision, official_style=True))
            for case in variants:
                log(f"benchmarking {case.label} on {dev}")
                rows.append(
                    bench_case(
                        case,
                        batch=batch or paper_batch(name),
                        size=size,
                        steps=steps,
                        warmup=warmup,
                        dev=dev,
                        channels_last=channels_last,
                        peak_tflops=peak_tflops,
                        dataset=None if case.official_style else dataset,
                        workers=workers,
                        criterion=criterion,
                    )
                )
                _release(dev, PRECISIONS[precision][1])  # the case's model and graphs are gone by now
    return rows
