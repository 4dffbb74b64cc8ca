"""Downloads and unpacking never lose data: a truncated body records no checksum, user files survive."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from dca.data.download import SUMS_FILE, DamagedArchive, download, read_sums, unpack
from dca.data.registry import Archive, get_dataset


def _served_kvasir(tmp_path: Path, fake, http_server) -> tuple:
    """A fake Kvasir-SEG zip (upstream layout: Kvasir-SEG/images, masks) served over HTTP with no known checksum."""
    archive = fake.zip_dir(fake.kvasir(tmp_path / "src" / "Kvasir-SEG", n=5), tmp_path / "kvasir-seg.zip")
    data = archive.read_bytes()
    http_server.server.files["/kvasir-seg.zip"] = data
    spec = get_dataset("kvasir")
    source = dataclasses.replace(
        spec.source, archives=(Archive("kvasir-seg.zip", http_server.url("/kvasir-seg.zip"), None),)
    )
    return dataclasses.replace(spec, source=source), data


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
