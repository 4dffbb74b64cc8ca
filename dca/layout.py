"""The one definition of what the stages hand each other: a run folder's files and the results tree.

Train, evaluate, report and the experiment grid all take their file names from here (torch-free, so
the workflow and the report import it without loading torch). docs/experiments.md describes the same
layout for users.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The run config ``dca train`` reads: written by the experiment grid (or by hand), never rewritten by training.
#: The resolved config a run was trained with is kept in its checkpoints (``dca train`` checks it on resume).
RUN_CONFIG = "run.yaml"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
#: Written last by ``dca train``: the run finished (the workflow's output for training).
SUMMARY = "summary.json"
#: One row per epoch (loss, validation scores, learning rate, time).
CURVES = "curves.csv"
#: The run's own log, appended across attempts (a scheduler deletes a job's log before each retry).
TRAIN_LOG = "train.log"
#: Held by the ``dca train`` process that owns the folder (its pid inside, for stale-lock detection).
LOCK = ".lock"
EVAL_DIR = "eval"
EVAL_METRICS = "metrics.json"
EVAL_PER_CASE = "per_case.csv"
PREDICTIONS_DIR = "predictions"
#: Folder of the config stamp ``<run>/.config/<digest>``, an empty file named by :func:`config_digest` of the
#: run config: the training job's input, so a changed config reruns the run even without Snakemake's metadata.
STAMP_DIR = ".config"
DIGEST_LENGTH = 12
#: ``<run>/.previous/<digest>/``: a run made with another config, moved aside (never deleted) when the run config
#: changes, and moved back when the config returns to that digest (``dca experiments stamp``).
PREVIOUS_DIR = ".previous"

#: Files ``dca report tables`` writes per group, and the formats of every figure.
TABLE_SUFFIXES = (".tex", ".csv", "_tests.csv")
FIGURE_FORMATS = ("png", "pdf")
#: Per-dataset figure kinds; one more figure per group compares parameters and Dice.
QUALITATIVE_FIGURE = "qualitative"
CURVES_FIGURE = "curves"
FIGURE_KINDS = (QUALITATIVE_FIGURE, CURVES_FIGURE)
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

    @property
    def stamp_dir(self) -> Path:
        return self.path / STAMP_DIR

    def stamp(self, digest: str) -> Path:
        """The config stamp named by ``digest`` (an empty file: its name is the content)."""
        return self.stamp_dir / digest

    def previous(self, digest: str) -> Path:
        """Where the run made with the config of ``digest`` is kept while the folder holds another config's run."""
        return self.path / PREVIOUS_DIR / digest


def run_folder(runs: str | os.PathLike[str], dataset: str, variant: str, seed: int | str) -> RunDir:
    """The run folder of (dataset, variant, seed) under the runs root (``seed`` may be a wildcard pattern)."""
    return RunDir(Path(runs) / dataset / variant / f"seed{seed}")


@dataclass(frozen=True, order=True)
class Run:
    """One training run of the experiment grid: a dataset, a variant and a seed."""

    dataset: str
    variant: str
    seed: int

    def dir(self, runs: str | os.PathLike[str]) -> RunDir:
        """The run's folder under the runs root ``runs``."""
        return run_folder(runs, self.dataset, self.variant, self.seed)

    def folder(self, runs: str | os.PathLike[str]) -> str:
        """The run's folder under ``runs`` as a string (Snakemake params and messages)."""
        return str(self.dir(runs).path)


def config_digest(config: Mapping[str, Any]) -> str:
    """A short SHA-256 of ``config`` in canonical form (JSON, sorted keys): the same for any key order."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]


def table_files(tables: str | os.PathLike[str], group: str) -> list[Path]:
    """The files ``dca report tables`` writes for ``group`` under ``tables``."""
    return [Path(tables) / f"{group}{suffix}" for suffix in TABLE_SUFFIXES]


#: Per group: the training curves of every run in one CSV (``dca report curves``, DVC plots) and the
#: aggregate test scores, mean/std/n over seeds (``dca report aggregate``, DVC metrics).
GROUP_CURVES_SUFFIX = ".csv"
AGGREGATE_SUFFIX = ".json"


def curves_file(curves: str | os.PathLike[str], group: str) -> Path:
    """The file ``dca report curves`` writes for ``group`` under ``curves`` (``paths.curves``)."""
    return Path(curves) / f"{group}{GROUP_CURVES_SUFFIX}"


def aggregate_file(aggregates: str | os.PathLike[str], group: str) -> Path:
    """The file ``dca report aggregate`` writes for ``group`` under ``aggregates`` (``paths.aggregates``)."""
    return Path(aggregates) / f"{group}{AGGREGATE_SUFFIX}"


#: Per paper (``dca``, ``din``): the claims table ``<paper>_claims`` (:mod:`dca.report.claims`).
CLAIMS_STEM = "{paper}_claims"
CLAIMS_SUFFIXES = (".tex", ".csv")


def claims_files(tables: str | os.PathLike[str], paper: str) -> list[Path]:
    """The claims table files ``dca report claims`` writes for ``paper`` under ``tables``."""
    return [Path(tables) / f"{CLAIMS_STEM.format(paper=paper)}{suffix}" for suffix in CLAIMS_SUFFIXES]


def figure_stem(group: str, kind: str, dataset: str | None = None) -> str:
    """The name (without format) of one figure: ``<group>_<kind>[_<dataset>]``."""
    return "_".join([group, kind, *([dataset] if dataset else [])])


def figure_stems(group: str, datasets: list[str]) -> list[str]:
    """The figure names (without format) ``dca report figures`` writes for ``group``."""
    stems = [figure_stem(group, kind, dataset) for kind in FIGURE_KINDS for dataset in datasets]
    stems.append(figure_stem(group, PARAMS_FIGURE))
    return stems


def figure_files(figures: str | os.PathLike[str], group: str, datasets: list[str]) -> list[Path]:
    """Every figure file (PNG and PDF) ``dca report figures`` writes for ``group`` under ``figures``."""
    return [Path(figures) / f"{stem}.{fmt}" for stem in figure_stems(group, datasets) for fmt in FIGURE_FORMATS]
