"""What a workflow knows of a dataset's raw folder before preparing it: a fingerprint that changes with its content.

Snakemake records it as a parameter of the prepare job, so that changed raw data is prepared again; it reads no
image: the folder's ``SHA256SUMS`` (written by ``dca data download``) or the DVC file ``<raw>.dvc`` of ``dvc add``
/ ``dvc import-url`` (both name the content), else every file's relative path and size.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dca.data.download import SUMS_FILE


def raw_fingerprint(folder: str | os.PathLike[str]) -> str:
    """A short SHA-256 of what ``folder`` holds; a FileNotFoundError naming it when it is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"raw folder {folder} not found")
    dvc_file = folder.with_name(f"{folder.name}.dvc")
    if (folder / SUMS_FILE).is_file():
        text = f"sums\n{(folder / SUMS_FILE).read_text(encoding='utf-8')}"
    elif dvc_file.is_file():
        text = f"dvc\n{dvc_file.read_text(encoding='utf-8')}"
    else:
        rows = [
            f"{(Path(root) / name).relative_to(folder).as_posix()}\t{(Path(root) / name).stat().st_size}"
            for root, _, files in os.walk(folder)
            for name in files
        ]
        text = "files\n" + "\n".join(sorted(rows))  # sorted: the same on any file system
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
