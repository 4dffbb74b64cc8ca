"""``dca report tables|figures``: outputs under --out, groups without runs skipped, unknown groups rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from dca.cli import main


def test_tables_command(workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """All groups: the fake group's three files; the group without runs is skipped with a message."""
    assert main(["report", "tables", "--config", str(workspace / "config.yaml"), "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy_table.csv", "toy_table.tex", "toy_table_tests.csv"]
    shown = capsys.readouterr()
    assert "ghost: no evaluated run" in shown.err and "toy/net-cca/seed1" in shown.err
    assert sorted(shown.out.splitlines()) == sorted(str(p) for p in tmp_path.iterdir())  # the files, for scripts


def test_figures_command_skips_empty_group(workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A group whose runs are all missing writes nothing and says so."""
    config = str(workspace / "config.yaml")
    assert main(["report", "figures", "--config", config, "--groups", "ghost", "--out", str(tmp_path)]) == 0
    assert list(tmp_path.iterdir()) == []
    assert "ghost: no evaluated run" in capsys.readouterr().err


def test_unknown_group(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown group is an error (exit 1) naming the known ones."""
    assert main(["report", "tables", "--config", str(workspace / "config.yaml"), "--groups", "nope"]) == 1
    assert "toy_table" in capsys.readouterr().err
