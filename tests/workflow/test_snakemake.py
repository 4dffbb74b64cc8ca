"""The Snakemake workflow itself: lint, validation before any job, and dry-run job counts of the full matrix."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml


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


def dry_run(wf: Any, tmp_path: Path, *args: str) -> dict[str, int]:
    """Dry-run the workflow in a fresh workspace; returns the job counts."""
    workspace = wf.make_workspace(tmp_path / "ws")
    wf.place_manual_raw(workspace)
    result = wf.run([wf.tool("snakemake"), "-n", *args], workspace, timeout=300)
    return job_stats(result.stdout + result.stderr)


@pytest.mark.parametrize("configfile", ["config/demo.yaml", "config/config.yaml"])
def test_lint_is_clean(wf: Any, configfile: str) -> None:
    result = wf.run([wf.tool("snakemake"), "--lint", "--configfile", configfile], wf.repo, timeout=300)
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_full_matrix_dry_run(wf: Any, tmp_path: Path, full_config: dict[str, Any]) -> None:
    """Every job of both papers is listed: one training and one evaluation job per distinct run."""
    counts = dry_run(wf, tmp_path, "--configfile", "config/config.yaml")
    runs = 594  # tests/workflow/test_grid.py: FULL_DISTINCT_RUNS (582 paper + honest of the papers' tables, 12 3D)
    assert counts["train"] == counts["evaluate"] == counts["run_config"] == runs
    assert counts["prepare"] == len(full_config["datasets"]) + PAPER_DATASETS
    assert counts["enhance"] == 12  # x 2 protocols: acdc fuzzy, he, clahe (Table 4); synapse, clinicdb, isic2018 fuzzy
    groups = len(full_config["experiments"])
    assert counts["tables"] == counts["aggregate"] == counts["curves"] == groups
    assert sum(v for k, v in counts.items() if k.startswith("figures_")) == groups


#: Datasets prepared a second time with their paper split (DCA Tables 1-4: glas, monuseg, cvc, kvasir, synapse;
#: DIN's din-paper: synapse, acdc, clinicdb, isic2018).
PAPER_DATASETS = 9


# One DCA group that runs both protocols and one DIN group with an enhanced input: the per-group counts of every
# group are the grid's (tests/workflow/test_grid.py::test_full_matrix_counts); these check Snakemake agrees.
@pytest.mark.parametrize(("group", "trainings"), [("dca_table2", 2 * 5 * 2 * 3), ("din_table4", 6 * 2 * 3)])
def test_group_target_trains_cells_times_seeds(wf: Any, tmp_path: Path, group: str, trainings: int) -> None:
    """A group is a target; alone it trains exactly its table's cells times the protocols and the seeds."""
    counts = dry_run(wf, tmp_path, group, "--configfile", "config/config.yaml")
    assert counts["train"] == counts["evaluate"] == trainings
    assert counts[group] == 1 and counts["tables"] == 1


def test_one_cell_by_its_path(wf: Any, tmp_path: Path) -> None:
    counts = dry_run(
        wf, tmp_path, "--configfile", "config/config.yaml", "--", "results/runs/glas/unet-cca/seed1/summary.json"
    )
    assert counts == {"prepare": 1, "run_config": 1, "train": 1, "total": 3}


def test_demo_dry_run(wf: Any, tmp_path: Path, demo_config: dict[str, Any]) -> None:
    counts = dry_run(wf, tmp_path)  # no --configfile: the embedded demo
    assert counts["train"] == 4 * len(demo_config["seeds"])
    # both groups on synthetic-binary (the DIN pair's fuzzy-enhanced copy: one enhance job)
    assert counts["enhance"] == 1 and counts["prepare"] == 1 and counts["bench_models"] == 1


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
    from dca.experiments.config import (
        CLAIMS_RULE_PREFIX,
        FIGURES_RULE_PREFIX,
        RESERVED_TARGETS,
        ConfigError,
        load_config,
    )

    listed = wf.run([wf.tool("snakemake"), "--list-rules"], wf.repo, timeout=120).stdout.split()
    groups = set(demo_config["experiments"])
    per_group = {f"{FIGURES_RULE_PREFIX}{g}" for g in groups}
    claims = {rule for rule in listed if rule.startswith(CLAIMS_RULE_PREFIX)}
    assert claims == {f"{CLAIMS_RULE_PREFIX}dca", f"{CLAIMS_RULE_PREFIX}din"}
    assert set(listed) - groups - per_group - claims == RESERVED_TARGETS
    config = dict(demo_config, experiments={"train": demo_config["experiments"]["demo_dca_table1"]})
    with pytest.raises(ConfigError, match=r"experiments\.train: 'train' is \(or looks like\) a rule"):
        load_config(wf.write_config(tmp_path / "reserved.yaml", config))
    config = dict(demo_config, experiments={"claims_dca": demo_config["experiments"]["demo_dca_table1"]})
    with pytest.raises(ConfigError, match=r"'claims_dca' is \(or looks like\) a rule"):
        load_config(wf.write_config(tmp_path / "claims.yaml", config))


def test_missing_raw_folder_fails_the_dry_run(wf: Any, tmp_path: Path, demo: dict[str, Any]) -> None:
    """A dataset read from a raw folder (a manual download) that is not there fails `snakemake -n`, naming it."""
    workspace = wf.make_workspace(tmp_path / "ws")
    demo["datasets"] = {"kvasir": {"raw": "manual/kvasir"}}
    for spec in demo["experiments"].values():
        spec["datasets"] = ["kvasir"]
    wf.write_config(workspace / "manual.yaml", demo)
    cmd = [wf.tool("snakemake"), "-n", "--configfile=manual.yaml", "data_all"]
    failed = subprocess.run(cmd, cwd=workspace, env=wf.env(), capture_output=True, text=True, timeout=300)
    assert failed.returncode != 0
    assert "dataset kvasir: raw folder manual/kvasir not found" in failed.stdout + failed.stderr


def test_report_config_and_bench_follow_paths(wf: Any, tmp_path: Path, demo: dict[str, Any]) -> None:
    """The validated config the report reads and the model benchmark land under paths.workflow and paths.bench."""
    workspace = wf.make_workspace(tmp_path / "ws")
    demo["paths"].update(workflow="out/report config", bench="out/bench")
    wf.write_config(workspace / "moved.yaml", demo)
    result = wf.run([wf.tool("snakemake"), "-n", "-p", "--configfile", "moved.yaml"], workspace, timeout=300)
    output = result.stdout + result.stderr
    assert re.search(r"output: out/report config/config-[0-9a-f]{12}\.yaml", output)
    assert "out/bench/models.csv, out/bench/models.json" in output and "results/bench" not in output
    assert "--config 'out/report config/config-" in output and "results/workflow" not in output
    assert "--config out/report" not in output  # every rule quotes it


def test_the_local_profile_overrides_nothing_the_slurm_profile_sets(wf: Any) -> None:
    """Snakemake loads profiles/default after --profile (or $SNAKEMAKE_PROFILE) and its keys win: a key both set
    must agree, or the cluster run silently gets the local value (it once got latency-wait 5 instead of 30)."""
    local = yaml.safe_load((wf.repo / "profiles/default/config.yaml").read_text(encoding="utf-8"))
    slurm = yaml.safe_load((wf.repo / "workflow/profiles/slurm/config.yaml").read_text(encoding="utf-8"))
    assert {k: (local[k], slurm[k]) for k in local.keys() & slurm.keys() if local[k] != slurm[k]} == {}
    assert slurm["latency-wait"] >= 30
