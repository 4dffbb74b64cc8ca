"""Memory and step time of DCA on volumes: 3D U-Net vs 3D U-Net+DCA vs a literal port, side by side.

The literal port is what users of the official code tried: the 2D module with 3D convolutions and
full-resolution tokens (patch size 1: every skip pooled, or replicated, to the first skip's D x H x W grid) and
every score matrix materialised, as the official code does (``dca.nn.dca_reference`` with that grid, same
weights). Its SCA keeps one (B, heads, N, N) probability tensor per skip for the backward, N = D*H*W: at 64^3
that is 275 GB per skip, sample and head in float32, so it is measured at a size that fits and ESTIMATED
(analytically, a lower bound: stages x batch x heads x N^2 x bytes) where it does not. Ours pools 8^3 voxels
per token at the first skip (512 tokens at 64^3).

CPU memory is the peak resident set growth (Linux VmHWM after a reset) over the training steps, from the RSS
with the model and inputs built (so gradients and Adam state count), in a fresh interpreter per variant; GPU
memory is ``torch.cuda.max_memory_allocated`` over the steps.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dca.bench.models import status_kb
from dca.models import build_model
from dca.nn.dca import DualCrossAttention
from dca.nn.dca_reference import reference_forward

VARIANTS = ("plain", "dca", "literal")
CLASSES = 4
STAGES = 4
SPATIAL_HEADS = 4  # the DCA default
CPU_LITERAL_BYTES = 2**30  # the literal port is measured on the CPU where its SCA scores take at most 1 GiB


def literal_port(model: nn.Module) -> nn.Module:
    """Swap the model's DCA forward for the literal port: the official-style transcription on full-resolution tokens."""
    dca = model.dca
    assert isinstance(dca, DualCrossAttention)

    def forward(features: Sequence[Tensor]) -> list[Tensor]:
        return reference_forward(dca, list(features), grid=tuple(features[0].shape[2:]))

    dca.forward = forward  # type: ignore[method-assign]
    return model


def build(variant: str, size: int, width: float) -> nn.Module:
    """One benchmark variant of the 3D U-Net on one-channel ``size``^3 volumes."""
    model = build_model(
        "unet3d", dca=variant != "plain", in_channels=1, num_classes=CLASSES, img_size=size, width=width
    )
    return literal_port(model) if variant == "literal" else model


def tokens(variant: str, size: int) -> int:
    """Tokens per sample: the first skip's voxels (literal port) or its voxels over 8^3 (ours); 0 without DCA."""
    return {"plain": 0, "dca": (size // 8) ** 3, "literal": size**3}[variant]


def scores_bytes(variant: str, size: int, batch: int, bytes_per_element: int) -> int:
    """The SCA probabilities a materialising implementation keeps for the backward: stages x B x heads x N^2.

    The literal port's lower bound on its peak memory; ours keeps at most these (bounded by tiles on the CPU,
    none with the fused kernel on CUDA).
    """
    return STAGES * batch * SPATIAL_HEADS * tokens(variant, size) ** 2 * bytes_per_element


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, amp: torch.dtype | None) -> None:
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=amp or torch.float32, enabled=amp is not None):
        loss = F.cross_entropy(model(x).float(), y)
    loss.backward()
    optimizer.step()


def _inputs(size: int, batch: int, device: str) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, size, size, size, generator=g)
    y = torch.randint(0, CLASSES, (batch, size, size, size), generator=g)
    return x.to(device), y.to(device)


def _cpu_probe(args_json: str) -> None:
    """Child side of :func:`measure_cpu`: print JSON with the peak RSS growth (MB) and the median step time."""
    args = json.loads(args_json)
    torch.set_num_threads(args["threads"])
    torch.manual_seed(0)
    model = build(args["variant"], args["size"], args["width"]).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, y = _inputs(args["size"], args["batch"], "cpu")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM: imports, the model and the inputs do not count
    before = status_kb("VmRSS")
    _step(model, optimizer, x, y, None)  # warm-up (untimed; the allocator keeps its memory for the next steps)
    times = []
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        _step(model, optimizer, x, y, None)
        times.append(time.perf_counter() - start)
    print(json.dumps({"peak_mb": round((status_kb("VmHWM") - before) / 1024, 1), "step_s": statistics.median(times)}))


def measure_cpu(variant: str, size: int, batch: int, width: float, repeats: int) -> dict[str, float]:
    """Peak RSS growth and median training-step time of one variant, in a fresh interpreter."""
    args = {"variant": variant, "size": size, "batch": batch, "width": width, "repeats": repeats}
    args["threads"] = torch.get_num_threads()
    code = f"from dca.bench.dca3d import _cpu_probe; _cpu_probe({json.dumps(args)!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"dca3d bench: the {variant} probe at {size}^3 failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_cuda(variant: str, size: int, batch: int, width: float, repeats: int) -> dict[str, float | str]:
    """``max_memory_allocated`` (MB) and median step time of one variant under bf16 autocast; OOM is reported."""

    def steps() -> list[float]:
        torch.manual_seed(0)
        model = build(variant, size, width).cuda().train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        x, y = _inputs(size, batch, "cuda")
        _step(model, optimizer, x, y, torch.bfloat16)
        times = []
        for _ in range(repeats):
            torch.cuda.synchronize()
            start = time.perf_counter()
            _step(model, optimizer, x, y, torch.bfloat16)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return times

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        times = steps()  # the model and its tensors are released when steps() returns or raises
    except torch.cuda.OutOfMemoryError:
        return {"peak_mb": "OOM", "step_s": "OOM"}
    finally:
        torch.cuda.empty_cache()
    return {"peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1), "step_s": statistics.median(times)}


def bench_dca3d(
    *,
    device: str,
    size: int,
    batch: int,
    width: float,
    literal_size: int | None,
    repeats: int = 2,
) -> list[dict[str, object]]:
    """One row per variant at ``size`` (the literal port ESTIMATED there), plus the literal port MEASURED at
    ``literal_size`` beside ours and plain at that size (None: the literal port only estimated)."""
    bytes_per_element = 2 if device == "cuda" else 4
    precision = "bf16" if device == "cuda" else "fp32"
    measure = measure_cuda if device == "cuda" else measure_cpu
    rows: list[dict[str, object]] = []
    for at in dict.fromkeys((size, literal_size or size)):
        for variant in VARIANTS:
            row: dict[str, object] = {
                "device": device,
                "precision": precision,
                "size": at,
                "batch": batch,
                "width": width,
                "variant": variant,
                "tokens": tokens(variant, at),
                "scores_gb": round(scores_bytes(variant, at, batch, bytes_per_element) / 1e9, 3),
            }
            if variant == "literal" and at != literal_size:
                row.update(
                    status="ESTIMATED", peak_mb=round(scores_bytes(variant, at, batch, bytes_per_element) / 2**20)
                )
                row["step_s"] = None
            else:
                row.update(status="MEASURED", **measure(variant, at, batch, width, repeats))
            rows.append(row)
    return rows


def literal_size_that_fits(size: int) -> int:
    """The largest multiple of 16 (the 3D U-Net's down-sampling) up to ``size`` whose literal port keeps at most
    ``CPU_LITERAL_BYTES`` of float32 scores at batch 1: 16^3 (4,096 tokens, exactly 1 GiB); 32^3 would keep 64 GiB."""
    fits = [s for s in range(16, size + 1, 16) if scores_bytes("literal", s, 1, 4) <= CPU_LITERAL_BYTES]
    return max(fits) if fits else 16


def summary_lines(rows: Sequence[dict[str, object]]) -> list[str]:
    """The side-by-side table: MEASURED or ESTIMATED on every row."""
    lines = [
        "3D U-Net vs 3D U-Net+DCA vs literal port (full-resolution tokens), one training step "
        "(peak memory: CPU RSS growth / CUDA max_memory_allocated; estimate = SCA probabilities kept, lower bound)"
    ]
    for r in rows:
        step = "n/a" if r["step_s"] is None or isinstance(r["step_s"], str) else f"{r['step_s']:.3f} s"
        peak = r["peak_mb"] if isinstance(r["peak_mb"], str) else f"{r['peak_mb']:,.1f} MB"
        lines.append(
            f"  {r['device']:<4} {r['precision']:<4} {r['size']}^3 batch {r['batch']} width {r['width']}  "
            f"{r['variant']:<8} {r['status']:<9} peak {peak:>16}  step {step:>9}  "
            f"tokens {r['tokens']:>10,}  SCA scores {r['scores_gb']:,.3f} GB"
        )
    return lines


def run(
    *, size: int | None, batch: int | None, width: float | None, repeats: int, literal_size: int | None = None
) -> dict[str, list[dict]]:
    """The CPU table (64^3, batch 2 by default: batch norm needs two values at a 16^3 input's 1^3 bottleneck)
    and, when CUDA is present, the GPU one (128^3, bf16, batch 2). ``literal_size``: where the literal port is
    measured (default :func:`literal_size_that_fits`; 0: estimated only)."""
    cpu_size = size or 64
    if literal_size is None:
        literal_size = literal_size_that_fits(cpu_size)
    result = {
        "cpu": bench_dca3d(
            device="cpu",
            size=cpu_size,
            batch=batch or 2,
            width=width or 0.125,
            literal_size=literal_size or None,
            repeats=repeats,
        )
    }
    if torch.cuda.is_available():
        result["cuda"] = bench_dca3d(
            device="cuda",
            size=128,
            batch=2,
            width=width or 0.5,
            literal_size=16 if literal_size else None,
            repeats=repeats,
        )
    print("\n".join(summary_lines([r for rows in result.values() for r in rows])))
    if "cuda" not in result:
        print("  GPU (128^3, bf16, batch 2): not measured, no CUDA device")
    return result
