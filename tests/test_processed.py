"""The processed-dataset contract: dca.processed is the one place that names a processed dataset's files, its
readers fail clearly on a folder that is not one, and the stages import each other in the order data flows."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dca import processed
from dca.processed import ProcessedDir, dataset_info, read_index

REPO = Path(__file__).resolve().parents[1]
#: The file names of a processed dataset that carry a suffix (short words such as "cache" are also config keys).
NAMES = (processed.INDEX, processed.INFO, processed.ENHANCE_PARAMS)
#: A processed dataset's folder joined by hand: ``root / "enhanced"``, ``"cache" / ...`` or ``f"{root}/enhanced/..."``.
FOLDER_JOIN = re.compile(r"""/\s*["'](enhanced|cache)["']|["'](enhanced|cache)["']\s*/|/enhanced/\{""")
#: The stages in the order data flows through them: a stage imports none of those after it.
STAGES = ("data", "enhance", "train", "evaluate", "report")


def test_processed_names_are_defined_once() -> None:
    """No source file but dca/processed.py spells a processed dataset's file name or joins its folders by hand."""
    sources = [*REPO.glob("dca/**/*.py"), *REPO.glob("workflow/**/*.smk"), REPO / "workflow/Snakefile"]
    names = "|".join(re.escape(name) for name in NAMES)
    pattern = re.compile(rf"""["'/]({names})["']""")
    found = {
        f"{path.relative_to(REPO)}: {match.group(0)}"
        for path in sources
        if path != REPO / "dca" / "processed.py"
        for regex in (pattern, FOLDER_JOIN)
        for match in regex.finditer(path.read_text(encoding="utf-8"))
    }
    assert not found


def test_processed_paths_keep_the_names_of_existing_datasets() -> None:
    """Datasets prepared, enhanced and cached before keep being found (the names are the format's)."""
    data = ProcessedDir("results/data/kvasir")
    assert str(data.index) == str(data.complete) == "results/data/kvasir/index.csv"
    assert str(data.info) == "results/data/kvasir/dataset.json"
    assert ProcessedDir.case_files("c1", 2) == ("images/c1.png", "masks/c1.png")
    assert ProcessedDir.case_files("v1", 3) == ("volumes/v1_image.npy", "volumes/v1_label.npy")
    assert str(data.enhanced_file("fuzzy", "c1", 2)) == "results/data/kvasir/enhanced/fuzzy/c1.png"
    assert str(data.enhanced_file("fuzzy", "v1", 3)) == "results/data/kvasir/enhanced/fuzzy/v1_image.npy"
    assert str(data.enhanced_params("he")) == "results/data/kvasir/enhanced/he/params.json"
    assert str(data.enhanced_marker("{method}")) == "results/data/kvasir/enhanced/{method}.json"
    assert str(data.loader_cache(224)) == "results/data/kvasir/cache/loader-224"


def test_readers_name_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"dataset\.json is missing.*run `dca data prepare`"):
        dataset_info(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"index\.csv is missing.*run `dca data prepare`"):
        read_index(tmp_path)
    ProcessedDir(tmp_path).info.write_text('{"dims": 2', encoding="utf-8")  # cut short
    with pytest.raises(ValueError, match=re.escape(str(ProcessedDir(tmp_path).info)) + ".*not a readable"):
        dataset_info(tmp_path)
    ProcessedDir(tmp_path).info.write_text("[2]", encoding="utf-8")
    with pytest.raises(ValueError, match="not a JSON object"):
        dataset_info(tmp_path)


def test_import_is_light() -> None:
    """The workflow imports dca.processed for its names: no torch, numpy or Pillow with it."""
    code = "import sys, dca.processed; print(sorted({'torch', 'numpy', 'PIL'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "[]"


def _imported_stages(path: Path) -> set[str]:
    """The stage packages (``dca.<stage>``) a module imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found |= {name.split(".")[1] for name in names if name.startswith("dca.") and name.split(".")[1] in STAGES}
    return found


def test_stages_import_in_the_order_data_flows() -> None:
    """data -> enhance -> train -> evaluate -> report: no stage imports a later one (the training loader, which
    reads enhanced copies, sits with training)."""
    backwards = {
        f"{path.relative_to(REPO)} imports dca.{later}"
        for position, stage in enumerate(STAGES)
        for path in (REPO / "dca" / stage).rglob("*.py")
        for later in _imported_stages(path) & set(STAGES[position + 1 :])
    }
    assert not backwards
