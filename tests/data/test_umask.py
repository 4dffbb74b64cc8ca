"""Outputs honour the umask (issue 14, "Sharing on a cluster"): not 0600/0700 because of mkstemp/mkdtemp."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dca.data.convert import prepare
from dca.utils.io import current_umask, staging_dir, write_json


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under this umask."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_current_umask_reads_without_changing(umask: int) -> None:
    assert current_umask() == umask and current_umask() == umask


def test_atomic_files_and_staging_folders(tmp_path: Path, umask: int) -> None:
    write_json(tmp_path / "a" / "x.json", {"k": 1})
    assert mode(tmp_path / "a" / "x.json") == 0o666 & ~umask
    assert mode(staging_dir(tmp_path, "target")) == 0o777 & ~umask


def test_prepared_dataset_is_readable_by_the_group(tmp_path: Path, fake, umask: int) -> None:
    fake.kvasir(tmp_path / "raw", n=5)
    out = prepare("kvasir", tmp_path / "raw", tmp_path / "out").out
    assert mode(out) == 0o777 & ~umask
    for path in [out / "dataset.json", out / "index.csv", *(out / "masks").iterdir()]:
        assert mode(path) == 0o666 & ~umask, path
    assert mode(out / "images") == 0o777 & ~umask


def test_stale_prepare_staging_of_the_same_target_is_removed(tmp_path: Path, fake) -> None:
    fake.kvasir(tmp_path / "raw", n=5)
    stale = tmp_path / ".tmp-out.k1ll3d00"
    (stale / "images").mkdir(parents=True)
    trash = tmp_path / ".trash-out.0badf00d"
    trash.mkdir()
    other = tmp_path / ".tmp-out-din.k1ll3d00"
    other.mkdir()
    prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    assert not stale.exists() and not trash.exists() and other.exists()
