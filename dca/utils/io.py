"""Atomic file output: write to a temporary file in the target folder, then rename.

A crash or ``kill -9`` mid-write leaves at most a stray ``.tmp-*`` file, never a
half-written file under the final name. ``mkstemp``/``mkdtemp`` create 0600 files and 0700
folders whatever the umask; the results are given the modes a plain ``open``/``mkdir`` would
give (0666 / 0777 minus the umask), so group members of a lab can read shared outputs. A full disk
(or quota) is a :class:`DiskFullError` naming the file and the free space, the previous file kept.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_UMASK_LOCK = threading.Lock()
#: The errors of a full disk or an exhausted quota.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """A file could not be written for lack of space (or quota); the previous file under its name is intact."""

    def __str__(self) -> str:
        """The message alone (it already says which error), without OSError's ``[Errno 28]`` prefix."""
        return str(self.strerror)


def disk_full_errno(err: BaseException | None) -> int | None:
    """ENOSPC/EDQUOT when ``err`` or its chain is a full disk, else None.

    Writers such as torch's re-raise the OSError as a RuntimeError (chained, or only named in the message).
    """
    texts = {os.strerror(code): code for code in DISK_FULL}
    while err is not None:
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            return err.errno
        found = next((code for text, code in texts.items() if text in str(err)), None)
        if found is not None:
            return found
        err = err.__cause__ or err.__context__
    return None


def _free_mib(folder: Path) -> float:
    """The MiB free on the file system of ``folder`` (of its nearest existing parent if it is not there)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free / 2**20


def disk_full_error(path: Path, code: int) -> DiskFullError:
    """The error for ``path`` not written for lack of space: the file, the free MiB of its folder, what to do."""
    kept = f"the previous {path.name} is kept" if path.exists() else f"no {path.name} exists yet"
    return DiskFullError(
        code,
        f"cannot write {path}: {os.strerror(code)} ({_free_mib(path.parent):.1f} MiB free on {path.parent}); "
        f"{kept}. Free some space and run again",
    )


def current_umask() -> int:
    """The process umask, read without changing it where Linux tells it (``/proc/self/status``)."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:  # elsewhere the only way to read it is to set it (briefly)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the mode ``open``/``mkdir`` would have: 0666 (files) or 0777 (folders) minus the umask."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~current_umask())


def staging_dir(parent: Path, name: str) -> Path:
    """A fresh temporary folder ``parent/.tmp-<name>.<random>`` (umask honoured) to build ``parent/name`` in.

    Stale staging and trash folders of the same target (left by a kill) are removed first, so they
    never pile up; the exact pattern keeps other targets' folders untouched.
    """
    parent.mkdir(parents=True, exist_ok=True)
    stale = re.compile(rf"^\.(tmp|trash)-{re.escape(name)}\.[a-z0-9_]{{8}}$")
    for entry in parent.iterdir():
        if stale.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f".tmp-{name}.", dir=parent))
    honour_umask(folder)
    return folder


def trash_name(path: Path) -> Path:
    """Where :func:`staging_dir`'s caller moves an old ``path`` aside before deleting it (cleaned like staging)."""
    return path.with_name(f".trash-{path.name}.{os.urandom(4).hex()}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync and rename it over ``path``.

    A full disk anywhere in this (the caller's writes included) removes the temporary file and raises
    :class:`DiskFullError` naming ``path``, whose previous content is untouched.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".tmp-{target.name}.", suffix=target.suffix)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
            honour_umask(tmp_path)
            os.replace(tmp_path, target)
        finally:
            tmp_path.unlink(missing_ok=True)
    except DiskFullError:
        raise  # a nested atomic write already named its own file
    except (OSError, RuntimeError) as err:
        code = disk_full_errno(err)
        if code is None:
            raise
        raise disk_full_error(target, code) from err


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files of ``path`` that :func:`atomic_path` left when a kill interrupted a write.

    Only for a caller that knows no other process is writing ``path`` (e.g. the holder of a run folder's lock).
    """
    target = Path(path)
    stale = re.compile(rf"^\.tmp-{re.escape(target.name)}\.[a-z0-9_]{{8}}{re.escape(target.suffix)}$")
    removed = [p for p in target.parent.glob(f".tmp-{target.name}.*") if stale.match(p.name) and p.is_file()]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Atomically save ``array`` in .npy format (memory-mappable)."""
    import numpy as np  # here, so that ``dca.cli`` (which imports this module for DiskFullError) stays light

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when it does not exist; a damaged file is an error naming it."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}): rerun the step that writes it or delete it") from None
