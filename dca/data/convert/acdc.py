"""ACDC layout: ``training/patientNNN/patientNNN_frameNN.nii.gz`` + ``patientNNN_frameNN_gt.nii.gz``.

Each annotated frame (ED, ES) is a case; the patient is its split unit. ``_4d`` files and ``Info.cfg``
are ignored. Intensities are normalised per volume, spacing comes from the NIfTI header.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from dca.data.convert.common import Case, subdirs
from dca.data.convert.volume import load_nifti_pair
from dca.data.registry import DatasetSpec

EXPECTED = "ACDC: training/patientNNN/patientNNN_frameNN.nii.gz with patientNNN_frameNN_gt.nii.gz"
_FRAME = re.compile(r"^(patient\d+)_frame(\d+)\.nii(\.gz)?$")


def detect(folder: Path) -> bool:
    """Whether ``folder`` has a ``training/`` folder of patient folders."""
    training = folder / "training"
    return training.is_dir() and any(p.name.startswith("patient") for p in subdirs(training))


def cases(root: Path, spec: DatasetSpec) -> list[Case]:
    """One case per annotated frame, grouped by patient; a frame without its ``_gt`` file is an error."""
    found = []
    for patient in subdirs(root / "training"):
        for image in sorted(patient.iterdir()):
            match = _FRAME.match(image.name)
            if not match:
                continue
            gt = image.with_name(image.name.replace(".nii", "_gt.nii", 1))
            if not gt.is_file():
                raise FileNotFoundError(f"{image}: its ground truth {gt} is missing; add it or remove the frame")
            case_id = f"{match[1]}_frame{match[2]}"
            found.append(Case(case_id, partial(load_nifti_pair, image, gt, spec), f"{image} + {gt}", group=match[1]))
    return found
