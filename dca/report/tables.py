"""One results table per experiment group: LaTeX (booktabs, via ``Styler.to_latex``) and a tidy CSV.

Rows are the group's variants (a ``Wilcoxon $p$ (seed-averaged) vs <baseline>`` row under each variant
that has a baseline: a signed-rank test over seed-averaged case scores, blind to the seed spread, so the
note points to the claims table ``<paper>_claims`` as the headline test); columns are (dataset, metric or
class) with an ``Ours`` sub-column (mean +- sample std over seeds of each seed's test aggregate from
``metrics.json``) and, where the paper gives a number, a ``Paper`` sub-column. Per ``Ours`` column the best
value among the cells with every configured seed is bold and the second best underlined (Dice/IoU: higher,
HD95: lower); a cell with a missing seed is never ranked. Markers: ``\\dagger`` test-set selection (on the
header when every run was; on a paper column where the paper's protocol selected on test), ``\\ddagger`` fewer
seeds than configured (a seed whose ``metrics.json`` lacks the metric counts as missing; the note lists the missing
seeds per dataset and variant), ``\\S`` a paper number beside runs whose setting differs from the paper's (the
note lists how), ``--`` no evaluated run. Rows follow the paper's table: the methods it prints that we do not
rerun appear as ``(reported)`` rows with the paper's numbers only (``source`` ``reported`` in the CSV), variants it
lacks come last. A group running both protocols has one column block per protocol (paper first); HD95
cells count the cases skipped for an empty mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dca.data.registry import get_dataset
from dca.layout import table_files
from dca.report.collect import METRICS, Group, GroupResults, RunResult, higher_is_better
from dca.report.reported import METRIC_ALIASES, find_column, find_row, load_reported
from dca.report.stats import Score, group_tests
from dca.utils.io import write_text
from dca.utils.log import Log

METRIC_HEADERS = {"dice": "DSC", "iou": "IoU", "hd95": "HD95"}
LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "|": r"\textbar{}", "<": r"\textless{}",
    ">": r"\textgreater{}",
}  # fmt: skip
DAGGER, DDAGGER, SECTION, MISSING = r"$^\dagger$", r"$^\ddagger$", r"$^\S$", "--"
CSV_COLUMNS = [
    "group", "variant", "label", "dataset", "protocol", "metric", "class", "unit", "mean", "std", "n_seeds",
    "n_expected", "missing_seeds", "hd95_skipped", "test_selected", "reported", "reported_differences", "rank",
    "baseline", "p_value", "source",
]  # fmt: skip
#: The label suffix of a row the paper prints for a method we do not rerun.
REPORTED_MARK = " (reported)"


def escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (also ``|<>``, which OT1 fonts print as other glyphs)."""
    return "".join(LATEX_SPECIALS.get(char, char) for char in text)


@dataclass(frozen=True)
class Column:
    """One table column: a metric over classes, one class's Dice, or (``dataset`` None) the parameter count."""

    dataset: str | None
    metric: str
    cls: str | None = None

    @property
    def score(self) -> Score:
        """The (metric, class) this column reports."""
        return self.metric, self.cls


@dataclass(frozen=True)
class Cell:
    """Our number for one (variant, column): seed mean and std, seeds present / configured, selection mark."""

    mean: float
    std: float
    n: int
    expected: int
    test_selected: bool
    missing: tuple[int, ...]
    skipped: int = 0

    @property
    def complete(self) -> bool:
        """Whether every configured seed has a number here: only such cells are ranked (a lost seed skews the mean)."""
        return self.n == self.expected


@dataclass(frozen=True)
class Table:
    """Everything one group's table shows, before formatting."""

    results: GroupResults
    columns: list[Column]
    cells: dict[tuple[str, Column], Cell]
    reported: dict[tuple[str, Column], str]
    tests: pd.DataFrame
    hd95_units: dict[str, str]
    #: Table dataset -> how its runs' setting differs from the paper's (empty: comparable).
    differences: dict[str, list[str]]
    #: The rows in the paper's order: a variant's name, or the index of a paper row no variant matches.
    order: tuple[str | int, ...] = ()
    #: Paper row index -> (label, printed numbers per column) of the methods the paper reports and we do not rerun.
    reported_only: dict[int, tuple[str, dict[Column, str]]] = field(default_factory=dict)


def dataset_title(name: str) -> str:
    """Short display name of a dataset: its registry title up to the first parenthesis (the name if unknown)."""
    try:
        return get_dataset(name).title.split(" (")[0]
    except (ValueError, FileNotFoundError):
        return name


def table_title(results: GroupResults, dataset: str) -> str:
    """A table dataset's display name, with its protocol when the group runs both."""
    group = results.group
    title = dataset_title(group.base(dataset))
    if len({p for _, p in group.protocols.values()}) > 1:
        title += f" ({group.protocol(dataset)})"
    return title


def paper_setting(run: RunResult) -> dict[str, object]:
    """The paper's setting for a run: the preset it started from (input 224 unless the preset says)."""
    from dca.train.config import PRESETS

    preset = PRESETS.get(str(run.metrics.get("preset")), {})
    return {"size": (preset.get("data") or {}).get("size", 224), "epochs": preset.get("epochs"),
            "batch_size": preset.get("batch_size")}  # fmt: skip


def run_options(run: RunResult) -> dict[str, object]:
    """The model options a run was built with (``model.options`` of its ``run.yaml``; a key left out: the model's
    own default; no ``run.yaml``: none)."""
    if not run.dir.config.is_file():
        return {}
    config = yaml.safe_load(run.dir.config.read_text(encoding="utf-8")) or {}
    return (config.get("model") or {}).get("options") or {}


#: Encoder initialisation of each paper's models (DIN: two ImageNet ConvNeXt-base; DCA: from scratch, no option).
PAPER_ENCODER_WEIGHTS = {"din": "imagenet"}


def setting_differences(results: GroupResults, dataset: str) -> list[str]:
    """How the runs of ``dataset`` differ from the paper's setting (protocol, input size, epochs, batch, width,
    encoder weights)."""
    runs = [r for k, r in sorted(results.runs.items()) if k[0] == dataset]
    if not runs or (results.group.reported is None and all(r.metrics.get("preset") is None for r in runs)):
        return []  # no runs, or a group of our own (no paper table, no paper preset): no paper setting to differ from
    found = []
    group = results.group
    if group.protocol(dataset) != "paper":
        split = {"test": "on test", "val": "on validation"}.get(group.paper_selection.get(group.base(dataset), ""))
        found.append(f"honest protocol (the paper: its own split, selection {split or 'as its code'}, its metric)")
    for key, wanted in paper_setting(runs[0]).items():
        values = sorted({str(r.metrics.get(key)) for r in runs if r.metrics.get(key) is not None})
        if wanted is None or not values:
            found.append(f"{key.replace('_', ' ')} unknown")
        elif values and values != [str(wanted)]:  # every run's value, so one reduced variant is not hidden
            found.append(f"{key.replace('_', ' ')} {', '.join(values)} (paper {wanted})")
    from dca.models.base import DEFAULT_WIDTH  # the paper's width factor; lazy, as PRESETS: no torch at import

    options = [run_options(r) for r in runs]
    widths = sorted({float(o["width"]) for o in options if o.get("width") is not None} - {DEFAULT_WIDTH})
    if widths:
        found.append(f"width factor {', '.join(f'{w:g}' for w in widths)} (paper {DEFAULT_WIDTH:g})")
    wanted = PAPER_ENCODER_WEIGHTS.get(group.paper)
    weights = sorted({str(o["encoder_weights"]) for o in options if o.get("encoder_weights") is not None} - {wanted})
    if wanted and weights:
        found.append(f"encoder weights {', '.join(weights)} (paper {wanted})")
    return found


def _hd95_unit(results: GroupResults, dataset: str) -> str:
    """``mm``, ``voxels`` or ``px``, from the first run's ``hd95_unit`` (pixels for images)."""
    unit = next((r.metrics.get("hd95_unit", "") for k, r in sorted(results.runs.items()) if k[0] == dataset), "")
    return "px" if unit.startswith("pixel") else unit or "px"


def choose_columns(results: GroupResults, reported: pd.DataFrame | None) -> list[Column]:
    """The group's columns: parameters, then per dataset its metrics and (multi-class) per-class Dice.

    Metrics default to those the paper's table reports (Dice always), or all three when it has none;
    class columns default to whether the paper's table has them. ``metrics``/``per_class`` in the
    group override both.
    """
    group = results.group
    single = len(group.protocols) <= 1 or len({group.base(d) for d in group.datasets}) == 1
    names = list(reported.columns) if reported is not None else []
    has = {m: any(find_column(names, group.base(d), m, None, single) for d in group.datasets) for m in METRICS}
    metrics = group.metrics or (tuple(m for m in METRICS if has[m] or m == "dice") if any(has.values()) else METRICS)
    columns = []
    if find_column(names, None, "params", None, single) or any(r.parameters for r in results.runs.values()):
        columns.append(Column(None, "params"))
    for dataset in group.datasets:
        columns += [Column(dataset, m) for m in metrics]
        classes = results.classes(dataset)
        per_class = group.per_class
        if per_class is None:
            per_class = any(find_column(names, group.base(dataset), "dice", c, single) for c in classes)
        if per_class and len(classes) > 1:
            columns += [Column(dataset, "dice", c) for c in classes]
    return columns


def _cell(results: GroupResults, variant: str, column: Column) -> Cell:
    """Seed mean, std (ddof=1) and marks of ``variant`` in ``column``; parameters come from the first dataset run."""
    expected = len(results.group.seeds)
    if column.dataset is None:
        counts = [r.parameters for d in results.group.datasets for r in results.seeds(d, variant) if r.parameters]
        return Cell(counts[0] if counts else math.nan, math.nan, int(bool(counts)), 1, False, ())
    runs = results.seeds(column.dataset, variant)
    key = results.group.metric_key(column.dataset, column.metric)
    values = np.array([r.score(key, column.cls) for r in runs], float)
    finite = values[np.isfinite(values)]
    # A seed whose metrics.json lacks the metric (or holds no number) is a missing seed, never a silent gap.
    unreadable = [r.seed for r, v in zip(runs, values, strict=True) if not np.isfinite(v)]
    skipped = 0
    if column.metric == "hd95":
        source = [r.metrics if column.cls is None else r.metrics.get("per_class", {}).get(column.cls, {}) for r in runs]
        skipped = int(sum(int(m.get("hd95_undefined") or 0) for m in source))
    return Cell(
        mean=float(finite.mean()) if finite.size else math.nan,
        std=float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
        n=int(finite.size),
        expected=expected,
        test_selected=any(r.test_selected for r in runs),
        missing=tuple(sorted([*results.missing_seeds(column.dataset, variant), *unreadable])),
        skipped=skipped,
    )


def _reported_cells(
    results: GroupResults, columns: list[Column], frame: pd.DataFrame, log: Log
) -> dict[tuple[str, Column], str]:
    """The paper's number (as printed) for every (variant, column) it has; unmatched variants are logged."""
    group = results.group
    single = len({group.base(d) for d in group.datasets}) == 1
    cells: dict[tuple[str, Column], str] = {}
    for variant in group.variants:
        row = find_row(frame, group.reported_rows.get(variant), group.labels[variant])
        if row is None:
            log(f"{group.name}: no row of {group.reported} matches {variant!r}; set reported_rows.{variant}")
            continue
        for column in columns:
            dataset = None if column.dataset is None else group.base(column.dataset)
            name = find_column(list(frame.columns), dataset, column.metric, column.cls, single)
            if name and row[name].strip():
                cells[(variant, column)] = row[name].strip()
    return cells


def _numeric(values: pd.Series) -> bool:
    """Whether every non-empty value of a reported column is a number."""
    return bool(pd.to_numeric(values[values.str.strip() != ""], errors="coerce").notna().all())


def key_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that name a paper row (method, setting, ...): those before its first score column (a metric or
    parameter name, alone or after a dataset prefix, holding numbers)."""
    names = [n for aliases in METRIC_ALIASES.values() for n in aliases]
    columns = list(frame.columns)
    first = next(
        (i for i, c in enumerate(columns) if any(c == n or c.endswith(f"_{n}") for n in names) and _numeric(frame[c])),
        len(columns),
    )
    return columns[:first] or columns[:1]


def paper_rows(
    results: GroupResults, columns: list[Column], frame: pd.DataFrame
) -> tuple[tuple[str | int, ...], dict[int, tuple[str, dict[Column, str]]]]:
    """The rows in the paper's order and the paper's rows that no variant matches (methods it reports, we do not
    rerun: label and printed numbers). Variants the paper lacks follow its rows, in the group's order."""
    group = results.group
    single = len({group.base(d) for d in group.datasets}) == 1
    matched: dict[int, list[str]] = {}
    for variant in group.variants:
        row = find_row(frame, group.reported_rows.get(variant), group.labels[variant])
        if row is not None:
            matched.setdefault(frame.index.get_loc(row.name), []).append(variant)
    keys, order, only = key_columns(frame), [], {}
    for position in range(len(frame)):
        if position in matched:
            order += matched[position]
            continue
        row = frame.iloc[position]
        cells = {}
        for column in columns:
            dataset = None if column.dataset is None else group.base(column.dataset)
            name = find_column(list(frame.columns), dataset, column.metric, column.cls, single)
            if name and row[name].strip():
                cells[column] = row[name].strip()
        if cells:
            order.append(position)
            only[position] = (", ".join(row[k].strip() for k in keys if row[k].strip()), cells)
    order += [v for v in group.variants if v not in order]
    return tuple(order), only


def build_table(results: GroupResults, log: Log) -> Table:
    """Collect our cells, the paper's numbers and the paired tests of one group."""
    group = results.group
    if group.reported and not group.reported.is_file():
        raise FileNotFoundError(f"{group.name}: the paper's table {group.reported} not found (see paths.reported)")
    frame = load_reported(group.reported) if group.reported else None
    columns = choose_columns(results, frame)
    cells = {(v, c): _cell(results, v, c) for v in group.variants for c in columns}
    reported = _reported_cells(results, columns, frame, log) if frame is not None else {}
    scores = {d: [c.score for c in columns if c.dataset == d] for d in group.datasets}
    units = {d: _hd95_unit(results, d) for d in group.datasets}
    differences = {d: setting_differences(results, d) for d in group.datasets}
    order, only = paper_rows(results, columns, frame) if frame is not None else (tuple(group.variants), {})
    return Table(results, columns, cells, reported, group_tests(results, scores), units, differences, order, only)


def ranks(table: Table) -> dict[tuple[str, Column], str]:
    """``best`` / ``second`` per metric column over our displayed (2-decimal) means; ties share a rank.

    Only cells with every configured seed take part (a cell missing a seed is never bold or underlined).
    Bold needs two distinct values and underline three, so a lone or worst value is never marked.
    """
    marks: dict[tuple[str, Column], str] = {}
    for column in table.columns:
        if column.dataset is None:
            continue
        cells = {v: table.cells[(v, column)] for v in table.results.group.variants}
        means = {v: round(cell.mean, 2) for v, cell in cells.items() if cell.complete}
        means = {v: m for v, m in means.items() if math.isfinite(m)}
        order = sorted(set(means.values()), reverse=higher_is_better(column.metric))
        for rank, minimum in (("best", 2), ("second", 3)):
            if len(order) >= minimum:
                value = order[0 if rank == "best" else 1]
                marks.update({(v, column): rank for v, m in means.items() if m == value})
    return marks


def p_values(table: Table) -> dict[tuple[str, Column], float]:
    """The test p-value of every (variant, column) that has a baseline."""
    tests = table.tests.set_index(["variant", "dataset", "metric", "class"])["p_value"]
    return {
        (v, c): float(tests.get((v, c.dataset, c.metric, c.cls or ""), math.nan))
        for v in table.results.group.baselines
        for c in table.columns
        if c.dataset is not None
    }


def format_p(p: float) -> str:
    """A p-value as printed: three decimals, ``<0.001`` below that, ``--`` when undefined."""
    if not math.isfinite(p):
        return MISSING
    return "$<$0.001" if p < 0.001 else f"{p:.3f}"


def format_cell(cell: Cell, mark_test: bool = True) -> str:
    """``mean $\\pm$ std`` (std only with several seeds), marks appended; ``--`` without a run."""
    if cell.n == 0 or not math.isfinite(cell.mean):
        return MISSING
    text = f"{cell.mean:.2f}" + (rf" $\pm$ {cell.std:.2f}" if math.isfinite(cell.std) else "")
    marks = (DAGGER if cell.test_selected and mark_test else "") + (DDAGGER if 0 < cell.n < cell.expected else "")
    return text + marks + (f" ({cell.skipped} skipped)" if cell.skipped else "")


def all_test_selected(table: Table) -> bool:
    """Whether every evaluated cell was test-selected: then the mark goes on the header, not on each cell."""
    cells = [c for (_, col), c in table.cells.items() if col.dataset is not None and c.n]
    return bool(cells) and all(c.test_selected for c in cells)


def unit_of(table: Table, column: Column) -> str:
    """The unit of a column's numbers: ``M`` (parameters), ``%`` (Dice, IoU) or the HD95 unit of its dataset."""
    if column.dataset is None:
        return "M"
    return table.hd95_units[column.dataset] if column.metric == "hd95" else "%"


def _header(table: Table, column: Column) -> tuple[str, str]:
    """The two upper header levels of a column: dataset and metric (or class)."""
    if column.dataset is None:
        return "Params (M)", ""
    title = escape(table_title(table.results, column.dataset))
    if column.cls is not None:
        return title, escape(column.cls)
    header = METRIC_HEADERS.get(column.metric, escape(column.metric))
    return title, f"{header} ({escape(unit_of(table, column))})"


def paper_test_selected(group: Group, column: Column) -> bool:
    """Whether the paper's numbers of a column were selected on the test split (its paper protocol's selection)."""
    return column.dataset is not None and group.paper_selection.get(group.base(column.dataset)) == "test"


def paper_note(table: Table) -> str:
    """What the Paper columns hold: as reported, and per dataset the split the paper selected on."""
    group, by_split = table.results.group, {}
    for dataset in dict.fromkeys(group.base(c.dataset) for c in table.columns if c.dataset is not None):
        split = group.paper_selection.get(dataset)
        if split:
            by_split.setdefault(split, []).append(escape(dataset_title(dataset)))
    if set(by_split) == {"test"}:
        return f"; Paper{DAGGER}: as reported, selected on the test split"
    if set(by_split) == {"val"}:
        return "; Paper: as reported, selected on validation"
    parts = [f"{DAGGER} selected on the test split: {', '.join(by_split['test'])}"] if "test" in by_split else []
    parts += [f"selected on validation: {', '.join(by_split['val'])}"] if "val" in by_split else []
    return "; Paper: as reported" + (f" ({'; '.join(parts)})" if parts else "")


def display_frame(table: Table) -> tuple[pd.DataFrame, list[str], list[tuple[int, int, str]]]:
    """The table as strings (unique integer index), the row labels, and the (row, column, rank) to style."""
    group, marks, pvals = table.results.group, ranks(table), p_values(table)
    with_paper, all_test = bool(table.reported or table.reported_only), all_test_selected(table)
    printed = {c for _, numbers in table.reported_only.values() for c in numbers} | {c for _, c in table.reported}
    keys: list[tuple[tuple[str, str, str], Column, str]] = []
    for column in table.columns:
        top = _header(table, column)
        if all_test and column.dataset is not None and not with_paper:
            top = (top[0], top[1] + DAGGER)
        keys.append(((*top, "Ours" + (DAGGER if all_test and column.dataset is not None else "")), column, "ours"))
        if column in printed:
            keys.append(((*top, "Paper" + (DAGGER if paper_test_selected(group, column) else "")), column, "paper"))
    rows, labels, styled = [], [], []
    for variant in table.order or group.variants:
        if isinstance(variant, int):
            label, numbers = table.reported_only[variant]
            rows.append([escape(numbers.get(c, "")) if k == "paper" else "" for _, c, k in keys])
            labels.append(escape(label + REPORTED_MARK))
            continue
        row = []
        for j, (_, column, kind) in enumerate(keys):
            if kind == "paper":
                number = escape(table.reported.get((variant, column), ""))
                differs = number and column.dataset is not None and table.differences.get(column.dataset)
                row.append(number + (SECTION if differs else ""))
                continue
            cell = table.cells[(variant, column)]
            row.append(f"{cell.mean:.2f}" if column.dataset is None and cell.n else format_cell(cell, not all_test))
            if (variant, column) in marks:
                styled.append((len(rows), j, marks[(variant, column)]))
        rows.append(row)
        labels.append(escape(group.labels[variant]))
        if variant in group.baselines:
            rows.append([format_p(pvals[(variant, c)]) if k == "ours" and c.dataset else "" for _, c, k in keys])
            labels.append(rf"\quad Wilcoxon $p$ (seed-averaged) vs {escape(group.labels[group.baselines[variant]])}")
    names = [None, None, "Method"] if with_paper else [None, "Method"]
    index = pd.MultiIndex.from_tuples([k[0] if with_paper else k[0][:2] for k in keys], names=names)
    return pd.DataFrame(rows, columns=index), labels, styled


def _column_name(column: Column) -> str:
    """A column's short name in a note: its metric header, or its class."""
    return escape(column.cls) if column.cls else METRIC_HEADERS.get(column.metric, escape(column.metric))


def missing_seeds_note(table: Table) -> str:
    """The seeds missing per (table dataset, variant), e.g. ``Toy / Net (CCA): seed 1``; columns named when only
    some of the dataset's columns miss them (a seed whose ``metrics.json`` lacks one metric). Empty when none."""
    group, found = table.results.group, []
    for dataset in group.datasets:
        columns = [c for c in table.columns if c.dataset == dataset]
        for variant in group.variants:
            by_seeds: dict[tuple[int, ...], list[Column]] = {}
            for column in columns:
                if seeds := table.cells[(variant, column)].missing:
                    by_seeds.setdefault(seeds, []).append(column)
            for seeds, where in by_seeds.items():
                scope = "" if len(where) == len(columns) else " (" + ", ".join(map(_column_name, where)) + ")"
                listed = ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))
                title = escape(f"{table_title(table.results, dataset)} / {group.labels[variant]}")
                found.append(f"{title}: {listed}{scope}")
    return "; ".join(found)


def notes(table: Table) -> list[str]:
    """The footnote lines the table needs (seeds, marks, tests), in LaTeX."""
    group = table.results.group
    cells = [c for (_, col), c in table.cells.items() if col.dataset is not None]
    seeds = len(group.seeds)
    percent = sorted({METRIC_HEADERS[c.metric] for c in table.columns if c.metric in ("dice", "iou") and not c.cls})
    percent += ["class columns (Dice)"] if any(c.cls for c in table.columns) else []
    protocols = sorted({group.protocol(d) for d in group.datasets}, reverse=True)
    lines = [
        (rf"Ours: mean $\pm$ std over {seeds} seeds (one seed: no std)" if seeds > 1 else "Ours: one seed, no std")
        + (paper_note(table) if table.reported or table.reported_only else "")
        + (rf". {', '.join(percent)} in \%." if percent else "."),
        "Protocol: " + ", ".join(protocols) + " (docs/protocols.md); paper = the paper's split, its selection (as "
        "its code: test or validation) and its metric"
        + (" (DCA: the official batch-pooled Dice/IoU)" if group.paper == "dca" else "")
        + ".",
        "Bold / underlined: best / second best of ours per column, among the cells with every configured seed.",
    ]
    if group.reported is None:
        lines.append("No paper reports these numbers: they are ours alone, with nothing published to compare.")
    if table.reported_only:
        lines.append(
            f"Rows marked{escape(REPORTED_MARK)}: other methods as the paper prints them, in its row order; not rerun "
            "(no number of ours)."
        )
    for dataset, found in table.differences.items():
        if found and any(c.dataset == dataset and (v, c) in table.reported for v, c in table.reported):
            where = escape(table_title(table.results, dataset))
            lines.append(rf"{SECTION} {where}: not comparable with the paper: " + escape("; ".join(found)) + ".")
    if any(c.skipped for c in cells):
        lines.append("HD95: mean over the cases with a defined HD95; (n skipped): cases with an empty mask left out.")
    if group.baselines:
        claims = escape(f"{group.paper or '<paper>'}_claims")
        lines.append(
            r"Wilcoxon $p$ (seed-averaged): two-sided signed-rank test over test cases vs the baseline, on each "
            "case's score averaged over seeds; it ignores the spread between seeds, so a small $p$ does not make a "
            f"difference hold: the headline test is the claims table {claims} (hierarchical bootstrap over seeds "
            "and cases)."
        )
    if all_test_selected(table):
        lines.append(rf"{DAGGER} every model selected on the test split (the papers' protocol): optimistic.")
    elif any(c.test_selected for c in cells):
        lines.append(rf"{DAGGER} model selected on the test split (the papers' protocol): optimistic.")
    missing = missing_seeds_note(table)
    if missing:
        where = escape(f"{group.name}.csv")
        lines.append(
            rf"{DDAGGER} fewer seeds than configured (not ranked); {MISSING}: no evaluated run. Missing: {missing} "
            f"(see {where})."
        )
    return lines


def _add_cmidrules(latex: str, frame: pd.DataFrame) -> str:
    """Insert booktabs ``\\cmidrule`` under dataset headers and under metric headers that span columns.

    Written by hand because ``Styler.to_latex`` draws only full rules.
    """
    out = latex.splitlines()
    top = out.index(r"\toprule")
    for level in reversed(range(frame.columns.nlevels - 1)):
        rules, start = [], 0
        prefixes = [c[: level + 1] for c in frame.columns]
        for j in range(1, len(prefixes) + 1):
            if j == len(prefixes) or prefixes[j] != prefixes[start]:
                if prefixes[start][-1] and (level == 0 or j - start > 1):
                    rules.append(rf"\cmidrule(lr){{{start + 2}-{j + 1}}}")
                start = j
        if rules:
            out.insert(top + level + 2, " ".join(rules))
    return "\n".join(out)


def _with_notes(tabular: str, lines: list[str]) -> str:
    """The tabular with its notes set below it, wrapped to the tabular's own width.

    Written by hand because ``Styler.to_latex`` has no table notes, and notes as rows of the
    tabular would widen its last column; plain TeX box registers keep it free of extra packages.
    """
    notes = "\\par\n".join(lines)
    return (
        "\\begingroup\n\\setbox0=\\hbox{%\n" + tabular.rstrip() + "%\n}%\n"
        "\\begin{minipage}{\\wd0}\n\\box0\n\\par\\smallskip\\footnotesize\\raggedright\n"
        + notes
        + "\\par\n\\end{minipage}%\n\\endgroup\n"
    )


def to_latex(table: Table) -> str:
    """The booktabs ``tabular`` of one group styled with pandas' Styler, its notes below (for ``\\input``)."""
    frame, labels, styled = display_frame(table)
    wraps = {"best": "textbf:--rwrap;", "second": "underline:--rwrap;"}

    def style(data: pd.DataFrame) -> pd.DataFrame:
        """CSS-like Styler props: bold best, underlined second best."""
        props = pd.DataFrame("", index=data.index, columns=data.columns)
        for i, j, rank in styled:
            props.iat[i, j] = wraps[rank]
        return props

    styler = frame.style.apply(style, axis=None).format_index(lambda i: labels[i], axis=0)
    latex = styler.to_latex(hrules=True, column_format="l" + "r" * frame.shape[1], multicol_align="c")
    group = table.results.group
    header = f"% {group.name}: {group.title}\n% generated by `dca report tables`; do not edit by hand.\n"
    return header + _with_notes(_add_cmidrules(latex, frame), notes(table))


def tidy_frame(table: Table) -> pd.DataFrame:
    """One CSV row per (variant, column): our numbers, the paper's, rank, baseline and p-value."""
    group, marks, pvals = table.results.group, ranks(table), p_values(table)
    rows = []
    for variant in group.variants:
        for column in table.columns:
            cell = table.cells[(variant, column)]
            rows.append({
                "group": group.name, "variant": variant, "label": group.labels[variant],
                "dataset": column.dataset or "",
                "protocol": group.protocol(column.dataset) if column.dataset else "",
                "metric": group.metric_key(column.dataset, column.metric) if column.dataset else column.metric,
                "class": column.cls or "", "unit": unit_of(table, column),
                "mean": cell.mean, "std": cell.std, "n_seeds": cell.n, "n_expected": cell.expected,
                "missing_seeds": ";".join(map(str, cell.missing)), "hd95_skipped": cell.skipped,
                "test_selected": cell.test_selected, "reported": table.reported.get((variant, column), ""),
                "reported_differences": "; ".join(table.differences.get(column.dataset or "", [])),
                "rank": marks.get((variant, column), ""),
                "baseline": group.baselines.get(variant, ""), "p_value": pvals.get((variant, column), math.nan),
                "source": "ours",
            })  # fmt: skip
    for label, numbers in table.reported_only.values():
        for column, number in numbers.items():
            rows.append({
                "group": group.name, "variant": "", "label": label, "dataset": column.dataset or "",
                "protocol": group.protocol(column.dataset) if column.dataset else "", "metric": column.metric,
                "class": column.cls or "", "unit": unit_of(table, column),
                "mean": math.nan, "std": math.nan, "n_seeds": 0, "n_expected": 0, "reported": number,
                "source": "reported",
            })  # fmt: skip
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def write_table(results: GroupResults, out: Path, log: Log) -> dict[str, Path]:
    """Write ``<group>.tex``, ``<group>.csv`` and ``<group>_tests.csv`` under ``out`` (atomically)."""
    table = build_table(results, log)
    files = dict(zip(("tex", "csv", "tests"), table_files(out, results.group.name), strict=True))
    write_text(files["tex"], to_latex(table))
    write_text(files["csv"], tidy_frame(table).to_csv(index=False, lineterminator="\n"))
    write_text(files["tests"], table.tests.to_csv(index=False, lineterminator="\n"))
    return files
