"""The run-folder contract: dca.layout is the one place that names a run folder's files, and the training
and evaluation stack runs without the workflow's packages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from dca import layout

REPO = Path(__file__).resolve().parents[2]
#: The file names of a run folder (those with a suffix: short words such as "eval" are also config keys).
NAMES = (
    layout.RUN_CONFIG,
    layout.LAST_CHECKPOINT,
    layout.BEST_CHECKPOINT,
    layout.SUMMARY,
    layout.CURVES,
    layout.TRAIN_LOG,
    layout.LOCK,
    layout.EVAL_METRICS,
    layout.EVAL_PER_CASE,
    layout.STAMP_DIR,
)


#: A per-group file of the results tree spelled by hand: a group name placed before a file suffix, as in
#: ``f"{PATHS['curves']}/{group}.csv"`` (dca.layout.curves_file, aggregate_file, table_files, claims_files).
GROUP_FILE = re.compile(r"""\{[\w.]*group\}(\.csv|\.json|\.tex|_tests\.csv)["']""")


def test_run_folder_names_are_defined_once() -> None:
    """No source file but dca/layout.py spells a run-folder file name as a string (or a path's last part), nor
    a per-group file of the results tree (``<paths.curves>/<group>.csv``, ``<paths.aggregates>/<group>.json``)."""
    sources = [*REPO.glob("dca/**/*.py"), *REPO.glob("workflow/**/*.smk"), REPO / "workflow/Snakefile"]
    names = "|".join(re.escape(name) for name in NAMES)
    pattern = re.compile(rf"""["'/]({names})["']""")
    found = {
        f"{path.relative_to(REPO)}: {match.group(0)}"
        for path in sources
        if path != REPO / "dca" / "layout.py"
        for regex in (pattern, GROUP_FILE)
        for match in regex.finditer(path.read_text(encoding="utf-8"))
    }
    assert not found


def test_layout_paths() -> None:
    run = layout.run_folder("results/runs", "glas", "unet", 2)
    assert run == layout.Run("glas", "unet", 2).dir("results/runs")
    assert str(run.summary) == "results/runs/glas/unet/seed2/summary.json"
    assert str(run.eval_per_case) == "results/runs/glas/unet/seed2/eval/per_case.csv"
    assert str(run.stamp("0123456789ab")) == "results/runs/glas/unet/seed2/.config/0123456789ab"
    assert [p.name for p in layout.table_files("t", "g")] == ["g.tex", "g.csv", "g_tests.csv"]
    assert str(layout.curves_file("results/curves", "g")) == "results/curves/g.csv"
    assert str(layout.aggregate_file("results/aggregates", "g")) == "results/aggregates/g.json"
    assert [p.name for p in layout.figure_files("f", "g", ["a"])] == [
        "g_qualitative_a.png", "g_qualitative_a.pdf", "g_curves_a.png", "g_curves_a.pdf",
        "g_params_dice.png", "g_params_dice.pdf"]  # fmt: skip


def test_config_digest_is_canonical() -> None:
    a = {"model": {"name": "unet", "dca": True}, "epochs": 3}
    b = {"epochs": 3, "model": {"dca": True, "name": "unet"}}
    assert layout.config_digest(a) == layout.config_digest(b)
    assert layout.config_digest(a) != layout.config_digest({**a, "epochs": 4})
    assert len(layout.config_digest(a)) == layout.DIGEST_LENGTH


def test_training_stack_imports_no_workflow_package() -> None:
    """``dca train``, ``dca evaluate`` and ``dca bench`` run on compute nodes whose Python lacks the workflow
    stack: importing them loads none of DVCLive, Snakemake or DVC."""
    code = (
        "import sys, dca.train.loop, dca.evaluate.run, dca.bench\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dvclive', 'snakemake', 'dvc'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
