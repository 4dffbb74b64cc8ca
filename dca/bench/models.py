"""Cost of every model, plain and with DCA, measured side by side in one run.

For each model: parameters, GFLOPs per image (torch's own FLOP counter), CPU median time
of a training step (Dice loss + Adam) and of inference at the same batch, and the DCA
overhead as a ratio to the plain model. Plain and DCA steps are interleaved so that load
changes on the machine hit both alike. The official-style DCA (the direct transcription in
``dca.nn.dca_reference``, which materialises every score matrix) is timed on U-Net beside
ours, and peak memory of a U-Net+DCA training step is measured in fresh subprocesses.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import MethodType

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dca.models import build_model
from dca.nn.dca import DualCrossAttention
from dca.nn.dca_reference import reference_forward
from dca.train.losses import soft_dice_loss

PAPER_MODELS = ("unet", "vnet", "r2unet", "resunetpp", "doubleunet", "multiresunet")
# What the official implementation measured here (2 CPU threads, batch 4, 224x224).
OFFICIAL = {
    "unet": {"train_ratio": 1.80, "infer_ratio": 1.68, "gflops_plain": 25.06, "gflops_dca": 29.16},
    "resunetpp": {"train_ratio": 2.09},
    "doubleunet": {"train_ratio": 2.27},
}
TARGET_TRAIN_RATIO = 1.25
TARGET_INFER_RATIO = 1.20


def gflops(model: nn.Module, size: int, in_channels: int = 3) -> float:
    """Forward GFLOPs for one image, from ``torch.utils.flop_counter``.

    Counted with gradients enabled, so that DCA runs its exact kernel (the training path): the model's
    arithmetic, without the padded values that CPU forward-only passes on large grids hand to torch's
    fused attention when that measures faster.
    """
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.enable_grad():
        model(torch.zeros(1, in_channels, size, size))
    return counter.get_total_flops() / 1e9


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    soft_dice_loss(model(x), y).backward()
    optimizer.step()


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def use_reference_dca(model: nn.Module) -> nn.Module:
    """Swap every DCA forward for the direct, official-style transcription (same weights)."""
    for module in model.modules():
        if isinstance(module, DualCrossAttention):
            module.forward = MethodType(reference_forward, module)
    return model


def bench_pair(name: str, *, batch: int, size: int, repeats: int, reference: bool = False) -> dict[str, object]:
    """Time plain vs DCA (and optionally official-style DCA) of one model, interleaved."""
    torch.manual_seed(0)
    variants: dict[str, nn.Module] = {
        "plain": build_model(name, img_size=size),
        "dca": build_model(name, dca=True, img_size=size),
    }
    if reference:
        variants["official_style"] = use_reference_dca(build_model(name, dca=True, img_size=size))
    x = torch.rand(batch, 3, size, size)
    y = (torch.rand(batch, size, size) > 0.5).long()
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=1e-4) for k, m in variants.items()}
    train: dict[str, list[float]] = {k: [] for k in variants}
    infer: dict[str, list[float]] = {k: [] for k in variants}
    for rep in range(repeats + 1):  # the first round warms up allocators and kernels
        for key, model in variants.items():
            model.train()
            t = _timed(lambda m=model, o=optimizers[key]: _train_step(m, o, x, y))
            model.eval()
            with torch.inference_mode():
                i = _timed(lambda m=model: m(x))
            if rep:
                train[key].append(t)
                infer[key].append(i)
    row: dict[str, object] = {"model": name, "batch": batch, "size": size, "threads": torch.get_num_threads()}
    for key, model in variants.items():
        if key != "official_style":
            row[f"params_{key}"] = sum(p.numel() for p in model.parameters())
            row[f"gflops_{key}"] = round(gflops(model, size), 2)
        row[f"train_s_{key}"] = round(statistics.median(train[key]), 4)
        row[f"infer_s_{key}"] = round(statistics.median(infer[key]), 4)
    # At equal speed per FLOP the time ratios would equal this: a floor no implementation beats
    # without doing less arithmetic (or running attention faster per FLOP than the model's convs).
    row["gflops_ratio"] = round(row["gflops_dca"] / row["gflops_plain"], 3)
    # Ratios per round (the plain and DCA steps of one round run back to back, so a slow spell of a
    # shared machine hits both), then their median and quartiles across rounds.
    for kind, times in (("train", train), ("infer", infer)):
        for key in [k for k in variants if k != "plain"]:
            suffix = "" if key == "dca" else f"_{key}"
            ratios = [d / p for d, p in zip(times[key], times["plain"])]
            row[f"{kind}_ratio{suffix}"] = round(statistics.median(ratios), 3)
            if key == "dca":
                q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
                row[f"{kind}_ratio_q1"], row[f"{kind}_ratio_q3"] = round(q1, 3), round(q3, 3)
    official = OFFICIAL.get(name, {})
    row["official_train_ratio"] = official.get("train_ratio")
    row["official_infer_ratio"] = official.get("infer_ratio")
    row["meets_target"] = row["train_ratio"] <= TARGET_TRAIN_RATIO and row["infer_ratio"] <= TARGET_INFER_RATIO
    return row


def peak_memory_mb(model: str, *, dca: bool, size: int, batch: int, patch: int = 8, reference: bool = False) -> float:
    """Peak resident memory added by one training step (Linux VmHWM after a reset), in a fresh interpreter."""
    args = json.dumps(
        {
            "model": model,
            "dca": dca,
            "size": size,
            "batch": batch,
            "patch": patch,
            "reference": reference,
            "threads": torch.get_num_threads(),
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", f"from dca.bench.models import _memory_probe; _memory_probe({args!r})"],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def status_kb(field: str) -> int:
    """A memory figure (kB) of this process from /proc/self/status (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line")


def _memory_probe(args_json: str) -> None:
    """Child side of :func:`peak_memory_mb`: print the peak RSS growth of one step, in MB."""
    args = json.loads(args_json)
    torch.set_num_threads(args["threads"])
    options = {"dca_patch_size": args["patch"]} if args["dca"] else {}
    model = build_model(args["model"], dca=args["dca"], img_size=args["size"], **options)
    if args["reference"]:
        use_reference_dca(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(args["batch"], 3, args["size"], args["size"])
    y = (torch.rand(args["batch"], args["size"], args["size"]) > 0.5).long()
    # Reset the kernel's peak-RSS mark (VmHWM) so that imports and model construction do not count.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before_kb = status_kb("VmRSS")
    _train_step(model, optimizer, x, y)
    peak_kb = status_kb("VmHWM")
    print(round((peak_kb - before_kb) / 1024, 1))


def bench_memory(sizes: Sequence[int] = (224, 512), batch: int = 2) -> list[dict[str, object]]:
    """Peak memory of a U-Net training step: plain, DCA (ours) and DCA (official-style)."""
    rows = []
    for size in sizes:
        row: dict[str, object] = {"model": "unet", "size": size, "batch": batch, "patch": 8, "tokens": (size // 8) ** 2}
        row["peak_mb_plain"] = peak_memory_mb("unet", dca=False, size=size, batch=batch)
        row["peak_mb_dca"] = peak_memory_mb("unet", dca=True, size=size, batch=batch)
        row["peak_mb_official_style"] = peak_memory_mb("unet", dca=True, size=size, batch=batch, reference=True)
        rows.append(row)
    return rows


def run(
    models: Sequence[str] = PAPER_MODELS, *, batch: int = 4, size: int = 224, repeats: int = 5, memory: bool = True
) -> dict[str, list[dict[str, object]]]:
    """Run the model benchmark and return its tables (``models`` and ``memory``)."""
    rows = [bench_pair(m, batch=batch, size=size, repeats=repeats, reference=m == "unet") for m in models]
    return {"models": rows, "memory": bench_memory() if memory else []}


def summary_lines(result: dict[str, list[dict[str, object]]]) -> list[str]:
    """Human-readable figures, each beside the reference it compares to."""
    lines = [
        f"DCA overhead, ours vs plain, median of per-round ratios "
        f"(targets: train <= {TARGET_TRAIN_RATIO}x, infer <= {TARGET_INFER_RATIO}x)"
    ]
    for r in result["models"]:
        ref = f"official {r['official_train_ratio']}x train" if r["official_train_ratio"] else "official n/a"
        extra = ""
        if "train_ratio_official_style" in r:
            extra = (
                f"; official-style DCA here: train {r['train_ratio_official_style']}x, "
                f"infer {r['infer_ratio_official_style']}x"
            )
        lines.append(
            f"  {r['model']:<13} params {r['params_plain']:>10,} -> {r['params_dca']:>10,}  "
            f"GFLOPs {r['gflops_plain']:.2f} -> {r['gflops_dca']:.2f} ({r['gflops_ratio']}x)  "
            f"train {r['train_s_plain']:.3f}s -> {r['train_s_dca']:.3f}s "
            f"({r['train_ratio']}x, quartiles {r['train_ratio_q1']}-{r['train_ratio_q3']}; {ref})  "
            f"infer {r['infer_s_plain']:.3f}s -> {r['infer_s_dca']:.3f}s "
            f"({r['infer_ratio']}x, quartiles {r['infer_ratio_q1']}-{r['infer_ratio_q3']}){extra}"
        )
    for m in result["memory"]:
        lines.append(
            f"  peak memory, U-Net training step {m['size']}x{m['size']} batch {m['batch']} ({m['tokens']} tokens): "
            f"plain {m['peak_mb_plain']} MB, DCA ours {m['peak_mb_dca']} MB, "
            f"DCA official-style {m['peak_mb_official_style']} MB"
        )
    return lines
