"""config/kvasir-quick.yaml, the README's real-data quick start, in CI size: its grid on 16 images of the shared
Kvasir-SEG (download layout), one epoch at 64x64, through the workflow to its table (skipped without the data)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

KVASIR = Path(__file__).resolve().parents[3] / "shared/data/Kvasir-SEG"


@pytest.mark.slow
@pytest.mark.skipif(not (KVASIR / "images").is_dir(), reason=f"no Kvasir-SEG at {KVASIR}")
def test_kvasir_quick_config_runs_in_ci_size(wf: Any, tmp_path: Path) -> None:
    ws = wf.make_workspace(tmp_path / "ws")
    raw = ws / "data/raw/Kvasir-SEG"
    for sub in ("images", "masks"):
        (raw / sub).mkdir(parents=True)
        for path in sorted((KVASIR / sub).iterdir())[:16]:
            shutil.copy2(path, raw / sub / path.name)
    config = yaml.safe_load((wf.repo / "config/kvasir-quick.yaml").read_text(encoding="utf-8"))
    config["training"]["dca"].update(epochs=1, data={"size": 64})  # the shape of the quick start, CI size
    config["resources"] = {step: {"cpus_per_task": 1, "gpu": 0} for step in ("train", "evaluate")}
    wf.write_config(ws / "quick.yaml", config)
    wf.snakemake(ws, "quick_kvasir", "--configfile=quick.yaml", "--cores", "2", timeout=900)
    table = (ws / "results/tables/quick_kvasir.csv").read_text(encoding="utf-8")
    assert "U-Net (DCA)" in table or "unet-dca" in table
