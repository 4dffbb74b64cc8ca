"""Paths with a space and a non-ASCII letter, in every config path and in the config file's own name, through the
whole demo workflow (data, enhancement, training, evaluation, report, benchmark): every rule quotes what it passes
to its shell."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = "wörk space"
#: The demo, cut to what exercises every rule: one seed, one run per group, a few small images, a couple of epochs.
EPOCHS = {"dca": 2, "din": 1}
IMAGES, SIZE = 12, 32


@pytest.mark.slow
def test_the_demo_runs_where_paths_hold_a_space_and_a_non_ascii_letter(wf: Any, tmp_path: Path) -> None:
    ws = wf.make_workspace(tmp_path / "ws")
    config = yaml.safe_load(wf.demo_config.read_text(encoding="utf-8"))
    config["paths"] = {key: f"{ROOT}/{key} ñ" for key in config["paths"]}
    shutil.copytree(ws / "config" / "reported", ws / config["paths"]["reported"])
    config["seeds"] = [0]
    config["datasets"]["synthetic-binary"]["synth"].update(n=IMAGES, size=[SIZE, SIZE])
    for paper, epochs in EPOCHS.items():
        config["training"][paper].update(epochs=epochs, data={"size": SIZE})
    config["bench"]["size"] = SIZE
    for group, variant in (("demo_dca_table1", "unet-dca"), ("demo_din_table4", "din-tiny")):  # one run each
        config["experiments"][group].update(variants=[variant], baselines={})
    wf.write_config(ws / "démo config.yaml", config)

    wf.snakemake(ws, "--configfile", "démo config.yaml", "--cores", "2", timeout=900)
    paths = {key: ws / value for key, value in config["paths"].items()}
    for group in config["experiments"]:
        assert (paths["tables"] / f"{group}.tex").is_file() and (paths["aggregates"] / f"{group}.json").is_file()
    runs = sorted(p.relative_to(paths["runs"]) for p in paths["runs"].glob("*/*/seed0/eval/metrics.json"))
    assert len(runs) == 2, runs
    assert (paths["processed"] / "synthetic-binary" / "enhanced" / "fuzzy").is_dir()
    assert any(paths["bench"].iterdir()) and any(paths["figures"].iterdir())
