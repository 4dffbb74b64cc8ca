"""`dca data` on the command line: list, synth -> prepare for each synthetic kind, download, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dca.cli import main
from dca.data.download import SUMS_FILE


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("kvasir", "isic2018", "synapse", "synthetic-multiclass"))


@pytest.mark.parametrize(
    ("kind", "dataset", "n", "sizes"),
    [
        ("binary", "synthetic-binary", 5, {"train": 3, "val": 1, "test": 1}),
        ("multiclass", "synthetic-multiclass", 4, {"train": 1, "val": 1, "test": 2}),
        ("acdc", "synthetic-acdc", 4, {"train": 4, "val": 2, "test": 2}),
    ],
)
def test_synth_then_prepare(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, dataset: str, n: int,
                            sizes: dict[str, int]) -> None:  # fmt: skip
    raw, out = tmp_path / "raw", tmp_path / "out"
    assert main(["data", "synth", kind, "--out", str(raw), "--n", str(n), "--seed", "3", "--size", "32x32"]) == 0
    assert main(["data", "prepare", dataset, "--raw", str(raw), "--out", str(out)]) == 0
    assert f"{dataset}: " in capsys.readouterr().out
    info = json.loads((out / "dataset.json").read_text())
    assert info["split"]["sizes"] == sizes and info["name"] == dataset


def test_synth_volumes_take_a_depth(tmp_path: Path) -> None:
    import nibabel as nib

    raw = tmp_path / "raw"
    assert main(["data", "synth", "multiclass", "--out", str(raw), "--n", "2", "--size", "32x48", "--depth", "5"]) == 0
    volume = nib.load(next((raw / "img").glob("*.nii.gz")))
    assert volume.shape == (48, 32, 5)  # NIfTI (x, y, z) of a (D, H, W) = (5, 32, 48) volume


def test_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "prepare", "nosuch", "--raw", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "unknown dataset 'nosuch'" in capsys.readouterr().err
    assert main(["data", "prepare", "acdc", "--raw", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "dca data prepare: error: dataset 'acdc'" in err and "How to get it" in err
    assert main(["data", "download", "monuseg", "--out", str(tmp_path / "raw")]) == 1
    assert "monuseg.grand-challenge.org" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data", "synth", "binary", "--out", str(tmp_path), "--size", "32by32"])


def test_download_local_file_then_prepare(tmp_path: Path, capsys: pytest.CaptureFixture[str], fake) -> None:
    archive = fake.zip_dir(fake.cvc(tmp_path / "src" / "CVC-ClinicDB", n=10, ext="png"), tmp_path / "CVC-ClinicDB.zip")
    raw = tmp_path / "raw"
    assert main(["data", "download", "cvc", "--out", str(raw), "--url-or-file", archive.as_uri()]) == 0
    out, err = capsys.readouterr()
    assert "(not verified)" in out and not (raw / SUMS_FILE).exists()  # 10 cases: not the full release's checksum
    assert "its checksum is not recorded" in err and "holds 10 cases, the full release 612" in err
    assert main(["data", "prepare", "cvc", "--raw", str(raw), "--out", str(tmp_path / "p"), "--protocol", "din"]) == 0
    assert "protocol din: train 8, val 1, test 1" in capsys.readouterr().out
