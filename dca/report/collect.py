"""Gather the results of an experiment group from its run folders (docs/experiments.md).

A run folder (:class:`dca.layout.RunDir`, ``results/runs/<dataset>/<variant>/seed<k>/``) counts as
present when its ``eval/metrics.json`` exists; every other (dataset, variant, seed) of the group is listed as
missing. Scores come back in report units: Dice and IoU in percent, HD95 as evaluated.

Protocols: a group running ``paper`` and ``honest`` has, per configured dataset, one table dataset per
protocol: the paper runs' dataset id (``<dataset>@<paper split>``, :mod:`dca.experiments.grid`) and the
dataset itself. Any metric ``metrics.json`` names (``dice_pooled``, ``dice_official``, ...) can be tabulated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dca.layout import RunDir, run_folder
from dca.utils.io import read_json

METRICS: tuple[str, ...] = ("dice", "iou", "hd95")
#: The metrics a group may name besides those (each a scalar of ``metrics.json``).
NAMED_METRICS: tuple[str, ...] = (
    *METRICS, "dice_pooled", "iou_pooled", "dice_with_background", "dice_official", "iou_official",
)  # fmt: skip
#: What the paper protocol reports for a paper's Dice and IoU: the official DCA code's metric.
PAPER_METRICS = {"dca": {"dice": "dice_official", "iou": "iou_official"}}


def scale(metric: str) -> float:
    """Report units: overlap metrics (Dice, IoU and their variants) in percent, distances as evaluated."""
    return 1.0 if metric.startswith("hd95") else 100.0


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (every overlap metric; not HD95)."""
    return not metric.startswith("hd95")


HIGHER_IS_BETTER = {m: higher_is_better(m) for m in NAMED_METRICS}
#: The ``eval/per_case.csv`` columns the report reads (written by :func:`dca.evaluate.protocol.case_metrics`).
PER_CASE_COLUMNS: tuple[str, ...] = ("case", "class", "label", *METRICS)
DEFAULT_PATHS = {
    "runs": "results/runs",
    "processed": "results/data",
    "tables": "results/tables",
    "figures": "results/figures",
    "reported": "config/reported",
}

RunKey = tuple[str, str, int]  # (dataset, variant, seed)


@dataclass(frozen=True)
class Group:
    """One experiment group of the config: the runs of one paper table and how to report them."""

    name: str
    title: str
    datasets: tuple[str, ...]
    variants: tuple[str, ...]
    labels: dict[str, str]
    baselines: dict[str, str]
    seeds: tuple[int, ...]
    reported: Path | None = None
    reported_rows: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] | None = None
    per_class: bool | None = None
    paper: str = ""
    #: Table dataset id -> (configured dataset, protocol); one entry per protocol the group runs.
    protocols: dict[str, tuple[str, str]] = field(default_factory=dict)

    def protocol(self, dataset: str) -> str:
        """The protocol of a table dataset (``honest`` for a dataset the group does not list)."""
        return self.protocols.get(dataset, (dataset, "honest"))[1]

    def base(self, dataset: str) -> str:
        """The configured dataset id of a table dataset."""
        return self.protocols.get(dataset, (dataset, "honest"))[0]

    def metric_key(self, dataset: str, metric: str) -> str:
        """The ``metrics.json`` key of ``metric`` in ``dataset``'s runs: the paper's own metric under its protocol."""
        if self.protocol(dataset) == "paper":
            return PAPER_METRICS.get(self.paper, {}).get(metric, metric)
        return metric


def load_config(path: Path) -> dict[str, Any]:
    """The parsed experiment config (a mapping), with a clear error for anything else."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping")
    return data


def config_paths(config: dict[str, Any]) -> dict[str, Path]:
    """The config's ``paths`` with the schema's defaults (relative to the working directory)."""
    return {key: Path(value) for key, value in {**DEFAULT_PATHS, **(config.get("paths") or {})}.items()}


def _group(name: str, entry: dict[str, Any], config: dict[str, Any], reported_dir: Path) -> Group:
    """Parse one ``experiments`` entry; a baseline must itself be a variant of the group."""
    variants = tuple(entry.get("variants") or ())
    baselines = dict(entry.get("baselines") or {})
    for variant, baseline in baselines.items():
        if variant not in variants or baseline not in variants:
            raise ValueError(f"experiments.{name}.baselines: {variant} -> {baseline} must both be variants of {name}")
    specs = config.get("variants") or {}
    metrics = entry.get("metrics")
    if metrics is not None and set(metrics) - set(NAMED_METRICS):
        unknown = sorted(set(metrics) - set(NAMED_METRICS))
        raise ValueError(f"experiments.{name}.metrics: unknown {unknown}; use {', '.join(NAMED_METRICS)}")
    reported = entry.get("reported")
    protocols = _table_datasets(name, entry, config)
    return Group(
        name=name,
        title=str(entry.get("title") or name),
        datasets=tuple(protocols),
        variants=variants,
        labels={v: str((specs.get(v) or {}).get("label", v)) for v in variants},
        baselines=baselines,
        seeds=tuple(int(s) for s in config.get("seeds", [0])),
        reported=reported_dir / f"{reported}.csv" if reported else None,
        reported_rows=dict(entry.get("reported_rows") or {}),
        metrics=tuple(metrics) if metrics is not None else None,
        per_class=entry.get("per_class"),
        paper=str(entry.get("paper") or ""),
        protocols=protocols,
    )


def _table_datasets(name: str, entry: dict[str, Any], config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Table dataset id -> (dataset, protocol) of a group, paper protocol first (the grid's dataset ids)."""
    from dca.experiments.grid import PROTOCOL_SEPARATOR, as_protocols, paper_protocol

    specs = config.get("variants") or {}
    default = as_protocols(entry.get("protocol"), ["honest"])
    used = {p for v in entry.get("variants") or () for p in as_protocols((specs.get(v) or {}).get("protocol"), default)}
    out: dict[str, tuple[str, str]] = {}
    for dataset in entry.get("datasets") or ():
        for protocol in ("paper", "honest"):
            if protocol not in used:
                continue
            if protocol == "honest":
                out[dataset] = (dataset, protocol)
                continue
            spec = (config.get("datasets") or {}).get(dataset) or {}
            where = f"experiments.{name}.protocol (dataset {dataset})"
            split = paper_protocol(spec.get("registry") or dataset, spec.get("protocol"), str(entry["paper"]), where)
            out[f"{dataset}{PROTOCOL_SEPARATOR}{split}"] = (dataset, protocol)
    return out


def config_groups(config: dict[str, Any], names: Sequence[str] | None = None) -> list[Group]:
    """The groups ``names`` (default: all, in config order); an unknown name is an error listing the known ones."""
    experiments = config.get("experiments") or {}
    unknown = [n for n in names or () if n not in experiments]
    if unknown:
        raise ValueError(f"unknown group(s) {', '.join(unknown)}; the config has: {', '.join(experiments) or 'none'}")
    reported_dir = config_paths(config)["reported"]
    return [_group(n, experiments[n] or {}, config, reported_dir) for n in (names or experiments)]


@dataclass(frozen=True)
class RunResult:
    """One evaluated run: its folder, test metrics, per-case scores (None if absent) and training summary."""

    dataset: str
    variant: str
    seed: int
    dir: RunDir
    metrics: dict[str, Any]
    per_case: pd.DataFrame | None
    summary: dict[str, Any] | None

    @property
    def test_selected(self) -> bool:
        """Whether the evaluated checkpoint was chosen on the test split (marked in every table)."""
        return bool(self.metrics.get("test_selected", self.metrics.get("selection") == "test"))

    def score(self, metric: str, cls: str | None = None) -> float:
        """The test aggregate of ``metric`` (over classes, or of class ``cls``) in report units; NaN if absent."""
        source = self.metrics if cls is None else self.metrics.get("per_class", {}).get(cls, {})
        value = source.get(metric)
        return float("nan") if value is None else float(value) * scale(metric)

    def case_scores(self, metric: str, cls: str | None = None) -> pd.Series:
        """Per test case ``metric`` in report units: the case's mean over foreground classes, or class ``cls``."""
        if self.per_case is None:
            raise FileNotFoundError(f"{self.dir.eval_per_case} not found")
        rows = self.per_case[self.per_case["label"] != 0]
        rows = rows[rows["class"] == cls] if cls is not None else rows
        return rows.groupby("case", sort=True)[metric].mean() * scale(metric)

    @property
    def parameters(self) -> float | None:
        """Trainable parameters in millions (from ``summary.json``), or None."""
        count = (self.summary or {}).get("parameters")
        return None if count is None else count / 1e6

    @property
    def classes(self) -> list[str]:
        """Foreground class names in label order (from ``metrics.json``)."""
        return list(self.metrics.get("per_class", {}))


def per_case_problem(frame: pd.DataFrame) -> str:
    """What makes a parsed ``per_case.csv`` unusable ('' when nothing): a column the report reads absent, no
    rows, non-numeric scores, or an empty field other than HD95 (NaN by design; a file cut mid-row has one)."""
    absent = [c for c in PER_CASE_COLUMNS if c not in frame.columns]
    if absent:
        return f"lacks columns {', '.join(absent)}"
    if frame.empty:
        return "no rows"
    text = [c for c in ("label", *METRICS) if not pd.api.types.is_numeric_dtype(frame[c])]
    empty = [c for c in frame.columns if c != "hd95" and frame[c].isna().any()]
    found = (("non-numeric", text), ("empty fields in", empty))
    return "; ".join(f"{what} {', '.join(names)}" for what, names in found if names)


def read_per_case(path: Path) -> pd.DataFrame | None:
    """A run's per-case scores, or None when the file does not exist; a damaged one is a ValueError naming it."""
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, dtype={"case": str, "class": str})
        problem = per_case_problem(frame)
    except ValueError as err:  # pandas' ParserError and EmptyDataError, UnicodeDecodeError
        problem = f"not a readable CSV ({type(err).__name__}: {str(err).strip()})"
    if not problem:
        return frame
    run = path.parent.parent
    raise ValueError(f"{path} is damaged ({problem}): rerun the evaluation (`dca evaluate {run}`) or delete it")


def load_run(runs: Path, dataset: str, variant: str, seed: int) -> RunResult | None:
    """The evaluated run (dataset, variant, seed), or None when its ``eval/metrics.json`` does not exist.

    A damaged ``metrics.json``, ``summary.json`` or ``eval/per_case.csv`` is a ValueError naming the file.
    """
    folder = run_folder(runs, dataset, variant, seed)
    metrics = read_json(folder.eval_metrics)
    if metrics is None:
        return None
    per_case = read_per_case(folder.eval_per_case)
    return RunResult(dataset, variant, seed, folder, metrics, per_case, read_json(folder.summary))


@dataclass(frozen=True)
class GroupResults:
    """The present runs of a group by (dataset, variant, seed), and the missing ones."""

    group: Group
    runs: dict[RunKey, RunResult]
    missing: list[RunKey]

    def seeds(self, dataset: str, variant: str) -> list[RunResult]:
        """The present runs of (dataset, variant), in seed order."""
        return [self.runs[k] for k in sorted(self.runs) if k[:2] == (dataset, variant)]

    def missing_seeds(self, dataset: str, variant: str) -> list[int]:
        """The configured seeds of (dataset, variant) that have no evaluated run."""
        return [seed for d, v, seed in self.missing if (d, v) == (dataset, variant)]

    def classes(self, dataset: str) -> list[str]:
        """Foreground class names of ``dataset`` (from its first present run; empty when none)."""
        return next((run.classes for key, run in sorted(self.runs.items()) if key[0] == dataset), [])


def collect_group(group: Group, runs: Path) -> GroupResults:
    """Load every configured run of ``group`` under ``runs``; the absent ones are listed, not errors."""
    present: dict[RunKey, RunResult] = {}
    missing: list[RunKey] = []
    for dataset in group.datasets:
        for variant in group.variants:
            for seed in group.seeds:
                run = load_run(runs, dataset, variant, seed)
                if run is None:
                    missing.append((dataset, variant, seed))
                else:
                    present[(dataset, variant, seed)] = run
    return GroupResults(group, present, missing)
