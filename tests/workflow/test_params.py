"""DVC's params.yaml: any valid config written with its schema defaults filled in (`dca experiments params`), so
that dvc.yaml's ${paths.*} resolve and `dvc exp run -S` finds every key; the stages leave the executor to
$SNAKEMAKE_PROFILE (a cluster's `dvc repro` submits through the SLURM profile)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dca.experiments.cli import params_text
from dca.experiments.config import load_config, load_yaml

REPO = Path(__file__).resolve().parents[2]
MINIMAL = REPO / ".test" / "config" / "config.yaml"  # no paths, no bench.batch: schema defaults


def test_committed_params_is_the_demo_with_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """params.yaml is config/demo.yaml regenerated (`python -m dca experiments params config/demo.yaml`)."""
    monkeypatch.chdir(REPO)
    stale = "params.yaml is stale: python -m dca experiments params config/demo.yaml"
    assert (REPO / "params.yaml").read_text(encoding="utf-8") == params_text(Path("config/demo.yaml")), stale


def test_a_minimal_config_gives_complete_params(tmp_path: Path) -> None:
    """The written params hold the defaults a minimal config leaves out and validate to the same config."""
    from dca.cli import main

    assert "paths" not in load_yaml(MINIMAL) and "batch" not in load_yaml(MINIMAL)["bench"]
    out = tmp_path / "params.yaml"
    assert main(["experiments", "params", str(MINIMAL), "--out", str(out)]) == 0
    params = load_yaml(out)
    assert params["paths"]["processed"] == "results/data" and isinstance(params["bench"]["batch"], int)
    assert load_config(out) == load_config(MINIMAL)


def test_a_bad_config_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dca.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**load_yaml(MINIMAL), "seeds": "zero"}), encoding="utf-8")
    assert main(["experiments", "params", str(bad), "--out", str(tmp_path / "params.yaml")]) == 1
    assert f"{bad}: seeds" in capsys.readouterr().err and not (tmp_path / "params.yaml").exists()


def test_dvc_resolves_the_stages_of_a_minimal_config(tmp_path: Path) -> None:
    """dvc.yaml's ${paths.*} fail on the minimal config as written and resolve once it is params.yaml."""
    shutil.copy2(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy2(MINIMAL, tmp_path / "params.yaml")
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True, timeout=120)
    raw = subprocess.run([dvc, "stage", "list"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert raw.returncode != 0 and "Could not find 'paths." in raw.stdout + raw.stderr
    (tmp_path / "params.yaml").write_text(params_text(MINIMAL), encoding="utf-8")
    listed = subprocess.run([dvc, "stage", "list"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()} == {"data", "runs", "report", "bench_models"}


def test_stages_leave_the_executor_to_snakemake_profile() -> None:
    """Every DVC stage runs plain `snakemake TARGET --configfile params.yaml`: no --profile or --executor of its
    own, so $SNAKEMAKE_PROFILE (Snakemake's own variable) picks the SLURM profile on a cluster."""
    stages: dict[str, Any] = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name, stage in stages.items():
        words = stage["cmd"].split()
        assert words[0] == "snakemake" and "--configfile" in words, name
        assert not {w.split("=")[0] for w in words} & {"--profile", "--executor", "-e", "--workflow-profile"}, name
