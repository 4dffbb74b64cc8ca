"""The Snakemake workflow itself: lint, validation before any job, and dry-run job counts of the full matrix."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

#: `snakemake -n` over the full matrix of both papers must list every job within this many seconds.
DRY_RUN_SECONDS = 10.0


def job_stats(output: str) -> dict[str, int]:
    """The "Job stats" table of a Snakemake dry run as {rule: count}."""
    block = output.split("Job stats:", 1)[1]
    counts: dict[str, int] = {}
    for line in block.splitlines()[3:]:
        match = re.fullmatch(r"(\S+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def dry_run(wf: Any, tmp_path: Path, *args: str) -> tuple[dict[str, int], float]:
    """Dry-run the workflow in a fresh workspace; returns the job counts and the wall time."""
    workspace = wf.make_workspace(tmp_path / "ws")
    started = time.perf_counter()
    result = wf.run([wf.tool("snakemake"), "-n", *args], workspace, timeout=300)
    return job_stats(result.stdout + result.stderr), time.perf_counter() - started


@pytest.mark.parametrize("configfile", ["config/demo.yaml", "config/config.yaml"])
def test_lint_is_clean(wf: Any, configfile: str) -> None:
    result = wf.run([wf.tool("snakemake"), "--lint", "--configfile", configfile], wf.repo, timeout=300)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_full_matrix_dry_run(wf: Any, tmp_path: Path, full_config: dict[str, Any]) -> None:
    """Every job of both papers is listed in under 10 s; one training and one evaluation job per distinct run."""
    counts, seconds = dry_run(wf, tmp_path, "--configfile", "config/config.yaml")
    runs = 291
    assert counts["train"] == counts["evaluate"] == counts["run_config"] == runs
    assert counts["prepare"] == len(full_config["datasets"])
    assert counts["enhance"] == 6  # acdc: fuzzy, he, clahe (Table 4); synapse, clinicdb, isic2018: fuzzy
    groups = len(full_config["experiments"])
    assert counts["tables"] == counts["aggregate"] == counts["curves"] == groups
    assert sum(v for k, v in counts.items() if k.startswith("figures_")) == groups
    assert seconds < DRY_RUN_SECONDS, f"dry run took {seconds:.1f} s"


#: The cells (datasets x variants) of each group's table in config/config.yaml.
GROUP_CELLS = {
    "dca_table1": 5 * 12,
    "dca_table2": 2 * 5,
    "dca_table3": 2 * 4,
    "dca_table4": 2 * 3,
    "din_table1": 1,
    "din_table2": 1,
    "din_table3": 6,
    "din_table4": 6,
    "din_table5": 4,
    "din_table6": 4,
    "din_table7": 3,
    "din_table8": 2,
    "din_table9": 3,
    "din_table10": 3,
    "din_table11": 2,
    "din_table12": 2,
    "din_table13": 2,
}


def test_every_group_is_listed(full_config: dict[str, Any]) -> None:
    assert set(GROUP_CELLS) == set(full_config["experiments"])


@pytest.mark.parametrize(("group", "cells"), GROUP_CELLS.items())
def test_group_target_trains_cells_times_seeds(
    wf: Any, tmp_path: Path, full_config: dict[str, Any], group: str, cells: int
) -> None:
    """A group is a target; alone it trains exactly its table's cells times the seeds."""
    counts, _ = dry_run(wf, tmp_path, "--configfile", "config/config.yaml", "--", group)
    assert counts["train"] == counts["evaluate"] == cells * len(full_config["seeds"])
    assert counts[group] == 1 and counts["tables"] == 1


def test_one_cell_by_its_path(wf: Any, tmp_path: Path) -> None:
    counts, _ = dry_run(
        wf, tmp_path, "--configfile", "config/config.yaml", "--", "results/runs/glas/unet-cca/seed1/summary.json"
    )
    assert counts == {"prepare": 1, "run_config": 1, "train": 1, "total": 3}


def test_demo_dry_run(wf: Any, tmp_path: Path, demo_config: dict[str, Any]) -> None:
    counts, _ = dry_run(wf, tmp_path)  # no --configfile: the embedded demo
    assert counts["train"] == 7 * len(demo_config["seeds"])
    assert counts["enhance"] == 1 and counts["prepare"] == 2 and counts["bench_models"] == 1


def test_invalid_config_stops_before_any_job(wf: Any, tmp_path: Path, demo: dict[str, Any]) -> None:
    workspace = wf.make_workspace(tmp_path / "ws")
    demo["variants"]["unet"]["modle"] = "unet"
    wf.write_config(workspace / "bad.yaml", demo)
    result = subprocess.run(
        [wf.tool("snakemake"), "-n", "--configfile", "bad.yaml"],
        cwd=workspace,
        env=wf.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "modle" in result.stdout + result.stderr
    assert not (workspace / "results").exists()


def test_reserved_targets_are_the_workflow_rules(wf: Any, tmp_path: Path, demo_config: dict[str, Any]) -> None:
    """RESERVED_TARGETS names exactly the rules the workflow defines besides the per-group ones, and a
    group named like one of them is refused."""
    from dca.experiments.config import FIGURES_RULE_PREFIX, RESERVED_TARGETS, ConfigError, load_config

    listed = wf.run([wf.tool("snakemake"), "--list-rules"], wf.repo, timeout=120).stdout.split()
    groups = set(demo_config["experiments"])
    assert set(listed) - groups - {f"{FIGURES_RULE_PREFIX}{g}" for g in groups} == RESERVED_TARGETS
    config = dict(demo_config, experiments={"train": demo_config["experiments"]["demo_dca_table2"]})
    with pytest.raises(ConfigError, match=r"experiments\.train: 'train' is \(or looks like\) a rule"):
        load_config(wf.write_config(tmp_path / "reserved.yaml", config))
