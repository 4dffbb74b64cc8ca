"""Stage messages: one ``[dca <stage>]`` line each on stderr, also while a tqdm bar is drawn."""

from __future__ import annotations

import sys

import pytest
from tqdm import tqdm

from dca.utils.log import stage_log


def test_stage_log_writes_one_prefixed_line_per_message(capsys: pytest.CaptureFixture[str]) -> None:
    log = stage_log("evaluate")
    log("test Dice 0.81")
    log("done")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "[dca evaluate] test Dice 0.81\n[dca evaluate] done\n"


def test_stage_log_keeps_its_line_whole_under_an_open_bar(capsys: pytest.CaptureFixture[str]) -> None:
    with tqdm(total=3, file=sys.stderr) as bar:
        bar.update(1)
        stage_log("train")("resumed")
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert "[dca train] resumed" in lines
