"""Faults around ``dca data prepare``: two prepares on one output, a file name that is not UTF-8, ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dca.data.convert import common, prepare
from dca.processed import ProcessedDir
from dca.utils.lock import RunLockedError


def test_a_second_prepare_on_the_same_out_is_refused_and_the_first_finishes(
    tmp_path: Path, fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, out = fake.kvasir(tmp_path / "raw" / "Kvasir-SEG", n=4), tmp_path / "processed"
    started, release, real_load = threading.Event(), threading.Event(), common.load_pair
    calls = iter(range(1000))

    def load_pair(*args: object) -> common.Sample:
        if next(calls) == 0:  # the first prepare's first case waits, its staging folder live
            started.set()
            release.wait(timeout=60)
        return real_load(*args)

    monkeypatch.setattr(common, "load_pair", load_pair)
    errors: list[BaseException] = []

    def first() -> None:
        try:
            prepare("kvasir", raw, out)
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(timeout=60)
        [staging] = [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-processed.")]
        with pytest.raises(RunLockedError, match=rf"{out} is being prepared by {os.getpid()}@"):
            prepare("kvasir", raw, out)
        assert staging.is_dir()  # the live staging folder of the first prepare was left alone
    finally:
        release.set()
        thread.join(timeout=60)
    assert not errors and ProcessedDir(out).complete.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processed", "raw"]  # no staging or lock file left


def test_a_file_name_that_is_not_utf8_is_named_before_any_work(tmp_path: Path, fake) -> None:
    raw, out = fake.kvasir(tmp_path / "raw" / "Kvasir-SEG", n=3), tmp_path / "processed"
    for folder in (raw / "images", raw / "masks"):
        first = sorted(folder.iterdir())[0]
        try:
            os.rename(os.fsencode(first), os.fsencode(folder) + b"/caf\xe9" + os.fsencode(first.suffix))
        except OSError:
            pytest.skip("this file system refuses names that are not UTF-8")
    with pytest.raises(ValueError) as err:
        prepare("kvasir", tmp_path / "raw", out)
    message = str(err.value)
    assert repr(f"{raw}/images/caf\udce9.jpg")[1:-1] in message and "is not valid UTF-8" in message
    assert "'\\udce9'" in message and "rename it" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # nothing written


#: ``dca ARGV`` with every case's decoding slowed down (0.2 s), so that a signal lands mid-prepare.
SLOW_PREPARE = """
import sys, time
from dca.cli import main
from dca.data.convert import common
real = common.load_pair
def slow(*args):
    time.sleep(0.2)
    return real(*args)
common.load_pair = slow
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_during_prepare_prints_one_line_exits_130_and_leaves_nothing(tmp_path: Path, fake) -> None:
    fake.kvasir(tmp_path / "raw" / "Kvasir-SEG", n=20)
    argv = ["data", "prepare", "kvasir", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "processed")]
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_PREPARE, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob(".tmp-processed.*/images/*.png")):  # some cases written
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.splitlines()[-1].startswith("dca data prepare: interrupted (ctrl-C); ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]  # no output, no staging, no lock file
