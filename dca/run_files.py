"""Reading a run folder's files: the config a run was trained with, the checkpoint evaluation uses, how the
model was selected.

Training writes these files and evaluation reads them; both take their readers from here, beside the file
names of :mod:`dca.layout` (this module needs torch to open a checkpoint, so it is kept out of the torch-free
layout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from dca.layout import BEST_CHECKPOINT, LAST_CHECKPOINT, RunDir
from dca.processed import read_index
from dca.train.config import RunConfig, resolve_config

TEST_SELECTION_NOTE = (
    "best epoch selected on the TEST split (the papers' protocol): test scores of this run are optimistically biased"
)


def selection_split(config: RunConfig) -> str | None:
    """The split scored after every epoch: ``test`` for test selection, else ``val`` when it has cases."""
    if config.selection == "test":
        return "test"
    if any(row["split"] == "val" for row in read_index(Path(config.data.root))):
        return "val"
    if config.selection == "val":
        raise ValueError(f"{config.data.root} has no val cases; use selection: last (or test)")
    return None


def selected_checkpoint(config: RunConfig) -> str:
    """File name of the checkpoint that evaluation uses: ``best.pt``, or ``last.pt`` for ``selection: last``."""
    return LAST_CHECKPOINT if config.selection == "last" else BEST_CHECKPOINT


def selection_info(config: RunConfig) -> dict[str, Any]:
    """The protocol and how the evaluated model was chosen (split and the score that picked the best epoch), for
    summary and metrics (test selection marked)."""
    info: dict[str, Any] = {
        "protocol": config.protocol,
        "selection": config.selection,
        "selection_metric": config.selection_metric,
        "test_selected": config.selection == "test",
    }
    if config.selection == "test":
        info["selection_note"] = TEST_SELECTION_NOTE
    return info


def _checkpoint_field(checkpoint: Path, key: str) -> Any:
    """One plain-data entry of a checkpoint (its tensors memory-mapped, not read)."""
    return torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)[key]


def trained_config(checkpoint: Path) -> dict[str, Any]:
    """The resolved config (plain data) a checkpoint was trained with."""
    return _checkpoint_field(checkpoint, "config")


def trained_epochs(checkpoint: Path) -> int:
    """The number of epochs done when the checkpoint was saved."""
    return int(_checkpoint_field(checkpoint, "epoch"))


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The summary of a finished run (a FileNotFoundError naming the folder for an unfinished one)."""
    run = RunDir(run_dir)
    if not run.summary.exists():
        raise FileNotFoundError(f"{run.summary} not found: {run_dir} is not a finished training run")
    return json.loads(run.summary.read_text(encoding="utf-8"))


def finished_run_config(run_dir: Path) -> RunConfig:
    """The resolved config a finished run was trained with, from the checkpoint its summary selected
    (a FileNotFoundError for an unfinished run or a missing checkpoint)."""
    checkpoint = RunDir(run_dir).path / read_summary(run_dir)["checkpoint"]
    if not checkpoint.exists():
        raise FileNotFoundError(f"{checkpoint} not found: the selected checkpoint of {run_dir} is missing")
    return resolve_config(trained_config(checkpoint))
