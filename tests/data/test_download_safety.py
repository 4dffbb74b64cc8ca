"""Downloads and unpacking never lose data: a truncated body records no checksum, user files survive."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from dca.data.download import SUMS_FILE, DamagedArchive, download, read_sums, unpack
from dca.data.registry import Archive, get_dataset
from dca.utils.io import DiskFullError


def _served_kvasir(tmp_path: Path, fake, http_server) -> tuple:
    """A fake Kvasir-SEG zip (upstream layout: Kvasir-SEG/images, masks) served over HTTP with no known checksum,
    and the registry entry with its source and its case count (5) replaced."""
    archive = fake.zip_dir(fake.kvasir(tmp_path / "src" / "Kvasir-SEG", n=5), tmp_path / "kvasir-seg.zip")
    data = archive.read_bytes()
    http_server.server.files["/kvasir-seg.zip"] = data
    spec = get_dataset("kvasir")
    source = dataclasses.replace(
        spec.source, archives=(Archive("kvasir-seg.zip", http_server.url("/kvasir-seg.zip"), None),)
    )
    return dataclasses.replace(spec, source=source, cases=5), data


def test_truncated_body_without_length_records_no_checksum(tmp_path: Path, fake, http_server) -> None:
    spec, data = _served_kvasir(tmp_path, fake, http_server)
    raw = tmp_path / "raw"
    http_server.server.no_length, http_server.server.cut_after = True, len(data) // 2
    with pytest.raises(DamagedArchive, match=r"kvasir-seg.zip: .*the download was deleted \(nothing recorded\)"):
        download(spec, raw)
    assert read_sums(raw) == {} and not (raw / "kvasir-seg.zip").exists()
    [got] = download(spec, raw)  # the next, complete download is accepted and recorded
    assert got.recorded and read_sums(raw) == {"kvasir-seg.zip": hashlib.sha256(data).hexdigest()}
    assert len(list((raw / "Kvasir-SEG" / "images").iterdir())) == 5


def test_mismatch_with_a_recorded_value_says_how_to_clear_it(tmp_path: Path, fake, http_server) -> None:
    spec, _ = _served_kvasir(tmp_path, fake, http_server)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / SUMS_FILE).write_text(f"{'a' * 64}  kvasir-seg.zip\n")
    with pytest.raises(ValueError, match=rf"recorded in .*{SUMS_FILE}.*delete the line for kvasir-seg.zip"):
        download(spec, raw)


def test_unpacking_keeps_user_files_in_an_existing_folder(tmp_path: Path, fake) -> None:
    archive = fake.zip_dir(fake.kvasir(tmp_path / "src" / "Kvasir-SEG", n=3), tmp_path / "kvasir-seg.zip")
    raw = tmp_path / "raw"
    (raw / "Kvasir-SEG").mkdir(parents=True)
    (raw / "Kvasir-SEG" / "my_notes.txt").write_text("do not lose me")
    assert unpack(archive, raw) == (raw / "Kvasir-SEG",)
    assert (raw / "Kvasir-SEG" / "my_notes.txt").read_text() == "do not lose me"
    assert len(list((raw / "Kvasir-SEG" / "images").iterdir())) == 3
    assert unpack(archive, raw) == (raw / "Kvasir-SEG",)  # again: equal files are kept, nothing lost
    assert (raw / "Kvasir-SEG" / "my_notes.txt").read_text() == "do not lose me"
    assert not [p for p in raw.iterdir() if p.name.startswith(".tmp-")]


def test_unpacking_refuses_to_overwrite_a_changed_file(tmp_path: Path, fake) -> None:
    archive = fake.zip_dir(fake.kvasir(tmp_path / "src" / "Kvasir-SEG", n=3), tmp_path / "kvasir-seg.zip")
    raw = tmp_path / "raw"
    unpack(archive, raw)
    edited = raw / "Kvasir-SEG" / "kavsir_bboxes.json"
    edited.write_text('{"mine": 1}')
    with pytest.raises(ValueError, match=r"would overwrite 1 file.*kavsir_bboxes.json.*nothing was changed"):
        unpack(archive, raw)
    assert edited.read_text() == '{"mine": 1}'


def test_stale_unpack_staging_is_removed(tmp_path: Path, fake) -> None:
    archive = fake.zip_dir(fake.kvasir(tmp_path / "src" / "Kvasir-SEG", n=2), tmp_path / "kvasir-seg.zip")
    raw = tmp_path / "raw"
    stale = raw / ".tmp-unpack-kvasir-seg.zip.abcd1234"
    (stale / "Kvasir-SEG").mkdir(parents=True)
    other = raw / ".tmp-other.abcd1234"
    other.mkdir()
    unpack(archive, raw)
    assert not stale.exists() and other.exists()


def _kvasir_tar(tmp_path: Path, fake) -> tuple:
    """A plain tar of a fake Kvasir-SEG (5 cases), a registry entry fetching it by URL (no known checksum), and
    the archive's bytes up to its first ``masks/`` member: a download that stopped after ``images/``."""
    src = fake.kvasir(tmp_path / "src" / "Kvasir-SEG", n=5)
    archive = tmp_path / "served" / "kvasir-seg.tar"
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tf:
        tf.add(src, arcname=src.name)
    with tarfile.open(archive) as tf:
        cut = next(m.offset for m in tf.getmembers() if m.name.startswith("Kvasir-SEG/masks"))
    spec = get_dataset("kvasir")
    source = dataclasses.replace(spec.source, archives=(Archive("kvasir-seg.tar", archive.as_uri(), None),))
    return dataclasses.replace(spec, source=source, cases=5), archive, archive.read_bytes()[:cut]


def test_a_plain_tar_cut_at_a_member_boundary_is_damaged_and_not_recorded(tmp_path: Path, fake) -> None:
    spec, archive, cut = _kvasir_tar(tmp_path, fake)
    whole = archive.read_bytes()
    archive.write_bytes(cut)
    raw = tmp_path / "raw"
    with pytest.raises(DamagedArchive, match=r"cut short: no end-of-archive marker .*the download was deleted"):
        download(spec, raw)
    assert read_sums(raw) == {} and not (raw / "kvasir-seg.tar").exists() and not (raw / "Kvasir-SEG").exists()
    archive.write_bytes(whole)
    [got] = download(spec, raw)  # the complete archive is accepted, not deleted as a mismatch
    assert got.recorded and read_sums(raw) == {"kvasir-seg.tar": hashlib.sha256(whole).hexdigest()}


def test_a_release_without_masks_or_with_fewer_cases_is_not_recorded(tmp_path: Path, fake) -> None:
    src = fake.kvasir(tmp_path / "src" / "Kvasir-SEG", n=3)
    shutil.rmtree(src / "masks")
    archive = fake.zip_dir(src, tmp_path / "kvasir-seg.zip")
    spec = get_dataset("kvasir")
    spec = dataclasses.replace(spec, source=dataclasses.replace(spec.source, archives=()), cases=3)
    [got] = download(spec, tmp_path / "raw", [str(archive)])
    assert not got.recorded and "no known layout" in got.not_recorded and read_sums(tmp_path / "raw") == {}
    full = fake.zip_dir(fake.kvasir(tmp_path / "src2" / "Kvasir-SEG", n=3), tmp_path / "full.zip")
    [got] = download(dataclasses.replace(spec, cases=4), tmp_path / "raw2", [str(full)])
    assert not got.recorded and got.not_recorded.endswith("holds 3 cases, the full release 4")
    [got] = download(spec, tmp_path / "raw2", [str(full)])
    assert got.recorded and got.not_recorded == ""


def test_a_full_disk_while_unpacking_keeps_the_archive_and_names_the_disk(
    tmp_path: Path, fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, archive, _ = _kvasir_tar(tmp_path, fake)
    raw = tmp_path / "raw"

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tarfile.TarFile, "extractall", full)
    with pytest.raises(DiskFullError, match=rf"cannot unpack .*kvasir-seg.tar into {raw}: No space left on device "):
        download(spec, raw)
    assert (raw / "kvasir-seg.tar").read_bytes() == archive.read_bytes() and read_sums(raw) == {}
    assert sorted(p.name for p in raw.iterdir()) == ["kvasir-seg.tar"]  # no staging left


UNPACK_ON_A_TINY_DISK = """
import dataclasses, sys
from pathlib import Path
from dca.data.download import download
from dca.data.registry import Archive, get_dataset
from dca.utils.io import DiskFullError
spec = get_dataset("kvasir")
archive = Archive("big.tar.gz", Path(ARCHIVE).as_uri(), None)
spec = dataclasses.replace(spec, source=dataclasses.replace(spec.source, archives=(archive,)))
try:
    download(spec, Path(sys.argv[1]))
except DiskFullError as err:
    print(err)
print(sorted(p.name for p in Path(sys.argv[1]).iterdir()))
"""


def test_a_real_full_disk_while_unpacking(tiny_disk, tmp_path: Path) -> None:
    """On a real 1 MiB tmpfs: a 0.6 MiB archive of 0.6 MiB of noise fits, unpacking it does not."""
    archive = tmp_path / "big.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("noise/noise.bin")
        info.size = 600_000
        tf.addfile(info, io.BytesIO(os.urandom(info.size)))
    proc = tiny_disk.run(UNPACK_ON_A_TINY_DISK.replace("ARCHIVE", repr(str(archive))), "raw")
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"cannot unpack {tiny_disk.path}/raw/big.tar.gz into {tiny_disk.path}/raw: No space"), (
        proc.stdout
    )
    assert "MiB free on" in lines[0] and "is kept" in lines[0] and lines[1] == "['big.tar.gz']", proc.stdout


FETCH_ON_A_TINY_DISK = """
import sys
from pathlib import Path
from dca.data.download import fetch
from dca.utils.io import DiskFullError
try:
    fetch(Path(SOURCE).as_uri(), Path(sys.argv[1]))
except DiskFullError as err:
    print(err)
"""


def test_a_real_full_disk_while_downloading_names_the_part_file(tiny_disk, tmp_path: Path) -> None:
    """On a real 1 MiB tmpfs: a 2 MiB download stops with the disk named, its part kept to resume."""
    source = tmp_path / "big.zip"
    source.write_bytes(os.urandom(2 * 2**20))
    proc = tiny_disk.run(FETCH_ON_A_TINY_DISK.replace("SOURCE", repr(str(source))), "big.zip")
    assert proc.stdout.startswith(f"cannot write {tiny_disk.path}/big.zip.part: No space left on device ("), proc.stdout
    assert "the previous big.zip.part is kept" in proc.stdout, proc.stdout
