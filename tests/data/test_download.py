"""Download: file:// and local archives, SHA-256 checks (registry, --sha256, recorded), HTTP Range resume,
manual datasets, and safe unpacking of zip/tar archives."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from dca.data.download import SUMS_FILE, download, fetch, read_sums, unpack
from dca.data.registry import Archive, DatasetSpec, get_dataset


def with_archives(name: str, kind: str, *archives: Archive) -> DatasetSpec:
    """Registry entry ``name`` with its source replaced (kind and archives)."""
    spec = get_dataset(name)
    return dataclasses.replace(spec, source=dataclasses.replace(spec.source, kind=kind, archives=archives))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def kvasir_zip(tmp_path: Path, fake) -> Path:
    """A zip of a fake Kvasir-SEG that unpacks to Kvasir-SEG/."""
    return fake.zip_dir(fake.kvasir(tmp_path / "src" / "Kvasir-SEG", n=5), tmp_path / "kvasir-seg.zip")


def test_file_url_download_verifies_unpacks_and_prepares(tmp_path: Path, kvasir_zip: Path) -> None:
    from dca.data.convert import prepare

    digest = sha(kvasir_zip.read_bytes())
    spec = with_archives("kvasir", "url", Archive("kvasir-seg.zip", kvasir_zip.as_uri(), digest))
    raw = tmp_path / "raw"
    [got] = download(spec, raw)
    assert got.sha256 == digest and not got.recorded and got.unpacked == (raw / "Kvasir-SEG",)
    assert (raw / "kvasir-seg.zip").is_file() and not (raw / "kvasir-seg.zip.part").exists()
    assert len(list((raw / "Kvasir-SEG" / "images").iterdir())) == 5
    assert prepare("kvasir", raw, tmp_path / "out").split.sizes() == {"train": 3, "val": 1, "test": 1}
    [again] = download(spec, raw)  # the archive is there: verified locally, unpacked again
    assert again.sha256 == digest


def test_checksum_mismatch_is_an_error_and_keeps_nothing(tmp_path: Path, kvasir_zip: Path) -> None:
    spec = with_archives("kvasir", "url", Archive("kvasir-seg.zip", kvasir_zip.as_uri(), "0" * 64))
    raw = tmp_path / "raw"
    with pytest.raises(ValueError, match=r"kvasir-seg.zip: SHA-256 mismatch .*expected 0000.*deleted"):
        download(spec, raw)
    assert list(raw.iterdir()) == []
    (raw / "kvasir-seg.zip").write_bytes(b"not the archive")  # a damaged earlier download is removed too
    with pytest.raises(ValueError, match=r"SHA-256 mismatch"):
        download(spec, raw)
    assert list(raw.iterdir()) == []


def test_unknown_checksum_is_recorded_then_enforced(tmp_path: Path, kvasir_zip: Path) -> None:
    spec = dataclasses.replace(
        with_archives("kvasir", "url", Archive("kvasir-seg.zip", kvasir_zip.as_uri(), None)), cases=5
    )
    raw = tmp_path / "raw"
    [got] = download(spec, raw)
    assert got.recorded and read_sums(raw) == {"kvasir-seg.zip": sha(kvasir_zip.read_bytes())}
    (raw / "kvasir-seg.zip").unlink()
    kvasir_zip.write_bytes(kvasir_zip.read_bytes() + b"changed upstream")
    with pytest.raises(ValueError, match=r"SHA-256 mismatch"):
        download(spec, raw)
    with pytest.raises(ValueError, match=r"--sha256 pins one archive"):
        download(spec, raw, [str(kvasir_zip), str(kvasir_zip)], sha256="0" * 64)
    [pinned] = download(spec, raw, sha256=sha(kvasir_zip.read_bytes()))
    assert not pinned.recorded


def test_manual_dataset_missing_names_dataset_path_and_steps(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        download(get_dataset("glas"), tmp_path / "raw")
    message = str(err.value)
    assert "'glas'" in message and str(tmp_path / "raw") in message and "warwick_qu_dataset" in message


def test_manual_archive_given_as_local_file_or_found_in_out(tmp_path: Path, fake) -> None:
    archive = fake.zip_dir(fake.glas(tmp_path / "src") / "Warwick QU Dataset (Released 2016_07_08)", tmp_path / "g.zip")
    digest = sha(archive.read_bytes())
    spec = with_archives("glas", "manual", Archive("warwick.zip", None, digest))
    [got] = download(spec, tmp_path / "raw", [str(archive)])  # other name, but the registry checksum matches
    assert not got.recorded and got.archive == archive and archive.is_file()
    assert (tmp_path / "raw" / "Warwick QU Dataset (Released 2016_07_08)" / "train_1.bmp").is_file()
    assert download(spec, tmp_path / "raw") == []  # already unpacked: nothing to do
    out = tmp_path / "raw2"
    out.mkdir()
    (out / "warwick.zip").write_bytes(archive.read_bytes())
    [found] = download(spec, out)
    assert found.sha256 == digest
    with pytest.raises(FileNotFoundError, match=r"no such file"):
        download(spec, out, [str(tmp_path / "nope.zip")])


def test_synthetic_datasets_are_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"generated, not downloaded.*dca data synth binary"):
        download(get_dataset("synthetic-binary"), tmp_path)


def test_http_resume_continues_a_partial_download(tmp_path: Path, http_server) -> None:
    data = bytes(range(256)) * 4000
    http_server.server.files["/a.zip"] = data
    dest = tmp_path / "a.zip"
    (tmp_path / "a.zip.part").write_bytes(data[:300_000])
    assert fetch(http_server.url("/a.zip"), dest, sha(data)) == sha(data)
    assert http_server.server.ranges == ["bytes=300000-"] and dest.read_bytes() == data


def test_http_broken_transfer_keeps_part_and_resumes(tmp_path: Path, http_server) -> None:
    data = b"0123456789" * 50_000
    http_server.server.files["/b.tar"] = data
    http_server.server.cut_after = 123_456
    dest = tmp_path / "b.tar"
    with pytest.raises(ValueError, match=r"broke off.*run the same command again to resume"):
        fetch(http_server.url("/b.tar"), dest, sha(data))
    assert (tmp_path / "b.tar.part").stat().st_size == 123_456 and not dest.exists()
    fetch(http_server.url("/b.tar"), dest, sha(data))
    assert http_server.server.ranges == [None, "bytes=123456-"] and dest.read_bytes() == data


def test_http_server_without_range_restarts_and_complete_part_is_verified(tmp_path: Path, http_server) -> None:
    data = b"x" * 10_000 + b"y" * 10_000
    http_server.server.files["/c.zip"] = data
    http_server.server.honour_range = False
    (tmp_path / "c.zip.part").write_bytes(b"stale bytes")
    fetch(http_server.url("/c.zip"), tmp_path / "c.zip", sha(data))
    assert (tmp_path / "c.zip").read_bytes() == data
    http_server.server.honour_range = True
    (tmp_path / "c.zip").rename(tmp_path / "d.zip.part")  # complete .part: the server answers 416
    http_server.server.files["/d.zip"] = data
    fetch(http_server.url("/d.zip"), tmp_path / "d.zip", sha(data))
    assert (tmp_path / "d.zip").read_bytes() == data and http_server.server.ranges[-1] == "bytes=20000-"


def test_http_error_and_wrong_checksum(tmp_path: Path, http_server) -> None:
    with pytest.raises(ValueError, match=r"HTTP 404"):
        fetch(http_server.url("/missing"), tmp_path / "m.zip")
    http_server.server.files["/e.zip"] = b"abc"
    with pytest.raises(ValueError, match=r"SHA-256 mismatch"):
        fetch(http_server.url("/e.zip"), tmp_path / "e.zip", "f" * 64)
    assert list(tmp_path.iterdir()) == []


def zip_with(tmp_path: Path, name: str, symlink: bool = False) -> Path:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good/file.txt", "ok")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd" if symlink else "evil")
    return archive


def tar_with(tmp_path: Path, name: str, kind: bytes = tarfile.REGTYPE) -> Path:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = "/etc/passwd" if kind != tarfile.REGTYPE else ""
        info.size = 4 if kind == tarfile.REGTYPE else 0
        tf.addfile(info, io.BytesIO(b"evil") if kind == tarfile.REGTYPE else None)
    return archive


@pytest.mark.parametrize(
    "make",
    [
        lambda t: zip_with(t, "../evil.txt"),
        lambda t: zip_with(t, "/abs/evil.txt"),
        lambda t: zip_with(t, "good/link", symlink=True),
        lambda t: tar_with(t, "../../evil.txt"),
        lambda t: tar_with(t, "/abs/evil.txt"),
        lambda t: tar_with(t, "link", tarfile.SYMTYPE),
    ],
    ids=["zip-dotdot", "zip-absolute", "zip-symlink", "tar-dotdot", "tar-absolute", "tar-symlink"],
)
def test_unsafe_archives_are_refused_and_write_nothing(tmp_path: Path, make) -> None:
    archive = make(tmp_path)
    dest = tmp_path / "dest" / "inner"
    with pytest.raises(ValueError, match=r"outside the target folder|link"):
        unpack(archive, dest)
    assert list(dest.iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_tar_gz_unpacks_and_skips_macos_junk(tmp_path: Path, fake) -> None:
    src = fake.cvc(tmp_path / "src" / "CVC-ClinicDB", n=2, ext="png")
    (src / "__MACOSX").mkdir()
    archive = fake.tar_dir(src, tmp_path / "cvc.tar.gz")
    with zipfile.ZipFile(tmp_path / "mac.zip", "w") as zf:
        zf.writestr("__MACOSX/CVC-ClinicDB/._1.png", "junk")
        zf.writestr("CVC-ClinicDB/readme.txt", "hello")
    assert unpack(archive, tmp_path / "raw") == (tmp_path / "raw" / "CVC-ClinicDB",)
    assert (tmp_path / "raw" / "CVC-ClinicDB" / "Ground Truth" / "2.png").is_file()
    assert unpack(tmp_path / "mac.zip", tmp_path / "raw2") == (tmp_path / "raw2" / "CVC-ClinicDB",)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(ValueError, match=r"not a zip or tar archive"):
        unpack(tmp_path / "broken.zip", tmp_path / "raw3")
    assert SUMS_FILE == "SHA256SUMS"


def _isic_archive(folder: Path, ids: list[str], fake, mask: bool) -> Path:
    """One ISIC 2018 archive as the challenge ships it: ``<folder>/`` with the JPEGs (or the 0/255 PNG masks,
    ``<id>_segmentation.png``) and the release's LICENSE.txt and ATTRIBUTION.txt."""
    for n, i in enumerate(ids):
        name = f"{i}_segmentation.png" if mask else f"{i}.jpg"
        fake.save(folder / name, fake.box_mask(n) if mask else fake.rgb(n))
    for note in ("LICENSE.txt", "ATTRIBUTION.txt"):
        (folder / note).write_text("CC BY-NC 4.0")
    return fake.zip_dir(folder, folder.parent / f"{folder.name}.zip")


def test_isic2018_download_fetches_the_task1_test_archives_for_din_paper(tmp_path: Path, fake) -> None:
    """The registry's four ISIC 2018 archives, made locally in the upstream layout: the din-paper protocol
    draws from the 2,594 + 1,000 images of both sets (scaled down here); the honest one keeps to training."""
    from dca.data.convert import prepare

    spec = get_dataset("isic2018")
    train = [f"ISIC_{n:07d}" for n in (*range(16), 16068, 16069, 16070, 16072)]  # upstream ids, gaps included
    test = [f"ISIC_{n:07d}" for n in range(12236, 12246)]
    src = tmp_path / "src"
    for archive in spec.source.archives:
        folder = src / archive.name.removesuffix(".zip")
        _isic_archive(folder, test if "_Test_" in archive.name else train, fake, "GroundTruth" in archive.name)
    assert {a.name for a in spec.source.archives} == {p.name for p in src.glob("*.zip")}
    local = [Archive(a.name, (src / a.name).as_uri(), None) for a in spec.source.archives]
    raw = tmp_path / "raw"
    fetched = download(dataclasses.replace(spec, source=dataclasses.replace(spec.source, archives=tuple(local))), raw)
    assert len(fetched) == 4 and not any(f.recorded for f in fetched)  # 30 of 3,594 cases: nothing recorded
    assert "holds 30 cases, the full release 3594" in fetched[0].not_recorded
    paper = prepare("isic2018", raw, tmp_path / "paper", protocol="din-paper").split
    assert paper.sizes() == {"train": 24, "val": 3, "test": 3}
    assert prepare("isic2018", raw, tmp_path / "honest").split.sizes() == {"train": 16, "val": 2, "test": 2}
    shutil.rmtree(raw / "ISIC2018_Task1_Test_GroundTruth")
    with pytest.raises(FileNotFoundError, match=r"ISIC2018_Task1_Test_GroundTruth: missing.*Test_GroundTruth\.zip"):
        prepare("isic2018", raw, tmp_path / "half", protocol="din-paper")
