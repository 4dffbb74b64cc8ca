"""Atomic file output: write to a temporary file in the target folder, then rename.

A crash or ``kill -9`` mid-write leaves at most a stray ``.tmp-*`` file, never a
half-written file under the final name. ``mkstemp``/``mkdtemp`` create 0600 files and 0700
folders whatever the umask; the results are given the modes a plain ``open``/``mkdir`` would
give (0666 / 0777 minus the umask), so group members of a lab can read shared outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

_UMASK_LOCK = threading.Lock()


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
    """Yield a temporary path beside ``path``; on success fsync and rename it over ``path``."""
    target = Path(path)
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
