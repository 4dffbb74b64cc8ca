"""MoNuSeg layout: the training release (``Tissue Images/<id>.tif`` + ``Annotations/<id>.xml``) and the
test release (``MoNuSegTestData/<id>.tif`` + ``<id>.xml`` side by side), in one folder or as its sub-folders.

Masks are the nucleus polygons of the XML annotations rasterised with ``skimage.draw.polygon``
(every nucleus -> 1); the official subset is the release a case comes from.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import partial
from pathlib import Path

import numpy as np
from skimage.draw import polygon

from dca.data.convert.common import Case, Sample, list_files, read_image, reading, subdirs
from dca.data.registry import DatasetSpec

EXPECTED = (
    "MoNuSeg: 'Tissue Images'/<id>.tif + Annotations/<id>.xml (training release) and a folder of "
    "<id>.tif + <id>.xml (test release, MoNuSegTestData/)"
)


def _is_training(folder: Path) -> bool:
    """Whether ``folder`` is the training release."""
    return (folder / "Tissue Images").is_dir() and (folder / "Annotations").is_dir()


def _is_test(folder: Path) -> bool:
    """Whether ``folder`` holds tif images with their xml annotations side by side (the test release)."""
    return bool(list_files(folder, (".tif", ".tiff"))) and bool(list_files(folder, (".xml",)))


def detect(folder: Path) -> bool:
    """Whether ``folder`` is the training release or contains it."""
    return _is_training(folder) or any(_is_training(sub) for sub in subdirs(folder))


def rasterise(xml_path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Fill every annotated region polygon of a MoNuSeg XML file into a (H, W) uint8 mask of 0/1."""
    mask = np.zeros(shape, np.uint8)
    with reading(xml_path, "XML annotation"):
        for region in ET.parse(xml_path).getroot().iter("Region"):
            vertices = [(float(v.attrib["Y"]), float(v.attrib["X"])) for v in region.iter("Vertex")]
            if len(vertices) >= 3:
                rows, cols = np.array(vertices).T
                rr, cc = polygon(rows, cols, shape=shape)
                mask[rr, cc] = 1
    return mask


def _load(image: Path, xml_path: Path, spec: DatasetSpec) -> Sample:
    """Read a tissue image and rasterise its annotation to the image size."""
    pixels = read_image(image, spec.channels)
    return Sample(pixels, rasterise(xml_path, pixels.shape[:2]))


def _release(images: Path, annotations: Path, subset: str, spec: DatasetSpec) -> list[Case]:
    """Cases of one release folder; a tif without its xml is an error."""
    found = []
    for image in list_files(images, (".tif", ".tiff")):
        xml_path = annotations / f"{image.stem}.xml"
        if not xml_path.is_file():
            raise FileNotFoundError(f"{image}: its annotation {xml_path} is missing; add it or remove the image")
        found.append(Case(image.stem, partial(_load, image, xml_path, spec), f"{image} + {xml_path}", subset=subset))
    return found


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """Training-release cases (subset train) and test-release cases (subset test) under ``root``."""
    folders = [root, *subdirs(root)]
    found = []
    for folder in folders:
        if _is_training(folder):
            found += _release(folder / "Tissue Images", folder / "Annotations", "train", spec)
        elif _is_test(folder):
            found += _release(folder, folder, "test", spec)
    return found
