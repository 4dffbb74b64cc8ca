"""Tables of the fake group: bold/underline, mean +- std, the paper's column, markers, p-values, CSV."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dca.experiments.config import load_config
from dca.experiments.grid import Grid
from dca.report.collect import collect_group, report_groups
from dca.report.stats import TEST_COLUMNS
from dca.report.tables import (
    Table,
    build_table,
    escape,
    format_cell,
    format_p,
    notes,
    ranks,
    tidy_frame,
    to_latex,
    write_table,
)


@pytest.fixture(scope="module")
def results(workspace: Path, grid: Grid):
    """The collected runs of the fake group."""
    (group,) = report_groups(grid, ["toy_table"])
    return collect_group(group, workspace / "runs")


@pytest.fixture(scope="module")
def written(results, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The table files of the fake group."""
    return write_table(results, tmp_path_factory.mktemp("tables"), lambda message: None)


def seed_dice(workspace: Path, dataset: str, variant: str) -> np.ndarray:
    """The test Dice (%) of each present seed, read straight from metrics.json."""
    files = sorted((workspace / "runs" / dataset / variant).glob("seed*/eval/metrics.json"))
    return np.array([100 * json.loads(f.read_text())["dice"] for f in files])


def row_of(tex: str, label: str) -> str:
    """The LaTeX row that starts with ``label``."""
    return next(line for line in tex.splitlines() if line.startswith(f"{label} &"))


def test_mean_std_bold_underline_and_markers(workspace: Path, written: dict[str, Path]) -> None:
    """Best complete mean bold; mean +- std over seeds; dagger for test selection, ddagger for a lost seed (then
    never ranked: the second best of toy, Net (CCA), misses seed 1, so no toy cell is underlined)."""
    tex = written["tex"].read_text()
    net, dca = seed_dice(workspace, "toy", "net"), seed_dice(workspace, "toy", "net-dca")
    cca = seed_dice(workspace, "toy", "net-cca")
    assert len(cca) == 1
    assert f"{net.mean():.2f} $\\pm$ {net.std(ddof=1):.2f}" in row_of(tex, "Net")
    assert f"\\textbf{{{dca.mean():.2f} $\\pm$ {dca.std(ddof=1):.2f}$^\\dagger$}}" in row_of(tex, "Net (DCA)")
    assert f"& {cca[0]:.2f}$^\\ddagger$ &" in row_of(tex, "Net (CCA)")
    assert "underline" not in row_of(tex, "Net (CCA)") and "textbf" not in row_of(tex, "Net (CCA)")
    organs = seed_dice(workspace, "organs", "net-dca")
    assert f"\\textbf{{{organs.mean():.2f} $\\pm$ {organs.std(ddof=1):.2f}}}" in row_of(tex, "Net (DCA)")
    assert row_of(tex, "Net (DCA)").count("$^\\dagger$") == 2  # toy DSC and IoU; organs was selected on val
    assert "--" in row_of(tex, "Net (CCA)")  # no run on organs
    assert "model selected on the test split" in tex and "fewer seeds than configured" in tex
    assert "Missing: toy / Net (CCA): seed 1; organs / Net (CCA): seeds 0, 1 (see toy\\_table.csv)." in tex
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 1


def test_paper_column(written: dict[str, Path]) -> None:
    """The paper's numbers as printed, matched by selector (YAML booleans) or by label; parameters too."""
    tex = written["tex"].read_text()
    assert "Paper" in tex and "Params (M)" in tex
    # Honest runs (validation selection) are not the paper's setting: the number is marked, the note says why.
    assert "& 82.50$^\\S$ &" in row_of(tex, "Net (DCA)") and "& 1.10 &" in row_of(tex, "Net (DCA)")
    assert "not comparable with the paper: honest protocol" in tex
    assert "& 81.00$^\\S$ &" in row_of(tex, "Net (CCA)")  # label match on the first column
    assert "& 75.5$^\\S$ &" in row_of(tex, "Net")


def test_p_values_in_table_and_tests_csv(written: dict[str, Path]) -> None:
    """Each variant with a baseline gets a p row labelled as the seed-averaged Wilcoxon; the note says it ignores
    the seed spread and points to the claims table; the values are those of the tests CSV."""
    tex, tests = written["tex"].read_text(), pd.read_csv(written["tests"], keep_default_na=False)
    assert list(tests.columns) == TEST_COLUMNS
    assert len(tests) == 12  # 2 variants x (toy: DSC, IoU; organs: DSC, IoU, 2 classes)
    p_rows = [line for line in tex.splitlines() if line.startswith(r"\quad Wilcoxon $p$ (seed-averaged) vs Net &")]
    assert len(p_rows) == 2 and r"\quad $p$ vs" not in tex
    assert "ignores the spread between seeds" in tex and r"the claims table dca\_claims" in tex
    dca_p = tests[(tests.variant == "net-dca") & (tests.dataset == "toy") & (tests.metric == "dice")]
    assert f"& {format_p(float(dca_p.p_value.iloc[0]))} &" in p_rows[0]


def test_csv_content(workspace: Path, written: dict[str, Path]) -> None:
    """One row per (variant, column) with mean, std, seeds, the paper's number, rank and p-value."""
    text = ["dataset", "class", "missing_seeds", "reported", "rank", "baseline"]
    frame = pd.read_csv(written["csv"], dtype=dict.fromkeys(text, str))
    frame[text] = frame[text].fillna("")
    row = frame[(frame.variant == "net-dca") & (frame.dataset == "toy") & (frame.metric == "dice")].iloc[0]
    dice = seed_dice(workspace, "toy", "net-dca")
    assert row["mean"] == pytest.approx(dice.mean()) and row["std"] == pytest.approx(dice.std(ddof=1))
    assert (row["reported"], row["rank"], row["n_seeds"], row["test_selected"]) == ("82.50", "best", 2, True)
    assert row["unit"] == "%" and row["baseline"] == "net"
    tests = pd.read_csv(written["tests"])
    expected = tests[(tests.variant == "net-dca") & (tests.dataset == "toy") & (tests.metric == "dice")]
    assert row["p_value"] == pytest.approx(expected.p_value.iloc[0])
    cca = frame[(frame.variant == "net-cca") & (frame.dataset == "toy") & (frame.metric == "dice")].iloc[0]
    assert (cca["missing_seeds"], cca["n_seeds"], cca["rank"]) == ("1", 1, "")
    classes = frame[(frame.dataset == "organs") & (frame["class"] != "")]["class"].unique().tolist()
    assert classes == ["liver", "spleen"]


def test_without_paper_numbers_and_unmatched_rows(results) -> None:
    """No reported table: no Paper column, all three metrics; a variant no row matches is logged."""
    plain = dataclasses.replace(results, group=dataclasses.replace(results.group, reported=None, per_class=None))
    table = build_table(plain, lambda message: None)
    tex = to_latex(table)
    assert "Paper" not in tex and "HD95 (px)" in tex and "liver" not in tex
    assert any(line.startswith("No paper reports these numbers") for line in notes(table))
    assert not any("No paper reports" in line for line in notes(build_table(results, lambda message: None)))
    messages: list[str] = []
    renamed = {**results.group.labels, "net-cca": "Mystery"}
    odd = dataclasses.replace(results, group=dataclasses.replace(results.group, labels=renamed))
    build_table(odd, messages.append)
    assert any("net-cca" in m and "reported_rows" in m for m in messages)


def test_escape() -> None:
    """Labels with LaTeX specials (the paper's CCA||SCA among them) come out literal."""
    assert escape("U-Net (CCA||SCA) & 5% x_1") == r"U-Net (CCA\textbar{}\textbar{}SCA) \& 5\% x\_1"


def test_all_test_selected_marks_the_header(results) -> None:
    """When every run was selected on the test split the dagger sits once on each header, not on every cell."""
    runs = {k: dataclasses.replace(r, metrics={**r.metrics, "test_selected": True}) for k, r in results.runs.items()}
    tex = to_latex(build_table(dataclasses.replace(results, runs=runs), lambda message: None))
    assert r"Ours$^\dagger$" in tex and "every model selected on the test split" in tex
    assert r"$^\dagger$}" not in row_of(tex, "Net (DCA)") and r"$^\dagger$ &" not in row_of(tex, "Net")


def test_a_missing_metric_counts_as_a_missing_seed(workspace: Path, grid: Grid, tmp_path: Path) -> None:
    """A seed whose metrics.json lacks a key is a missing seed, not dropped from the mean while n_seeds says 2."""
    import json
    import shutil

    from dca.report.collect import collect_group, report_groups
    from dca.report.tables import build_table

    runs = tmp_path / "runs"
    shutil.copytree(workspace / "runs", runs)
    metrics = runs / "toy" / "net" / "seed1" / "eval" / "metrics.json"
    data = json.loads(metrics.read_text())
    del data["iou"]
    metrics.write_text(json.dumps(data))
    group = report_groups(grid, ["toy_table"])[0]
    table = build_table(collect_group(group, runs), lambda _: None)
    cell = next(c for (v, col), c in table.cells.items() if v == "net" and col.dataset == "toy" and col.metric == "iou")
    assert (cell.n, cell.missing) == (1, (1,))
    assert "toy / Net: seed 1 (IoU); toy / Net (CCA): seed 1;" in notes(table)[-1]  # only IoU lacks Net's seed 1
    metrics.write_text(json.dumps(data)[:40])  # truncated
    with pytest.raises(ValueError, match=str(metrics)):
        collect_group(group, runs)


def test_a_cell_missing_a_seed_is_never_best(results) -> None:
    """Net (DCA) loses seed 1 on toy yet keeps the highest mean; the bold goes to the best complete cell
    (Net (CCA), given its seed 1 here), the incomplete one is neither bold nor underlined and the note lists it."""
    runs = {k: r for k, r in results.runs.items() if k != ("toy", "net-dca", 1)}
    runs[("toy", "net-cca", 1)] = dataclasses.replace(results.runs[("toy", "net-cca", 0)], seed=1)
    missing = [("toy", "net-dca", 1), *(k for k in results.missing if k[0] == "organs")]
    table = build_table(dataclasses.replace(results, runs=runs, missing=missing), lambda message: None)
    toy = [c for c in table.columns if c.dataset == "toy"]
    assert all(table.cells[("net-dca", c)].mean > table.cells[("net-cca", c)].mean for c in toy if c.metric == "dice")
    marks = ranks(table)
    for column in toy:
        assert ("net-dca", column) not in marks
        assert marks.get(("net-cca", column)) == "best" and ("net", column) not in marks  # two values: no underline
    tex, dice = to_latex(table), next(c for c in toy if c.metric == "dice")
    text = format_cell(table.cells[("net-dca", dice)])
    assert text.endswith("$^\\ddagger$") and f"& {text} &" in row_of(tex, "Net (DCA)")  # plain: not bold
    assert f"\\textbf{{{format_cell(table.cells[('net-cca', dice)])}}}" in row_of(tex, "Net (CCA)")
    assert "Missing: toy / Net (DCA): seed 1; organs / Net (CCA): seeds 0, 1 (see toy\\_table.csv)." in tex


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def paper_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Table]:
    """Three DIN groups' tables of the full matrix without any run (only the paper's numbers)."""
    grid = Grid(load_config(REPO / "config" / "config.yaml"), check=False)
    runs = tmp_path_factory.mktemp("no-runs")
    names = ["din_table1", "din_table2", "din_table5"]
    groups = report_groups(grid, names)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)  # paths.reported is relative to the repository
        return {g.name: build_table(collect_group(g, runs), lambda message: None) for g in groups}


def body_rows(tex: str) -> list[list[str]]:
    """The cells of the tabular's body rows (between midrule and bottomrule), Wilcoxon rows left out."""
    lines = tex.splitlines()
    body = lines[lines.index(r"\midrule") + 1 : lines.index(r"\bottomrule")]
    return [line.removesuffix(r" \\").split(" & ") for line in body if not line.startswith(r"\quad")]


def test_reported_rows_in_the_papers_order(paper_tables: dict[str, Table]) -> None:
    """DIN Table 5's other methods are rows of their own, the paper's numbers only, in the paper's order."""
    tex = to_latex(paper_tables["din_table5"])
    rows = body_rows(tex)
    assert [r[0] for r in rows] == [
        "non-fusion, SwinUNet (reported)", "non-fusion, FCT (reported)", "DIN (only I)",
        "input fusion, SwinUNet (reported)", "input fusion, FCT (reported)", "DIN (input fusion)",
        r"layer fusion, SwinUNet\_DIFM (reported)", r"layer fusion, FCT\_DIFM (reported)", "DIN (concat)", "DIN",
    ]  # fmt: skip
    assert rows[0][1:] == ["", "91.32", "", "91.32"]  # ours empty (not rerun), paper's under each protocol block
    assert rows[2][1:] == ["--", "92.88", "--", "92.88"]
    assert "not rerun" in tex
    assert [r[0] for r in body_rows(to_latex(paper_tables["din_table1"]))][8:] == [
        "MERIT (reported)", "FCT (reported)", "nnFormer (reported)", "DIN"]  # fmt: skip
    csv = tidy_frame(paper_tables["din_table5"])
    reported = csv[csv["source"] == "reported"]
    assert set(reported["label"]) == {
        "non-fusion, SwinUNet",
        "non-fusion, FCT",
        "input fusion, SwinUNet",
        "input fusion, FCT",
        "layer fusion, SwinUNet_DIFM",
        "layer fusion, FCT_DIFM",
    }
    assert reported["mean"].isna().all() and (csv[csv["source"] == "ours"]["variant"] != "").all()


def test_paper_column_names_the_papers_selection(paper_tables: dict[str, Table]) -> None:
    """MERIT selects Synapse on the test split (dagger) and ACDC on validation (no dagger)."""
    synapse, acdc = to_latex(paper_tables["din_table1"]), to_latex(paper_tables["din_table2"])
    assert r"Paper$^\dagger$" in synapse and r"Paper$^\dagger$: as reported, selected on the test split" in synapse
    assert r"Paper$^\dagger$" not in acdc and "Paper: as reported, selected on validation" in acdc
    assert "selected on the test split" not in acdc
