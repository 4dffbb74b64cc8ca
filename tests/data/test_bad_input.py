"""Bad raw input stops `prepare` with a message naming the file and the problem, and leaves no output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dca.data.convert import prepare


def assert_nothing_written(tmp_path: Path) -> None:
    """Neither the output folder nor a temporary sibling remains."""
    assert not (tmp_path / "out").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_truncated_image(tmp_path: Path, fake) -> None:
    fake.kvasir(tmp_path / "raw", n=6)
    image = tmp_path / "raw" / "images" / "case004.jpg"
    image.write_bytes(image.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"case004\.jpg: cannot read this image .*truncated or corrupt"):
        prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_mask_missing_for_an_image(tmp_path: Path, fake) -> None:
    fake.cvc(tmp_path / "raw", n=5)
    (tmp_path / "raw" / "Ground Truth" / "4.tif").unlink()
    with pytest.raises(FileNotFoundError, match=r"Original/4\.tif: the mask for this image is missing"):
        prepare("cvc", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_image_and_mask_size_mismatch(tmp_path: Path, fake) -> None:
    fake.isic(tmp_path / "raw", n=5)
    fake.save(tmp_path / "raw" / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000002_segmentation.png",
              np.zeros((10, 10), np.uint8))  # fmt: skip
    with pytest.raises(ValueError, match=r"ISIC_0000002\.jpg \+ .*: image is 24x32 \(HxW\) but the mask is 10x10"):
        prepare("isic2018", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_2d_mask_values_outside_the_labels(tmp_path: Path, fake) -> None:
    fake.isic(tmp_path / "raw", n=5)
    bad = fake.box_mask(1)
    bad[0, 0] = 128
    fake.save(tmp_path / "raw" / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000001_segmentation.png", bad)
    with pytest.raises(ValueError, match=r"ISIC_0000001_segmentation\.png: mask values \[128\] are outside"):
        prepare("isic2018", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_colour_mask_for_an_exact_value_dataset(tmp_path: Path, fake) -> None:
    fake.isic(tmp_path / "raw", n=5)
    fake.save(tmp_path / "raw" / "ISIC2018_Task1_Training_GroundTruth" / "ISIC_0000003_segmentation.png", fake.rgb(3))
    with pytest.raises(ValueError, match=r"ISIC_0000003_segmentation\.png: the mask has colour"):
        prepare("isic2018", tmp_path / "raw", tmp_path / "out")


def test_3d_label_values_outside_the_labels(tmp_path: Path, fake) -> None:
    fake.acdc(tmp_path / "raw", n_patients=5, gt_value=4)
    with pytest.raises(ValueError, match=r"patient001_frame\d+_gt\.nii\.gz: mask values \[4\] are outside.*0\.\.3"):
        prepare("acdc", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_truncated_volume_and_missing_ground_truth(tmp_path: Path, fake) -> None:
    fake.acdc(tmp_path / "raw", n_patients=5)
    volume = tmp_path / "raw" / "training" / "patient002" / "patient002_frame01.nii.gz"
    volume.write_bytes(volume.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"patient002_frame01\.nii\.gz: cannot read this NIfTI volume"):
        prepare("acdc", tmp_path / "raw", tmp_path / "out")
    (tmp_path / "raw" / "training" / "patient003" / "patient003_frame01_gt.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"patient003_frame01\.nii\.gz: its ground truth .* is missing"):
        prepare("acdc", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_3d_shape_mismatch(tmp_path: Path, fake) -> None:
    fake.synapse_raw(tmp_path / "raw")
    fake.save_nifti(tmp_path / "raw" / "label" / "label0022.nii.gz", np.zeros((2, 3, 3), np.uint8), (1, 1, 1))
    with pytest.raises(ValueError, match=r"img0022\.nii\.gz \+ .*label0022\.nii\.gz: image volume is \(2, 6, 8\)"):
        prepare("synapse", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_monuseg_annotation_missing_or_broken(tmp_path: Path, fake) -> None:
    fake.monuseg(tmp_path / "raw")
    xml = tmp_path / "raw" / "MoNuSeg 2018 Training Data" / "Annotations" / "TCGA-TR-0001.xml"
    xml.write_text("<Annotations><Region>")
    with pytest.raises(ValueError, match=r"TCGA-TR-0001\.xml: cannot read this XML annotation"):
        prepare("monuseg", tmp_path / "raw", tmp_path / "out")
    xml.unlink()
    with pytest.raises(FileNotFoundError, match=r"TCGA-TR-0001\.tif: its annotation .* is missing"):
        prepare("monuseg", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_empty_dataset(tmp_path: Path) -> None:
    (tmp_path / "raw" / "Kvasir-SEG" / "images").mkdir(parents=True)
    (tmp_path / "raw" / "Kvasir-SEG" / "masks").mkdir()
    with pytest.raises(ValueError, match=r"dataset 'kvasir': the kvasir layout at .*Kvasir-SEG holds no cases"):
        prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_unrecognised_layout_lists_found_and_expected(tmp_path: Path, fake) -> None:
    fake.cvc(tmp_path / "raw" / "somewhere", n=2)
    with pytest.raises(ValueError) as err:
        prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    message = str(err.value)
    assert "no known layout" in message and "somewhere/" in message and "Original/" in message
    assert "images/<id>.jpg and masks/<id>.jpg" in message
    assert_nothing_written(tmp_path)


def test_missing_raw_folder_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"dataset 'synapse' .* not found at .*nowhere.*How to get it: .*synapse\.org"
    ):
        prepare("synapse", tmp_path / "nowhere", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_failure_after_some_cases_were_written_leaves_nothing(tmp_path: Path, fake) -> None:
    fake.kvasir(tmp_path / "raw", n=12)
    mask = tmp_path / "raw" / "masks" / "case011.jpg"
    mask.write_bytes(mask.read_bytes()[:100])  # the last case fails, after the others are written
    with pytest.raises(ValueError, match=r"case011\.jpg: cannot read this mask"):
        prepare("kvasir", tmp_path / "raw", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_archive_given_as_raw_folder(tmp_path: Path) -> None:
    (tmp_path / "kvasir-seg.zip").write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"is a file, not a folder; unpack it first: dca data download kvasir"):
        prepare("kvasir", tmp_path / "kvasir-seg.zip", tmp_path / "out")
    assert_nothing_written(tmp_path)
