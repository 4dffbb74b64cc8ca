"""Progress of long steps: tqdm on a terminal, plain lines (no carriage returns) in log files."""

from __future__ import annotations

import io
import re

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
