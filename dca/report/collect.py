"""Gather the results of an experiment group from its run folders (docs/experiments.md).

The groups come from the experiment grid (:class:`dca.experiments.grid.Grid`, the validated workflow config):
the report reads no config of its own, and every output root is the config's ``paths``.
A run folder (:class:`dca.layout.RunDir`, ``<paths.runs>/<dataset>/<variant>/seed<k>/``) counts as
present when its ``eval/metrics.json`` exists; every other (dataset, variant, seed) of the group is listed as
missing. Scores come back in report units: Dice and IoU in percent, HD95 as evaluated.

Protocols: a group running ``paper`` and ``honest`` has, per configured dataset, one table dataset per
protocol: the paper runs' dataset id (``<dataset>@<paper split>``, :mod:`dca.experiments.grid`) and the
dataset itself. Any metric ``metrics.json`` names (``dice_pooled``, ``dice_official``, ...) can be tabulated;
:func:`read_metrics` is the one reader of ``metrics.json`` (the tables and the aggregates alike).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dca.layout import RunDir, run_folder
from dca.utils.io import read_json

if TYPE_CHECKING:
    from dca.experiments.grid import Grid

METRICS: tuple[str, ...] = ("dice", "iou", "hd95")
#: The metrics a group may name besides those (each a scalar of ``metrics.json``; the schema's
#: ``experiments.*.metrics`` lists the same names).
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


#: The ``metrics.json`` keys read as numbers (or null), over classes and in each ``per_class`` entry.
NUMERIC_KEYS: tuple[str, ...] = (*NAMED_METRICS, *(f"{m}_std" for m in METRICS), "hd95_undefined")
#: The ``eval/per_case.csv`` columns the report reads (written by :func:`dca.evaluate.protocol.case_metrics`).
PER_CASE_COLUMNS: tuple[str, ...] = ("case", "class", "label", *METRICS)
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
    #: Configured dataset -> the split the paper's own numbers were selected on (``test`` or ``val``: its registry
    #: paper protocol's ``selection``); absent where the dataset has no paper protocol.
    paper_selection: dict[str, str] = field(default_factory=dict)

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


def report_groups(grid: Grid, names: Sequence[str] | None = None) -> list[Group]:
    """The groups ``names`` of ``grid`` (default: all, in config order) as the report reads them; an unknown name
    is a :class:`~dca.experiments.config.ConfigError` listing the known ones."""
    grid.runs(names)
    return [_group(grid, name) for name in (names or grid.groups)]


def _group(grid: Grid, name: str) -> Group:
    """One group of the validated config, its table datasets those of the grid's runs."""
    config, spec = grid.config, grid.config["experiments"][name]
    variants = tuple(spec["variants"])
    protocols = grid.table_protocols(name)
    reported, metrics = spec.get("reported"), spec.get("metrics")
    return Group(
        name=name,
        title=str(spec.get("title") or name),
        datasets=tuple(protocols),
        variants=variants,
        labels={v: str(config["variants"][v].get("label") or v) for v in variants},
        baselines=dict(spec.get("baselines") or {}),
        seeds=tuple(int(s) for s in config["seeds"]),
        reported=Path(grid.paths["reported"]) / f"{reported}.csv" if reported else None,
        reported_rows=dict(spec.get("reported_rows") or {}),
        metrics=tuple(metrics) if metrics is not None else None,
        per_class=spec.get("per_class"),
        paper=str(spec["paper"]),
        protocols=protocols,
        paper_selection=paper_selections(grid, spec),
    )


def paper_selections(grid: Grid, spec: dict[str, Any]) -> dict[str, str]:
    """Configured dataset -> the split its paper protocol selects on (the paper's own numbers: Synapse ``test``
    under DIN as MERIT's trainer, ACDC ``val``); empty for a group without the paper's numbers, and datasets
    without a paper protocol are left out."""
    from dca.data.registry import get_dataset
    from dca.experiments.config import ConfigError
    from dca.experiments.grid import paper_protocol

    found: dict[str, str] = {}
    for dataset in spec["datasets"] if spec.get("reported") else ():
        entry = grid.config["datasets"][dataset]
        registry = entry.get("registry") or dataset
        try:
            name = paper_protocol(registry, entry.get("protocol"), str(spec["paper"]), dataset)
        except ConfigError:
            continue
        found[dataset] = get_dataset(registry).protocol(name).selection
    return found


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


def _damaged(path: Path, problem: str) -> ValueError:
    """The error of a damaged file of a run's ``eval/``: it names the file and the evaluation that rewrites it."""
    run = path.parent.parent
    return ValueError(f"{path} is damaged ({problem}): rerun the evaluation (`dca evaluate {run}`) or delete it")


JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def metrics_problem(metrics: Any) -> str:
    """What makes a parsed ``metrics.json`` unusable ('' when nothing): not a JSON object, a ``per_class`` that is
    not an object of objects, or a score (:data:`NUMERIC_KEYS`) that is no number (null is an absent score)."""
    if not isinstance(metrics, dict):
        return f"a JSON {JSON_TYPES.get(type(metrics), 'null')}, not an object of metrics"
    per_class = metrics.get("per_class", {})
    if not isinstance(per_class, dict) or not all(isinstance(v, dict) for v in per_class.values()):
        return "per_class is not an object of per-class objects"
    scopes = [("", metrics), *((f"per_class.{c}.", v) for c, v in per_class.items())]
    bad = [
        f"{prefix}{key} = {json.dumps(scores[key])}"
        for prefix, scores in scopes
        for key in NUMERIC_KEYS
        if scores.get(key) is not None and (isinstance(scores[key], bool) or not isinstance(scores[key], (int, float)))
    ]
    return f"not a number: {', '.join(bad)}" if bad else ""


def read_metrics(path: Path) -> dict[str, Any] | None:
    """A run's ``eval/metrics.json``, or None when the file does not exist; one that is not valid JSON or fails
    :func:`metrics_problem` is a ValueError naming it."""
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        problem = metrics_problem(metrics)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        problem = f"not valid JSON ({type(err).__name__}: {err})"
    if problem:
        raise _damaged(path, problem)
    return metrics


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
    raise _damaged(path, problem)


def load_run(runs: Path, dataset: str, variant: str, seed: int) -> RunResult | None:
    """The evaluated run (dataset, variant, seed), or None when its ``eval/metrics.json`` does not exist.

    A damaged ``metrics.json``, ``summary.json`` or ``eval/per_case.csv`` is a ValueError naming the file.
    """
    folder = run_folder(runs, dataset, variant, seed)
    metrics = read_metrics(folder.eval_metrics)
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
