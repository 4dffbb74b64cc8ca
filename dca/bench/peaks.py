"""Datasheet peaks and the matrix math a benchmark row runs in, so that MFU reads as people read it.

MFU is reported twice: against the GEMM peak measured in the same run (what this card, clock and
driver deliver) and against the vendor's dense (no sparsity) datasheet peak of the detected GPU.
On CUDA, ``fp32`` rows run their matrix products and convolutions in TF32 (``device.determinism:
seeded`` allows it), so they are labelled ``tf32`` and divided by the TF32 peak, not the bf16 one.
"""

from __future__ import annotations

# Dense tensor-core peaks in TFLOP/s (datasheets; fp16 equals bf16 on these cards).
DATASHEET_TFLOPS: dict[str, dict[str, float]] = {
    "H100 SXM": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.7},
    "H200 SXM": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.7},
    "A100": {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0},
    "L40S": {"bf16": 362.0, "fp16": 362.0, "tf32": 181.0},
}
MATH_LABELS = {"bf16": "bf16", "fp16": "fp16", "tf32": "fp32 (TF32)", "fp32": "fp32"}


def datasheet_gpu(name: str | None) -> str | None:
    """The datasheet entry of a ``torch.cuda.get_device_name`` string, or None for a card not listed.

    The H100 SXM reports itself as ``NVIDIA H100 80GB HBM3`` and the H200 SXM as ``NVIDIA H200``; the PCIe and
    NVL cards have lower peaks and are not listed (measured peak only).
    """
    if not name:
        return None
    upper = name.upper()
    if "NVL" in upper:
        return None
    if "H200" in upper:
        return "H200 SXM"
    if "H100" in upper:
        sxm = ("HBM3" in upper or "SXM" in upper) and "PCIE" not in upper.replace("-", "")
        return "H100 SXM" if sxm else None
    if "A100" in upper:  # SXM4 and PCIe cards share the dense peaks
        return "A100"
    if "L40S" in upper:
        return "L40S"
    return None


def datasheet_peak(gpu_name: str | None, math: str) -> float | None:
    """The dense datasheet peak (TFLOP/s) of the detected GPU in ``math`` (bf16, fp16, tf32), None if unknown."""
    entry = datasheet_gpu(gpu_name)
    return DATASHEET_TFLOPS[entry].get(math) if entry else None


def row_math(amp: str, on_cuda: bool, tf32: bool) -> str:
    """The math a benchmark row's matrix products run in: its autocast dtype, else TF32 on CUDA when allowed."""
    if amp in ("bf16", "fp16"):
        return amp
    return "tf32" if on_cuda and tf32 else "fp32"


def measured_peak_key(math: str) -> str:
    """Which measured GEMM peak a row divides by: the TF32 one for TF32 rows, the bf16 one for bf16 and fp16
    (same tensor-core rate on these cards), none for plain fp32 (the CPU)."""
    return {"tf32": "tf32", "bf16": "bf16", "fp16": "bf16"}.get(math, "")
