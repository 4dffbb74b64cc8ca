"""Progress of long steps (issue 15): tqdm on a terminal, plain lines (no carriage returns) in log files."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest

from dca.data.convert import prepare
from dca.data.download import fetch
from dca.utils.progress import LogProgress, Progress, track


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_log_form_writes_a_line_every_ten_percent_and_no_carriage_return() -> None:
    stream = io.StringIO()
    assert list(track(range(50), 50, "prepare x", "images", stream=stream)) == list(range(50))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and len(lines) == 10
    assert re.fullmatch(r"prepare x: 5/50 images \(10%\), [\d.]+ images/s, ETA \d+ s", lines[0])
    assert re.fullmatch(r"prepare x: 50/50 images \(100%\), [\d.]+ images/s, done in [\d.]+ s", lines[-1])


def test_log_form_without_a_total_writes_every_interval() -> None:
    stream = io.StringIO()
    bar = LogProgress(None, "download", "B", True, stream, every_s=0.0)
    bar.update(3 * 1024 * 1024)
    bar.close()
    assert stream.getvalue().splitlines()[0].startswith("download: 3.0 MiB, ")


def test_terminal_gets_tqdm() -> None:
    stream = Terminal()
    with Progress(4, "enhance", "images", stream=stream) as bar:
        bar.update(4)
    assert "\r" in stream.getvalue() and "4/4" in stream.getvalue()


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
