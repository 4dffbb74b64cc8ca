"""DVC experiments on the workflow: `dvc exp run -S key=value` reruns only the affected run and group (no other
group, no benchmark), keeps the finished run of the old config, a checked-out state is up to date for Snakemake
too, and `dvc exp show/apply/branch`, `dvc metrics show` and `dvc plots show` read as DVC users expect. Two tiny
groups (one run each, 1 epoch at 32x32): about two minutes on two cores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

GIT = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org"]
RUN = Path("results/runs/synthetic-binary/unet/seed0")


def tiny_config(workspace: Path) -> dict[str, Any]:
    """The workspace's params.yaml (every key) cut to two groups of one run each."""
    config = yaml.safe_load((workspace / "params.yaml").read_text(encoding="utf-8"))
    config["seeds"] = [0]
    config["datasets"] = {"synthetic-binary": {"synth": {"n": 12, "size": [32, 32], "seed": 0}}}
    config["training"] = {"dca": {**config["training"]["dca"], "epochs": 1, "data": {"size": 32}}}
    config["variants"] = {
        "unet": {**config["variants"]["unet"], "training": {"epochs": 1}},  # the experiment's key (-S sets it)
        "unet-dca": config["variants"]["unet-dca"],
    }
    group = {"paper": "dca", "datasets": ["synthetic-binary"]}
    config["experiments"] = {
        "tiny": {**group, "title": "tiny", "variants": ["unet"]},
        "other": {**group, "title": "other", "variants": ["unet-dca"]},
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
    wf.run([dvc, "repro"], ws, timeout=900)
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

    # an experiment: one changed value, the run retrained, the finished run of the old config kept; the other
    # group's jobs (their logs) and the benchmark untouched
    untouched = [
        ws / "logs" / name
        for name in (
            "train/synthetic-binary/unet-dca/seed0.log",
            "evaluate/synthetic-binary/unet-dca/seed0.log",
            *(f"report/{step}_other.log" for step in ("aggregate", "curves", "tables", "figures")),
            "bench/models.log",
        )
    ]
    times = {path: path.stat().st_mtime_ns for path in untouched}
    redone = ws / "logs/report/aggregate_tiny.log"
    tiny_time = redone.stat().st_mtime_ns
    wf.run([dvc, "exp", "run", "-S", "variants.unet.training.epochs=2", "-n", "two-epochs"], ws, timeout=900)
    assert {path: path.stat().st_mtime_ns for path in untouched} == times
    assert redone.stat().st_mtime_ns != tiny_time
    summary = json.loads((ws / RUN / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "finished"
    kept = ws / RUN / ".previous" / old_digest
    assert (kept / "summary.json").is_file() and (kept / "best.pt").is_file() and (kept / "eval/metrics.json").is_file()
    # what DVC caches of a finished run: best.pt and its summary, last.pt pruned (storage.keep_last: false)
    assert not (kept / "last.pt").exists() and not (ws / RUN / "last.pt").exists() and (ws / RUN / "best.pt").is_file()
    shown = json.loads(wf.run([dvc, "exp", "show", "--json"], ws, timeout=120).stdout)
    text = json.dumps(shown)
    assert "two-epochs" in text and '"epochs": 2' in text and "synthetic-binary/unet" in text

    # the experiment becomes a branch; applying the baseline back restores its run, with nothing to retrain
    wf.run([dvc, "exp", "branch", "two-epochs", "two-epochs-branch"], ws, timeout=120)
    assert "two-epochs-branch" in wf.run([*GIT, "branch"], ws, timeout=60).stdout
    wf.run([*GIT, "checkout", "-q", "--", "params.yaml", "dvc.lock"], ws, timeout=60)  # back to the baseline
    wf.run([dvc, "checkout", "-f"], ws, timeout=300)
    assert next((ws / RUN / ".config").iterdir()).name == old_digest
    # Snakemake agrees with DVC: its metadata records the experiment, the checked-out state is up to date
    dry = wf.snakemake(ws, "-n", "--configfile=params.yaml", timeout=300)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    wf.run([dvc, "exp", "apply", "two-epochs"], ws, timeout=300)
    assert yaml.safe_load((ws / "params.yaml").read_text(encoding="utf-8"))["variants"]["unet"]["training"] == {
        "epochs": 2
    }
    status = wf.run([dvc, "status"], ws, timeout=300)
    assert "Data and pipelines are up to date" in status.stdout + status.stderr


def test_curves_plot_of_a_paper_protocol_group(wf: Any, tmp_path: Path) -> None:
    """A paper-protocol group's curves have test_dice and no val_dice: dvc.yaml's curves plot still shows them."""
    dvc_yaml = yaml.safe_load((wf.repo / "dvc.yaml").read_text(encoding="utf-8"))
    ((_, plot),) = next(p for p in dvc_yaml["stages"]["report"]["plots"] if "${paths.curves}" in p).items()
    template = tmp_path / Path(plot["template"]).name
    template.write_text((wf.repo / plot["template"]).read_text(encoding="utf-8"), encoding="utf-8")
    plot = {**plot, "template": template.name}
    plot.pop("persist", None)
    (tmp_path / "curves").mkdir()
    rows = ["epoch,train_loss,test_dice,lr,run", "1,0.9,0.41,0.001,d/unet/seed0", "2,0.7,0.55,0.001,d/unet/seed0"]
    (tmp_path / "curves/paper.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    wf.write_config(tmp_path / "dvc.yaml", {"plots": [{"curves": plot}]})
    wf.run([wf.tool("dvc"), "init", "-q", "--no-scm"], tmp_path, timeout=120)
    shown = json.loads(wf.run([wf.tool("dvc"), "plots", "show", "--json"], tmp_path, timeout=120).stdout)
    assert not shown.get("errors"), shown["errors"]
    (curves,) = shown["data"]["curves/paper.csv"]
    assert [row["test_dice"] for row in curves["content"]["data"]["values"]] == ["0.41", "0.55"]
