"""The paper protocols: the official DCA split (sklearn, transcribed), DIN's, and `dca data splits`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dca.cli import main
from dca.data.convert import prepare
from dca.data.registry import get_dataset
from dca.data.splits import make_split, sklearn_split

SYNAPSE_IDS = [*get_dataset("synapse").protocol().lists[0][1], *get_dataset("synapse").protocol().lists[1][1]]


@pytest.mark.parametrize(("n", "test_size"), [(1000, 0.2), (612, 0.25), (30, 0.4), (13, 0.3), (7, 0.5)])
def test_transcription_equals_sklearn_train_test_split(n: int, test_size: float) -> None:
    model_selection = pytest.importorskip("sklearn.model_selection")
    train, test = model_selection.train_test_split(np.arange(n), test_size=test_size, random_state=42)
    assert sklearn_split(n, test_size, 42) == (train.tolist(), test.tolist())


def _split(name: str, protocol: str, ids: list[str], **kwargs: object):
    spec = get_dataset(name)
    return make_split(ids, spec.protocol(protocol), spec.seed, spec.val_fraction, **kwargs)


@pytest.mark.parametrize(
    ("name", "n", "expected", "test_size"),
    [("kvasir", 1000, (800, 0, 200), 0.2), ("cvc", 612, (459, 0, 153), 0.25), ("synapse", 30, (18, 0, 12), 0.4)],
)
def test_dca_paper_splits_are_the_official_codes(name: str, n: int, expected: tuple, test_size: float) -> None:
    ids = SYNAPSE_IDS if name == "synapse" else [f"{i:04d}" for i in range(n)]
    split = _split(name, "dca-paper", ids)
    assert (len(split.train), len(split.val), len(split.test)) == expected
    train, test = sklearn_split(n, test_size, 42)
    ordered = sorted(ids)
    assert sorted(split.test) == sorted(ordered[i] for i in test)
    assert sorted(split.train) == sorted(ordered[i] for i in train)
    record = split.to_dict()
    assert record["role"] == "paper" and record["val_fraction"] == 0.0 and record["fractions"]["random_state"] == 42


def test_din_paper_synapse_is_the_transunet_lists_without_validation() -> None:
    split = _split("synapse", "din-paper", SYNAPSE_IDS)
    honest = _split("synapse", "transunet", SYNAPSE_IDS)
    assert (len(split.train), len(split.val), len(split.test)) == (18, 0, 12)
    assert split.test == honest.test and len(honest.val) > 0


def test_glas_dca_paper_is_the_contest_split_without_validation() -> None:
    ids = [f"train_{i}" for i in range(85)] + [f"testA_{i}" for i in range(60)] + [f"testB_{i}" for i in range(20)]
    official = {i: "train" if i.startswith("train") else "test" for i in ids}
    split = _split("glas", "dca-paper", ids, official=official)
    assert (len(split.train), len(split.val), len(split.test)) == (85, 0, 80)


def test_paper_needs_a_twin_or_a_name() -> None:
    spec = get_dataset("synapse")
    with pytest.raises(ValueError, match=r"several paper twins \['dca-paper', 'din-paper'\]"):
        spec.resolve("paper", "transunet")
    assert spec.resolve("honest", "din-paper").name == "transunet"
    assert get_dataset("cvc").resolve("paper", "din").name == "din-paper"


def _tiny_pairs(images: Path, masks: Path, ids: list[str], mask_name: str = "{}") -> None:
    """Tiny image/mask pairs (4x4), enough for split sizes."""
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    mask = np.zeros((4, 4), np.uint8)
    mask[1:3, 1:3] = 255
    pixel = np.full((4, 4, 3), 90, np.uint8)
    for i in ids:
        Image.fromarray(pixel).save(images / f"{i}.jpg" if "ISIC" in i else images / f"{i}.png")
        Image.fromarray(mask).save(masks / f"{mask_name.format(i)}.png")


def _splits(folder: Path, protocol: str, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    capsys.readouterr()
    assert main(["data", "splits", str(folder), "--protocol", protocol]) == 0
    return json.loads(capsys.readouterr().out)


def test_dca_data_splits_kvasir_and_cvc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # 3,224 tiny files: durability is not under test here
    _tiny_pairs(tmp_path / "kvasir" / "images", tmp_path / "kvasir" / "masks", [f"k{i:04d}" for i in range(1000)])
    prepare("kvasir", tmp_path / "kvasir", tmp_path / "kvasir-out")
    assert _splits(tmp_path / "kvasir-out", "honest", capsys) == {"train": 720, "val": 80, "test": 200}
    assert _splits(tmp_path / "kvasir-out", "paper", capsys) == {"train": 800, "val": 0, "test": 200}
    _tiny_pairs(tmp_path / "cvc" / "Original", tmp_path / "cvc" / "Ground Truth", [str(i) for i in range(1, 613)])
    prepare("cvc", tmp_path / "cvc", tmp_path / "cvc-out", protocol="paper")
    info = json.loads((tmp_path / "cvc-out" / "dataset.json").read_text())
    assert info["split"]["protocol"] == "dca-paper" and info["split"]["role"] == "paper"
    assert _splits(tmp_path / "cvc-out", "paper", capsys) == {"train": 459, "val": 0, "test": 153}
    assert _splits(tmp_path / "cvc-out", "honest", capsys) == {"train": 441, "val": 49, "test": 122}


def test_isic_din_paper_counts_the_3594_images() -> None:
    ids = [f"ISIC_{i:07d}" for i in range(3594)]
    official = {i: "train" if n < 2594 else "test" for n, i in enumerate(ids)}
    paper = _split("isic2018", "din-paper", ids, official=official)
    assert paper.sizes() == {"train": 2876, "val": 359, "test": 359} and sum(paper.sizes().values()) == 3594
    assert _split("isic2018", "din", ids, official=official).sizes() == {"train": 2076, "val": 259, "test": 259}


def test_dca_data_splits_isic_with_the_task1_test_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw, seg = tmp_path / "raw", "{}_segmentation"
    train, test = [f"ISIC_{i:07d}" for i in range(26)], [f"ISIC_{i:07d}" for i in range(26, 36)]
    _tiny_pairs(raw / "ISIC2018_Task1-2_Training_Input", raw / "ISIC2018_Task1_Training_GroundTruth", train, seg)
    with pytest.raises(ValueError, match=r"din-paper.*official test cases.*has none"):
        prepare("isic2018", raw, tmp_path / "out", protocol="din-paper")
    _tiny_pairs(raw / "ISIC2018_Task1-2_Test_Input", raw / "ISIC2018_Task1_Test_GroundTruth", test, seg)
    prepare("isic2018", raw, tmp_path / "honest")  # the default keeps to the 26 training images
    assert _splits(tmp_path / "honest", "honest", capsys) == {"train": 20, "val": 3, "test": 3}
    assert main(["data", "splits", str(tmp_path / "honest"), "--protocol", "paper"]) != 0
    assert re.search(r"cannot be re-split by 'din-paper'.*--protocol din-paper", capsys.readouterr().err)
    prepare("isic2018", raw, tmp_path / "paper", protocol="din-paper")
    assert _splits(tmp_path / "paper", "paper", capsys) == {"train": 28, "val": 4, "test": 4}
    assert _splits(tmp_path / "paper", "honest", capsys) == {"train": 20, "val": 3, "test": 3}


def test_dca_data_splits_names_a_folder_that_is_not_prepared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "splits", str(tmp_path), "--protocol", "paper"]) != 0
    assert re.search(r"dataset\.json is missing.*dca data prepare", capsys.readouterr().err)
