"""Detect how a binary dataset's mask files encode the foreground (0/255, 0/1, colour) before converting them.

Registry entries with ``mask: {threshold: T}`` (Kvasir-SEG, CVC-ClinicDB, synthetic-binary) hold masks
that are meant to be 0/255, but re-distributed copies often hold 0/1 masks (all of them below T:
thresholding would empty every mask) or colour masks (a red polyp on black: its grey level is 76).
Colour is handled per pixel by ``common.binary_values`` (the brightest channel); the 0/1 case is
decided per dataset from the largest value of every mask, because one file alone cannot tell a 0/1
mask from a noisy empty 0/255 one.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dca.data.convert.common import binary_values, reading
from dca.data.registry import MaskRule

#: names of the encodings recorded in dataset.json
ZERO_255, ZERO_ONE, NONZERO = "0/255", "0/1", "any non-zero"


@dataclass(frozen=True)
class Encoding:
    """The detected encoding of a dataset's binary masks and the rule that converts it."""

    name: str
    rule: MaskRule

    def describe(self) -> str:
        """Human-readable form for dataset.json and messages."""
        return f"{self.name} (foreground: brightest channel >= {self.rule.threshold})"


def _largest(path: Path) -> tuple[Path, int, list[int]]:
    """The largest value of one mask file and (for the error message) up to ten of its distinct values."""
    with reading(path, "mask"), Image.open(path) as img:
        img.load()
        values = binary_values(img)
    top = int(values.max()) if values.size else 0
    distinct = np.unique(values)
    return path, top, [int(v) for v in distinct[:10]]


def detect_encoding(masks: Iterable[Path], rule: MaskRule, dataset: str, workers: int = 4) -> Encoding:
    """The encoding of the binary ``masks`` of ``dataset``: 0/255 (threshold ``rule``) or 0/1; else a ValueError.

    A mask whose largest value is 0 is empty in every encoding. All non-empty masks <= 1: 0/1. Any mask
    reaching the threshold: 0/255, and then a mask of exact 0/1 values is an error (a mixed dataset). A
    largest value between 2 and threshold - 1 fits no encoding: an error naming the file and its values. A
    threshold of 1 (the DCA code's labelling) needs no detection: every encoding labels alike.
    """
    if rule.threshold <= 1:  # every non-zero value is foreground: 0/1 and 0/255 masks label alike
        return Encoding(NONZERO, rule)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(_largest, sorted(masks)))
    for path, top, distinct in found:
        if 1 < top < rule.threshold:
            raise ValueError(
                f"{path}: mask values {distinct} fit no binary encoding of dataset {dataset!r} "
                f"(expected 0/255 masks, foreground >= {rule.threshold}, or 0/1 masks); "
                "convert the masks to 0/255 or use the release's original masks"
            )
    high = [p for p, top, _ in found if top >= rule.threshold]
    ones = [p for p, top, _ in found if top == 1]
    if high and ones:
        raise ValueError(
            f"{ones[0]}: a 0/1 mask, but other masks of dataset {dataset!r} are 0/255 (e.g. {high[0]}); "
            f"{len(ones)} mask(s) are 0/1 and {len(high)} are 0/255: convert them to one encoding"
        )
    if ones:
        return Encoding(ZERO_ONE, MaskRule("threshold", threshold=1))
    return Encoding(ZERO_255, rule)
