"""The ``dca`` command line: version, exit codes (2 usage, 1 bad input), --debug, -v/-q logging."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dca.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("dca ")


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["experiments", "no-such-command"])
    assert exit_info.value.code == 2


def test_bad_input_exits_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a finished training run" in err and "--debug" in err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a finished training run"):
        main(["--debug", "evaluate", str(tmp_path / "missing")])


@pytest.mark.parametrize(("flags", "level"), [([], logging.INFO), (["-v"], logging.DEBUG), (["-q"], logging.WARNING)])
def test_verbosity_sets_the_log_level(tmp_path: Path, flags: list[str], level: int) -> None:
    root = logging.getLogger()
    handlers, old = root.handlers[:], root.level
    root.handlers = []  # basicConfig configures only a root logger without handlers
    try:
        main([*flags, "evaluate", str(tmp_path / "missing")])
        assert root.level == level
    finally:
        root.handlers, root.level = handlers, old
