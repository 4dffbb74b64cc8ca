"""``python -m dca.bench gpu-check --budget-s S`` (``make gpu-check``): the GPU check, sized to a time budget.

Made for a GPU lent for a few minutes: the machine's own ``python3`` (torch, torchvision, pandas, scipy,
scikit-image, pytest; no workflow stack, no package index) with the checkout on ``PYTHONPATH``. Its stages run in
order of value, each as its own process, each skipped with a printed reason when its estimated cost (scaled by
how the stages before it compared with their estimates) does not fit in what is left of the budget, and killed
at the budget's end:

1. the tests marked ``cuda``, core selection (training steps of U-Net and U-Net+DCA in fp32/bf16/fp16, the
   no-host-sync checks fresh and resumed, SIGTERM + exact resume, evaluation);
2. ``dca data prepare kvasir`` (when Kvasir-SEG is found);
3. the benchmark of U-Net and U-Net+DCA at 224 in bf16 (images/s, MFU against the measured and the datasheet
   peak, DCA overhead against its FLOP ratio, ours against the official-style block, real data against none);
4. one short real-data training pair (U-Net, U-Net+DCA, bf16) and its test Dice, gated only on a finite loss and
   a Dice above the all-foreground baseline;
5. the rest of the ``cuda`` tests (every other model); 6. compile: the bf16-compile benchmark and compile tests.

After every stage ``<work>/gpu_check.json`` is rewritten (atomically), so a killed check still leaves what
finished. Every path is an argument (``make gpu-check`` passes the checkout's), so it runs from an installed
package too; ``--cpu-smoke`` runs the same path on the CPU with a few images and tiny models (no figures).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dca.layout import RunDir
from dca.processed import ProcessedDir, read_index
from dca.train.loader import job_cpus
from dca.utils.io import write_json, write_text

DEFAULT_BUDGET_S = 360.0
CONFIG = Path("config/gpu-check/unet-kvasir.yaml")  # relative to the working directory (the checkout)
KVASIR_PLACES = (Path("data/Kvasir-SEG"), Path("data/raw/Kvasir-SEG"))  # looked in after every --kvasir
PAPER_DICE = {False: 82.99, True: 84.03}  # DCA paper, Kvasir-SEG, U-Net and U-Net+DCA after 200 epochs
SMOKE_SETTINGS = [
    "data.size=32",
    "epochs=1",
    "batch_size=4",
    "model.options.width=0.125",
    "device.name=cpu",
    "eval.batch=8",
]
KVASIR_RECIPE = (
    "on the device machine copy Kvasir-SEG (images/, masks/) into an ignored folder of the checkout, e.g. "
    "`cp -r /work/shared/data/Kvasir-SEG data/Kvasir-SEG` here, name that folder in the run's carry "
    "(data/Kvasir-SEG), then `make gpu-check KVASIR=data/Kvasir-SEG` or pass --kvasir DIR (README, GPU section)"
)

# The tests marked ``cuda`` (paths relative to the checkout), split by value: the core runs first, the compile
# tests join the compile stage, every other one (new ones included) is the rest.
CUDA_TESTS = ("tests/cuda", "tests/train/test_cuda_sync.py")
_TRAINING = "tests/cuda/test_cuda_training.py"
CORE_TESTS = (
    "tests/train/test_cuda_sync.py",
    *(
        f"{_TRAINING}::test_training_steps_on_cuda[{m}-{amp}]"
        for m in ("unet", "unet-dca")
        for amp in ("none", "bf16", "fp16")
    ),
    f"{_TRAINING}::test_sigterm_to_the_process_group_saves_and_resume_finishes_on_cuda",
    f"{_TRAINING}::test_evaluation_on_cuda_2d",
)
COMPILE_TESTS = tuple(f"{_TRAINING}::test_compiled_training_on_cuda[{m}]" for m in ("unet", "unet-dca"))

# Estimated seconds on one H100/H200 (not measured: no line of this check has run on a GPU yet); the check
# scales them by how the stages that ran compared with theirs.
ESTIMATE_S = {
    "cuda tests (core)": 100.0,
    "prepare Kvasir-SEG": 40.0,
    "benchmark bf16": 70.0,
    "cuda tests (rest)": 170.0,
    "compile": 240.0,
}
TRAIN_FIXED_S, TRAIN_EPOCH_S, MIN_EPOCHS = 45.0, 3.0, 3  # the training pair: start-up + evaluation, per epoch


def cuda_tests_command(
    python: str, selection: tuple[str, ...] = CUDA_TESTS, deselect: tuple[str, ...] = ()
) -> list[str]:
    """The pytest command of some of the check's ``cuda`` tests (node ids or paths; ``deselect`` left out)."""
    return [python, "-m", "pytest", "-q", "-m", "cuda", *selection, *(f"--deselect={d}" for d in deselect)]


def find_kvasir(candidates: list[Path]) -> Path | None:
    """The first of ``candidates`` that is Kvasir-SEG in its download layout (``images/`` and ``masks/``)."""
    return next((c for c in candidates if (c / "images").is_dir() and (c / "masks").is_dir()), None)


def missing_kvasir_message(candidates: list[Path]) -> str:
    """What to do when Kvasir-SEG is nowhere: every place looked in, and the device recipe."""
    return f"Kvasir-SEG not found; looked in {', '.join(str(c) for c in candidates)}; {KVASIR_RECIPE}"


@dataclass
class Budget:
    """The check's time budget: what is left, and how the stages so far compared with their estimates."""

    total_s: float
    started: float
    spent_estimate_s: float = 0.0
    spent_actual_s: float = 0.0

    def left(self) -> float:
        return self.total_s - (time.perf_counter() - self.started)

    def scale(self) -> float:
        """Measured / estimated seconds of the stages that ran (clamped to 0.5-3; 1 before any ran)."""
        if self.spent_estimate_s <= 0:
            return 1.0
        return min(3.0, max(0.5, self.spent_actual_s / self.spent_estimate_s))

    def expected(self, estimate_s: float) -> float:
        return estimate_s * self.scale()

    def refusal(self, estimate_s: float) -> str | None:
        """Why a stage of this estimate cannot run now, or None when it fits."""
        need, left = self.expected(estimate_s), self.left()
        if need <= left:
            return None
        return f"needs about {need:.0f} s (estimate {estimate_s:.0f} s x {self.scale():.2f}), {max(left, 0):.0f} s left"

    def record(self, estimate_s: float, actual_s: float) -> None:
        self.spent_estimate_s += estimate_s
        self.spent_actual_s += actual_s


def _step(title: str, command: list[str], log: Path, timeout_s: float, cwd: Path | None = None) -> tuple[int, float]:
    """Run ``command`` (its own process group), output to the terminal and to ``log``, killed after ``timeout_s``;
    return (exit code, 124 on timeout; seconds)."""
    print(f"== {title}: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = start + max(timeout_s, 1.0)
        killed = False
        for line in proc.stdout:
            out.write(line)
            if not line.startswith("epoch ") and "it/s" not in line:  # progress bars stay in the log
                print(f"  [{title}] {line}", end="", flush=True)
            if time.perf_counter() > deadline and not killed:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
        try:
            code = proc.wait(timeout=max(deadline - time.perf_counter(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = True
        code = 124 if killed else code
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


def all_foreground_dice(data: Path) -> float:
    """Mean per-image test Dice of predicting every pixel as foreground: 2|G| / (|G| + N), the gate's floor."""
    import numpy as np
    from PIL import Image

    scores = []
    for row in read_index(data):
        if row["split"] == "test":
            mask = np.asarray(Image.open(data / row["mask"])) > 0
            scores.append(2.0 * mask.sum() / (mask.sum() + mask.size))
    return float(np.mean(scores))


def _runs_root(work: Path) -> Path:
    """Where the trainings keep their run folders: tmpfs when it has room (the per-epoch ``last.pt`` of ~100 MB
    then costs no disk write and fsync), else ``<work>/runs``; summaries, curves, logs and metrics are copied to
    ``<work>/runs`` either way."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4 * 2**30:
        return Path(tempfile.mkdtemp(prefix="dca-gpu-check-", dir=shm))
    return work / "runs"


def _train_and_evaluate(
    dca: bool, args: argparse.Namespace, data: Path, root: Path, epochs: int | None, workers: int, timeout_s: float
) -> dict[str, Any]:
    """``dca train`` then ``dca evaluate`` of one bf16 run; its row (Dice None on failure)."""
    name = f"unet{'-dca' if dca else ''}-bf16"
    run_dir, kept = root / name, args.work / "runs" / name
    shutil.rmtree(run_dir, ignore_errors=True)
    settings = [
        f"data.root={data}",
        f"out={run_dir}",
        f"model.dca={str(dca).lower()}",
        "device.amp=bf16",
        f"data.workers={workers}",
    ]
    settings += [f"epochs={epochs}"] if epochs is not None else []
    settings += SMOKE_SETTINGS if args.cpu_smoke else []
    command = [sys.executable, "-m", "dca.cli", "train", str(args.config)]
    for setting in settings:
        command += ["--set", setting]
    logs = args.work / "logs"
    started = time.perf_counter()
    code, train_s = _step(f"train {name}", command, logs / f"train-{name}.log", timeout_s)
    row: dict[str, Any] = {
        "run": name,
        "model": "unet",
        "dca": dca,
        "precision": "bf16",
        "train_exit": code,
        "train_wall_s": round(train_s, 1),
        "test_dice": None,
    }
    if code == 0:
        summary = json.loads(RunDir(run_dir).summary.read_text(encoding="utf-8"))
        row.update(
            epochs=summary["epochs"],
            train_time_s=round(summary["train_time_s"], 1),
            device=summary["device"],
            final_train_loss=summary["final"]["train_loss"],
        )
        left = timeout_s - (time.perf_counter() - started)
        command = [sys.executable, "-m", "dca.cli", "evaluate", str(run_dir)]
        row["evaluate_exit"], _ = _step(f"evaluate {name}", command, logs / f"evaluate-{name}.log", left)
        if row["evaluate_exit"] == 0:
            row["test_dice"] = json.loads(RunDir(run_dir).eval_metrics.read_text(encoding="utf-8"))["dice"]
    if run_dir != kept:  # tmpfs: keep the small files, drop the checkpoints
        src, dst = RunDir(run_dir), RunDir(kept)
        for attr in ("summary", "curves", "log", "eval_metrics"):
            if getattr(src, attr).is_file():
                getattr(dst, attr).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(getattr(src, attr), getattr(dst, attr))
        shutil.rmtree(run_dir, ignore_errors=True)
    return row


def _bench_figures(*bench_jsons: Path) -> dict[tuple[bool, str], dict[str, Any]]:
    """(dca, precision) -> the benchmark's U-Net figures from its ``train.json`` files (ours, not official-style)."""
    figures = {}
    for path in bench_jsons:
        if path.is_file():
            rows = json.loads(path.read_text(encoding="utf-8"))["train"]
            figures |= {(r["dca"], r["precision"]): r for r in rows if r["model"] == "unet" and not r["official_style"]}
    return figures


def final_table(
    runs: list[dict[str, Any]], bench: dict[tuple[bool, str], dict[str, Any]], baseline: float | None = None
) -> pd.DataFrame:
    """One row per model x precision: benchmark images/s and MFU beside the run's test Dice, the all-foreground
    baseline and the paper's Dice; ``trained`` marks the rows a training ran for."""
    rows = []
    for key in dict.fromkeys([*bench, *((r["dca"], r["precision"]) for r in runs)]):
        dca, precision = key
        b = bench.get(key, {})
        r = next((r for r in runs if (r["dca"], r["precision"]) == key), {})
        rows.append(
            {
                "model": "U-Net+DCA" if dca else "U-Net",
                "precision": precision,
                "trained": bool(r),
                "images_per_s": b.get("images_per_s"),
                "images_per_s_real_data": b.get("images_per_s_real_data"),
                "mfu": b.get("mfu"),
                "mfu_datasheet": b.get("mfu_datasheet"),
                "epochs": r.get("epochs"),
                "train_time_s": r.get("train_time_s"),
                "final_train_loss": r.get("final_train_loss"),
                "test_dice": r.get("test_dice"),
                "all_foreground_dice": baseline if r else None,
                "paper_dice_200_epochs": PAPER_DICE[dca] / 100 if r else None,
            }
        )
    return pd.DataFrame(rows)


def training_verdict(table: pd.DataFrame) -> list[tuple[str, bool]]:
    """The gate of each trained row (rows without a training, e.g. benchmark-only ones, are not judged): a finite
    final loss and a test Dice above the all-foreground baseline."""
    out = []
    for row in table.to_dict("records"):
        if not row["trained"]:
            continue
        loss, dice, floor = row["final_train_loss"], row["test_dice"], row["all_foreground_dice"]
        ok = (
            loss is not None
            and math.isfinite(loss)
            and dice is not None
            and not pd.isna(dice)
            and floor is not None
            and dice > floor
        )
        floor_text = "n/a" if floor is None else f"{floor:.4f}"
        out.append((f"{row['model']} {row['precision']}: finite loss, test Dice > all-foreground {floor_text}", ok))
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The check's options (defaults: the checkout's paths, relative to the working directory)."""
    parser = argparse.ArgumentParser(prog="python -m dca.bench gpu-check", description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S, help="time budget in seconds (360)")
    parser.add_argument(
        "--kvasir",
        type=Path,
        action="append",
        default=[],
        help=f"Kvasir-SEG in its download layout (repeatable; then {', '.join(map(str, KVASIR_PLACES))})",
    )
    parser.add_argument("--work", type=Path, default=Path("results/gpu-check"), help="output folder")
    parser.add_argument("--config", type=Path, default=CONFIG, help="run config of the trainings")
    parser.add_argument("--tests-root", type=Path, default=Path("."), help="the checkout holding tests/ (cuda tests)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the config's, trimmed)")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["tests", "bench", "train", "compile"], help="stages to skip"
    )
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


class Check:
    """The stages, the budget and the results file, rewritten after every stage."""

    def __init__(self, args: argparse.Namespace, environment: str) -> None:
        self.args, self.budget = args, Budget(args.budget_s, time.perf_counter())
        self.logs = args.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.stages: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self.baseline: float | None = None
        self.environment = environment

    def table(self) -> pd.DataFrame:
        work = self.args.work
        return final_table(
            self.runs,
            _bench_figures(work / "bench" / "train.json", work / "bench-compile" / "train.json"),
            self.baseline,
        )

    def write(self) -> None:
        """The results so far, atomically: stages, runs, the table and the verdict over what ran."""
        table = self.table()
        write_text(self.args.work / "gpu_check.csv", table.to_csv(index=False))
        write_json(
            self.args.work / "gpu_check.json",
            {
                "environment": self.environment,
                "budget_s": self.args.budget_s,
                "cpu_smoke": self.args.cpu_smoke,
                "stages": self.stages,
                "runs": self.runs,
                "table": json.loads(table.to_json(orient="records")),
                "training_gates": [{"gate": g, "ok": ok} for g, ok in training_verdict(table)],
                "passed": self.passed(table),
            },
        )

    def passed(self, table: pd.DataFrame) -> bool:
        """No stage that ran failed and every trained row passed its gate (skipped stages are not failures; the
        CPU smoke run's one-epoch tiny models are not gated)."""
        ran_ok = all(s["status"] in ("ok", "skipped") for s in self.stages)
        return ran_ok and (self.args.cpu_smoke or all(ok for _, ok in training_verdict(table)))

    def skip(self, name: str, reason: str) -> None:
        print(f"== {name}: skipped ({reason})", flush=True)
        self.stages.append({"stage": name, "status": "skipped", "reason": reason})
        self.write()

    def run(self, name: str, estimate_s: float, *commands: tuple[list[str], Path | None]) -> bool:
        """Run one stage's (command, working directory) pairs in turn if its estimate fits, each until the budget's
        end; record the stage and rewrite the results; True when every command passed."""
        refusal = self.budget.refusal(estimate_s)
        if refusal:
            self.skip(name, refusal)
            return False
        log = self.logs / f"{name.replace(' ', '-').replace('(', '').replace(')', '')}"
        code, seconds = 0, 0.0
        for i, (command, cwd) in enumerate(commands):
            code, took = _step(
                name, command, Path(f"{log}{'-' + str(i + 1) if i else ''}.log"), self.budget.left(), cwd
            )
            seconds += took
            if code:
                break
        self.finish(name, estimate_s, code, seconds)
        return code == 0

    def finish(self, name: str, estimate_s: float, code: int, seconds: float, **extra: Any) -> None:
        self.budget.record(estimate_s, seconds)
        status = "ok" if code == 0 else "timed out" if code == 124 else "failed"
        self.stages.append(
            {
                "stage": name,
                "status": status,
                "exit": code,
                "seconds": round(seconds, 1),
                "estimate_s": estimate_s,
                **extra,
            }
        )
        self.write()


def main(argv: list[str] | None = None) -> int:
    """Run the check's stages within the budget; exit 0 when every stage that ran passed."""
    args = parse_args(argv)
    check = Check(args, _environment(args.cpu_smoke))
    print(f"gpu-check: {check.environment}; budget {args.budget_s:.0f} s", flush=True)
    py, work = sys.executable, args.work
    places = [*args.kvasir, *KVASIR_PLACES]
    kvasir = find_kvasir(places)
    if kvasir is None and args.cpu_smoke:
        raise SystemExit(f"gpu-check: {missing_kvasir_message(places)}")
    tests = args.tests_root / CUDA_TESTS[0]
    tests_missing = f"no {tests} (an installed package has no tests: pass --tests-root CHECKOUT)"

    # 1. cuda tests, core selection
    if "tests" in args.skip:
        check.skip("cuda tests (core)", "--skip tests")
    elif not tests.is_dir():
        check.skip("cuda tests (core)", tests_missing)
    else:
        core = cuda_tests_command(py, CORE_TESTS)
        check.run("cuda tests (core)", ESTIMATE_S["cuda tests (core)"], (core, args.tests_root))

    # 2. prepare Kvasir-SEG
    data: Path | None = None
    if kvasir is None:
        print(f"gpu-check: {missing_kvasir_message(places)}", flush=True)
        check.skip("prepare Kvasir-SEG", "Kvasir-SEG not found: " + ", ".join(map(str, places)))
    else:
        raw = _kvasir_subset(kvasir, work / "raw", args.smoke_cases) if args.cpu_smoke else kvasir
        prepared = work / ("kvasir-smoke" if args.cpu_smoke else "kvasir")
        if ProcessedDir(prepared).complete.is_file() and not args.cpu_smoke:
            data = prepared
        else:
            command = [py, "-m", "dca.cli", "data", "prepare", "kvasir", "--raw", str(raw), "--out", str(prepared)]
            ok = check.run("prepare Kvasir-SEG", ESTIMATE_S["prepare Kvasir-SEG"], ([*command, "--overwrite"], None))
            data = prepared if ok else None

    # 3. benchmark bf16 (alone on the GPU: its timings are the figures)
    bench = [py, "-m", "dca.bench", "train", "--models", "unet", *(["--data", str(data)] if data else [])]
    device = ["--device", "cpu", "--threads", "1", "--loader-workers", "0"] if args.cpu_smoke else ["--device", "cuda"]
    if "bench" in args.skip:
        check.skip("benchmark bf16", "--skip bench")
    else:
        precisions = ["fp32"] if args.cpu_smoke else ["bf16"]
        command = [*bench, "--out", str(work / "bench"), *device, "--precisions", *precisions]
        check.run("benchmark bf16", ESTIMATE_S["benchmark bf16"], (command, None))

    # 4. the training pair on real data
    _training_pair(check, data)

    # 5. the rest of the cuda tests; 6. compile
    if "tests" in args.skip or not tests.is_dir():
        check.skip("cuda tests (rest)", "--skip tests" if "tests" in args.skip else tests_missing)
    else:
        rest = cuda_tests_command(py, CUDA_TESTS, (*CORE_TESTS, *COMPILE_TESTS))
        check.run("cuda tests (rest)", ESTIMATE_S["cuda tests (rest)"], (rest, args.tests_root))
    if "compile" in args.skip:
        check.skip("compile", "--skip compile")
    else:
        bench_compile = [*bench, "--out", str(work / "bench-compile"), *device, "--precisions", "bf16-compile"]
        commands: list[tuple[list[str], Path | None]] = [([*bench_compile, "--official-style"], None)]
        if tests.is_dir() and "tests" not in args.skip:
            commands.append((cuda_tests_command(py, COMPILE_TESTS), args.tests_root))
        check.run("compile", ESTIMATE_S["compile"], *commands)
    return _report(check)


def _training_pair(check: Check, data: Path | None) -> None:
    """Train U-Net and U-Net+DCA side by side (bf16), evaluate each; epochs trimmed to fit the budget."""
    args, name = check.args, "train pair"
    if "train" in args.skip:
        return check.skip(name, "--skip train")
    if data is None:
        return check.skip(name, "no prepared Kvasir-SEG (see above)")
    if not args.config.is_file():
        return check.skip(name, f"no run config {args.config} (pass --config FILE)")
    import yaml

    epochs = args.epochs or int(yaml.safe_load(args.config.read_text(encoding="utf-8")).get("epochs", MIN_EPOCHS))
    if not args.cpu_smoke:
        fit = int((check.budget.left() / check.budget.scale() - TRAIN_FIXED_S) // TRAIN_EPOCH_S)
        if fit < MIN_EPOCHS:
            return check.skip(name, check.budget.refusal(TRAIN_FIXED_S + MIN_EPOCHS * TRAIN_EPOCH_S) or "no time left")
        if fit < epochs:
            print(f"== {name}: {epochs} epochs do not fit in {check.budget.left():.0f} s: trimmed to {fit}", flush=True)
            epochs = fit
    estimate = TRAIN_FIXED_S + epochs * TRAIN_EPOCH_S
    check.baseline = all_foreground_dice(data)
    workers = 0 if args.cpu_smoke else max(1, job_cpus() // 2 - 1)  # two trainings share the machine's CPUs
    root = _runs_root(args.work)
    started, timeout = time.perf_counter(), check.budget.left()
    jobs = 1 if args.cpu_smoke else 2
    with ThreadPoolExecutor(jobs) as pool:
        check.runs = list(
            pool.map(lambda d: _train_and_evaluate(d, args, data, root, epochs, workers, timeout), (False, True))
        )
    if root != args.work / "runs":
        shutil.rmtree(root, ignore_errors=True)
    codes = [r["train_exit"] or r.get("evaluate_exit", 1) for r in check.runs]
    code = 124 if 124 in codes else max(codes)
    check.finish(name, estimate, code, time.perf_counter() - started, epochs=epochs)
    return None


def _report(check: Check) -> int:
    """Print the figures, each stage's verdict and the training gates; return the exit code."""
    table = check.table()
    smoke = check.args.cpu_smoke
    print("\n== gpu-check figures" + (" (CPU smoke run: path checked, figures not meaningful)" if smoke else ""))
    if not table.empty:
        print(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    for s in check.stages:
        detail = s.get("reason") or f"{s['seconds']:.0f} s, estimate {s['estimate_s']:.0f} s"
        label = {"ok": "ok  ", "skipped": "skip"}.get(s["status"], "FAIL")
        print(f"  {label} {s['stage']} ({s['status']}: {detail})")
    for gate, ok in training_verdict(table):
        print(f"  {'ok  ' if ok else 'FAIL'} {gate}" + (" (CPU smoke: not gated)" if smoke else ""))
    passed = check.passed(table)
    print(
        f"gpu-check: {'passed' if passed else 'FAILED'} in {check.budget.total_s - check.budget.left():.0f} s of "
        f"{check.budget.total_s:.0f}; results in {check.args.work}/gpu_check.json"
    )
    return 0 if passed else 1
