"""Atomic outputs honour the umask (group-readable on a shared cluster), not 0600/0700 as mkstemp/mkdtemp make them."""

from __future__ import annotations

from pathlib import Path

from dca.utils.io import current_umask, staging_dir, write_json


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_current_umask_reads_without_changing(umask: int) -> None:
    assert current_umask() == umask and current_umask() == umask


def test_atomic_files_and_staging_folders(tmp_path: Path, umask: int) -> None:
    write_json(tmp_path / "a" / "x.json", {"k": 1})
    assert mode(tmp_path / "a" / "x.json") == 0o666 & ~umask
    assert mode(staging_dir(tmp_path, "target")) == 0o777 & ~umask
