"""Expanding groups into runs, resolving run configs, dataset plans, report names and aggregation."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dca.experiments import ConfigError, Grid, Run, check_config, validate_config
from dca.experiments.grid import as_protocols
from dca.report.aggregate import aggregate_group

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths of the configs (config/reported) resolve against the repository."""
    monkeypatch.chdir(REPO)


def grid_of(config: dict[str, Any]) -> Grid:
    """The Grid of a copy of ``config`` (validated, defaults filled)."""
    config = copy.deepcopy(config)
    validate_config(config)
    return Grid(config)


@pytest.fixture(scope="module")
def full(full_config: dict[str, Any]) -> Grid:
    return grid_of(full_config)


#: Training runs per group of the full matrix: the table's cells (datasets x variants) times 3 seeds
#: (times 2 protocols, paper and honest, for every DCA and DIN table).
FULL_COUNTS = {
    "dca_table1": 5 * 12 * 3 * 2,
    "dca_table2": 2 * 5 * 3 * 2,
    "dca_table3": 2 * 4 * 3 * 2,
    "dca_table4": 2 * 3 * 3 * 2,
    "din_table1": 1 * 1 * 3 * 2,
    "din_table2": 1 * 1 * 3 * 2,
    "din_table3": 1 * 6 * 3 * 2,
    "din_table4": 1 * 6 * 3 * 2,
    "din_table5": 1 * 4 * 3 * 2,
    "din_table6": 1 * 4 * 3 * 2,
    "din_table7": 1 * 3 * 3 * 2,
    "din_table8": 1 * 2 * 3 * 2,
    "din_table9": 1 * 3 * 3 * 2,
    "din_table10": 1 * 3 * 3 * 2,
    "din_table11": 1 * 2 * 3 * 2,
    "din_table12": 1 * 2 * 3 * 2,
    "din_table13": 2 * 1 * 3 * 2,
    "dca3d_table": 2 * 2 * 3,  # ours (volumes): honest only, no paper protocol to rerun
}
FULL_DISTINCT_RUNS = 594


def test_full_matrix_counts(full: Grid, full_config: dict[str, Any]) -> None:
    assert full.counts() == FULL_COUNTS
    for group, spec in full_config["experiments"].items():
        cells = len(spec["datasets"]) * len(spec["variants"]) * len(as_protocols(spec.get("protocol"), ["honest"]))
        assert full.counts()[group] == cells * len(full_config["seeds"])
    assert len(full.runs()) == FULL_DISTINCT_RUNS


def test_groups_share_runs(full: Grid) -> None:
    """Table 1's U-Net + DCA on GlaS is Table 2's CCA-SCA row, Table 3's sequential and Table 4's AP row."""
    run = Run("glas", "unet-dca", 0)
    for group in ("dca_table1", "dca_table2", "dca_table3", "dca_table4"):
        assert run in full.groups[group]
    assert full.runs(["dca_table2", "dca_table3", "dca_table4"]).count(run) == 1
    # Each runs both protocols: Table 2 has 5 variants, Tables 3 and 4 add their 2 + 1 of their own.
    assert len(full.runs(["dca_table2", "dca_table3", "dca_table4"])) == 2 * 3 * (5 + 2 + 1) * 2


def test_dca_run_config(full: Grid) -> None:
    config = full.run_config(Run("kvasir", "unet-dca", 2))
    assert config["preset"] == "dca-kvasir-seg"
    assert (config["epochs"], config["batch_size"], config["seed"]) == (200, 16, 2)
    assert config["model"] == {"name": "unet", "dca": True, "options": {}}
    assert config["data"]["root"] == "results/data/kvasir"
    assert config["data"]["inputs"] == ["image"]
    assert config["optim"] == {"name": "adam", "lr": 1e-4, "weight_decay": 0.0, "scheduler": "none"}
    assert config["out"] == "results/runs/kvasir/unet-dca/seed2"
    assert full.run_config(Run("glas", "unet-cca", 0))["model"]["options"] == {"dca_layout": "cca"}
    assert config["selection"] == "val" and config["device"]["name"] == "auto"
    assert full.run_config(Run("glas", "unet", 0))["batch_size"] == 4
    assert full.run_config(Run("synapse", "vnet-dca", 1))["batch_size"] == 24


def test_din_run_config(full: Grid) -> None:
    din = full.run_config(Run("acdc", "din", 0))
    assert din["preset"] == "din" and din["epochs"] == 300
    assert din["loss"]["boundary"] == 1.0 and din["data"]["inputs"] == ["image", "fuzzy"]
    no_bnd = full.run_config(Run("acdc", "din-no-bnd", 0))
    assert no_bnd["loss"] == {**din["loss"], "boundary": 0.0}
    only_e = full.run_config(Run("acdc", "din-only-e", 0))
    assert only_e["data"]["inputs"] == ["fuzzy"]
    readings = {"ffn": "conv1x1-2c", "removed_difm": "drop"}  # the text's readings, in every DIN run's config
    assert only_e["model"]["options"] == {"encoder_weights": "imagenet", **readings, "fusion": "none"}
    din_runs = [full.run_config(r) for r in full.runs() if full.run_config(r)["model"]["name"].startswith("din")]
    assert len(din_runs) > 100 and {c["model"]["options"]["encoder_weights"] for c in din_runs} == {"imagenet"}
    assert full.enhancements(Run("acdc", "din-i-he", 0)) == ["he"]
    assert ("acdc", "clahe") in full.enhanced_datasets() and ("glas", "fuzzy") not in full.enhanced_datasets()


def test_din_paper_runs_select_and_train_as_merit(full: Grid) -> None:
    """Synapse selects on its 12 test volumes (MERIT's trainer), ACDC, ISIC 2018 and ClinicDB on validation."""
    selections = {}
    for dataset in ("synapse@din-paper", "acdc@din-paper", "isic2018@din-paper", "clinicdb@din-paper"):
        config = full.run_config(Run(dataset, "din", 0))
        assert config["protocol"] == "paper" and config["preset"] == "din-paper"
        assert config["optim"] == {"name": "adamw", "lr": 1e-4, "weight_decay": 1e-4, "scheduler": "none"}
        assert (config["batch_size"], config["epochs"], config["data"]["size"]) == (3, 300, 224)
        selections[dataset] = config["selection"]
    assert selections == {
        "synapse@din-paper": "test",
        "acdc@din-paper": "val",
        "isic2018@din-paper": "val",
        "clinicdb@din-paper": "val",
    }
    assert full.run_config(Run("acdc", "din", 0))["optim"]["weight_decay"] == 0.01
    assert full.dataset("acdc@din-paper").prepare_args() == (
        "acdc --raw data/raw/acdc --out results/data/acdc@din-paper --protocol din-paper --overwrite"
    )
    assert full.table_datasets("din_table1") == ["synapse@din-paper", "synapse"]
    assert full.table_datasets("din_table2") == ["acdc@din-paper", "acdc"]
    assert full.table_datasets("din_table13") == ["clinicdb@din-paper", "clinicdb", "isic2018@din-paper", "isic2018"]


def test_settings_merge_order(demo: dict[str, Any]) -> None:
    """Paper settings < per-dataset settings < variant settings < what the workflow fixes; options merge."""
    demo["training"]["dca"]["datasets"] = {"synthetic-binary": {"epochs": 5, "optim": {"lr": 3e-4}}}
    demo["variants"]["unet"]["training"] = {"epochs": 7}
    demo["variants"]["unet-dca"]["options"] = {"width": 0.25, "dca_layout": "sca"}
    grid = grid_of(demo)
    unet = grid.run_config(Run("synthetic-binary", "unet", 1))
    dca = grid.run_config(Run("synthetic-binary", "unet-dca", 1))
    assert (unet["epochs"], dca["epochs"]) == (7, 5)
    assert dca["optim"]["lr"] == 3e-4 and dca["optim"]["name"] == "adam"
    assert unet["model"]["options"] == {"width": 0.125}
    assert dca["model"]["options"] == {"width": 0.25, "dca_layout": "sca"}
    assert unet["data"]["size"] == 64 and unet["seed"] == 1


def test_run_yaml_round_trips(demo_config: dict[str, Any]) -> None:
    from dca.train.config import resolve_config, to_dict

    grid = grid_of(demo_config)
    for run in grid.runs():
        import yaml

        text = grid.run_yaml(run)
        assert to_dict(resolve_config(yaml.safe_load(text))) == grid.run_config(run)


def test_digest_follows_the_run_config(demo: dict[str, Any]) -> None:
    run = Run("synthetic-binary", "unet", 0)
    before = grid_of(demo).digest(run)
    assert before == grid_of(demo).digest(run) and len(before) == 12
    assert grid_of(demo).stamp(run) == f"results/runs/synthetic-binary/unet/seed0/.config/{before}"
    demo["training"]["dca"]["epochs"] += 1
    assert grid_of(demo).digest(run) != before


def test_digest_ignores_key_order(demo: dict[str, Any]) -> None:
    """The stamp hashes the canonical config: the same settings written in another key order keep it."""
    from dca.layout import config_digest

    run = Run("synthetic-binary", "unet", 0)
    grid = grid_of(demo)
    resolved = grid.run_config(run)
    shuffled = {key: resolved[key] for key in reversed(list(resolved))}
    shuffled["optim"] = {key: resolved["optim"][key] for key in reversed(list(resolved["optim"]))}
    assert list(shuffled) != list(resolved) and config_digest(shuffled) == grid.digest(run)
    reordered = copy.deepcopy(demo)
    reordered["training"]["dca"] = dict(reversed(list(demo["training"]["dca"].items())))
    assert grid_of(reordered).digest(run) == grid.digest(run)


def test_group_config_follows_only_its_group(demo: dict[str, Any]) -> None:
    """A group's report config (its file name is its digest) changes with its own settings only, and is a config
    whose grid resolves the group's runs as the whole config does."""
    from dca.layout import config_digest

    grid = grid_of(demo)
    cut = grid.group_config(["demo_dca_table1"])
    assert set(cut["experiments"]) == {"demo_dca_table1"} and set(cut["variants"]) == {"unet", "unet-dca"}
    assert set(cut["training"]) == {"dca"} and "bench" not in cut and "resources" not in cut
    sub = grid_of(cut)
    assert {run: sub.run_config(run) for run in sub.runs()} == {
        run: grid.run_config(run) for run in grid.runs(["demo_dca_table1"])
    }
    before = config_digest(cut)
    demo["experiments"]["demo_din_table4"]["title"] = "another title"
    demo["training"]["din"]["epochs"] += 1
    demo["bench"]["repeats"] += 1
    assert config_digest(grid_of(demo).group_config(["demo_dca_table1"])) == before
    demo["experiments"]["demo_dca_table1"]["title"] = "another title"
    assert config_digest(grid_of(demo).group_config(["demo_dca_table1"])) != before


def test_conflicting_papers_are_an_error(demo: dict[str, Any]) -> None:
    demo["experiments"]["clash"] = {"paper": "din", "datasets": ["synthetic-binary"], "variants": ["unet"]}
    with pytest.raises(ConfigError, match=r"experiments\.clash: run results/runs/synthetic-binary/unet/seed0"):
        grid_of(demo)


def test_invalid_run_settings_name_the_run(demo: dict[str, Any]) -> None:
    demo["training"]["dca"]["selection"] = "val"  # not a run setting: the schema rejects it
    with pytest.raises(ConfigError, match=r"training\.dca"):
        grid_of(demo)
    demo = copy.deepcopy(demo)
    del demo["training"]["dca"]["selection"]
    demo["variants"]["unet"]["training"] = {"loss": {"dice": 0.0}}
    with pytest.raises(ConfigError, match=r"run \(synthetic-binary, unet, seed 0\).*loss weights"):
        grid_of(demo)


def test_unknown_run_is_a_key_error(demo_config: dict[str, Any]) -> None:
    grid = grid_of(demo_config)
    with pytest.raises(KeyError, match="not a run of any experiment group"):
        grid.run("synthetic-binary", "din-tiny", 7)  # seed 7 is not in the demo


def test_dataset_plans(full: Grid, demo_config: dict[str, Any]) -> None:
    demo = grid_of(demo_config)
    synth = demo.dataset("synthetic-binary")
    assert synth.fetch_command() == (
        "python -m dca data synth binary --out data/raw/synthetic-binary --seed 0 --n 40 --size 64x64 && "
    )
    assert synth.prepare_args() == (
        "synthetic-binary --raw data/raw/synthetic-binary --out results/data/synthetic-binary --overwrite"
    )
    assert full.dataset("kvasir").fetch_command() == "python -m dca data download kvasir --out data/raw/kvasir && "
    clinicdb = full.dataset("clinicdb")
    assert clinicdb.fetch_command() == ""
    assert clinicdb.prepare_args() == "cvc --raw data/raw/cvc --out results/data/clinicdb --protocol din --overwrite"
    assert full.datasets(["din_table13"]) == ["clinicdb", "clinicdb@din-paper", "isic2018", "isic2018@din-paper"]


def test_enhance_args(demo: dict[str, Any]) -> None:
    demo["enhancement"]["clahe"] = {"clip_limit": 0.02, "kernel_size": None}
    demo["enhancement"]["fuzzy"] = {"membership": "bernstein"}
    grid = grid_of(demo)
    assert grid.enhance_args("clahe") == "--param clip_limit=0.02 --param kernel_size=null"
    assert grid.enhance_args("fuzzy") == "--param membership=bernstein"
    assert grid.enhance_args("he") == ""


def test_aggregate_group(demo: dict[str, Any], tmp_path: Path) -> None:
    demo["paths"]["runs"] = str(tmp_path / "runs")
    grid = grid_of(demo)
    for seed, dice in ((0, 0.5), (1, 0.7)):
        path = grid.run_dir(Run("synthetic-binary", "unet", seed)).eval_metrics
        path.parent.mkdir(parents=True)
        metrics = {"dice": dice, "iou": dice / 2, "hd95": 3.0, "hd95_undefined": seed + 1}
        metrics["per_class"] = {"polyp": {"dice": dice}}
        path.write_text(json.dumps(metrics))
    result = aggregate_group(grid, "demo_dca_table1")
    unet = result["synthetic-binary/unet"]
    assert unet["dice"] == pytest.approx(0.6) and unet["n"] == 2
    assert unet["dice_std"] == pytest.approx(0.1414213562)
    assert (unet["hd95"], unet["hd95_std"]) == (3.0, 0.0)
    assert unet["hd95_undefined"] == 3  # skipped cases are carried beside the mean (1 + 2 over the seeds)
    assert not any(key.startswith("dice_polyp") for key in unet)  # binary: the class is the aggregate
    assert result["synthetic-binary/unet-dca"]["dice"] is None and result["synthetic-binary/unet-dca"]["n"] == 0
    assert result["missing"] == 2
    grid.run_dir(Run("synthetic-binary", "unet", 1)).eval_metrics.unlink()
    single = aggregate_group(grid, "demo_dca_table1")["synthetic-binary/unet"]
    assert single["n"] == 1 and single["dice_std"] is None  # one seed has no spread: none, not 0.0
    # a seed whose metrics lack the Dice is a missing seed, not a seed of the mean; fewer IoUs are counted
    lacking = grid.run_dir(Run("synthetic-binary", "unet", 1)).eval_metrics
    lacking.write_text(json.dumps({"iou": 0.9}))
    partial = aggregate_group(grid, "demo_dca_table1")
    assert partial["missing"] == 3 and partial["synthetic-binary/unet"]["n"] == 1
    assert partial["synthetic-binary/unet"]["dice"] == pytest.approx(0.5)
    grid.run_dir(Run("synthetic-binary", "unet", 0)).eval_metrics.write_text(json.dumps({"dice": 0.5}))
    lacking.write_text(json.dumps({"dice": 0.7, "iou": 0.35}))
    assert aggregate_group(grid, "demo_dca_table1")["synthetic-binary/unet"]["iou_n"] == 1
    lacking.write_text('{"dice": 0.7, "io')  # truncated by a crash: the error names the file
    with pytest.raises(ValueError, match=str(lacking)):
        aggregate_group(grid, "demo_dca_table1")
    # flat for `dvc metrics show`: every value of a (dataset, variant) is a number, a bool or None
    entries = [entry for entry in result.values() if isinstance(entry, dict)]
    assert all(not isinstance(v, dict | list) for entry in entries for v in entry.values())


def test_check_config_alone_needs_no_grid(demo_config: dict[str, Any]) -> None:
    config = copy.deepcopy(demo_config)
    validate_config(config)
    check_config(config)


def test_cli(tmp_path: Path) -> None:
    def cli(command: str, *args: str) -> subprocess.CompletedProcess[str]:
        dca = Path(sys.executable).parent / "dca"
        return subprocess.run([dca, "experiments", command, *args], capture_output=True, text=True)

    counts = cli("counts", "config/config.yaml")
    assert counts.returncode == 0
    assert dict(line.split("\t") for line in counts.stdout.splitlines()) == {k: str(v) for k, v in FULL_COUNTS.items()}
    runs = cli("runs", "config/demo.yaml", "--group", "demo_din_table4")
    assert runs.stdout.split() == [
        f"results/runs/synthetic-binary/{v}/seed{s}" for v in ("din-tiny", "din-tiny-i") for s in (0, 1)
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "config/demo.yaml").read_text().replace("unet: {model: unet,", "unet: {model: unet3,"))
    result = cli("check", str(bad))
    assert result.returncode == 1 and "variants.unet.model: unknown model 'unet3'" in result.stderr


def test_protocols_resolve_into_paper_datasets_and_run_configs(full: Grid) -> None:
    """A group asking for both protocols gets a paper run on the paper split's own dataset, selected on test."""
    paper, honest = Run("kvasir@dca-paper", "unet", 0), Run("kvasir", "unet", 0)
    assert {paper, honest} <= set(full.groups["dca_table1"])
    config, base = full.run_config(paper), full.run_config(honest)
    assert (config["protocol"], config["selection"], config["data"]["augment"]) == ("paper", "test", True)
    assert (base["protocol"], base["selection"]) == ("honest", "val")
    assert config["eval"]["batch"] == 25 and config["data"]["root"] == "results/data/kvasir@dca-paper"
    plan = full.dataset("kvasir@dca-paper")
    assert plan.protocol == "dca-paper" and plan.raw == "data/raw/kvasir@dca-paper"  # downloaded: its own raw
    assert full.dataset("cvc@dca-paper").raw == "data/raw/cvc"  # manual: reads the honest twin's raw data
    assert "synapse@dca-paper" in full.dataset_ids() and "acdc@din-paper" in full.dataset_ids()
    for group, variant in (("dca_table3", "unet-dca-sum"), ("dca_table4", "unet-dca-conv")):  # like Tables 1-2
        assert {Run("glas@dca-paper", variant, 0), Run("monuseg", variant, 2)} <= set(full.groups[group])
        assert full.run_config(Run("monuseg@dca-paper", variant, 1))["eval"]["batch"] == 14  # the official batch


def test_a_paper_protocol_the_registry_lacks_is_a_config_error(full_config: dict[str, Any]) -> None:
    config = copy.deepcopy(full_config)
    config["datasets"]["acdc"]["registry"] = "synthetic-acdc"  # a registry entry without a paper protocol
    with pytest.raises(ConfigError, match=r"experiments.din_table2.protocol \(dataset acdc\).*no paper split"):
        Grid(config)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["variants"]["unet-dca"].update(options={"dca_layot": "cca"}), "unknown DCA option 'dca_layot'"),
        (lambda c: c["variants"]["unet-dca"].update(options={"dca_layout": "ccc"}), "dca_layout='ccc' is not one of"),
        (lambda c: c["training"]["dca"]["data"].update(size=63), "data.size 63"),
    ],
    ids=["option-typo", "option-value", "size"],
)
def test_check_builds_every_model(demo_config: dict[str, Any], tmp_path: Path, change: Any, expected: str) -> None:
    """`dca experiments check` (and `snakemake -n`, common.smk) builds each model spec on the meta device."""
    config = copy.deepcopy(demo_config)
    config["paths"]["reported"] = str(REPO / "config/reported")
    change(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    dca = Path(sys.executable).parent / "dca"
    result = subprocess.run([dca, "experiments", "check", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and expected in result.stderr and "variants." in result.stderr


def test_numeric_strings_are_floats(demo_config: dict[str, Any]) -> None:
    """`lr: 1e-3` (YAML 1.1 reads a string) passes the schema and resolves to a float in the run config."""
    config = copy.deepcopy(demo_config)
    config["training"]["dca"]["optim"]["lr"] = "1e-3"
    grid = grid_of(config)
    from dca.train.config import resolve_config

    run = grid.runs(["demo_dca_table1"])[0]
    assert resolve_config(grid.run_config(run)).optim.lr == pytest.approx(1e-3)
