"""``dca report aggregate|curves``: per-group files under the config's paths; damaged metrics named alike."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from dca.cli import main
from dca.layout import aggregate_file, curves_file


def test_aggregate_and_curves_per_group(workspace: Path, tmp_path: Path) -> None:
    """Every group gets its file (one without runs too), named by dca.layout under --out."""
    config = str(workspace / "config.yaml")
    assert main(["report", "aggregate", "--config", config, "--out", str(tmp_path / "agg")]) == 0
    toy = json.loads(aggregate_file(tmp_path / "agg", "toy_table").read_text())
    assert toy["toy/net"]["n"] == 2 and toy["organs/net-cca"]["n"] == 0 and toy["missing"] == 3
    assert set(toy["organs/net"]) >= {"dice_liver", "dice_spleen"}
    assert json.loads(aggregate_file(tmp_path / "agg", "ghost").read_text()) == {"toy/other": toy["organs/net-cca"],
                                                                                 "missing": 2}  # fmt: skip
    assert main(["report", "curves", "--config", config, "--groups", "toy_table", "--out", str(tmp_path / "c")]) == 0
    with curves_file(tmp_path / "c", "toy_table").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 9 * 3 and rows[0]["run"] == "organs/net/seed0" and "val_dice" in rows[0]
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["toy_table.csv"]


@pytest.mark.parametrize("content", ["[]", '{"dice": "0.9", "iou": 0.8, "hd95": 3.0}'], ids=["list", "text-dice"])
@pytest.mark.parametrize("command", ["tables", "aggregate"])
def test_damaged_metrics_fail_tables_and_aggregate_alike(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, command: str
) -> None:
    """A metrics.json holding a list crashed both commands with an AttributeError; a Dice given as text counted
    in the table and failed the aggregate without naming the file. Both now fail naming it and the rerun."""
    runs = tmp_path / "runs"
    shutil.copytree(workspace / "runs", runs)
    metrics = runs / "toy" / "net" / "seed0" / "eval" / "metrics.json"
    metrics.write_text(content)
    args = ["report", command, "--config", str(workspace / "config.yaml"), "--runs", str(runs)]
    assert main([*args, "--groups", "toy_table", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{metrics} is damaged" in err and f"`dca evaluate {metrics.parent.parent}`" in err
    assert not (tmp_path / "out").exists()
