"""The run lock where the file system has no flock (Lustre without -o flock: ENOSYS): an O_EXCL lock file
that still excludes a second holder and is taken over from a dead or silent owner."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dca.utils import lock as lock_module
from dca.utils.lock import RunLockedError, run_lock

#: Python source that makes flock fail as on Lustre mounted without flock.
NO_FLOCK = (
    "import errno, fcntl\n"
    "def _flock(fd, op):\n"
    "    raise OSError(errno.ENOSYS, 'Function not implemented')\n"
    "fcntl.flock = _flock\n"
)


@pytest.fixture
def no_flock(monkeypatch: pytest.MonkeyPatch) -> None:
    """flock raises ENOSYS in this process."""

    def flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", flock)


@pytest.mark.usefixtures("no_flock")
def test_without_flock_two_holders_exclude_each_other(tmp_path: Path) -> None:
    lock = tmp_path / "run" / ".lock"
    messages: list[str] = []
    with run_lock(lock, messages.append):
        assert lock.read_text() == f"{os.getpid()}@{socket.gethostname()}\n"
        with pytest.raises(RunLockedError, match=rf"is being trained by {os.getpid()}@.*no flock on this file system"):
            with run_lock(lock, messages.append):
                pass
        assert lock.exists()  # the refused second holder left the first one's lock alone
    assert not lock.exists()  # released on exit
    assert "does not support flock; locking with" in messages[0] and "O_EXCL" in messages[0]
    assert not any("taking over" in m for m in messages)
    assert not any(lock.parent.iterdir())  # no probe or breaker file left


@pytest.mark.usefixtures("no_flock")
def test_without_flock_the_lock_of_a_killed_holder_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    hold = f"{NO_FLOCK}import sys\nfrom dca.utils.lock import run_lock\nwith run_lock({str(lock)!r}, print):\n"
    hold += "    print('locked', flush=True)\n    sys.stdin.read()"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert "does not support flock" in holder.stdout.readline()
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"is being trained by {holder.pid}@"):
            with run_lock(lock, lambda _: None):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)  # no cleanup: the O_EXCL file stays, with the dead pid inside
        holder.communicate(timeout=30)
    assert lock.read_text().startswith(f"{holder.pid}@")
    messages: list[str] = []
    with run_lock(lock, messages.append):
        assert lock.read_text().startswith(f"{os.getpid()}@")
    assert messages[1:] == [
        f"taking over the stale lock {lock} of {holder.pid}@{socket.gethostname()} (no longer running)"
    ]


@pytest.mark.usefixtures("no_flock")
@pytest.mark.parametrize(("age", "taken_over"), [(lock_module.STALE_AFTER_S + 60, True), (5.0, False)])
def test_without_flock_another_machines_lock_is_stale_once_not_refreshed(
    tmp_path: Path, age: float, taken_over: bool
) -> None:
    lock = tmp_path / ".lock"
    lock.write_text("4242@another-node\n")  # its pid cannot be checked from here: only its time tells
    os.utime(lock, (time.time() - age, time.time() - age))
    if taken_over:
        with run_lock(lock, lambda _: None):
            assert lock.read_text().startswith(f"{os.getpid()}@")
    else:
        with pytest.raises(RunLockedError, match="4242@another-node"):
            with run_lock(lock, lambda _: None):
                pass
        assert lock.read_text() == "4242@another-node\n"


@pytest.mark.usefixtures("no_flock")
def test_without_flock_the_holder_refreshes_its_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock_module, "HEARTBEAT_S", 0.05)
    lock = tmp_path / ".lock"
    with run_lock(lock, lambda _: None):
        os.utime(lock, (time.time() - 1000, time.time() - 1000))
        time.sleep(0.5)
        assert time.time() - lock.stat().st_mtime < 5
