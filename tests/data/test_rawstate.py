"""The raw-folder fingerprint the prepare job records: it follows the content, not file times."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dca.data.rawstate import raw_fingerprint


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    raw = tmp_path / "kvasir"
    (raw / "images").mkdir(parents=True)
    (raw / "images/a.jpg").write_bytes(b"abc")
    before = raw_fingerprint(raw)
    os.utime(raw / "images/a.jpg", (1, 1))  # a copy or checkout: new times, same files
    assert raw_fingerprint(raw) == before
    (raw / "images/b.jpg").write_bytes(b"d")
    added = raw_fingerprint(raw)
    assert added != before
    (raw.parent / "kvasir.dvc").write_text("outs:\n- md5: 1.dir\n  path: kvasir\n", encoding="utf-8")
    tracked = raw_fingerprint(raw)  # dvc add / import-url: the DVC file names the content
    assert tracked != added
    (raw / "SHA256SUMS").write_text("00  a.zip\n", encoding="utf-8")
    assert raw_fingerprint(raw) not in (tracked, added)


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"raw folder .*nowhere not found"):
        raw_fingerprint(tmp_path / "nowhere")
