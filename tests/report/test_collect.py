"""Groups from the grid and their runs from the run folders: present, missing, scores in report units."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from dca.experiments.config import ConfigError, load_config
from dca.experiments.grid import Grid
from dca.report.collect import collect_group, load_run, read_metrics, report_groups


def test_group_from_grid(workspace: Path, grid: Grid) -> None:
    """Labels, baselines, seeds and the reported CSV (under paths.reported) come from the validated config."""
    (group,) = report_groups(grid, ["toy_table"])
    assert group.labels == {"net": "Net", "net-dca": "Net (DCA)", "net-cca": "Net (CCA)"}
    assert group.baselines == {"net-dca": "net", "net-cca": "net"}
    assert group.seeds == (0, 1)
    assert group.reported == workspace / "reported" / "toy_reported.csv"
    assert group.datasets == ("toy", "organs") and group.protocols["organs"] == ("organs", "honest")
    assert [g.name for g in report_groups(grid)] == ["toy_table", "ghost"]
    assert report_groups(grid, ["ghost"])[0].labels == {"other": "Other"}


def test_paper_protocol_datasets_come_from_the_grid(workspace: Path) -> None:
    """A group running both protocols has the grid's paper dataset id first, then the honest one, per dataset."""
    config = load_config(workspace / "config.yaml")
    config["experiments"]["toy_table"]["protocol"] = ["paper", "honest"]
    (group,) = report_groups(Grid(config), ["toy_table"])
    assert group.datasets == ("toy@dca-paper", "toy", "organs@dca-paper", "organs")
    assert group.protocol("toy@dca-paper") == "paper" and group.base("toy@dca-paper") == "toy"
    assert group.metric_key("toy@dca-paper", "dice") == "dice_official" and group.metric_key("toy", "dice") == "dice"


def test_unknown_group_and_foreign_baseline(workspace: Path, grid: Grid) -> None:
    """An unknown group name and a baseline outside the group are errors that name them."""
    with pytest.raises(ConfigError, match=r"nope.*toy_table"):
        report_groups(grid, ["nope"])
    config = copy.deepcopy(grid.config)
    config["experiments"]["toy_table"]["baselines"] = {"net-dca": "other"}
    with pytest.raises(ConfigError, match=r"baselines\.net-dca: baseline 'other' is not a variant of toy_table"):
        Grid(config)


def test_missing_runs_are_listed(workspace: Path, grid: Grid) -> None:
    """Absent runs are listed, present ones loaded with case ids as strings and Dice in percent."""
    (group,) = report_groups(grid, ["toy_table"])
    results = collect_group(group, workspace / "runs")
    assert sorted(results.missing) == [("organs", "net-cca", 0), ("organs", "net-cca", 1), ("toy", "net-cca", 1)]
    assert len(results.runs) == 9
    run = results.runs[("toy", "net", 0)]
    assert run.score("dice") == pytest.approx(100 * run.metrics["dice"])
    assert run.case_scores("dice").index.tolist() == [f"c{i}" for i in range(8)]
    assert results.classes("organs") == ["liver", "spleen"]
    assert results.missing_seeds("toy", "net-cca") == [1]


def _cut_last_row(text: str) -> str:
    """The file cut off in the middle of its last row (a write that stopped half way)."""
    lines = text.splitlines()
    return "\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2]


@pytest.mark.parametrize(
    "damage",
    [
        _cut_last_row,
        lambda text: "",
        lambda text: text.splitlines()[0] + "\n",
        lambda text: '{"dice": 0.8, "iou": 0.7}\n',
        lambda text: text.replace(",polyp,1,", ",polyp,one,", 1),
    ],
    ids=["truncated", "empty", "header-only", "json", "text-label"],
)
def test_damaged_per_case_names_the_file(workspace: Path, tmp_path: Path, damage) -> None:
    """A damaged per_case.csv must not reach the user as a raw pandas error (or as NaN scores): a
    ValueError names it and says what to do; deleting it leaves a run without per-case scores."""
    source = workspace / "runs" / "toy" / "net" / "seed0"
    shutil.copytree(source, tmp_path / "toy" / "net" / "seed0")
    path = tmp_path / "toy" / "net" / "seed0" / "eval" / "per_case.csv"
    assert load_run(tmp_path, "toy", "net", 0).per_case is not None
    path.write_text(damage(path.read_text()))
    with pytest.raises(ValueError, match=re.escape(str(path)) + r" is damaged .*rerun the evaluation.* or delete it"):
        load_run(tmp_path, "toy", "net", 0)
    path.unlink()
    assert load_run(tmp_path, "toy", "net", 0).per_case is None


def test_binary_per_case_names_the_file(workspace: Path, tmp_path: Path) -> None:
    """Bytes that are no CSV at all: pandas' parser error becomes the same named ValueError."""
    shutil.copytree(workspace / "runs" / "toy" / "net" / "seed0", tmp_path / "toy" / "net" / "seed0")
    path = tmp_path / "toy" / "net" / "seed0" / "eval" / "per_case.csv"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ValueError, match=re.escape(str(path)) + " is damaged .*not a readable CSV"):
        load_run(tmp_path, "toy", "net", 0)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[]", "a JSON array, not an object of metrics"),
        ('"dice"', "a JSON string, not an object of metrics"),
        ('{"dice": "0.9"}', 'not a number: dice = "0.9"'),
        ('{"dice": true}', "not a number: dice = true"),
        ('{"dice": 0.9, "per_class": {"polyp": {"dice": "0.9"}}}', 'not a number: per_class.polyp.dice = "0.9"'),
        ('{"dice": 0.9, "per_class": [0.9]}', "per_class is not an object of per-class objects"),
        ('{"dice": 0.9', "not valid JSON"),
    ],
    ids=["list", "string", "text-dice", "bool-dice", "text-class-dice", "list-per-class", "truncated"],
)
def test_damaged_metrics_name_the_file(tmp_path: Path, content: str, problem: str) -> None:
    """A metrics.json that is no object of numeric scores is a ValueError naming it and the evaluation to rerun."""
    path = tmp_path / "toy" / "net" / "seed0" / "eval" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    run = re.escape(str(tmp_path / "toy" / "net" / "seed0"))
    expected = (
        rf"{re.escape(str(path))} is damaged \({re.escape(problem)}.*rerun the evaluation \(`dca evaluate {run}`\)"
    )
    with pytest.raises(ValueError, match=expected):
        read_metrics(path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_run(tmp_path, "toy", "net", 0)


def test_metrics_with_null_or_nan_scores_are_read(tmp_path: Path) -> None:
    """null (no score) and NaN (an undefined HD95) are scores the report handles, not damage; a file absent is None."""
    path = tmp_path / "metrics.json"
    assert read_metrics(path) is None
    path.write_text(json.dumps({"dice": 0.9, "hd95": float("nan"), "iou": None, "selection": "val", "per_class": {}}))
    assert read_metrics(path)["dice"] == 0.9


def test_schema_lists_the_named_metrics() -> None:
    """A group's ``metrics`` may name exactly the scores the report can tabulate (one list, checked by the schema)."""
    from dca.experiments.config import load_schema
    from dca.report.collect import NAMED_METRICS

    group = load_schema()["properties"]["experiments"]["additionalProperties"]["properties"]
    assert tuple(group["metrics"]["items"]["enum"]) == NAMED_METRICS
