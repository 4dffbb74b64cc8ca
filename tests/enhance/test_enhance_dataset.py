"""Cached enhancement of processed datasets (2D PNG and 3D npy), its params.json and the ``dca enhance`` CLI."""

from __future__ import annotations

import argparse
import csv
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dca.enhance.dataset as dataset_module
from dca.cli import COMMANDS
from dca.enhance import enhance, params_dict
from dca.enhance.dataset import enhance_dataset


def _write_index(root: Path, rows: list[dict]) -> None:
    """Write ``index.csv`` with the processed-format columns."""
    columns = ["id", "split", "image", "mask", "height", "width", "depth", "spacing_z", "spacing_y", "spacing_x"]
    with open(root / "index.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({"spacing_z": 1.0, "spacing_y": 1.0, "spacing_x": 1.0, "mask": "", **row})


@pytest.fixture
def dataset_2d(tmp_path: Path) -> Path:
    """Two 2D cases, one RGB and one grayscale, in the processed layout."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    rows = []
    for case_id, shape in [("rgb0", (20, 24, 3)), ("gray1", (18, 16))]:
        Image.fromarray(rng.integers(80, 170, shape).astype(np.uint8)).save(tmp_path / "images" / f"{case_id}.png")
        rows.append(
            {
                "id": case_id,
                "split": "train",
                "image": f"images/{case_id}.png",
                "mask": f"masks/{case_id}.png",
                "height": shape[0],
                "width": shape[1],
                "depth": 1,
            }
        )
    _write_index(tmp_path, rows)
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "tiny2d", "dims": 2}), encoding="utf-8")
    return tmp_path


@pytest.fixture
def dataset_3d(tmp_path: Path) -> Path:
    """One 3D case: a float32 (D, H, W) volume in [0, 1]."""
    rng = np.random.default_rng(1)
    (tmp_path / "volumes").mkdir()
    np.save(tmp_path / "volumes" / "vol0_image.npy", rng.uniform(0.3, 0.6, (3, 14, 12)).astype(np.float32))
    _write_index(
        tmp_path,
        [
            {
                "id": "vol0",
                "split": "test",
                "image": "volumes/vol0_image.npy",
                "mask": "volumes/vol0_label.npy",
                "height": 14,
                "width": 12,
                "depth": 3,
            }
        ],
    )
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "tiny3d", "dims": 3}), encoding="utf-8")
    return tmp_path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every image the dataset module enhances (one entry per 2D image or 3D slice)."""
    seen: list[str] = []

    def counting(image: np.ndarray, method: str, **params: object) -> np.ndarray:
        seen.append(method)
        return enhance(image, method, **params)

    monkeypatch.setattr(dataset_module, "enhance", counting)
    return seen


@pytest.mark.parametrize("method", ["fuzzy", "he", "clahe"])
def test_2d_outputs_are_uint8_pngs_of_the_enhanced_images(dataset_2d: Path, method: str) -> None:
    out_dir = enhance_dataset(dataset_2d, method)
    assert out_dir == dataset_2d / "enhanced" / method
    for case_id in ["rgb0", "gray1"]:
        source = np.asarray(Image.open(dataset_2d / "images" / f"{case_id}.png"))
        written = np.asarray(Image.open(out_dir / f"{case_id}.png"))
        assert written.dtype == np.uint8 and written.shape == source.shape
        np.testing.assert_array_equal(written, np.round(enhance(source, method) * 255).astype(np.uint8))
    record = json.loads((out_dir / "params.json").read_text(encoding="utf-8"))
    assert record == {"method": method, "params": params_dict(method)}


def test_3d_volumes_are_enhanced_slice_by_slice_as_float16(dataset_3d: Path) -> None:
    out_dir = enhance_dataset(dataset_3d, "fuzzy", windows=2)
    volume = np.load(dataset_3d / "volumes" / "vol0_image.npy")
    written = np.load(out_dir / "vol0_image.npy")
    assert written.dtype == np.float16 and written.shape == volume.shape
    expected = np.stack([enhance(plane, "fuzzy", windows=2) for plane in volume])
    np.testing.assert_allclose(written, expected, atol=1e-3)
    assert json.loads((out_dir / "params.json").read_text(encoding="utf-8"))["params"]["windows"] == 2


def test_rerun_with_same_params_skips_and_fills_gaps(dataset_2d: Path, calls: list[str]) -> None:
    out_dir = enhance_dataset(dataset_2d, "fuzzy", windows=3)
    assert len(calls) == 2
    enhance_dataset(dataset_2d, "fuzzy", windows=3)
    assert len(calls) == 2  # both outputs exist: nothing recomputed
    (out_dir / "gray1.png").unlink()
    enhance_dataset(dataset_2d, "fuzzy", windows=3)
    assert len(calls) == 3  # only the missing case
    assert (out_dir / "gray1.png").exists()


def test_rerun_with_other_params_recomputes_everything(dataset_2d: Path, calls: list[str]) -> None:
    out_dir = enhance_dataset(dataset_2d, "fuzzy", windows=3)
    first = np.asarray(Image.open(out_dir / "rgb0.png"))
    (out_dir / "stale.png").write_bytes(b"left over")
    enhance_dataset(dataset_2d, "fuzzy", windows=1)
    assert len(calls) == 4
    assert not (out_dir / "stale.png").exists()
    assert not np.array_equal(first, np.asarray(Image.open(out_dir / "rgb0.png")))
    assert json.loads((out_dir / "params.json").read_text(encoding="utf-8"))["params"]["windows"] == 1


def test_outputs_without_params_json_are_not_trusted(dataset_3d: Path, calls: list[str]) -> None:
    out_dir = enhance_dataset(dataset_3d, "he")
    (out_dir / "params.json").unlink()  # as after an interrupted clear
    enhance_dataset(dataset_3d, "he")
    assert len(calls) == 6  # 3 slices, twice
    assert (out_dir / "params.json").exists()


def _run_cli(argv: list[str]) -> int:
    """Run ``dca <argv>`` through the sub-command module that ``dca.cli.COMMANDS`` names for ``enhance``.

    Building only this sub-command keeps the test clear of the other stages' imports (torch among them).
    """
    parser = argparse.ArgumentParser(prog="dca")
    importlib.import_module(COMMANDS["enhance"]).add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_enhances_with_typed_params(dataset_2d: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["enhance", "fuzzy", "--data", str(dataset_2d), "--param", "windows=2", "--param", "membership=triangular"]
    assert _run_cli([*argv, "--param", "eps=0.05"]) == 0
    out_dir = dataset_2d / "enhanced" / "fuzzy"
    assert capsys.readouterr().out.strip() == str(out_dir)
    record = json.loads((out_dir / "params.json").read_text(encoding="utf-8"))
    assert record["params"] == params_dict("fuzzy", windows=2, membership="triangular", eps=0.05)


def test_cli_rejects_bad_params_before_writing(dataset_2d: Path) -> None:
    with pytest.raises(ValueError, match="clip"):
        _run_cli(["enhance", "clahe", "--data", str(dataset_2d), "--param", "clip=0.1"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        _run_cli(["enhance", "clahe", "--data", str(dataset_2d), "--param", "clip_limit"])
    assert not (dataset_2d / "enhanced").exists()
