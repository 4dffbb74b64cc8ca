"""The machine's GPU pool: each holder is pinned to its own GPU, a job finding every slot taken waits, sharing
a GPU happens only when asked for, and a SLURM job's pool is its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dca.cli import main
from dca.evaluate import cli as evaluate_cli
from dca.train import cli as train_cli
from dca.train import gpus
from dca.train.config import dump_config
from dca.train.gpus import gpu_slot, slots_dir, visible_gpus

QUIET = lambda _: None  # noqa: E731


def pool_env(tmp_path: Path, visible: str = "0,1", **extra: str) -> dict[str, str]:
    """An environment with ``visible`` GPUs and a pool folder of its own."""
    return {"CUDA_VISIBLE_DEVICES": visible, gpus.SLOTS_DIR_ENV: str(tmp_path / "slots"), **extra}


@pytest.mark.parametrize(
    ("visible", "ids"),
    [("0,1", ["0", "1"]), (" 2, 3 ", ["2", "3"]), ("", []), ("-1", []), ("1,-1,2", ["1"]), ("GPU-ab12", ["GPU-ab12"])],
)
def test_visible_gpus_read_cuda_visible_devices_as_cuda_does(visible: str, ids: list[str]) -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": visible}) == ids


def test_without_cuda_visible_devices_the_drivers_gpus_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = tmp_path / "gpus"
    for pci in ("0000:01:00.0", "0000:41:00.0", "0000:81:00.0"):
        (proc / pci).mkdir(parents=True)
    monkeypatch.setattr(gpus, "NVIDIA_PROC", proc)
    assert visible_gpus({}) == ["0", "1", "2"]
    monkeypatch.setattr(gpus, "NVIDIA_PROC", tmp_path / "absent")
    monkeypatch.setattr(gpus.shutil, "which", lambda name: None)
    assert visible_gpus({}) == []


def test_each_holder_gets_its_own_gpu_and_a_third_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpus, "POLL_S", 0.02)
    envs = [pool_env(tmp_path) for _ in range(3)]
    messages: list[str] = []
    got: list[str | None] = []
    with gpu_slot("auto", QUIET, envs[0]) as first:
        with gpu_slot("cuda", QUIET, envs[1]) as second:
            assert (first, second) == ("0", "1")
            assert [env["CUDA_VISIBLE_DEVICES"] for env in envs[:2]] == ["0", "1"]

            def third() -> None:
                with gpu_slot("auto", messages.append, envs[2]) as gpu:
                    got.append(gpu)

            waiter = threading.Thread(target=third)
            waiter.start()
            time.sleep(0.3)
            assert got == [] and envs[2]["CUDA_VISIBLE_DEVICES"] == "0,1"  # still waiting, not pinned
        waiter.join(timeout=10)
    assert got == ["1"] and envs[2]["CUDA_VISIBLE_DEVICES"] == "1"  # the GPU the second holder released
    assert messages[0] == f"waiting for a free GPU: all 2 slots in {tmp_path / 'slots'} are taken (1 per GPU)"
    assert "GPU 1 taken" in messages[1] and "CUDA_VISIBLE_DEVICES=1" in messages[1]
    assert messages[2].endswith("GPU 1 released")


def test_a_gpu_is_shared_only_when_asked_for(tmp_path: Path) -> None:
    envs = [pool_env(tmp_path, **{gpus.JOBS_PER_GPU_ENV: "2"}) for _ in range(4)]
    with gpu_slot("auto", QUIET, envs[0]), gpu_slot("auto", QUIET, envs[1]):
        with gpu_slot("auto", QUIET, envs[2]), gpu_slot("auto", QUIET, envs[3]):
            assert [env["CUDA_VISIBLE_DEVICES"] for env in envs] == ["0", "1", "0", "1"]  # spread evenly


def test_a_bad_jobs_per_gpu_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=rf"{gpus.JOBS_PER_GPU_ENV}='0': expected a whole number >= 1"):
        with gpu_slot("auto", QUIET, pool_env(tmp_path, **{gpus.JOBS_PER_GPU_ENV: "0"})):
            pass


@pytest.mark.parametrize("visible", [None, ""])
def test_the_cpu_or_no_gpu_leaves_the_environment_alone(tmp_path: Path, visible: str | None) -> None:
    env = pool_env(tmp_path) if visible is None else pool_env(tmp_path, visible=visible)
    before = dict(env)
    with gpu_slot("cpu" if visible is None else "auto", QUIET, env) as gpu:
        assert gpu is None and env == before
    assert not (tmp_path / "slots").exists()


def test_a_killed_holders_gpu_is_free_again(tmp_path: Path) -> None:
    hold = (
        "import sys\nfrom dca.train.gpus import gpu_slot\n"
        f"with gpu_slot('auto', print, {pool_env(tmp_path, visible='0')!r}):\n    sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert "GPU 0 taken" in holder.stdout.readline()
    finally:
        holder.send_signal(signal.SIGKILL)  # no cleanup: the kernel drops its flock
        holder.communicate(timeout=30)
    got: list[str | None] = []

    def take() -> None:
        with gpu_slot("auto", QUIET, pool_env(tmp_path, visible="0")) as gpu:
            got.append(gpu)

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    taker.join(timeout=10)
    assert got == ["0"]


def test_the_pool_is_per_user_and_per_slurm_job(tmp_path: Path) -> None:
    assert slots_dir({gpus.SLOTS_DIR_ENV: str(tmp_path)}) == tmp_path
    local, job = slots_dir({}), slots_dir({"SLURM_JOB_ID": "123"})
    assert local.name.startswith("dca-gpu-slots-") and job.name == f"{local.name}-slurm123"


def test_dca_train_and_dca_evaluate_run_on_a_free_gpu(
    make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,4")
    monkeypatch.setenv(gpus.SLOTS_DIR_ENV, str(tmp_path / "slots"))
    seen: list[str] = []
    monkeypatch.setattr(train_cli, "_train", lambda config, stop: seen.append(os.environ["CUDA_VISIBLE_DEVICES"]) or 0)
    monkeypatch.setattr(evaluate_cli, "evaluate_run", lambda *a, **k: seen.append(os.environ["CUDA_VISIBLE_DEVICES"]))
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(dump_config(make_config(tmp_path / "run", device={"name": "auto"})), encoding="utf-8")
    with gpu_slot("auto", QUIET, pool_env(tmp_path, visible="3")):  # GPU 3 is busy
        assert main(["train", str(run_yaml)]) == 0
        os.environ["CUDA_VISIBLE_DEVICES"] = "3,4"
        assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert seen == ["4", "4"]
