"""The one definition of what the stages hand each other: a run folder's files and the results tree.

Train, evaluate, report and the experiment grid all take their file names from here (torch-free, so
the workflow and the report import it without loading torch). docs/experiments.md describes the same
layout for users.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The run config ``dca train`` reads: written by the experiment grid (or by hand), never rewritten by training.
RUN_CONFIG = "run.yaml"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
#: Written last by ``dca train``: the run finished (the workflow's output for training).
SUMMARY = "summary.json"
#: One row per epoch (loss, validation scores, learning rate, time).
CURVES = "curves.csv"
DVCLIVE_DIR = "dvclive"
#: The run's own log, appended across attempts (a scheduler deletes a job's log before each retry).
TRAIN_LOG = "train.log"
#: Held by the ``dca train`` process that owns the folder (its pid inside, for stale-lock detection).
LOCK = ".lock"
EVAL_DIR = "eval"
EVAL_METRICS = "metrics.json"
EVAL_PER_CASE = "per_case.csv"
PREDICTIONS_DIR = "predictions"
#: Folder of the config stamp ``<run>/.config/<digest>``: the workflow's input that makes a changed config rerun.
STAMP_DIR = ".config"

#: Files ``dca report tables`` writes per group, and the formats of every figure.
TABLE_SUFFIXES = (".tex", ".csv", "_tests.csv")
FIGURE_FORMATS = ("png", "pdf")
#: Per-dataset figure kinds; one more figure per group compares parameters and Dice.
FIGURE_KINDS = ("qualitative", "curves")
PARAMS_FIGURE = "params_dice"


@dataclass(frozen=True)
class RunDir:
    """The files of one run folder ``<runs>/<dataset>/<variant>/seed<k>/``."""

    path: Path

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def config(self) -> Path:
        return self.path / RUN_CONFIG

    @property
    def last(self) -> Path:
        return self.path / LAST_CHECKPOINT

    @property
    def best(self) -> Path:
        return self.path / BEST_CHECKPOINT

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def curves(self) -> Path:
        return self.path / CURVES

    @property
    def dvclive(self) -> Path:
        return self.path / DVCLIVE_DIR

    @property
    def log(self) -> Path:
        return self.path / TRAIN_LOG

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    @property
    def eval_dir(self) -> Path:
        return self.path / EVAL_DIR

    @property
    def eval_metrics(self) -> Path:
        return self.eval_dir / EVAL_METRICS

    @property
    def eval_per_case(self) -> Path:
        return self.eval_dir / EVAL_PER_CASE

    @property
    def predictions(self) -> Path:
        return self.eval_dir / PREDICTIONS_DIR

    def stamp(self, digest: str) -> Path:
        """The config stamp named by ``digest`` (a copy of the run config)."""
        return self.path / STAMP_DIR / digest


def run_folder(runs: str | os.PathLike[str], dataset: str, variant: str, seed: int) -> RunDir:
    """The run folder of (dataset, variant, seed) under the runs root."""
    return RunDir(Path(runs) / dataset / variant / f"seed{seed}")


def table_files(tables: str | os.PathLike[str], group: str) -> list[Path]:
    """The files ``dca report tables`` writes for ``group`` under ``tables``."""
    return [Path(tables) / f"{group}{suffix}" for suffix in TABLE_SUFFIXES]


def figure_stems(group: str, datasets: list[str]) -> list[str]:
    """The figure names (without format) ``dca report figures`` writes for ``group``."""
    stems = [f"{group}_{kind}_{dataset}" for kind in FIGURE_KINDS for dataset in datasets]
    stems.append(f"{group}_{PARAMS_FIGURE}")
    return stems


def figure_files(figures: str | os.PathLike[str], group: str, datasets: list[str]) -> list[Path]:
    """Every figure file (PNG and PDF) ``dca report figures`` writes for ``group`` under ``figures``."""
    return [Path(figures) / f"{stem}.{fmt}" for stem in figure_stems(group, datasets) for fmt in FIGURE_FORMATS]
