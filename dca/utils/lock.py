"""One ``dca train`` per run folder: an exclusive ``flock`` on the folder's lock file, the owner's pid inside.

The kernel drops a ``flock`` when its process dies, so a lock file left by a killed run (``kill -9``,
a node crash) is stale by construction: the next run takes it over and says so. Forked children (data-loader
workers) close their inherited copy of the lock at once, so that orphaned workers never hold it after their
parent died. Where the file system has no ``flock`` (Lustre mounted without it, some NFS: ENOSYS/EOPNOTSUPP) the
lock file itself is the lock, created with ``O_EXCL``; its owner refreshes its time while it lives, and a lock
whose owner is no longer running on this machine, or whose time is older than :data:`STALE_AFTER_S`, is stale
and taken over.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

#: errno of ``flock`` on a file system that does not implement it (Lustre without -o flock, some NFS).
NO_FLOCK_ERRNOS = frozenset({errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})
#: Without ``flock``: the holder refreshes the lock file's time this often ...
HEARTBEAT_S = 60.0
#: ... and a lock file not refreshed for this long is stale, whatever machine wrote it.
STALE_AFTER_S = 600.0


#: The ``flock``-ed lock fds this process holds, closed in every forked child (:func:`_close_in_child`).
_HELD: set[int] = set()


class RunLockedError(RuntimeError):
    """Another live process is training in the same run folder (or holds another folder's lock)."""


def _close_in_child() -> None:
    """In a forked child, close its copies of the parent's lock fds: a ``flock`` lasts while any copy is open, so
    a worker outliving its killed parent would hold the lock (the parent's own copies stay locked)."""
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_in_child)


def _owner(fd: int) -> str:
    """The ``pid@host`` written in an open lock file (empty when none was written)."""
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 256).decode(errors="replace").strip()


@contextlib.contextmanager
def run_lock(path: Path, log: Callable[[str], None], busy: str | None = None) -> Iterator[None]:
    """Hold the lock file ``path`` for the duration of the block; a second holder gets :class:`RunLockedError`,
    which begins with ``busy`` (default: ``<folder of path> is being trained``)."""
    path = Path(path)
    busy = busy or f"{path.parent} is being trained"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _flock_supported(path.parent):
        with _exclusive_file_lock(path, log, busy):
            yield
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd) or "another process"
            os.close(fd)
            raise RunLockedError(
                f"{busy} by {owner} (lock file {path}); wait for it to finish or stop it "
                "(a lock of a dead process is released by the system and taken over automatically)"
            ) from None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:  # not unlinked by a finishing holder meanwhile
                break
        os.close(fd)
    _HELD.add(fd)
    try:
        stale = _owner(fd)
        if stale:
            log(f"taking over the stale lock {path} of {stale} (no longer running)")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        if fd in _HELD:  # else this is a forked child leaving the block: its copy is closed, the lock not its own
            path.unlink(missing_ok=True)  # before unlocking, so that nobody locks a file about to vanish
            _HELD.discard(fd)
            os.close(fd)


def _flock_supported(folder: Path) -> bool:
    """Whether ``flock`` works in ``folder``, tried on a throwaway file (the lock file itself stays untouched)."""
    fd, probe = tempfile.mkstemp(prefix=".flock-probe-", dir=folder)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in NO_FLOCK_ERRNOS:
            return False
        raise
    finally:
        os.close(fd)
        os.unlink(probe)
    return True


def _read_lock(path: Path) -> tuple[str, float] | None:
    """The ``pid@host`` in a lock file and its age in seconds; None when the file is gone."""
    try:
        with open(path, "rb") as file:
            owner = file.read(256).decode(errors="replace").strip()
            age = time.time() - os.fstat(file.fileno()).st_mtime
    except FileNotFoundError:
        return None
    return owner, age


def _is_stale(owner: str, age: float) -> bool:
    """A lock is stale when its owner is a dead process of this machine, or when nobody refreshed it for
    :data:`STALE_AFTER_S` (an owner on another machine, or one that died before writing its pid)."""
    pid, _, host = owner.partition("@")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False
    return age > STALE_AFTER_S


def _remove_stale(path: Path, owner: str) -> None:
    """Delete the stale lock ``path`` of ``owner`` unless someone else got there first: under a second
    ``O_EXCL`` file, so that of two processes breaking the same stale lock only one deletes it."""
    breaker = path.with_name(f"{path.name}.break")
    try:
        fd = os.open(breaker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        state = _read_lock(breaker)
        if state is not None and state[1] > STALE_AFTER_S:  # left by a process killed while breaking
            breaker.unlink(missing_ok=True)
        time.sleep(0.05)
        return
    try:
        current = _read_lock(path)
        if current is not None and current[0] == owner and _is_stale(*current):
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)
        breaker.unlink(missing_ok=True)


@contextlib.contextmanager
def _heartbeat(fd: int) -> Iterator[None]:
    """Refresh the time of the open lock file every :data:`HEARTBEAT_S` seconds while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(fd)

    thread = threading.Thread(target=beat, name="dca-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def _exclusive_file_lock(path: Path, log: Callable[[str], None], busy: str) -> Iterator[None]:
    """:func:`run_lock` where ``flock`` is unsupported: the lock file, created with ``O_EXCL``, is the lock."""
    log(
        f"{path.parent}: this file system does not support flock; locking with {path} instead (created with "
        f"O_EXCL, the owner's pid@host inside, refreshed every {HEARTBEAT_S:.0f} s, stale when its owner is "
        f"gone or after {STALE_AFTER_S:.0f} s without a refresh)"
    )
    stale = ""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            state = _read_lock(path)
            if state is None:  # released meanwhile
                continue
            owner, age = state
            if not _is_stale(owner, age):
                raise RunLockedError(
                    f"{busy} by {owner or 'another process'} (lock file {path}, "
                    f"refreshed {age:.0f} s ago; no flock on this file system); wait for it to finish or stop it "
                    f"(the lock of a process no longer running on this machine, or one not refreshed for "
                    f"{STALE_AFTER_S:.0f} s, is taken over automatically; delete {path} if you know it is stale)"
                ) from None
            _remove_stale(path, owner)
            stale = owner
    try:
        if stale:
            log(f"taking over the stale lock {path} of {stale} (no longer running)")
        os.write(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode())
        with _heartbeat(fd):
            yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:  # still ours, not taken over as stale meanwhile
                path.unlink()
        os.close(fd)
