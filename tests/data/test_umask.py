"""A prepared dataset honours the umask (group-readable on a shared cluster), and its stale staging goes."""

from __future__ import annotations

from pathlib import Path

from dca.data.convert import prepare


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


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
