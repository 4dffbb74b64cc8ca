"""3D converters on small fake layouts: Synapse (raw NIfTI and the TransUNet npz/h5 release) and ACDC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dca.data.convert import prepare


def spacing(row: dict[str, str]) -> tuple[float, float, float]:
    return float(row["spacing_z"]), float(row["spacing_y"]), float(row["spacing_x"])


def test_synapse_raw_clips_maps_labels_and_splits(tmp_path: Path, fake, check_processed) -> None:
    fake.synapse_raw(tmp_path / "raw")
    done = prepare("synapse", tmp_path / "raw", tmp_path / "out")
    info, rows = check_processed(done.out, "synapse")
    assert done.layout == "synapse_raw" and len(rows) == 30
    assert info["split"]["sizes"] == {"train": 16, "val": 2, "test": 12} and info["split"]["protocol"] == "transunet"
    assert sorted(info["split"]["test"]) == [f"case{i}" for i in fake.SYNAPSE_TEST]
    row = next(r for r in rows if r["id"] == "case0005")
    image, labels = np.load(done.out / row["image"]), np.load(done.out / row["mask"])
    assert image.shape == fake.SYNAPSE_SHAPE and spacing(row) == pytest.approx((3.0, 0.7, 0.7))
    assert np.allclose(image, np.resize(fake.HU_SCALED, fake.SYNAPSE_SHAPE))  # window [-125, 275] -> [0, 1]
    _, raw_labels = fake.synapse_volumes(5)
    expected = np.vectorize(lambda v: fake.BTCV.get(int(v), 0))(raw_labels)
    assert np.array_equal(labels, expected) and labels.max() == 8


def test_synapse_npz_release_stacks_slices(tmp_path: Path, fake, check_processed) -> None:
    fake.synapse_npz(tmp_path / "raw" / "Synapse")
    done = prepare("synapse", tmp_path / "raw", tmp_path / "out")
    info, rows = check_processed(done.out, "synapse")
    assert done.layout == "synapse_npz" and info["split"]["sizes"] == {"train": 16, "val": 2, "test": 12}
    for case, depth in (("case0005", 3), ("case0001", 4)):
        row = next(r for r in rows if r["id"] == case)
        image, labels = np.load(done.out / row["image"]), np.load(done.out / row["mask"])
        expected_image, expected_labels = fake.synapse_npz_volume(int(case[4:]), depth)
        assert np.allclose(image, expected_image) and np.array_equal(labels, expected_labels.astype(np.uint8))
        assert image[:, 0, 0].tolist() == pytest.approx([k / 10 for k in range(depth)])  # slice order kept
        assert spacing(row) == (1.0, 1.0, 1.0)


def test_synapse_incomplete_release_is_an_error(tmp_path: Path, fake) -> None:
    fake.synapse_npz(tmp_path / "raw", train=fake.SYNAPSE_TRAIN[:-1])
    with pytest.raises(ValueError, match=r"needs cases \['case0040'\]"):
        prepare("synapse", tmp_path / "raw", tmp_path / "out")
    (tmp_path / "raw" / "train_npz" / "case0005_slice001.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"case0005 lacks slices \[1\]"):
        prepare("synapse", tmp_path / "raw", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_acdc_volumes_spacing_minmax_and_patient_split(tmp_path: Path, fake, check_processed) -> None:
    fake.acdc(tmp_path / "raw" / "ACDC" / "database", n_patients=10)
    done = prepare("acdc", tmp_path / "raw", tmp_path / "out")
    info, rows = check_processed(done.out, "acdc")
    assert len(rows) == 20 and info["split"]["sizes"] == {"train": 14, "val": 2, "test": 4}
    for subset in ("train", "val", "test"):
        patients = [i.split("_")[0] for i in info["split"][subset]]
        assert all(patients.count(p) == 2 for p in patients)  # ED and ES frames stay together
    row = next(r for r in rows if r["id"] == "patient003_frame13")
    image, labels = np.load(done.out / row["image"]), np.load(done.out / row["mask"])
    assert spacing(row) == fake.ACDC_SPACING and image.shape == (3, 12, 10)
    assert image.min() == 0 and image.max() == 1
    assert np.array_equal(labels, fake.acdc_labels(3, 13))
    assert json.loads((done.out / "dataset.json").read_text())["labels"] == ["background", "rv", "myo", "lv"]


def _mtunet_acdc(root: Path, fake) -> None:
    """MT-UNet's preprocessed ACDC: 7 / 1 / 2 patients listed, train/valid slices, test volumes (keys img, label)."""
    lists = {"train": range(1, 8), "valid": range(8, 9), "test": range(9, 11)}
    (root / "lists_ACDC").mkdir(parents=True)
    for name, patients in lists.items():
        (root / name).mkdir()
        entries = []
        for p in patients:
            for frame, number in (("ED", 1), ("ES", 12)):
                image = np.random.default_rng(p).random((3, 12, 10)).astype(np.float32)
                labels = fake.acdc_labels(p, number)
                if name == "test":
                    entries.append(f"case_{p:03d}_volume_{frame}.npz")
                    np.savez(root / name / entries[-1], img=image, label=labels)
                    continue
                for k in range(3):
                    entries.append(f"case_{p:03d}_slice{frame}_{k}.npz")
                    np.savez(root / name / entries[-1], img=image[k], label=labels[k])
        (root / "lists_ACDC" / f"{name}.txt").write_text("\n".join(entries) + "\n")


def test_acdc_din_paper_reads_the_mtunet_lists_beside_the_nifti_release(tmp_path: Path, fake, check_processed) -> None:
    fake.acdc(tmp_path / "raw" / "ACDC" / "database", n_patients=10)
    _mtunet_acdc(tmp_path / "raw" / "ACDC_preprocessed", fake)
    honest = prepare("acdc", tmp_path / "raw", tmp_path / "honest")
    assert honest.layout == "acdc" and honest.split.sizes() == {"train": 14, "val": 2, "test": 4}
    paper = prepare("acdc", tmp_path / "raw", tmp_path / "paper", protocol="din-paper")
    info, rows = check_processed(paper.out, "acdc")
    assert paper.layout == "acdc_mtunet" and info["split"]["role"] == "paper"
    assert info["split"]["sizes"] == {"train": 14, "val": 2, "test": 4}
    assert info["split"]["val"] == ["case_008_ED", "case_008_ES"]
    assert info["split"]["test"] == ["case_009_ED", "case_009_ES", "case_010_ED", "case_010_ES"]
    row = next(r for r in rows if r["id"] == "case_003_ES")
    image, labels = np.load(paper.out / row["image"]), np.load(paper.out / row["mask"])
    assert image.shape == (3, 12, 10) and np.array_equal(labels, fake.acdc_labels(3, 12))
    assert np.allclose(image.max(), 1) and image.min() == 0  # the registry's per-volume min-max
    with pytest.raises(ValueError, match=r"(?s)no known layout.*ACDC MT-UNet release.*din-paper protocol needs"):
        prepare("acdc", tmp_path / "raw" / "ACDC", tmp_path / "nifti-only", protocol="din-paper")


def test_acdc_mtunet_list_naming_a_missing_file_is_an_error(tmp_path: Path, fake) -> None:
    _mtunet_acdc(tmp_path / "raw", fake)
    (tmp_path / "raw" / "test" / "case_010_volume_ES.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"test\.txt lists 1 files that are missing.*case_010_volume_ES"):
        prepare("acdc", tmp_path / "raw", tmp_path / "out", protocol="din-paper")
