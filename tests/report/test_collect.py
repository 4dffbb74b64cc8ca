"""Groups from the config and their runs from the run folders: present, missing, scores in report units."""

from __future__ import annotations

from pathlib import Path

import pytest

from dca.report.collect import collect_group, config_groups, config_paths, load_config


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
