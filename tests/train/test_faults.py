"""Faults around a run: kills' temp files, two trainers on one folder, divergence at once, ops that cannot be
bit-exact, a changed epoch count, a changed precision on resume, and the defaults that depend on the machine."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dca.cli import main
from dca.evaluate.run import evaluate_run
from dca.layout import RunDir
from dca.run_files import trained_config
from dca.train import loop
from dca.train.checkpoint import load_checkpoint, save_checkpoint
from dca.train.config import dump_config, resolve_config
from dca.train.device import restore_scaler
from dca.train.loader import default_workers, job_cpus
from dca.utils.lock import RunLockedError, run_lock

QUIET = lambda _: None  # noqa: E731


def test_temp_files_left_by_kills_are_removed_on_the_next_start(make_config, tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    stale = [run.path / ".tmp-last.pt.k1ll3d_1.pt", run.path / ".tmp-best.pt.abcdefgh.pt"]
    other = run.path / ".tmp-notes.txt.abcdefgh.txt"
    for path in [*stale, other]:
        path.write_bytes(b"half a checkpoint")
    messages: list[str] = []
    loop.train(make_config(run.path, epochs=1), log=messages.append)
    assert not any(p.exists() for p in stale) and other.exists()
    assert sum("left by an interrupted checkpoint write" in m for m in messages) == 2


def test_a_second_trainer_on_the_same_run_folder_is_refused(make_config, tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    hold = f"import sys\nfrom dca.utils.lock import run_lock\nwith run_lock({str(run.lock)!r}, print):\n"
    hold += "    print('locked', flush=True)\n    sys.stdin.read()"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"is being trained by {holder.pid}@"):
            loop.train(make_config(run.path, epochs=1), log=QUIET)
    finally:
        holder.communicate("", timeout=30)
    assert not run.lock.exists()  # released on exit


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(f"{dead.stdout.strip()}@somehost\n")  # what a kill -9 leaves (the kernel dropped its flock)
    messages: list[str] = []
    with run_lock(lock, messages.append):
        assert lock.read_text().startswith(f"{os.getpid()}@")
        with pytest.raises(RunLockedError):  # and the new holder's lock holds against others
            with run_lock(lock, messages.append):
                pass
    assert messages == [f"taking over the stale lock {lock} of {dead.stdout.strip()}@somehost (no longer running)"]


HOLD_WITH_A_FORKED_WORKER = """
import multiprocessing, sys, time
from dca.utils.lock import run_lock
with run_lock(sys.argv[1], print):
    worker = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))  # as a DataLoader forks
    worker.start()
    print(worker.pid, flush=True)
    sys.stdin.read()
"""


def test_after_kill_9_a_forked_worker_does_not_hold_the_run_lock(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WITH_A_FORKED_WORKER, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    worker = int(holder.stdout.readline())
    try:
        holder.kill()
        holder.wait(timeout=30)
        os.kill(worker, 0)  # the orphaned worker still runs ...
        messages: list[str] = []
        with run_lock(lock, messages.append):  # ... and an immediate restart gets the lock all the same
            pass
        owner = f"{holder.pid}@{socket.gethostname()}"
        assert messages == [f"taking over the stale lock {lock} of {owner} (no longer running)"]
    finally:
        os.kill(worker, signal.SIGKILL)


def test_divergence_before_any_checkpoint_says_none_exists(make_config, tmp_path: Path) -> None:
    with pytest.raises(loop.DivergedError) as err:
        loop.train(make_config(tmp_path / "run", optim={"lr": 1e14}), log=QUIET)
    message = str(err.value)
    assert "epoch 1, step" in message and "no checkpoint was written" in message and "0 epoch(s)" not in message
    assert not RunDir(tmp_path / "run").last.exists() and not RunDir(tmp_path / "run").best.exists()


class Unpooling(nn.Module):
    """A model with an op that has no deterministic kernel (max-unpooling, even on the CPU)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 1, 3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        pooled, indices = F.max_pool2d(self.conv(image), 2, return_indices=True)
        return F.max_unpool2d(pooled, indices, 2)


def test_strict_determinism_names_the_op_it_cannot_make_exact(make_config, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("dca.train.setup.build_model", lambda name, *, in_channels, **_: Unpooling(in_channels))
    with pytest.raises(ValueError, match=r"max_unpooling2d\S* has no deterministic kernel.*determinism: seeded"):
        loop.train(make_config(tmp_path / "strict", epochs=1, device={"determinism": "strict"}), log=QUIET)
    summary = loop.train(make_config(tmp_path / "seeded", epochs=1, device={"determinism": "seeded"}), log=QUIET)
    assert summary["determinism"] == "seeded"


def _unfinished_run(make_config, out: Path, **overrides: Any) -> None:
    """Train 2 epochs of a run whose config says 2 (a finished run minus its summary: an unfinished one)."""
    loop.train(make_config(out, epochs=2, **overrides), log=QUIET)
    RunDir(out).summary.unlink()


def test_more_epochs_continue_a_run_with_a_constant_learning_rate(make_config, tmp_path: Path) -> None:
    _unfinished_run(make_config, tmp_path / "run")
    messages: list[str] = []
    summary = loop.train(make_config(tmp_path / "run", epochs=3), log=messages.append)
    assert summary["epochs"] == 3 and [
        row["epoch"] for row in load_checkpoint(RunDir(tmp_path / "run").last)["history"]
    ] == [1, 2, 3]
    assert any("epochs changed from 2 to 3: continuing" in m for m in messages)
    with pytest.raises(ValueError, match="3 epoch"):  # fewer epochs than done
        RunDir(tmp_path / "run").summary.unlink()
        loop.train(make_config(tmp_path / "run", epochs=1), log=QUIET)


def test_more_epochs_are_refused_where_the_schedule_depends_on_them(make_config, tmp_path: Path) -> None:
    _unfinished_run(make_config, tmp_path / "run", optim={"scheduler": "cosine"})
    with pytest.raises(ValueError, match=r"optim.scheduler 'cosine' depends on the epoch count.*keep epochs: 2"):
        loop.train(make_config(tmp_path / "run", epochs=3, optim={"scheduler": "cosine"}), log=QUIET)


def test_more_epochs_continue_a_finished_run_through_dca_train_and_keep_it(
    make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = RunDir(tmp_path / "run")
    loop.train(make_config(run.path, epochs=2), log=QUIET)
    run.eval_dir.mkdir()
    (run.eval_dir / "metrics.json").write_text('{"dice": 0.5}')
    before = json.loads(run.summary.read_text())
    config = tmp_path / "run.yaml"
    config.write_text(dump_config(make_config(run.path, epochs=2)))
    assert main(["train", str(config), "--set", "epochs=3"]) == 0
    err = capsys.readouterr().err
    assert "continuing the run" in err and "nothing to do" not in err
    assert json.loads(run.summary.read_text())["epochs"] == 3
    loop.train(make_config(tmp_path / "fresh", epochs=3), log=QUIET)
    continued, fresh = load_checkpoint(run.last), load_checkpoint(RunDir(tmp_path / "fresh").last)
    assert [row["epoch"] for row in continued["history"]] == [1, 2, 3]
    assert all(torch.equal(continued["model"][k], v) for k, v in fresh["model"].items())  # as the workflow retrains it
    assert not run.eval_dir.exists()  # the evaluation of the 2-epoch model is kept, not left beside the new one
    kept = RunDir(next((run.path / ".previous").iterdir()))
    assert json.loads(kept.summary.read_text()) == before and kept.eval_metrics.read_text() == '{"dice": 0.5}'
    assert load_checkpoint(kept.last)["epoch"] == 2 and kept.curves.read_text().count("\n") == 3
    assert f"kept in {kept.path}" in err
    assert main(["train", str(config), "--set", "epochs=3"]) == 0 and "nothing to do" in capsys.readouterr().err


def test_more_epochs_for_a_finished_run_without_its_training_state_are_refused(make_config, tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    loop.train(make_config(run.path, epochs=1), log=QUIET)
    run.last.unlink()  # a run pulled with best.pt and its summary only
    with pytest.raises(ValueError, match=r"finished with 1 epoch\(s\) and its last.pt .* is gone.*keep epochs: 1"):
        loop.train(make_config(run.path, epochs=2), log=QUIET)
    assert json.loads(run.summary.read_text())["epochs"] == 1


def test_a_continued_run_evaluates_with_its_trained_epoch_count(
    make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = RunDir(tmp_path / "run")
    loop.train(make_config(run.path, epochs=8), log=QUIET)
    state = load_checkpoint(run.last)
    state["best"]["score"] = 1.0  # no later epoch beats it: best.pt stays the one saved with epochs: 8
    save_checkpoint(run.last, state)
    summary = loop.train(make_config(run.path, epochs=10), log=QUIET)
    assert trained_config(run.best)["epochs"] == 8 and summary["epochs"] == 10
    metrics = evaluate_run(run.path, log=QUIET)
    assert metrics["epochs"] == 10 == json.loads(run.eval_metrics.read_text())["epochs"]
    capsys.readouterr()
    assert main(["evaluate", str(run.path)]) == 0  # the result on stdout, where a script reads it
    shown = capsys.readouterr()
    assert shown.out == f"{run.eval_metrics}\n" and "test Dice" in shown.err
    assert main(["-q", "evaluate", str(run.path), "--json"]) == 0
    quiet = capsys.readouterr()
    assert json.loads(quiet.out) == json.loads(run.eval_metrics.read_text()) and quiet.err == ""


def test_fp16_resume_after_a_run_without_loss_scaling_starts_a_fresh_scale() -> None:
    saved = torch.amp.GradScaler("cpu", enabled=False).state_dict()  # amp none/bf16, or the CPU fallback
    scaler = torch.amp.GradScaler("cpu", enabled=True)
    messages: list[str] = []
    restore_scaler(scaler, saved, messages.append)
    assert scaler.state_dict()["scale"] == torch.amp.GradScaler("cpu").state_dict()["scale"]
    assert messages and "afresh" in messages[0]
    fp16 = torch.amp.GradScaler("cpu", enabled=True, init_scale=8.0).state_dict()
    restore_scaler(scaler, fp16, messages.append)  # a saved scale is kept
    assert scaler.get_scale() == 8.0 and len(messages) == 1


def test_workers_default_to_the_jobs_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "8")
    assert (job_cpus(), default_workers()) == (8, 7)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    assert job_cpus() == len(os.sched_getaffinity(0)) and default_workers() == max(job_cpus() - 1, 0)


BASE = {"model": {"name": "unet"}, "data": {"root": "d"}, "out": "o"}


def test_determinism_modes_and_the_former_flag() -> None:
    assert resolve_config(BASE).device.determinism == "auto"
    assert resolve_config({**BASE, "device": {"deterministic": True}}).device.determinism == "strict"
    assert resolve_config({**BASE, "device": {"deterministic": False}}).device.determinism == "seeded"
    with pytest.raises(KeyError, match=r"device\.determinism"):
        resolve_config({**BASE, "device": {"deterministic": True, "determinism": "seeded"}})
    with pytest.raises(ValueError, match=r"device\.determinism"):
        resolve_config({**BASE, "device": {"determinism": "exact"}})
    device = resolve_config(BASE).device
    assert (device.amp, device.channels_last, device.compile) == ("bf16", True, False)  # on CUDA; the CPU runs fp32


def test_the_summary_records_how_the_run_ran(make_config, tmp_path: Path) -> None:
    summary = loop.train(make_config(tmp_path / "run", epochs=1), log=QUIET)
    assert (summary["determinism"], summary["precision"], summary["channels_last"]) == ("strict", "fp32", False)
    assert summary["workers"] == 0 and summary["compile"] is False
