"""Interrupted runs, as real processes: ``kill -9`` and SIGTERM mid-epoch (to the trainer alone, or to its whole
process group with DataLoader workers, as SLURM sends it), then resume; the result must equal an uninterrupted
run's exactly (CPU, strict determinism, one thread). Also: SIGTERM during start-up, and the per-epoch log lines."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from dca.layout import RunDir
from dca.train.checkpoint import load_checkpoint
from dca.train.config import to_dict
from dca.train.stop import PREEMPTED_EXIT_CODE

EPOCHS = 3
MID_EPOCH_2 = re.compile(r"epoch 2/3:\s+\d+%\|[^|]*\| [123]/4 ")  # the tqdm bar 1-3 steps into epoch 2
EPOCH_LINE = re.compile(r"epoch (\d)/3: train_loss [\d.]+, val_dice [\d.]+, [\d.]+ s, ETA \d+s")
TIMEOUT = 180


def write_config(make_config, folder: Path, **overrides) -> Path:
    """Write the run config for a run in ``folder/run`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(to_dict(make_config(folder / "run", epochs=EPOCHS, **overrides))))
    return path


def dca_train(config: Path, stderr: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """Start ``dca train CONFIG`` in the config's folder (outside any repository), in its own process group."""
    command = [sys.executable, "-m", "dca.cli", "train", str(config)]
    return subprocess.Popen(
        command, cwd=config.parent, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
    )


def run_to_end(config: Path) -> str:
    """Run ``dca train`` to completion (stderr not a terminal) and return its stderr."""
    proc = dca_train(config)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()
    return err.decode()


def interrupt(config: Path, sig: signal.Signals, when: re.Pattern[str], group: bool = False) -> tuple[int, str]:
    """Start a run with stderr on a terminal (so the progress bar is drawn), send ``sig`` (to the whole process
    group when ``group``) once stderr matches ``when``; return the exit code and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # tqdm draws to the terminal's width
    proc = dca_train(config, stderr=slave)
    os.close(slave)
    seen: list[bytes] = []
    hit = threading.Event()

    def watch() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal closed: every process holding it ended
                return
            if not chunk:
                return
            seen.append(chunk)
            if not hit.is_set() and when.search(b"".join(seen).decode(errors="replace")):
                if group:
                    os.killpg(proc.pid, sig)
                else:
                    proc.send_signal(sig)
                hit.set()

    reader = threading.Thread(target=watch)
    reader.start()
    code = proc.wait(timeout=TIMEOUT)
    reader.join(timeout=30)
    os.close(master)
    text = b"".join(seen).decode(errors="replace")
    assert hit.is_set(), text
    return code, text


def outcome(run: Path) -> tuple[list[dict], dict, dict]:
    """What must not depend on interruptions: the epoch log (times aside), the summary's scores, final weights."""
    rows = pd.read_csv(RunDir(run).curves).drop(columns="time_s").to_dict("records")
    summary = pd.read_json(RunDir(run).summary, typ="series")
    scores = {k: summary[k] for k in ("best_epoch", "epochs")} | {
        "best": {k: v for k, v in summary["best"].items() if k != "time_s"}
    }
    return rows, scores, load_checkpoint(RunDir(run).last)["model"]


def assert_same_outcome(run: Path, reference: Path) -> None:
    """Exactly equal epoch logs, summaries and final weights."""
    rows, scores, weights = outcome(run)
    ref_rows, ref_scores, ref_weights = outcome(reference)
    assert rows == ref_rows
    assert [row["epoch"] for row in rows] == list(range(1, EPOCHS + 1))
    assert scores == ref_scores
    assert weights.keys() == ref_weights.keys()
    assert all(torch.equal(weights[k], ref_weights[k]) for k in weights)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, make_config) -> tuple[Path, str]:
    """An uninterrupted run of the same config, and its stderr (not a terminal)."""
    folder = tmp_path_factory.mktemp("reference")
    config = write_config(make_config, folder)
    return folder / "run", run_to_end(config)


def test_log_has_one_plain_line_per_epoch_and_no_bar_frames_off_a_terminal(reference) -> None:
    run, err = reference
    assert "\r" not in err
    assert [int(m.group(1)) for m in EPOCH_LINE.finditer(err)] == [1, 2, 3], err
    own_log = RunDir(run).log.read_text()
    assert [int(m.group(1)) for m in EPOCH_LINE.finditer(own_log)] == [1, 2, 3]


def test_kill_9_mid_epoch_then_resume_matches_an_uninterrupted_run(make_config, tmp_path: Path, reference) -> None:
    config = write_config(make_config, tmp_path)
    code, _ = interrupt(config, signal.SIGKILL, MID_EPOCH_2)
    assert code == -signal.SIGKILL
    run = RunDir(tmp_path / "run")
    assert not run.summary.exists()
    killed = load_checkpoint(run.last)
    assert (killed["epoch"], killed["step"]) == (1, 0)  # the last completed epoch
    err = run_to_end(config)
    assert "resuming from" in err and "1 epoch(s) done" in err
    assert_same_outcome(run.path, reference[0])
    attempts = run.log.read_text().count("attempt started")
    assert attempts == 2 and "resuming from" in run.log.read_text()  # the run's own log keeps both attempts


def test_sigterm_saves_mid_epoch_and_exits_for_requeue(make_config, tmp_path: Path, reference) -> None:
    config = write_config(make_config, tmp_path)
    code, err = interrupt(config, signal.SIGTERM, MID_EPOCH_2)
    assert code == PREEMPTED_EXIT_CODE, err
    saved = load_checkpoint(RunDir(tmp_path / "run").last)
    assert saved["epoch"] == 1 and 1 <= saved["step"] <= 3, (saved["epoch"], saved["step"])
    assert f"exiting with code {PREEMPTED_EXIT_CODE}" in err
    err = run_to_end(config)
    assert f"{saved['step']} step(s) into epoch 2" in err
    assert_same_outcome(tmp_path / "run", reference[0])


def test_sigterm_to_the_process_group_with_workers_saves_and_resumes(make_config, tmp_path: Path, reference) -> None:
    config = write_config(make_config, tmp_path, data={"workers": 2})
    code, err = interrupt(config, signal.SIGTERM, MID_EPOCH_2, group=True)
    assert code == PREEMPTED_EXIT_CODE, err
    assert "exited unexpectedly" not in err
    saved = load_checkpoint(RunDir(tmp_path / "run").last)
    assert saved["epoch"] == 1 and 1 <= saved["step"] <= 3, (saved["epoch"], saved["step"])
    err = run_to_end(config)
    assert f"{saved['step']} step(s) into epoch 2" in err
    assert_same_outcome(tmp_path / "run", reference[0])  # two workers or none: the same batches


def test_sigterm_during_start_up_exits_for_requeue(make_config, tmp_path: Path) -> None:
    config = write_config(make_config, tmp_path)
    code, err = interrupt(config, signal.SIGTERM, re.compile(r": starting"), group=True)  # torch still importing
    assert code == PREEMPTED_EXIT_CODE, err
    assert "Traceback" not in err
    assert not RunDir(tmp_path / "run").last.exists()
