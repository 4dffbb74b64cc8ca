"""``dca evaluate RUN --data DIR --out DIR``: a run trained on one prepared dataset, tested on another."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from dca.cli import main
from dca.layout import EVAL_METRICS, EVAL_PER_CASE, PREDICTIONS_DIR, RunDir
from dca.processed import dataset_info, load_case
from dca.train.config import resolve_config
from dca.train.loop import train


@pytest.fixture(autouse=True)
def _isolated(isolated_torch: None) -> None:
    """Every test runs isolated (see ``isolated_torch`` in tests/conftest.py)."""


def _prepare(kind: str, dataset: str, folder: Path, *synth: str, split_seed: str | None = None) -> Path:
    """``dca data synth KIND`` at 32 x 32, then ``dca data prepare DATASET``; returns the processed folder."""
    raw, out = folder / "raw", folder / "processed"
    assert main(["data", "synth", kind, "--out", str(raw), "--size", "32x32", *synth]) == 0
    seed = ["--seed", split_seed] if split_seed else []
    assert main(["data", "prepare", dataset, "--raw", str(raw), "--out", str(out), *seed]) == 0
    return out


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two binary datasets with other images and other test cases (synth seed, size, split seed), and a
    multiclass one (3D, one channel, nine classes)."""
    return {
        "train": _prepare("binary", "synthetic-binary", tmp_path_factory.mktemp("a"), "--n", "12", "--seed", "0"),
        "other": _prepare(
            "binary", "synthetic-binary", tmp_path_factory.mktemp("b"), "--n", "16", "--seed", "1", split_seed="7"
        ),
        "multiclass": _prepare("multiclass", "synthetic-multiclass", tmp_path_factory.mktemp("m"), "--n", "2"),
    }


def _test_ids(root: Path) -> list[str]:
    """The test case ids of a prepared dataset, sorted."""
    return sorted(dataset_info(root)["split"]["test"])


def _train(root: Path, out: Path) -> RunDir:
    """One epoch of a width-1/8 U-Net at 32 x 32 on one CPU thread; the finished run folder."""
    raw = {
        "preset": "dca-kvasir-seg",
        "model": {"name": "unet", "options": {"width": 0.125}},
        "data": {"root": str(root), "size": 32, "workers": 0},
        "epochs": 1,
        "batch_size": 4,
        "device": {"name": "cpu", "threads": 1},
        "eval": {"batch": 4, "save_predictions": 1},
        "out": str(out),
    }
    train(resolve_config(raw), log=lambda _: None)
    return RunDir(out)


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_other_dataset_is_scored_into_out_and_the_run_eval_is_untouched(
    datasets: dict[str, Path], tmp_path: Path
) -> None:
    own_root, other_root = datasets["train"], datasets["other"]
    assert _test_ids(own_root) != _test_ids(other_root)  # the fixture gives the two sets other test cases
    run = _train(own_root, tmp_path / "run")
    assert main(["evaluate", str(run.path), "--resolution", "original"]) == 0
    before = _files(run.eval_dir)
    assert EVAL_METRICS in before and EVAL_PER_CASE in before

    out = tmp_path / "cross"
    argv = ["evaluate", str(run.path), "--data", str(other_root), "--out", str(out), "--resolution", "original"]
    assert main(argv) == 0

    assert _files(run.eval_dir) == before  # the run's own evaluation: same files, same bytes
    assert not [p.name for p in run.path.iterdir() if p.name.startswith(f"{run.eval_dir.name}-")]  # no default out
    own, cross = json.loads(run.eval_metrics.read_text()), json.loads((out / EVAL_METRICS).read_text())
    assert (own["data"], cross["data"]) == (str(own_root), str(other_root))
    assert cross["n_cases"] == len(_test_ids(other_root)) and cross["checkpoint"] == own["checkpoint"]

    per_case = pd.read_csv(out / EVAL_PER_CASE)
    assert sorted(per_case["case"]) == _test_ids(other_root)
    assert sorted(pd.read_csv(run.eval_per_case)["case"]) == _test_ids(own_root)
    # scored against the other set's own masks (original resolution), not the training set's
    sizes = {case: int((load_case(other_root, case)[1] > 0).sum()) for case in _test_ids(other_root)}
    assert dict(zip(per_case["case"], per_case["ref_size"], strict=True)) == sizes
    assert [p.name for p in (out / PREDICTIONS_DIR).iterdir()] == [f"{_test_ids(other_root)[0]}.png"]


def test_a_dataset_with_other_channels_and_classes_is_refused(
    datasets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _train(datasets["train"], tmp_path / "run")
    other, out = datasets["multiclass"], tmp_path / "cross"
    assert main(["evaluate", str(run.path), "--data", str(other), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{other} does not match {datasets['train']}, the dataset the run was trained on" in err
    assert "channels 1 (trained on 3), classes 9 (trained on 2)" in err
    assert not out.exists() and not run.eval_dir.exists()


def test_the_check_needs_no_training_dataset_on_disk(
    datasets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the runs were pulled: the channels and classes come from the run's summary."""
    trained_on = tmp_path / "train"
    shutil.copytree(datasets["train"], trained_on)
    run = _train(trained_on, tmp_path / "run")
    shutil.rmtree(trained_on)
    assert json.loads(run.summary.read_text())["dataset"] == {"channels": 3, "labels": ["background", "polyp"]}
    other = datasets["multiclass"]
    assert main(["evaluate", str(run.path), "--data", str(other), "--out", str(tmp_path / "cross")]) == 1
    err = capsys.readouterr().err
    assert f"{other} does not match {trained_on}" in err
    assert "channels 1 (trained on 3), classes 9 (trained on 2)" in err
