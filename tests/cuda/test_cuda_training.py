"""Training on CUDA through ``dca train``'s own engine: every model in fp32, bf16 and fp16 with channels_last,
torch.compile, SIGTERM to the process group with loader workers and a resume, and evaluation (2D and 3D)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
import yaml

from dca.bench.peaks import datasheet_peak
from dca.bench.train import bench_train, matmul_peak_tflops
from dca.evaluate.run import evaluate_run
from dca.layout import RunDir
from dca.models import build_model
from dca.train.config import RunConfig, resolve_config, to_dict
from dca.train.device import seed_everything
from dca.train.loop import PREEMPTED_EXIT_CODE, train

pytestmark = pytest.mark.cuda

PAPER_MODELS = ("unet", "vnet", "r2unet", "resunetpp", "doubleunet", "multiresunet")
CASES = [(m, d) for m in PAPER_MODELS for d in (False, True)] + [("din-tiny", False)]
TIMEOUT = 300


def cuda_config(root: Path, out: Path, **overrides: Any) -> RunConfig:
    """A short CUDA run at 64 x 64 (divisible by every model's down-sampling and DCA patch size)."""
    raw: dict[str, Any] = {
        "preset": "dca-kvasir-seg",
        "model": {"name": "unet"},
        "data": {"root": str(root), "size": 64, "workers": 0},
        "optim": {"lr": 1e-3},
        "epochs": 1,
        "batch_size": 8,
        "selection": "last",
        "device": {"name": "cuda", "amp": "bf16", "channels_last": True, "determinism": "seeded"},
        "eval": {"batch": 8, "save_predictions": 1},
        "out": str(out),
    }
    return resolve_config(raw, overrides)


def curves(run: Path) -> pd.DataFrame:
    """The run's per-epoch rows."""
    return pd.read_csv(RunDir(run).curves)


@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
@pytest.mark.parametrize(("model", "dca"), CASES, ids=[f"{m}{'-dca' if d else ''}" for m, d in CASES])
def test_training_steps_on_cuda(polyps: Path, tmp_path: Path, model: str, dca: bool, amp: str) -> None:
    """One epoch (three steps) per model and precision, channels_last: a finite loss, every weight finite and
    the weights moved away from the seeded initialisation."""
    data = {"inputs": ["image", "image"]} if model.startswith("din") else {}  # DIN: (image, enhanced) inputs
    run = tmp_path / "run"
    config = cuda_config(polyps, run, model={"name": model, "dca": dca}, device={"amp": amp}, data=data)
    summary = train(config, log=lambda _: None)
    assert summary["device"].startswith("cuda") and summary["epochs"] == 1
    assert math.isfinite(curves(run)["train_loss"].iloc[0])
    trained = torch.load(RunDir(run).last, map_location="cpu", weights_only=False)["model"]
    seed_everything(config.seed)
    initial = build_model(model, dca=dca, img_size=64).state_dict()
    assert all(torch.isfinite(v).all() for v in trained.values() if v.is_floating_point())
    assert any(not torch.equal(trained[k], initial[k]) for k in initial if initial[k].is_floating_point())


@pytest.mark.parametrize("dca", [False, True], ids=["unet", "unet-dca"])
def test_compiled_training_on_cuda(polyps: Path, tmp_path: Path, dca: bool) -> None:
    """``device.compile: true`` (bf16, channels_last) trains and its checkpoint holds the uncompiled model's keys."""
    config = cuda_config(polyps, tmp_path / "run", model={"dca": dca}, device={"compile": True}, epochs=2)
    summary = train(config, log=lambda _: None)
    assert summary["epochs"] == 2 and all(math.isfinite(v) for v in curves(tmp_path / "run")["train_loss"])
    state = torch.load(RunDir(tmp_path / "run").last, map_location="cpu", weights_only=False)["model"]
    assert not any(key.startswith("_orig_mod.") for key in state)


def _dca_train(config_path: Path) -> subprocess.Popen[bytes]:
    """``dca train CONFIG`` in its own process group (as SLURM starts a job step), stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "dca.cli", "train", str(config_path)],
        cwd=config_path.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_sigterm_to_the_process_group_saves_and_resume_finishes_on_cuda(polyps: Path, tmp_path: Path) -> None:
    """With loader workers, SIGTERM to the whole group (what SLURM sends) saves ``last.pt`` and exits 75; the
    re-run resumes on CUDA (RNG states restored from CPU tensors) and finishes every epoch once."""
    epochs = 30
    config = cuda_config(polyps, tmp_path / "run", data={"workers": 2}, batch_size=4, epochs=epochs)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(to_dict(config)))
    proc = _dca_train(path)
    deadline = time.monotonic() + TIMEOUT
    while not RunDir(tmp_path / "run").last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == PREEMPTED_EXIT_CODE, err.decode()
    assert "SIGTERM" in err.decode()
    done = len(curves(tmp_path / "run"))
    assert 1 <= done < epochs
    proc = _dca_train(path)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()
    assert "resuming from" in err.decode()
    rows = curves(tmp_path / "run")
    assert rows["epoch"].tolist() == list(range(1, epochs + 1))
    summary = json.loads(RunDir(tmp_path / "run").summary.read_text())
    assert summary["epochs"] == epochs and summary["device"].startswith("cuda")


def test_evaluation_on_cuda_2d(polyps: Path, tmp_path: Path) -> None:
    """A bf16 U-Net+DCA run evaluated on the GPU: test Dice in [0, 1] on every test image, predictions written."""
    run = tmp_path / "run"
    train(cuda_config(polyps, run, model={"dca": True}, epochs=3), log=lambda _: None)
    metrics = evaluate_run(run, log=lambda _: None)
    assert 0.0 <= metrics["dice"] <= 1.0 and metrics["n_cases"] == 6
    assert len(list(RunDir(run).predictions.iterdir())) == 1


def test_evaluation_on_cuda_3d(organs: Path, tmp_path: Path) -> None:
    """3D volumes: slice inference batched on the GPU, scored per volume (TransUNet protocol)."""
    run = tmp_path / "run"
    config = cuda_config(organs, run, preset="dca-synapse", batch_size=8, epochs=1)
    train(config, log=lambda _: None)
    metrics = evaluate_run(run, log=lambda _: None)
    assert metrics["convention"] == "transunet" and 0.0 <= metrics["dice"] <= 1.0


def test_gpu_benchmark_measures_peak_and_utilisation(polyps: Path) -> None:
    """The GPU benchmark on CUDA: measured bf16 and TF32 GEMM peaks, MFU of each case against the peak of its math
    (fp32 rows: TF32), real-data epochs."""
    peak = {m: matmul_peak_tflops(torch.device("cuda"), n=4096, repeats=5, math=m) for m in ("bf16", "tf32")}
    assert peak["bf16"] > peak["tf32"] > 10
    rows = bench_train(
        ["unet"],
        batch=8,
        size=64,
        steps=2,
        warmup=2,
        precisions=["fp32", "bf16"],
        official_style=["unet"],
        data=polyps,
        workers=2,
        peak_tflops=peak,
    )
    assert len(rows) == 6 and all(r["channels_last"] and 0 < r["mfu"] < 1 for r in rows)
    assert {r["math"] for r in rows if r["precision"] == "fp32"} == {"fp32 (TF32)"}
    assert all(r["peak_tflops_measured"] == peak["tf32" if r["precision"] == "fp32" else "bf16"] for r in rows)
    gpu = torch.cuda.get_device_name(0)
    assert all(
        r["peak_tflops_datasheet"] == datasheet_peak(gpu, "tf32" if r["precision"] == "fp32" else "bf16") for r in rows
    )
    assert all(r["epoch_s"] > 0 for r in rows if not r["official_style"])
