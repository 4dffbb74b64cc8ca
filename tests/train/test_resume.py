"""Interrupted runs, as real processes: ``kill -9`` and SIGTERM mid-epoch, then resume; the result must equal
an uninterrupted run's exactly (CPU, deterministic mode, one thread)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from dca.train.checkpoint import load_checkpoint
from dca.train.config import to_dict
from dca.train.loop import PREEMPTED_EXIT_CODE

EPOCHS = 3
MID_EPOCH_2 = re.compile(r"epoch 2/3:\s+\d+%\|[^|]*\| [123]/4 ")  # the tqdm bar 1-3 steps into epoch 2
TIMEOUT = 120


def write_config(make_config, folder: Path) -> Path:
    """Write the run config for a run in ``folder/run`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(to_dict(make_config(folder / "run", epochs=EPOCHS))))
    return path


def dca_train(config: Path) -> subprocess.Popen[bytes]:
    """Start ``dca train CONFIG`` in the config's folder (outside any repository), stderr piped."""
    command = [sys.executable, "-m", "dca.cli", "train", str(config)]
    return subprocess.Popen(command, cwd=config.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_to_end(config: Path) -> str:
    """Run ``dca train`` to completion and return its stderr."""
    proc = dca_train(config)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()
    return err.decode()


def interrupt_mid_epoch_2(config: Path, sig: signal.Signals) -> tuple[int, str]:
    """Start a run, send ``sig`` once its progress bar shows epoch 2 under way; return exit code and stderr."""
    proc = dca_train(config)
    seen: list[bytes] = []
    hit = threading.Event()

    def watch() -> None:
        while chunk := proc.stderr.read1(4096):
            seen.append(chunk)
            if not hit.is_set() and MID_EPOCH_2.search(b"".join(seen).decode(errors="replace")):
                proc.send_signal(sig)
                hit.set()

    reader = threading.Thread(target=watch)
    reader.start()
    code = proc.wait(timeout=TIMEOUT)
    reader.join()
    assert hit.is_set(), b"".join(seen).decode(errors="replace")
    return code, b"".join(seen).decode(errors="replace")


def outcome(run: Path) -> tuple[list[dict], dict, dict]:
    """What must not depend on interruptions: the epoch log (times aside), the summary's scores, final weights."""
    rows = pd.read_csv(run / "metrics.csv").drop(columns="time_s").to_dict("records")
    summary = pd.read_json(run / "summary.json", typ="series")
    scores = {k: summary[k] for k in ("best_epoch", "epochs")} | {
        "best": {k: v for k, v in summary["best"].items() if k != "time_s"}
    }
    return rows, scores, load_checkpoint(run / "last.pt")["model"]


def assert_same_outcome(run: Path, reference: Path) -> None:
    """Exactly equal epoch logs, summaries and final weights."""
    rows, scores, weights = outcome(run)
    ref_rows, ref_scores, ref_weights = outcome(reference)
    assert rows == ref_rows
    assert scores == ref_scores
    assert weights.keys() == ref_weights.keys()
    assert all(torch.equal(weights[k], ref_weights[k]) for k in weights)
    steps = pd.read_csv(run / "dvclive/plots/metrics/train_loss.tsv", sep="\t")["step"].tolist()
    assert steps == list(range(1, EPOCHS + 1))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, make_config) -> Path:
    """An uninterrupted run of the same config."""
    folder = tmp_path_factory.mktemp("reference")
    config = write_config(make_config, folder)
    run_to_end(config)
    return folder / "run"


def test_kill_9_mid_epoch_then_resume_matches_an_uninterrupted_run(make_config, tmp_path: Path, reference) -> None:
    config = write_config(make_config, tmp_path)
    code, _ = interrupt_mid_epoch_2(config, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not (tmp_path / "run" / "summary.json").exists()
    killed = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (killed["epoch"], killed["step"]) == (1, 0)  # the last completed epoch
    err = run_to_end(config)
    assert "resuming from" in err and "1 epoch(s) done" in err
    assert_same_outcome(tmp_path / "run", reference)


def test_sigterm_saves_mid_epoch_and_exits_for_requeue(make_config, tmp_path: Path, reference) -> None:
    config = write_config(make_config, tmp_path)
    code, err = interrupt_mid_epoch_2(config, signal.SIGTERM)
    assert code == PREEMPTED_EXIT_CODE, err
    saved = load_checkpoint(tmp_path / "run" / "last.pt")
    assert saved["epoch"] == 1 and 1 <= saved["step"] <= 3, (saved["epoch"], saved["step"])
    assert f"exiting with code {PREEMPTED_EXIT_CODE}" in err
    err = run_to_end(config)
    assert f"{saved['step']} step(s) into epoch 2" in err
    assert_same_outcome(tmp_path / "run", reference)
