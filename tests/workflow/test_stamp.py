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
