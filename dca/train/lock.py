"""One ``dca train`` per run folder: an exclusive ``flock`` on the folder's lock file, the owner's pid inside.

The kernel drops a ``flock`` when its process dies, so a lock file left by a killed run (``kill -9``,
a node crash) is stale by construction: the next run takes it over and says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path


class RunLockedError(RuntimeError):
    """Another live process is training in the same run folder."""


def _owner(fd: int) -> str:
    """The ``pid@host`` written in an open lock file (empty when none was written)."""
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 256).decode(errors="replace").strip()


@contextlib.contextmanager
def run_lock(path: Path, log: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock file ``path`` for the duration of the block; a second holder gets :class:`RunLockedError`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd) or "another process"
            os.close(fd)
            raise RunLockedError(
                f"{path.parent} is being trained by {owner} (lock file {path}); wait for it to finish or stop it "
                "(a lock of a dead process is released by the system and taken over automatically)"
            ) from None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:  # not unlinked by a finishing holder meanwhile
                break
        os.close(fd)
    try:
        stale = _owner(fd)
        if stale:
            log(f"taking over the stale lock {path} of {stale} (no longer running)")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # before unlocking, so that nobody locks a file about to vanish
        os.close(fd)
