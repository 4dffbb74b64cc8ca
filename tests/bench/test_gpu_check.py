"""The GPU check: a verdict over what ran, a budget that skips what cannot fit, portable to the GPU image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dca.bench import gpu_check
from dca.data.synthetic import synthesize

REPO = Path(__file__).resolve().parents[2]
# What the GPU machine's image lacks (it has torch, torchvision, numpy, pandas, scipy, scikit-image, pyyaml,
# pillow, tqdm, pytest, timm, h5py, tifffile, matplotlib).
ABSENT_ON_GPU = (
    "snakemake",
    "dvc",
    "dvclive",
    "segmentation_models_pytorch",
    "medpy",
    "jsonschema",
    "nibabel",
    "monai",
)
BLOCKER = f"""
import sys

class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {set(ABSENT_ON_GPU)!r}:
            raise ImportError(f"{{name}} is not on the GPU machine (blocked by the test's import hook)")
        return None

sys.meta_path.insert(0, _Absent())
"""


def _trained(model: str, dice: float | None, loss: float | None, floor: float = 0.2) -> dict:
    return {
        "model": model,
        "precision": "bf16",
        "trained": True,
        "final_train_loss": loss,
        "test_dice": dice,
        "all_foreground_dice": floor,
    }


def test_verdict_judges_only_rows_that_trained() -> None:
    """Benchmark rows without a training (bf16-compile) are not gated; trained rows need a finite loss and a Dice
    above the all-foreground baseline."""
    bench = {
        (False, "bf16"): {"images_per_s": 3000.0},
        (False, "bf16-compile"): {"images_per_s": 3500.0},
        (True, "bf16-compile"): {"images_per_s": 2600.0},
    }
    runs = [{"dca": d, "precision": "bf16", "test_dice": 0.8, "final_train_loss": 0.3} for d in (False, True)]
    table = gpu_check.final_table(runs, bench, baseline=0.25)
    assert len(table) == 4 and table["trained"].sum() == 2
    gates = gpu_check.training_verdict(table)
    assert [ok for _, ok in gates] == [True, True]
    assert gpu_check.training_verdict(gpu_check.final_table([], bench)) == []  # benchmark only: nothing to gate
    low = gpu_check.final_table([{**runs[0], "test_dice": 0.2}], bench, baseline=0.25)
    assert [ok for _, ok in gpu_check.training_verdict(low)] == [False]
    nan = gpu_check.final_table([{**runs[0], "final_train_loss": float("nan")}], bench, baseline=0.25)
    assert [ok for _, ok in gpu_check.training_verdict(nan)] == [False]


def test_budget_scales_estimates_by_what_ran_and_refuses_what_cannot_fit() -> None:
    budget = gpu_check.Budget(total_s=100.0, started=0.0)
    budget.left = lambda: 50.0  # type: ignore[method-assign]
    assert budget.refusal(40.0) is None
    budget.record(estimate_s=10.0, actual_s=20.0)  # the machine runs at half the estimated speed
    assert budget.scale() == 2.0
    assert budget.refusal(40.0) == "needs about 80 s (estimate 40 s x 2.00), 50 s left"


def test_a_short_budget_skips_every_stage_saying_why_and_writes_the_results(tmp_path: Path) -> None:
    raw = synthesize("binary", tmp_path / "raw" / "Kvasir-SEG", n=6, size=(40, 48))
    work = tmp_path / "work"
    args = ["--cpu-smoke", "--kvasir", str(raw), "--work", str(work), "--tests-root", str(REPO), "--budget-s", "1"]
    assert gpu_check.main(args) == 0
    result = json.loads((work / "gpu_check.json").read_text())
    assert [s["stage"] for s in result["stages"]] == [
        "cuda tests (core)",
        "prepare Kvasir-SEG",
        "benchmark bf16",
        "train pair",
        "cuda tests (rest)",
        "compile",
    ]
    assert all(s["status"] == "skipped" and "s left" in s["reason"] for s in result["stages"][:2])
    assert result["passed"] is True and result["budget_s"] == 1


def test_missing_kvasir_names_every_place_looked_and_the_recipe(tmp_path: Path) -> None:
    places = [tmp_path / "a", tmp_path / "b"]
    assert gpu_check.find_kvasir(places) is None
    message = gpu_check.missing_kvasir_message(places)
    assert str(places[0]) in message and str(places[1]) in message and "carry" in message and "--kvasir" in message
    with pytest.raises(SystemExit, match="data/raw/Kvasir-SEG"):
        gpu_check.main(["--cpu-smoke", "--kvasir", str(places[0]), "--work", str(tmp_path / "work")])


def test_cuda_test_selections_name_collected_tests() -> None:
    """The core and compile selections are node ids pytest collects (the rest: every other ``cuda`` test)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "cuda",
            *gpu_check.CUDA_TESTS,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    collected = {line for line in out.splitlines() if "::" in line}
    named = {t for t in (*gpu_check.CORE_TESTS, *gpu_check.COMPILE_TESTS) if "::" in t}
    assert named <= collected
    assert {t for t in collected if t.startswith(gpu_check.CORE_TESTS[0])}  # the sync file, whole, in the core


def test_cpu_smoke_passes_with_only_the_gpu_images_packages(tmp_path: Path) -> None:
    """``--cpu-smoke`` end to end in a fresh interpreter whose import hook refuses every package the GPU machine
    lacks (its subprocesses inherit the hook): the check imports nothing the device image does not hold."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(BLOCKER)
    raw = synthesize("binary", tmp_path / "raw" / "Kvasir-SEG", n=10, size=(40, 48))
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(REPO)]), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "dca.bench",
        "gpu-check",
        "--cpu-smoke",
        "--kvasir",
        str(raw),
        "--work",
        str(work),
        "--tests-root",
        str(REPO),
        "--smoke-cases",
        "10",
        "--skip",
        "compile",
        "--config",
        str(REPO / "config/gpu-check/unet-kvasir.yaml"),
    ]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    probe = subprocess.run([sys.executable, "-c", "import jsonschema"], env=env, capture_output=True, text=True)
    assert "blocked by the test's import hook" in probe.stderr  # the hook did apply
    result = json.loads((work / "gpu_check.json").read_text())
    ran = {s["stage"]: s["status"] for s in result["stages"]}
    assert ran == {
        "cuda tests (core)": "ok",
        "prepare Kvasir-SEG": "ok",
        "benchmark bf16": "ok",
        "train pair": "ok",
        "cuda tests (rest)": "ok",
        "compile": "skipped",
    }
    assert [r["train_exit"] for r in result["runs"]] == [0, 0] and all(
        r["test_dice"] is not None for r in result["runs"]
    )
