"""DVC experiments on the workflow: `dvc exp run -S key=value` reruns only the affected run, keeps the finished
run of the old config, and `dvc exp show/apply/branch`, `dvc metrics show` and `dvc plots show` read as DVC
users expect. One tiny group (one U-Net run, 1 epoch at 32x32): about two minutes on two cores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

GIT = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org"]
RUN = Path("results/runs/synthetic-binary/unet/seed0")


def tiny_config(workspace: Path) -> dict[str, Any]:
    """The workspace's params.yaml cut to one run of one group, with an optional key (enhancement) left out."""
    config = yaml.safe_load((workspace / "params.yaml").read_text(encoding="utf-8"))
    config["seeds"] = [0]
    config["datasets"] = {"synthetic-binary": {"synth": {"n": 12, "size": [32, 32], "seed": 0}}}
    config.pop("enhancement", None)
    config["training"] = {"dca": {**config["training"]["dca"], "epochs": 1, "data": {"size": 32}}}
    config["variants"] = {"unet": config["variants"]["unet"]}
    config["experiments"] = {
        "tiny": {"paper": "dca", "title": "tiny", "datasets": ["synthetic-binary"], "variants": ["unet"]}
    }
    config["bench"]["models"] = []
    return config


@pytest.mark.slow
def test_dvc_experiment_round_trip(wf: Any, tmp_path: Path) -> None:
    ws = wf.make_workspace(tmp_path / "repo", package=True)
    wf.write_config(ws / "params.yaml", tiny_config(ws))
    (ws / ".gitignore").write_text("logs/\n.snakemake/\ndata/\n", encoding="utf-8")
    dvc = wf.tool("dvc")
    wf.run([*GIT, "init", "-q"], ws, timeout=60)
    wf.run([dvc, "init", "-q"], ws, timeout=120)
    wf.run([*GIT, "add", "-A"], ws, timeout=60)
    wf.run([*GIT, "commit", "-q", "-m", "workflow"], ws, timeout=60)
    wf.run([dvc, "repro"], ws, timeout=900)  # no "Parameters 'enhancement' are missing": whole-file params
    wf.run([*GIT, "add", "-A"], ws, timeout=60)
    wf.run([*GIT, "commit", "-q", "-m", "baseline"], ws, timeout=60)
    old_digest = next((ws / RUN / ".config").iterdir()).name

    # metrics flat (two levels), the curves overlaid in one plot per group, the skipped bench empty
    metrics = json.loads(wf.run([dvc, "metrics", "show", "--json"], ws, timeout=120).stdout)
    tiny = next(iter(metrics.values()))["data"]["results/aggregates/tiny.json"]["data"]
    assert set(tiny) == {"synthetic-binary/unet", "missing"}
    assert isinstance(tiny["synthetic-binary/unet"]["dice"], float)
    assert (ws / "results/bench/models.csv").read_text(encoding="utf-8") == ""  # bench.models: [] benchmarks nothing
    plots = json.loads(wf.run([dvc, "plots", "show", "--json"], ws, timeout=120).stdout)
    assert not plots.get("errors"), plots["errors"]
    (curves,) = plots["data"]["results/curves/tiny.csv"]  # one plot for the group, a panel per metric, runs by colour
    values = curves["content"]["data"]["values"]
    assert {"train_loss", "val_dice", "run"} <= set(values[0]) and curves["content"]["facet"]["column"][
        "field"
    ] == "metric"

    # an experiment: one changed value, the run retrained, the finished run of the old config kept
    wf.run([dvc, "exp", "run", "-S", "training.dca.epochs=2", "-n", "two-epochs"], ws, timeout=900)
    summary = json.loads((ws / RUN / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "finished"
    kept = ws / RUN / ".previous" / old_digest
    assert (kept / "summary.json").is_file() and (kept / "last.pt").is_file() and (kept / "eval/metrics.json").is_file()
    shown = json.loads(wf.run([dvc, "exp", "show", "--json"], ws, timeout=120).stdout)
    text = json.dumps(shown)
    assert "two-epochs" in text and '"epochs": 2' in text and "synthetic-binary/unet" in text

    # the experiment becomes a branch; applying the baseline back restores its run, with nothing to retrain
    wf.run([dvc, "exp", "branch", "two-epochs", "two-epochs-branch"], ws, timeout=120)
    assert "two-epochs-branch" in wf.run([*GIT, "branch"], ws, timeout=60).stdout
    wf.run([*GIT, "checkout", "-q", "--", "params.yaml", "dvc.lock"], ws, timeout=60)  # back to the baseline
    wf.run([dvc, "checkout", "-f"], ws, timeout=300)
    assert next((ws / RUN / ".config").iterdir()).name == old_digest
    wf.run([dvc, "exp", "apply", "two-epochs"], ws, timeout=300)
    assert yaml.safe_load((ws / "params.yaml").read_text(encoding="utf-8"))["training"]["dca"]["epochs"] == 2
    status = wf.run([dvc, "status"], ws, timeout=300)
    assert "Data and pipelines are up to date" in status.stdout + status.stderr
