"""Download, preparation and enhancement report their progress in logs as plain lines (dca.utils.progress)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from dca.data.convert import prepare
from dca.data.download import fetch


def test_download_shows_bytes_rate_and_eta_in_the_log(tmp_path: Path, http_server, capsys) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    http_server.server.files["/a.zip"] = data
    assert fetch(http_server.url("/a.zip"), tmp_path / "a.zip") == hashlib.sha256(data).hexdigest()
    err = capsys.readouterr().err
    assert "\r" not in err and re.search(r"a\.zip: 1\.0 MiB/1\.0 MiB \(100%\), [\d.]+ \w*B/s, done", err)


def test_prepare_counts_images(tmp_path: Path, fake, capsys) -> None:
    fake.kvasir(tmp_path / "raw", n=5)
    prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    assert re.search(r"prepare kvasir: 5/5 images \(100%\)", capsys.readouterr().err)


@pytest.mark.parametrize("method", ["he"])
def test_enhance_counts_images(tmp_path: Path, fake, capsys, method: str) -> None:
    from dca.enhance.dataset import enhance_dataset

    fake.kvasir(tmp_path / "raw", n=5)
    prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    capsys.readouterr()
    enhance_dataset(tmp_path / "out", method)
    assert re.search(rf"enhance {method} out: 5/5 images \(100%\)", capsys.readouterr().err)
