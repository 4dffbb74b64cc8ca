"""The training benchmark runs the engine's step and reports images/s, FLOPs, real-data epochs and its targets."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from dca.bench import gpu_check
from dca.bench.cli import main
from dca.bench.models import gflops
from dca.bench.train import bench_train, matmul_peak_tflops, step_flops
from dca.bench.train_targets import judge
from dca.data.convert import prepare
from dca.data.synthetic import synthesize
from dca.models import build_model
from dca.train.config import LossConfig
from dca.train.losses import SegmentationLoss


@pytest.fixture(autouse=True)
def _isolated(isolated_torch: None) -> None:
    """Every test runs isolated (see ``isolated_torch`` in tests/conftest.py)."""


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared synthetic binary dataset of 10 cases (7 train)."""
    folder = tmp_path_factory.mktemp("bench-data")
    prepare("synthetic-binary", synthesize("binary", folder / "raw", n=10, size=(40, 48)), folder / "processed")
    return folder / "processed"


def test_bench_train_reports_images_per_second_for_plain_and_dca() -> None:
    rows = bench_train(["unet"], batch=2, size=32, steps=1, warmup=1)
    assert [(r["model"], r["dca"]) for r in rows] == [("unet", False), ("unet", True)]
    assert all(r["device"] == "cpu" and r["images_per_s"] > 0 for r in rows)
    assert all(abs(r["images_per_s"] * r["step_s"] - 2) < 1e-9 for r in rows)
    assert all(r["mfu"] is None for r in rows)  # no GPU: no measured bf16 peak to divide by
    assert rows[1]["gflops_per_step"] > rows[0]["gflops_per_step"] > 0


def test_step_flops_count_forward_and_backward() -> None:
    """A training step costs two to three forwards (backward: input and weight gradients)."""
    torch.manual_seed(0)
    model = build_model("unet", img_size=32, width=0.25)
    x, y = torch.rand(2, 3, 32, 32), (torch.rand(2, 32, 32) > 0.5).long()
    flops = step_flops(model, SegmentationLoss(LossConfig()), [x], y)
    forward = gflops(model.train(), 32) * 1e9 * 2
    assert 2.0 * forward < flops < 3.5 * forward


def test_matmul_peak_needs_cuda() -> None:
    assert matmul_peak_tflops(torch.device("cpu")) is None


def test_bench_train_real_data_official_style_and_targets(tiny_dataset: Path) -> None:
    rows = bench_train(["unet"], batch=2, size=32, steps=1, warmup=1, official_style=["unet"], data=tiny_dataset)
    assert [(r["dca"], r["official_style"]) for r in rows] == [(False, False), (True, False), (True, True)]
    for r in rows[:2]:
        assert r["epoch_images"] == 7 and r["epoch_s"] > 0 and r["images_per_s_real_data"] > 0
        assert r["real_vs_no_data_loading"] == pytest.approx(r["epoch_s"] / r["epoch_s_no_data_loading"])
    assert "epoch_s" not in rows[2]  # the official-style DCA is timed on the dummy batch only
    targets = {t["target"]: t for t in judge(rows, [])}
    assert all(t["met"] is None for t in targets.values())  # on the CPU no GPU target is judged
    speedup = targets["unet fp32: our DCA step rate / official-style DCA step rate"]["value"]
    assert speedup == pytest.approx(rows[2]["step_s"] / rows[1]["step_s"])


def test_bench_train_cli_on_cpu_writes_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench"
    assert (
        main(
            [
                "train",
                "--device",
                "cpu",
                "--synthetic-n",
                "10",
                "--threads",
                "1",
                "--no-dca",
                "--loader-workers",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "No CUDA device" in printed and "MFU needs CUDA" in printed and "not judged" in printed
    result = json.loads((out / "train.json").read_text())
    assert [r["model"] for r in result["train"]] == ["unet"] and result["loader"][0]["workers"] == 0
    assert result["peak"][0]["tflops"] is None
    assert (out / "train.csv").is_file() and (out / "train_targets.csv").is_file()


def test_bench_train_imports_no_workflow_stack_nor_smp() -> None:
    """The GPU machine has no dvclive, snakemake, dvc, medpy or segmentation-models-pytorch."""
    code = (
        "import sys, dca.bench.cli, dca.bench.train, dca.bench.train_targets, dca.bench.gpu_check;"
        "print(sorted(m for m in ('dvclive', 'snakemake', 'dvc', 'medpy', 'segmentation_models_pytorch', 'timm')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_check_refuses_to_run_without_cuda_unless_cpu_smoke(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no CUDA device.*--cpu-smoke"):
        gpu_check.main(["--kvasir", str(tmp_path), "--work", str(tmp_path / "work")])


def test_gpu_check_smoke_subset_keeps_the_download_layout(tmp_path: Path) -> None:
    raw = synthesize("binary", tmp_path / "raw", n=6, size=(40, 48))  # the Kvasir-SEG layout
    subset = gpu_check._kvasir_subset(raw, tmp_path / "subset", 4)
    names = sorted(p.name for p in (raw / "images").iterdir())[:4]
    assert sorted(p.name for p in (subset / "images").iterdir()) == names
    assert sorted(p.name for p in (subset / "masks").iterdir()) == names
    assert prepare("kvasir", subset.parent, tmp_path / "processed").split.sizes()["test"] >= 1


def test_gpu_check_table_puts_benchmark_figures_beside_test_dice() -> None:
    bench = {
        (False, "bf16"): {"images_per_s": 3000.0, "images_per_s_real_data": 2900.0, "mfu": 0.3, "mfu_datasheet": 0.24},
        (False, "bf16-compile"): {"images_per_s": 3500.0, "images_per_s_real_data": 3300.0, "mfu": 0.35},
    }
    runs = [
        {"dca": False, "precision": "bf16", "epochs": 50, "train_time_s": 40.0, "test_dice": 0.81},
        {"dca": True, "precision": "fp32", "epochs": 50, "train_time_s": 90.0, "test_dice": None},
    ]
    table = gpu_check.final_table(runs, bench, baseline=0.2).set_index(["model", "precision"])
    assert table.loc[("U-Net", "bf16"), "test_dice"] == 0.81 and table.loc[("U-Net", "bf16"), "mfu"] == 0.3
    assert table.loc[("U-Net", "bf16"), "mfu_datasheet"] == 0.24
    assert table.loc[("U-Net", "bf16"), "paper_dice_200_epochs"] == pytest.approx(0.8299)
    assert table.loc[("U-Net", "bf16"), "all_foreground_dice"] == 0.2
    assert pd.isna(table.loc[("U-Net", "bf16-compile"), "test_dice"])  # benchmarked, not trained
    assert not table.loc[("U-Net", "bf16-compile"), "trained"]
    assert pd.isna(table.loc[("U-Net+DCA", "fp32"), "images_per_s"])  # trained, not benchmarked


def test_gpu_check_runs_every_test_file_marked_cuda() -> None:
    """`make gpu-check` runs the tests marked ``cuda`` wherever they live, the no-host-sync check included."""
    repo = Path(__file__).resolve().parents[2]
    command = gpu_check.cuda_tests_command("python3")
    assert command[:6] == ["python3", "-m", "pytest", "-q", "-m", "cuda"]
    paths = [repo / p for p in command[6:]]
    assert all(p.exists() for p in paths) and repo / "tests/train/test_cuda_sync.py" in paths
    marker = re.compile(r"^(pytestmark = .*|@)pytest\.mark\.cuda\b", re.MULTILINE)  # module-wide or per test
    marked = [f for f in (repo / "tests").rglob("test_*.py") if marker.search(f.read_text())]
    assert len(marked) >= 2
    assert [f for f in marked if not any(f == p or p in f.parents for p in paths)] == []
