"""The ``dca`` command line: version, exit codes (2 usage, 1 bad input), --debug, -v/-q logging."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from dca.cli import main
from dca.utils.log import is_quiet


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


def test_python_dash_m_dca_runs_the_cli() -> None:
    """`python -m dca` is the `dca` command (the workflow's jobs call it so), with its exit codes."""
    cmd = [sys.executable, "-m", "dca", "experiments", "-h"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: dca experiments")
    bad = subprocess.run([sys.executable, "-m", "dca", "experiments", "no-such"], capture_output=True, timeout=60)
    assert bad.returncode == 2


def test_quiet_drops_progress_and_info_lines_and_keeps_results_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "raw"
    assert main(["-q", "data", "synth", "binary", "--out", str(raw), "--n", "4", "--size", "16x16"]) == 0
    (raw / "masks" / "stray.jpg").write_bytes((raw / "masks" / "synpolyp0000.jpg").read_bytes())
    assert capsys.readouterr().err == ""
    loud = ["data", "prepare", "synthetic-binary", "--raw", str(raw), "--out", str(tmp_path / "loud")]
    with pytest.warns(UserWarning, match="1 mask file"):
        assert main(loud) == 0
    shown = capsys.readouterr()
    assert "prepare synthetic-binary: 4/4 images" in shown.err
    with pytest.warns(UserWarning, match="1 mask file"):  # a warning stays
        assert main(["-q", *loud[:-1], str(tmp_path / "quiet")]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == shown.out.replace("loud", "quiet")  # the result line, unchanged
    assert not is_quiet()  # for this command only


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "splits", "{missing}"],
        ["experiments", "check", "{missing}"],
        ["report", "tables", "--config", "{missing}"],
        ["models", "params", "no-such-model"],
    ],
)
def test_errors_name_the_full_sub_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    argv = [arg.format(missing=tmp_path / "missing") for arg in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"dca {argv[0]} {argv[1]}: error: ") and err.count("\n") == 1
