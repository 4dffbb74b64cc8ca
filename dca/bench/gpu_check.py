"""``python -m dca.bench gpu-check`` (``make gpu-check``): the GPU check a user runs in minutes on one CUDA GPU.

With the machine's own ``python3`` (torch, torchvision, timm, scikit-image, scipy, pandas, pytest;
no workflow stack, no package index) and the checkout on ``PYTHONPATH``, it runs, each as its own
process: ``dca data prepare kvasir`` on Kvasir-SEG in its download layout; the GPU benchmark for
U-Net and U-Net+DCA, alone on the GPU (its timings are the figures); then, sharing the GPU, the tests
marked ``cuda`` (``CUDA_TESTS``: the CUDA trainings and the no-host-sync-per-step check) beside
``dca train`` of U-Net and U-Net+DCA at 224x224 in fp32 and bf16 (``config/gpu-check/unet-kvasir.yaml``)
and ``dca evaluate`` of each; then a table of images/s, MFU and test Dice per model and precision.
``--cpu-smoke`` runs the same path on the CPU with a handful of Kvasir images, tiny models and one epoch,
to check the path, not the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dca.data.loader import job_cpus
from dca.layout import RunDir
from dca.utils.io import write_json, write_text

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "gpu-check" / "unet-kvasir.yaml"
DICE_TARGET = 0.75
PAPER_DICE = {False: 82.99, True: 84.03}  # DCA paper, Kvasir-SEG, U-Net and U-Net+DCA after 200 epochs
PRECISIONS = {"fp32": "none", "bf16": "bf16"}  # gpu-check precision -> device.amp
SMOKE_SETTINGS = [
    "data.size=32",
    "epochs=1",
    "batch_size=4",
    "model.options.width=0.125",
    "device.name=cpu",
    "eval.batch=8",
]


# The tests marked ``cuda``: the CUDA training tests and the no-host-sync-per-step check (set_sync_debug_mode).
CUDA_TESTS = ("tests/cuda", "tests/train/test_cuda_sync.py")


@dataclass(frozen=True)
class TrainingJob:
    """One training of the check: U-Net with or without DCA, in one precision."""

    dca: bool
    precision: str

    @property
    def name(self) -> str:
        """Folder and row name, e.g. ``unet-dca-bf16``."""
        return f"unet{'-dca' if self.dca else ''}-{self.precision}"


def cuda_tests_command(python: str) -> list[str]:
    """The pytest command of the check's ``cuda`` tests (every file holding one, see ``CUDA_TESTS``)."""
    return [python, "-m", "pytest", "-q", "-m", "cuda", *CUDA_TESTS]


def default_kvasir() -> Path:
    """Kvasir-SEG in its download layout: ``../shared/data/Kvasir-SEG`` beside the checkout, else ``data/``."""
    shared = REPO.parent / "shared" / "data" / "Kvasir-SEG"
    return shared if shared.is_dir() else REPO / "data" / "Kvasir-SEG"


def _step(title: str, command: list[str], log: Path) -> tuple[int, float]:
    """Run ``command`` from the checkout, its output to the terminal and to ``log``; return (exit code, seconds)."""
    print(f"== {title}: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            out.write(line)
            if not line.startswith("epoch ") and "it/s" not in line:  # progress bars stay in the log
                print(f"  [{title}] {line}", end="", flush=True)
        code = proc.wait()
    seconds = time.perf_counter() - start
    print(f"== {title}: exit {code} in {seconds:.0f} s (log {log})", flush=True)
    return code, seconds


def _kvasir_subset(kvasir: Path, folder: Path, n: int) -> Path:
    """Copy the first ``n`` image/mask pairs (sorted) of Kvasir-SEG into ``folder/Kvasir-SEG`` (download layout)."""
    out = folder / "Kvasir-SEG"
    shutil.rmtree(out, ignore_errors=True)
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True)
    for image in sorted((kvasir / "images").iterdir())[:n]:
        shutil.copy2(image, out / "images" / image.name)
        shutil.copy2(kvasir / "masks" / image.name, out / "masks" / image.name)
    return out


def _train_and_evaluate(job: TrainingJob, args: argparse.Namespace, data: Path, workers: int) -> dict[str, Any]:
    """``dca train`` then ``dca evaluate`` of one run; its row of the final table (Dice None on failure)."""
    run_dir = args.work / "runs" / job.name
    if run_dir.exists() and not args.keep_runs:
        shutil.rmtree(run_dir)
    settings = [
        f"data.root={data}",
        f"out={run_dir}",
        f"model.dca={str(job.dca).lower()}",
        f"device.amp={PRECISIONS[job.precision]}",
        f"data.workers={workers}",
    ]
    if args.epochs is not None:
        settings.append(f"epochs={args.epochs}")
    settings += SMOKE_SETTINGS if args.cpu_smoke else []
    command = [sys.executable, "-m", "dca.cli", "train", str(args.config)]
    for setting in settings:
        command += ["--set", setting]
    logs = args.work / "logs"
    code, train_s = _step(f"train {job.name}", command, logs / f"train-{job.name}.log")
    row: dict[str, Any] = {
        "run": job.name,
        "model": "unet",
        "dca": job.dca,
        "precision": job.precision,
        "train_exit": code,
        "train_wall_s": round(train_s, 1),
        "test_dice": None,
    }
    if code != 0:
        return row
    summary = json.loads(RunDir(run_dir).summary.read_text(encoding="utf-8"))
    row.update(epochs=summary["epochs"], train_time_s=round(summary["train_time_s"], 1), device=summary["device"])
    code, _ = _step(
        f"evaluate {job.name}",
        [sys.executable, "-m", "dca.cli", "evaluate", str(run_dir)],
        logs / f"evaluate-{job.name}.log",
    )
    row["evaluate_exit"] = code
    if code == 0:
        metrics = json.loads(RunDir(run_dir).eval_metrics.read_text(encoding="utf-8"))
        row["test_dice"] = metrics["dice"]
    return row


def _bench_figures(bench_json: Path) -> dict[tuple[bool, str], dict[str, Any]]:
    """(dca, precision) -> the benchmark's figures for U-Net from ``train.json`` (our DCA, not the official-style)."""
    if not bench_json.is_file():
        return {}
    rows = json.loads(bench_json.read_text(encoding="utf-8"))["train"]
    return {(r["dca"], r["precision"]): r for r in rows if r["model"] == "unet" and not r["official_style"]}


def final_table(runs: list[dict[str, Any]], bench: dict[tuple[bool, str], dict[str, Any]]) -> pd.DataFrame:
    """One row per model x precision: benchmark images/s and MFU beside the run's test Dice and the paper's."""
    rows = []
    for key in dict.fromkeys([*bench, *((r["dca"], r["precision"]) for r in runs)]):
        dca, precision = key
        b = bench.get(key, {})
        r = next((r for r in runs if (r["dca"], r["precision"]) == key), {})
        rows.append(
            {
                "model": "U-Net+DCA" if dca else "U-Net",
                "precision": precision,
                "images_per_s": b.get("images_per_s"),
                "images_per_s_real_data": b.get("images_per_s_real_data"),
                "mfu": b.get("mfu"),
                "epochs": r.get("epochs"),
                "train_time_s": r.get("train_time_s"),
                "test_dice": r.get("test_dice"),
                "paper_dice_200_epochs": PAPER_DICE[dca] / 100 if r else None,
            }
        )
    return pd.DataFrame(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The check's options (defaults: the full GPU check)."""
    parser = argparse.ArgumentParser(prog="python -m dca.bench gpu-check", description=__doc__.splitlines()[0])
    parser.add_argument("--kvasir", type=Path, default=default_kvasir(), help="Kvasir-SEG in its download layout")
    parser.add_argument("--work", type=Path, default=REPO / "results" / "gpu-check", help="output folder")
    parser.add_argument("--config", type=Path, default=CONFIG, help="run config of the trainings")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the config's)")
    parser.add_argument("--jobs", type=int, default=4, help="trainings run at once on the GPU (default 4)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["tests", "bench", "train"], help="stages to skip")
    parser.add_argument("--keep-runs", action="store_true", help="resume/skip existing runs instead of restarting")
    parser.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="check the path on the CPU: a few Kvasir images, tiny models, one epoch (no figures)",
    )
    parser.add_argument("--smoke-cases", type=int, default=20, help="Kvasir images used by --cpu-smoke")
    return parser.parse_args(argv)


def _environment(cpu_smoke: bool) -> str:
    """torch and the device, and an error unless CUDA is there (or this is the CPU smoke run)."""
    import torch

    if torch.cuda.is_available():
        return f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}"
    if not cpu_smoke:
        raise SystemExit("gpu-check: no CUDA device visible to torch; on a CPU machine run it with --cpu-smoke")
    return f"torch {torch.__version__}, no CUDA: CPU smoke run (checks the path; the figures need a GPU)"


def main(argv: list[str] | None = None) -> int:
    """Run the check's stages; exit 0 when every stage passed (and, on a GPU, every test Dice >= 0.75)."""
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"gpu-check: {_environment(args.cpu_smoke)}", flush=True)
    if not (args.kvasir / "images").is_dir():
        raise SystemExit(
            f"gpu-check: {args.kvasir} is not Kvasir-SEG in its download layout (images/, masks/); "
            "pass KVASIR=DIR (make) or --kvasir DIR"
        )
    (args.work / "logs").mkdir(parents=True, exist_ok=True)
    logs, stages = args.work / "logs", {}
    py = sys.executable
    raw = _kvasir_subset(args.kvasir, args.work / "raw", args.smoke_cases) if args.cpu_smoke else args.kvasir
    data = args.work / ("kvasir-smoke" if args.cpu_smoke else "kvasir")
    if not (data / "dataset.json").is_file() or args.cpu_smoke:
        prepare = [py, "-m", "dca.cli", "data", "prepare", "kvasir", "--raw", str(raw), "--out", str(data)]
        stages["prepare"] = _step("prepare Kvasir-SEG", [*prepare, "--overwrite"], logs / "prepare.log")[0]
        if stages["prepare"]:
            return _finish(args, stages, [], {}, started)
    if "bench" not in args.skip:  # alone on the machine: its timings are the figures
        bench = [py, "-m", "dca.bench", "train", "--models", "unet", "--data", str(data)]
        bench += ["--out", str(args.work / "bench")]
        bench += (
            ["--device", "cpu", "--threads", "1", "--loader-workers", "0"]
            if args.cpu_smoke
            else ["--device", "cuda", "--precisions", "fp32", "bf16", "bf16-compile"]
        )
        stages["benchmark"] = _step("benchmark", bench, logs / "bench.log")[0]
    # The trainings and the cuda tests share the GPU (their timings are not the figures; the benchmark's are).
    jobs = 1 if args.cpu_smoke else max(1, args.jobs)
    plan = (
        [TrainingJob(dca, precision) for precision in PRECISIONS for dca in (False, True)]
        if "train" not in args.skip
        else []
    )
    workers = (
        0 if args.cpu_smoke else max(1, job_cpus() // max(1, len(plan[:jobs])) - 1)
    )  # one CPU per training process
    with ThreadPoolExecutor(1 + jobs) as pool:
        tests = None
        if "tests" not in args.skip:
            tests = pool.submit(_step, "cuda tests", cuda_tests_command(py), logs / "tests.log")
        runs = list(pool.map(lambda job: _train_and_evaluate(job, args, data, workers), plan))
        if tests is not None:
            stages["cuda tests"] = tests.result()[0]
    for r in runs:
        stages[f"train+evaluate {r['run']}"] = r["train_exit"] or r.get("evaluate_exit", 1)
    return _finish(args, stages, runs, _bench_figures(args.work / "bench" / "train.json"), started)


def _finish(
    args: argparse.Namespace,
    stages: dict[str, int],
    runs: list[dict[str, Any]],
    bench: dict[tuple[bool, str], dict[str, Any]],
    started: float,
) -> int:
    """Print and write the final table and each stage's verdict; return the exit code."""
    table = final_table(runs, bench)
    dice_ok = all(d is not None and d >= DICE_TARGET for d in table["test_dice"]) if runs else True
    print(
        "\n== gpu-check figures"
        + (
            " (CPU smoke run: path checked, figures not meaningful)"
            if args.cpu_smoke
            else f" (target: test Dice >= {DICE_TARGET})"
        )
    )
    if not table.empty:
        print(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    for stage, code in stages.items():
        print(f"  {'ok  ' if code == 0 else 'FAIL'} {stage}" + ("" if code == 0 else f" (exit {code})"))
    if runs and not args.cpu_smoke:
        print(f"  {'ok  ' if dice_ok else 'FAIL'} every test Dice >= {DICE_TARGET}")
    print(f"gpu-check: {time.perf_counter() - started:.0f} s in all; results in {args.work}")
    write_text(args.work / "gpu_check.csv", table.to_csv(index=False))
    write_json(
        args.work / "gpu_check.json",
        {"stages": stages, "runs": runs, "table": table.to_dict("records"), "cpu_smoke": args.cpu_smoke},
    )
    failed = any(stages.values()) or (not args.cpu_smoke and not dice_ok)
    return 1 if failed else 0
