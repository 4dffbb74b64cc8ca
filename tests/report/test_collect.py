"""Groups from the config and their runs from the run folders: present, missing, scores in report units."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dca.report.collect import collect_group, config_groups, config_paths, load_config, load_run


def test_group_from_config(workspace: Path) -> None:
    """Labels, baselines, seeds and the reported CSV (beside the config) come from the config."""
    config = load_config(workspace / "config.yaml")
    (group,) = config_groups(config, ["toy_table"])
    assert group.labels == {"net": "Net", "net-dca": "Net (DCA)", "net-cca": "Net (CCA)"}
    assert group.baselines == {"net-dca": "net", "net-cca": "net"}
    assert group.seeds == (0, 1)
    assert group.reported == workspace / "reported" / "toy_reported.csv"
    assert config_paths(config)["runs"] == workspace / "runs"


def test_unknown_group_and_foreign_baseline(workspace: Path) -> None:
    """An unknown group name and a baseline outside the group are errors that name them."""
    config = load_config(workspace / "config.yaml")
    with pytest.raises(ValueError, match="nope"):
        config_groups(config, ["nope"])
    config["experiments"]["toy_table"]["baselines"] = {"net-dca": "other"}
    with pytest.raises(ValueError, match="net-dca -> other"):
        config_groups(config, ["toy_table"])


def test_missing_runs_are_listed(workspace: Path) -> None:
    """Absent runs are listed, present ones loaded with case ids as strings and Dice in percent."""
    config = load_config(workspace / "config.yaml")
    (group,) = config_groups(config, ["toy_table"])
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
    """Issue 3: a damaged per_case.csv reached the user as a raw pandas error (or as NaN scores); now a
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
