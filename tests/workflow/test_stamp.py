"""`dca experiments stamp`: a changed run config moves the old run aside (never deletes it) and a reverted
config gets its run back; a change of device alone keeps the run; a run being trained is not moved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dca.experiments.config import ConfigError
from dca.experiments.stamp import stamp_run
from dca.layout import RunDir, config_digest

CONFIG = {"model": {"name": "unet"}, "epochs": 2, "device": {"name": "auto"}}


def text_and_digest(config: dict) -> tuple[str, str]:
    return yaml.safe_dump(config), config_digest(config)


def finished_run(run: RunDir, config: dict) -> None:
    """A finished run of ``config`` in ``run`` (files as dca train and evaluate leave them)."""
    stamp_run(run, *text_and_digest(config))
    for path in (run.last, run.best, run.summary, run.eval_metrics):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{path.name} of epochs {config['epochs']}")


def test_changed_config_keeps_the_finished_run_and_reverting_restores_it(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "seed0")
    finished_run(run, CONFIG)
    old = config_digest(CONFIG)
    changed = {**CONFIG, "epochs": 3}
    done = stamp_run(run, *text_and_digest(changed))
    assert done and "moved" in done[0]
    kept = run.previous(old)
    assert (kept / "summary.json").read_text() == "summary.json of epochs 2" and (kept / "eval/metrics.json").is_file()
    assert not run.summary.exists() and not run.last.exists()  # the folder is free for the new config's run
    assert [p.name for p in run.stamp_dir.iterdir()] == [config_digest(changed)]
    assert yaml.safe_load(run.config.read_text()) == changed
    run.last.write_text("partial run of epochs 3")  # the new run starts, then the config is reverted
    done = stamp_run(run, *text_and_digest(CONFIG))
    assert any("restored" in line for line in done)
    assert run.summary.read_text() == "summary.json of epochs 2" and not kept.exists()
    assert (run.previous(config_digest(changed)) / "last.pt").read_text() == "partial run of epochs 3"


def test_device_change_keeps_the_run(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "seed0")
    finished_run(run, CONFIG)
    assert stamp_run(run, *text_and_digest({**CONFIG, "device": {"name": "cuda"}})) == []
    assert run.summary.is_file() and not (run.path / ".previous").exists()


def test_a_run_in_training_is_not_moved(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "seed0")
    finished_run(run, CONFIG)
    run.lock.write_text(f"{os.getpid()}\n")  # this (live) process holds the folder
    with pytest.raises(ConfigError, match="is training it"):
        stamp_run(run, *text_and_digest({**CONFIG, "epochs": 3}))
    assert run.summary.is_file()


def test_wrong_digest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not have the digest"):
        stamp_run(RunDir(tmp_path / "seed0"), yaml.safe_dump(CONFIG), "0" * 12)


def test_command_reads_the_config_from_stdin(tmp_path: Path) -> None:
    text, digest = text_and_digest(CONFIG)
    cmd = [sys.executable, "-m", "dca.cli", "experiments", "stamp", str(tmp_path / "seed0"), "--digest", digest]
    subprocess.run(cmd, input=text, text=True, check=True, timeout=120)
    assert RunDir(tmp_path / "seed0").stamp(digest).is_file()


def test_prune_keeps_what_evaluation_and_resume_need(tmp_path: Path) -> None:
    """`dca experiments prune`: a finished run loses last.pt (not when it is the evaluated checkpoint), an
    unfinished or live run keeps it, and .previous/ keeps the newest runs of older configs."""
    from dca.experiments.prune import prune_runs

    runs = tmp_path / "runs"
    finished, unfinished, last_selected, live = (RunDir(runs / f"d/{v}/seed0") for v in ("a", "b", "c", "e"))
    for run in (finished, last_selected, live):
        finished_run(run, CONFIG)
        run.summary.write_text('{"checkpoint": "best.pt"}')
    last_selected.summary.write_text('{"checkpoint": "last.pt"}')
    live.lock.write_text(f"{os.getpid()}\n")
    stamp_run(unfinished, *text_and_digest(CONFIG))
    unfinished.last.write_text("half-way")
    for epochs in (3, 4, 5):  # three runs of older configs moved aside, the newest last
        stamp_run(finished, *text_and_digest({**CONFIG, "epochs": epochs}))
        finished_run(finished, {**CONFIG, "epochs": epochs})
        finished.summary.write_text('{"checkpoint": "best.pt"}')
    previous = sorted((finished.path / ".previous").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert len(previous) == 3
    removed = prune_runs(runs, keep_last=False, previous=2)
    assert not finished.last.exists() and finished.best.is_file() and finished.summary.is_file()
    assert unfinished.last.is_file() and last_selected.last.is_file() and live.last.is_file()
    assert sorted((finished.path / ".previous").iterdir()) == sorted(previous[1:])
    assert str(previous[0]) in removed and len(removed) == 2
    assert prune_runs(runs, keep_last=False, previous=2) == []  # nothing left to prune


def test_prune_command_refuses_a_missing_folder(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "dca.cli", "experiments", "prune", str(tmp_path / "nowhere")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1 and "nowhere is not a folder" in result.stderr
