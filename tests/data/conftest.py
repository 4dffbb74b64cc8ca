"""Builders of small fake upstream layouts (one per dataset), archives, and a local HTTP server with Range.

The builders write what users download, at toy sizes, with known content so that the converted
output can be checked exactly. Fixtures: ``fake`` (the builders), ``http_server`` (serves bytes).
"""

from __future__ import annotations

import csv
import http.server
import json
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import h5py
import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from dca.data.registry import get_dataset
from dca.processed import INDEX_COLUMNS

SIZE = (24, 32)  # H, W of the fake 2D images


def rgb(seed: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A deterministic random RGB image."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def box_mask(i: int, size: tuple[int, int] = SIZE, value: int = 255) -> np.ndarray:
    """A (H, W) uint8 mask holding one rectangle whose place depends on ``i``."""
    mask = np.zeros(size, np.uint8)
    mask[4 + i % 5 : 14 + i % 5, 6:20] = value
    return mask


def save(path: Path, array: np.ndarray, **kwargs: object) -> Path:
    """Write an image file (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def kvasir(root: Path, n: int = 10) -> Path:
    """Kvasir-SEG: images/*.jpg, masks/*.jpg (RGB JPEG, near 0/255), kavsir_bboxes.json."""
    for i in range(n):
        save(root / "images" / f"case{i:03d}.jpg", rgb(i), quality=95)
        save(root / "masks" / f"case{i:03d}.jpg", np.repeat(box_mask(i)[..., None], 3, axis=2), quality=95)
    (root / "kavsir_bboxes.json").write_text("{}")
    return root


def cvc(root: Path, n: int = 10, ext: str = "tif") -> Path:
    """CVC-ClinicDB: Original/N.<ext> + Ground Truth/N.<ext>, N from 1."""
    for i in range(1, n + 1):
        save(root / "Original" / f"{i}.{ext}", rgb(i))
        save(root / "Ground Truth" / f"{i}.{ext}", box_mask(i))
    return root


def isic(root: Path, n: int = 10) -> Path:
    """ISIC 2018 Task 1: the input folder of JPEGs and the ground-truth folder of 0/255 PNGs."""
    for i in range(n):
        save(root / "ISIC2018_Task1-2_Training_Input" / f"ISIC_{i:07d}.jpg", rgb(i))
        save(root / "ISIC2018_Task1_Training_GroundTruth" / f"ISIC_{i:07d}_segmentation.png", box_mask(i))
    (root / "ISIC2018_Task1-2_Training_Input" / "LICENSE.txt").write_text("CC BY-NC")
    return root


def glas_instances(i: int) -> np.ndarray:
    """A GlaS-style instance label map with two glands (values 1 and 2 + i)."""
    anno = np.zeros(SIZE, np.uint8)
    anno[2:8, 2:10] = 1
    anno[12:20, 14:28] = 2 + i
    return anno


def glas(root: Path, n_train: int = 4, n_test_a: int = 2, n_test_b: int = 2) -> Path:
    """GlaS: one folder of train_N / testA_N / testB_N .bmp with _anno.bmp instance maps, and Grade.csv."""
    folder = root / "Warwick QU Dataset (Released 2016_07_08)"
    for prefix, count in (("train", n_train), ("testA", n_test_a), ("testB", n_test_b)):
        for i in range(1, count + 1):
            save(folder / f"{prefix}_{i}.bmp", rgb(i))
            save(folder / f"{prefix}_{i}_anno.bmp", glas_instances(i))
    (folder / "Grade.csv").write_text("name,patient ID,grade (GlaS),grade (Sirinukunwattana et al. 2015)\n")
    return root


SQUARE = [(4, 4), (4, 12), (12, 12), (12, 4)]  # (x, y) vertices of a fake nucleus


def monuseg_xml(polygons: list[list[tuple[int, int]]]) -> str:
    """A MoNuSeg-style XML annotation with one Region per polygon of (x, y) vertices."""
    regions = "".join(
        f'<Region Id="{k}" Type="0"><Attributes/><Vertices>'
        + "".join(f'<Vertex X="{x}" Y="{y}" Z="0"/>' for x, y in poly)
        + "</Vertices></Region>"
        for k, poly in enumerate(polygons, 1)
    )
    return (
        '<?xml version="1.0"?><Annotations MicronsPerPixel="0.252"><Annotation Id="1"><Attributes/>'
        f"<Regions><RegionAttributeHeaders/>{regions}</Regions></Annotation></Annotations>"
    )


def monuseg(root: Path, n_train: int = 3, n_test: int = 2) -> Path:
    """MoNuSeg: the training release (Tissue Images + Annotations) and the test release (tif + xml together)."""
    train = root / "MoNuSeg 2018 Training Data"
    test = root / "MoNuSegTestData"
    for i in range(n_train):
        save(train / "Tissue Images" / f"TCGA-TR-{i:04d}.tif", rgb(i))
        (train / "Annotations").mkdir(parents=True, exist_ok=True)
        (train / "Annotations" / f"TCGA-TR-{i:04d}.xml").write_text(monuseg_xml([SQUARE, [(20, 2), (28, 2), (24, 9)]]))
    for i in range(n_test):
        save(test / f"TCGA-TE-{i:04d}.tif", rgb(100 + i))
        (test / f"TCGA-TE-{i:04d}.xml").write_text(monuseg_xml([SQUARE]))
    (root / "__MACOSX" / "MoNuSeg 2018 Training Data" / "Tissue Images").mkdir(parents=True)
    (root / "__MACOSX" / "MoNuSeg 2018 Training Data" / "Annotations").mkdir(parents=True)
    return root


def save_nifti(path: Path, volume_zyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> Path:
    """Write a (D, H, W) array as NIfTI in the data-axes order of real files, (x, y, z), with zooms."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.ascontiguousarray(volume_zyx.transpose(2, 1, 0)), np.eye(4))
    img.header.set_zooms(spacing_zyx[::-1])
    nib.save(img, path)
    return path


ACDC_SHAPE = (3, 12, 10)  # D, H, W
ACDC_SPACING = (10.0, 1.5, 1.25)  # z, y, x


def acdc_labels(p: int, frame: int) -> np.ndarray:
    """Known ACDC-style labels (0 background, 1 RV, 2 Myo, 3 LV) of one frame."""
    labels = np.zeros(ACDC_SHAPE, np.uint8)
    labels[:, 2:5, 2:5] = 1
    labels[:, 6:10, 4:9] = 2
    labels[:, 7:9, 5:8] = 3
    labels[0, 0, : (p + frame) % 10] = 3
    return labels


def acdc(root: Path, n_patients: int = 10, gt_value: int | None = None) -> Path:
    """ACDC: training/patientNNN/patientNNN_frameNN[_gt].nii.gz for ED (01) and ES frames, Info.cfg, a _4d file."""
    for p in range(1, n_patients + 1):
        folder = root / "training" / f"patient{p:03d}"
        for frame in (1, 10 + p % 5):
            image = np.random.default_rng(p * 100 + frame).integers(0, 500, ACDC_SHAPE).astype(np.int16)
            labels = acdc_labels(p, frame)
            if gt_value is not None and p == 1:
                labels[0, 0, 0] = gt_value
            save_nifti(folder / f"patient{p:03d}_frame{frame:02d}.nii.gz", image, ACDC_SPACING)
            save_nifti(folder / f"patient{p:03d}_frame{frame:02d}_gt.nii.gz", labels, ACDC_SPACING)
        save_nifti(folder / f"patient{p:03d}_4d.nii.gz", np.zeros((2, 2, 2), np.int16), (1.0, 1.0, 1.0))
        (folder / "Info.cfg").write_text("ED: 1\nES: 10\nGroup: NOR\n")
    return root


SYNAPSE_TEST = ["0001", "0002", "0003", "0004", "0008", "0022", "0025", "0029", "0032", "0035", "0036", "0038"]
SYNAPSE_TRAIN = [
    "0005", "0006", "0007", "0009", "0010", "0021", "0023", "0024", "0026",
    "0027", "0028", "0030", "0031", "0033", "0034", "0037", "0039", "0040",
]  # fmt: skip
SYNAPSE_SHAPE = (2, 6, 8)  # D, H, W
#: raw CT values and what the [-125, 275] window makes of them
HU = np.array([-1000, -125, 75, 275, 1000], np.int16)
HU_SCALED = np.array([0.0, 0.0, 0.5, 1.0, 1.0], np.float32)
#: raw BTCV label values -> registry labels (aorta 1, gallbladder 2, kidney_l 3, kidney_r 4, liver 5, pancreas 6,
#: spleen 7, stomach 8; others background)
BTCV = {8: 1, 4: 2, 3: 3, 2: 4, 6: 5, 11: 6, 1: 7, 7: 8, 5: 0, 9: 0, 13: 0}


def synapse_volumes(case: int) -> tuple[np.ndarray, np.ndarray]:
    """A (D, H, W) HU volume and raw BTCV label volume with every mapped value present."""
    image = np.resize(HU, SYNAPSE_SHAPE).astype(np.int16)
    labels = np.zeros(SYNAPSE_SHAPE, np.uint8)
    labels.flat[: len(BTCV)] = list(BTCV)
    labels[-1, -1, -1] = 8 if case % 2 else 0
    return image, labels


def synapse_raw(root: Path, ids: list[str] | None = None) -> Path:
    """Synapse raw: img/imgXXXX.nii.gz (HU) + label/labelXXXX.nii.gz (BTCV values), all 30 TransUNet ids."""
    for case in ids or SYNAPSE_TRAIN + SYNAPSE_TEST:
        image, labels = synapse_volumes(int(case))
        save_nifti(root / "img" / f"img{case}.nii.gz", image, (3.0, 0.7, 0.7))
        save_nifti(root / "label" / f"label{case}.nii.gz", labels, (3.0, 0.7, 0.7))
    return root


def synapse_npz_volume(case: int, depth: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A TransUNet-release volume: slice k has intensity k/10 (float32) and labels 0..8 (float32)."""
    image = np.stack([np.full(SYNAPSE_SHAPE[1:], k / 10, np.float32) for k in range(depth)])
    labels = np.zeros_like(image)
    labels[:, 0, :] = np.arange(SYNAPSE_SHAPE[2]) % 9
    labels[:, 1, 0] = case % 9
    return image, labels


def synapse_npz(root: Path, train: list[str] | None = None, test: list[str] | None = None) -> Path:
    """TransUNet release: train_npz/caseXXXX_sliceYYY.npz (image, label) and test_vol_h5/caseXXXX.npy.h5."""
    (root / "train_npz").mkdir(parents=True)
    (root / "test_vol_h5").mkdir(parents=True)
    for case in SYNAPSE_TRAIN if train is None else train:
        image, labels = synapse_npz_volume(int(case))
        for k in range(len(image)):
            np.savez(root / "train_npz" / f"case{case}_slice{k:03d}.npz", image=image[k], label=labels[k])
    for case in SYNAPSE_TEST if test is None else test:
        image, labels = synapse_npz_volume(int(case), depth=4)
        with h5py.File(root / "test_vol_h5" / f"case{case}.npy.h5", "w") as f:
            f["image"], f["label"] = image, labels
    return root


def zip_dir(src: Path, archive: Path) -> Path:
    """Zip ``src`` so that it unpacks to ``src.name/...``."""
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(src.rglob("*")):
            zf.write(path, Path(src.name) / path.relative_to(src))
    return archive


def tar_dir(src: Path, archive: Path) -> Path:
    """tar.gz ``src`` so that it unpacks to ``src.name/...``."""
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname=src.name)
    return archive


@pytest.fixture
def fake() -> SimpleNamespace:
    """The layout and archive builders, and the known contents they write."""
    return SimpleNamespace(
        kvasir=kvasir, cvc=cvc, isic=isic, glas=glas, monuseg=monuseg, acdc=acdc,
        synapse_raw=synapse_raw, synapse_npz=synapse_npz, zip_dir=zip_dir, tar_dir=tar_dir, save=save,
        rgb=rgb, box_mask=box_mask, glas_instances=glas_instances, acdc_labels=acdc_labels,
        synapse_volumes=synapse_volumes, synapse_npz_volume=synapse_npz_volume, save_nifti=save_nifti,
        ACDC_SPACING=ACDC_SPACING, HU_SCALED=HU_SCALED, BTCV=BTCV, SYNAPSE_TRAIN=SYNAPSE_TRAIN,
        SYNAPSE_TEST=SYNAPSE_TEST, SYNAPSE_SHAPE=SYNAPSE_SHAPE,
    )  # fmt: skip


JSON_KEYS = {"name", "modality", "dims", "channels", "labels", "num_classes", "split", "source"}


def read_index(out: Path) -> list[dict[str, str]]:
    with open(out / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


def _check_processed(out: Path, name: str) -> tuple[dict, list[dict[str, str]]]:
    """Check the folder against docs/processed-format.md; return dataset.json and the index rows."""
    info = json.loads((out / "dataset.json").read_text())
    spec = get_dataset(name)
    assert JSON_KEYS <= set(info) and info["name"] == name and info["labels"] == list(spec.labels)
    assert info["num_classes"] == len(spec.labels) and info["dims"] == spec.dims and info["channels"] == spec.channels
    rows = read_index(out)
    assert rows and tuple(rows[0]) == INDEX_COLUMNS
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    for subset in ("train", "val", "test"):
        assert sorted(info["split"][subset]) == sorted(r["id"] for r in rows if r["split"] == subset)
    for row in rows:
        if spec.dims == 2:
            image, mask = np.asarray(Image.open(out / row["image"])), np.asarray(Image.open(out / row["mask"]))
            assert image.dtype == mask.dtype == np.uint8 and image.ndim == (3 if spec.channels == 3 else 2)
            assert image.shape[:2] == mask.shape == (int(row["height"]), int(row["width"])) and row["depth"] == "1"
        else:
            image, mask = np.load(out / row["image"]), np.load(out / row["mask"])
            assert image.dtype == np.float32 and mask.dtype == np.uint8 and image.shape == mask.shape
            assert image.shape == (int(row["depth"]), int(row["height"]), int(row["width"]))
            assert 0 <= image.min() and image.max() <= 1
        assert mask.max() < len(spec.labels)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".tmp-")]
    return info, rows


@pytest.fixture
def check_processed():
    """``check_processed(out, name)``: check a prepared folder against the format; returns (dataset.json, rows)."""
    return _check_processed


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` with optional Range support, an optional one-off cut-off body, optional no length."""

    def do_GET(self) -> None:
        server = self.server
        if self.path not in server.files:  # type: ignore[attr-defined]
            self.send_error(404)
            return
        data = server.files[self.path]  # type: ignore[attr-defined]
        asked = self.headers.get("Range")
        server.ranges.append(asked)  # type: ignore[attr-defined]
        start = int(asked.split("=")[1].split("-")[0]) if asked and server.honour_range else 0  # type: ignore[attr-defined]
        if start >= len(data) > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.end_headers()
            return
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if not server.no_length:  # type: ignore[attr-defined]
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = server.cut_after  # type: ignore[attr-defined]
        server.cut_after = None  # type: ignore[attr-defined]
        self.wfile.write(body if cut is None else body[:cut])
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def http_server() -> Iterator[SimpleNamespace]:
    """A threaded HTTP server on 127.0.0.1: put bytes in ``.files[path]``, read ``.url(path)``, ``.ranges``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    server.files, server.ranges, server.honour_range, server.cut_after = {}, [], True, None  # type: ignore[attr-defined]
    server.no_length = False  # type: ignore[attr-defined]  # True: no Content-Length (a cut body looks complete)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    handle = SimpleNamespace(server=server, url=lambda path: f"http://127.0.0.1:{server.server_port}{path}")
    try:
        yield handle
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
