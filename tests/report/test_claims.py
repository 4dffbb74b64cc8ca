"""Claims tables: a hierarchical bootstrap over seeds and cases, the Wilcoxon p only as an extra."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dca.evaluate.protocol import aggregate, case_metrics
from dca.experiments.config import load_config
from dca.experiments.grid import Grid, Run
from dca.layout import RunDir, claims_files, run_folder
from dca.metrics.official import official_scores
from dca.report.claims import group_claims, hierarchical_bootstrap, holds
from dca.report.cli import run_claims
from dca.report.collect import Group, GroupResults, RunResult, collect_group, report_groups
from dca.report.tables import Column, build_table, setting_differences


def _run(variant: str, seed: int, dice: np.ndarray) -> RunResult:
    frame = pd.DataFrame({"case": [f"c{i:02d}" for i in range(len(dice))], "class": "fg", "label": 1, "dice": dice})
    return RunResult("toy", variant, seed, RunDir(f"/nowhere/{variant}/{seed}"), {"dice": dice.mean()}, frame, None)


def test_seed_spread_of_40_points_is_not_a_significant_claim(tmp_path: Path) -> None:
    """The demo's flaw: seeds 40 points apart, a steady 1-point case difference, Wilcoxon p << 0.01; the
    bootstrap interval must span zero (so the sign is open), the p stays a named extra."""
    rng = np.random.default_rng(0)
    cases = rng.uniform(-0.02, 0.02, 30)
    runs = {
        ("toy", "base", 0): _run("base", 0, 0.40 + cases),
        ("toy", "base", 1): _run("base", 1, 0.80 + cases),
        ("toy", "net", 0): _run("net", 0, 0.41 + cases),
        ("toy", "net", 1): _run("net", 1, 0.81 + cases),
    }
    group = Group("g", "g", ("toy",), ("base", "net"), {"base": "B", "net": "N"}, {"net": "base"}, (0, 1), paper="x")
    (row,) = group_claims(GroupResults(group, runs, []), tmp_path, replicates=500)
    assert row["wilcoxon_p_seed_averaged"] < 0.01
    assert abs(row["delta"] - 1.0) < 1e-9  # Dice points
    assert row["ci_low"] < 0 < row["ci_high"] and row["holds"] == "open"
    assert (row["seeds_variant"], row["seeds_baseline"], row["n_units"]) == (2, 2, 30)


def test_bootstrap_pairs_units_and_decides_the_sign() -> None:
    x = np.array([[0.9, 0.5, 0.7], [0.9, 0.5, 0.7]])
    delta, low, high = hierarchical_bootstrap(x, x - 0.1, replicates=200)
    assert abs(delta - 0.1) < 1e-12 and abs(low - 0.1) < 1e-9 and abs(high - 0.1) < 1e-9  # paired: no unit noise
    assert holds(2.0, 0.5, 1.0) == "yes" and holds(-2.0, 0.5, 1.0) == "no" and holds(2.0, -0.5, 1.0) == "open"
    # no reported delta: no paper claim to hold, only whether our interval excludes zero
    assert holds(float("nan"), 0.5, 1.0) == "clear" and holds(float("nan"), -0.5, 1.0) == "open"


def test_claims_command_writes_the_layout_files(workspace: Path, tmp_path: Path) -> None:
    args = argparse.Namespace(config=workspace / "config.yaml", groups=None, runs=None, out=tmp_path, processed=None)
    assert run_claims(args) == 0
    tex, csv = claims_files(tmp_path, "dca")
    frame = pd.read_csv(csv)
    assert set(frame["variant"]) == {"net-dca", "net-cca"} and set(frame["dataset"]) == {"toy", "organs"}
    assert "hierarchical bootstrap" in tex.read_text() and "Wilcoxon" in tex.read_text()


CI_CONFIG = Path(__file__).resolve().parents[2] / ".test" / "config" / "config.yaml"


def write_evaluated_run(grid: Grid, run: Run, runs: Path) -> None:
    """An evaluated run of ``grid`` under ``runs``: its run.yaml and what ``dca evaluate`` writes from 20 noisy
    binary predictions (per-case rows, the aggregate and, for a paper run, the official batch-pooled Dice)."""
    config = grid.run_config(run)
    folder = run_folder(runs, run.dataset, run.variant, run.seed)
    folder.eval_dir.mkdir(parents=True)
    folder.config.write_text(grid.run_yaml(run))
    rng = np.random.default_rng([run.seed, len(run.variant), len(run.dataset)])
    refs = [(rng.random((8, 8)) < 0.3).astype(np.uint8) for _ in range(20)]
    preds = [np.where(rng.random(r.shape) < 0.2, 1 - r, r) for r in refs]
    rows = [{"case": f"c{i:02d}", **row} for i, (p, r) in enumerate(zip(preds, refs, strict=True))
            for row in case_metrics(p, r, ["background", "fg"])]  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.to_csv(folder.eval_per_case, index=False)
    official = official_scores(preds, refs, 2, config["eval"]["batch"]) if config["protocol"] == "paper" else {}
    metrics = {"protocol": config["protocol"], "selection": config["selection"], "preset": config["preset"],
               "epochs": config["epochs"], "size": config["data"]["size"], "batch_size": config["batch_size"],
               **aggregate(frame), **official}  # fmt: skip
    folder.eval_metrics.write_text(json.dumps(metrics))


@pytest.fixture(scope="module")
def ci_results(tmp_path_factory: pytest.TempPathFactory) -> list[GroupResults]:
    """The CI config's groups that run the paper protocol, collected from a tiny evaluated tree of all its runs."""
    grid = Grid(load_config(CI_CONFIG))
    runs = tmp_path_factory.mktemp("ci-runs")
    for run in grid.runs():
        write_evaluated_run(grid, run, runs)
    groups = [g for g in report_groups(grid) if "paper" in {g.protocol(d) for d in g.datasets}]
    assert groups, f"{CI_CONFIG} has no paper-protocol group"
    return [collect_group(group, runs) for group in groups]


def test_claims_ours_is_the_table_cell(ci_results: list[GroupResults], tmp_path: Path) -> None:
    """Each claim's "ours" (both models) and paper numbers are the group table's Dice cells for the same setting:
    under the paper protocol the official batch-pooled Dice, not the per-case foreground Dice."""
    for results in ci_results:
        table = build_table(results, lambda message: None)
        rows = group_claims(results, tmp_path, replicates=50)
        assert rows and {r["protocol"] for r in rows} >= {"paper"}
        for row in rows:
            column = Column(row["dataset"], "dice")
            for side, variant in (("variant", row["variant"]), ("baseline", row["baseline"])):
                cell = table.cells[(variant, column)]
                assert cell.n and row[f"ours_{side}"] == pytest.approx(cell.mean, abs=1e-9), (row["group"], variant)
                printed = table.reported.get((variant, column))
                paper = row[f"paper_{side}"]
                assert (printed is None and np.isnan(paper)) or float(printed) == paper
            if row["protocol"] == "paper":
                assert row["metric"] == "dice_official"


def test_claims_say_how_the_setting_differs(ci_results: list[GroupResults], tmp_path: Path) -> None:
    """A reduced CI run is labelled as such: epochs, size, batch and width against its paper preset, and one seed;
    the paper protocol is not called honest."""
    for results in ci_results:
        for row in group_claims(results, tmp_path, replicates=50):
            found = row["differences"].split("; ")
            assert {"epochs 1 (paper 200)", "size 32 (paper 224)", "width factor 0.125 (paper 0.5)"} <= set(found)
            assert "one seed (no seed spread)" in found
            assert any(f.startswith("batch size 2 (paper ") for f in found)
            assert (row["protocol"] == "honest") == any(f.startswith("honest protocol") for f in found)


def test_differences_list_every_runs_value(ci_results: list[GroupResults]) -> None:
    """A variant trained for other epochs than the rest is named, not hidden behind the first run's setting."""
    results = ci_results[0]
    key = min(results.runs)
    runs = {**results.runs, key: dataclasses.replace(results.runs[key], metrics={**results.runs[key].metrics,
                                                                                 "epochs": 2})}  # fmt: skip
    found = setting_differences(dataclasses.replace(results, runs=runs), key[0])
    assert "epochs 1, 2 (paper 200)" in found


def test_a_group_of_our_own_has_no_paper_setting_to_differ_from(ci_results: list[GroupResults]) -> None:
    """No paper table and no paper preset (the volume group): no differences, where the CI group has some."""
    results = ci_results[0]
    key = min(results.runs)
    runs = {k: dataclasses.replace(r, metrics={**r.metrics, "preset": None}) for k, r in results.runs.items()}
    ours = dataclasses.replace(results, runs=runs, group=dataclasses.replace(results.group, reported=None))
    assert setting_differences(ours, key[0]) == [] and setting_differences(results, key[0])


def test_honest_runs_name_the_papers_selection(ci_results: list[GroupResults]) -> None:
    """Beside honest runs the difference names the paper's own selection (DIN's ACDC: validation, not test)."""
    results = ci_results[0]
    (dataset,) = results.group.datasets
    base = results.group.base(dataset)
    group = dataclasses.replace(results.group, protocols={dataset: (base, "honest")}, paper_selection={base: "val"})
    found = setting_differences(dataclasses.replace(results, group=group), dataset)
    assert "honest protocol (the paper: its own split, selection on validation, its metric)" in found


def test_din_runs_from_scratch_say_so(ci_results: list[GroupResults], tmp_path: Path) -> None:
    """DIN's encoders start from ImageNet in the paper: a run from scratch names it (the demo's offline DIN runs)."""
    results = ci_results[0]
    key = min(results.runs)
    run = results.runs[key]
    config = yaml.safe_load(run.dir.config.read_text(encoding="utf-8"))
    config.setdefault("model", {}).setdefault("options", {})["encoder_weights"] = "none"
    scratch = RunDir(tmp_path / "scratch")
    scratch.path.mkdir()
    scratch.config.write_text(yaml.safe_dump(config), encoding="utf-8")
    runs = {**results.runs, key: dataclasses.replace(run, dir=scratch)}
    din = dataclasses.replace(results, runs=runs, group=dataclasses.replace(results.group, paper="din"))
    assert "encoder weights none (paper imagenet)" in setting_differences(din, key[0])
    assert not any(f.startswith("encoder weights") for f in setting_differences(results, key[0]))  # DCA: no such
