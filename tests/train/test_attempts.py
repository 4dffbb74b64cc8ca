"""``dca train --attempt N --failed-marker PATH``: a scheduler's retries of a run that failed for a real reason stop
at once; a time-limit stop (exit 75) and a success leave no marker."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from dca.cli import main
from dca.train import cli
from dca.train.config import RunConfig, dump_config
from dca.train.stop import PREEMPTED_EXIT_CODE

ATTEMPT_LINE = re.compile(r"^\[workflow\] \S+ \S+ attempt (\d+) CUDA_VISIBLE_DEVICES=(\S+)$", re.MULTILINE)
STARTING = re.compile(r"^\[dca train\] .*: starting$", re.MULTILINE)


def _run_yaml(config: RunConfig, path: Path) -> Path:
    path.write_text(dump_config(config), encoding="utf-8")
    return path


def _train(run_yaml: Path, marker: Path, attempt: int) -> int:
    return main(["train", str(run_yaml), "--attempt", str(attempt), "--failed-marker", str(marker)])


def test_a_real_failure_leaves_the_marker_and_its_retries_refuse_at_once(
    make_config: Callable[..., RunConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    run_yaml = _run_yaml(make_config(tmp_path / "run", data={"root": str(tmp_path / "gone")}), tmp_path / "run.yaml")
    marker = tmp_path / "logs" / "seed0.failed"

    assert _train(run_yaml, marker, 1) == 1  # the dataset is gone: a real failure
    err = capsys.readouterr().err
    assert ATTEMPT_LINE.findall(err) == [("1", "3")] and len(STARTING.findall(err)) == 1, err
    assert marker.is_file() and "exit code 1 (attempt 1)" in marker.read_text(encoding="utf-8")

    for attempt in (2, 3):  # the scheduler's retries: refused before anything starts
        assert _train(run_yaml, marker, attempt) == 1
        err = capsys.readouterr().err
        assert ATTEMPT_LINE.findall(err) == [(str(attempt), "3")] and not STARTING.findall(err), err
        assert f"[workflow] not retried: the previous attempt failed (not a time limit), see {marker}" in err
    assert marker.is_file()

    monkeypatch.setattr(cli, "_train", lambda config, stop: 0)  # a new invocation starts afresh, and succeeds
    assert _train(run_yaml, marker, 1) == 0 and not marker.exists()


def test_a_time_limit_stop_leaves_no_marker_and_is_retried(
    make_config: Callable[..., RunConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    run_yaml = _run_yaml(make_config(tmp_path / "run"), tmp_path / "run.yaml")
    marker = tmp_path / "seed0.failed"
    marker.write_text("left by an earlier invocation\n", encoding="utf-8")

    def sigterm(config: RunConfig, stop: object) -> int:
        os.kill(os.getpid(), signal.SIGTERM)  # the time limit's SIGTERM during start-up
        return 0

    monkeypatch.setattr(cli, "_train", sigterm)
    assert _train(run_yaml, marker, 1) == PREEMPTED_EXIT_CODE and not marker.exists()
    err = capsys.readouterr().err
    assert ATTEMPT_LINE.findall(err) == [("1", "unset")] and "[workflow] stopped and saved (exit 75)" in err, err

    monkeypatch.setattr(cli, "_train", lambda config, stop: 0)
    assert _train(run_yaml, marker, 2) == 0 and not marker.exists()  # the retry runs (and resumes)
    assert len(STARTING.findall(capsys.readouterr().err)) == 1


def test_without_scheduler_options_nothing_is_printed_or_written(
    make_config: Callable[..., RunConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_yaml = _run_yaml(make_config(tmp_path / "run", data={"root": str(tmp_path / "gone")}), tmp_path / "run.yaml")
    assert main(["train", str(run_yaml)]) == 1
    assert "[workflow]" not in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.yaml"]  # the run folder and its log only
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["train.log"]
