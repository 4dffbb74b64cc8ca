"""MFU as people read it: the datasheet dense peak of the detected GPU, and fp32 rows labelled and divided as TF32."""

from __future__ import annotations

import pytest

from dca.bench.peaks import MATH_LABELS, datasheet_gpu, datasheet_peak, measured_peak_key, row_math


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 SXM5 80GB", "H100 SXM"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA H100 PCIe", None),
        ("NVIDIA H100 NVL", None),
        ("NVIDIA H200 NVL", None),
        ("NVIDIA GeForce RTX 4090", None),
        (None, None),
    ],
)
def test_datasheet_entry_of_the_detected_gpu(name: str | None, entry: str | None) -> None:
    assert datasheet_gpu(name) == entry


def test_datasheet_peaks_are_the_dense_ones_of_each_math() -> None:
    assert datasheet_peak("NVIDIA H100 80GB HBM3", "bf16") == 989.0
    assert datasheet_peak("NVIDIA H200", "bf16") == 989.0
    assert datasheet_peak("NVIDIA H100 80GB HBM3", "tf32") == 494.7
    assert datasheet_peak("NVIDIA A100-SXM4-40GB", "bf16") == 312.0
    assert datasheet_peak("NVIDIA A100-SXM4-40GB", "tf32") == 156.0
    assert datasheet_peak("NVIDIA L40S", "bf16") == 362.0 and datasheet_peak("NVIDIA L40S", "tf32") == 181.0
    assert datasheet_peak("NVIDIA H100 PCIe", "bf16") is None  # unknown card: measured peak only


def test_fp32_rows_on_cuda_are_tf32_and_divide_by_the_tf32_peak() -> None:
    assert row_math("none", on_cuda=True, tf32=True) == "tf32"
    assert MATH_LABELS["tf32"] == "fp32 (TF32)" and measured_peak_key("tf32") == "tf32"
    assert row_math("none", on_cuda=True, tf32=False) == "fp32" and measured_peak_key("fp32") == ""
    assert row_math("none", on_cuda=False, tf32=True) == "fp32"
    assert row_math("bf16", on_cuda=True, tf32=True) == "bf16" and measured_peak_key("bf16") == "bf16"
    assert row_math("fp16", on_cuda=True, tf32=True) == "fp16" and measured_peak_key("fp16") == "bf16"
