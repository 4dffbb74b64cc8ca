"""Enhancement throughput: fuzzy (ours vs the direct per-window reference, same run), HE and CLAHE, in images/s.

Inputs are uint8 images, as the processed 2D format stores them: synthetic low-contrast images (smooth structures
plus noise, fixed seed) and, where the shared copy is present, real Kvasir-SEG images resized to each size. Each
configuration is timed at 224x224 and 512x512, grayscale and RGB, single process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dca.enhance import METHODS, enhance
from dca.enhance.fuzzy import fuzzy_enhance_reference

# The project's shared copy of Kvasir-SEG; the real-image rows are skipped where it is absent.
KVASIR_IMAGES = Path("/work/shared/data/Kvasir-SEG/images")


def synthetic_images(count: int, size: int, channels: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` low-contrast uint8 images: a few soft blobs on a gradient, plus noise, squeezed into 60 levels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(count):
        base = 0.3 * x + 0.2 * y
        for cy, cx, r in rng.uniform([0.2, 0.2, 0.05], [0.8, 0.8, 0.2], (4, 3)):
            base = base + np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
        planes = [base + rng.normal(0, 0.05, base.shape) + 0.1 * c for c in range(channels)]
        img = np.stack(planes, -1) if channels > 1 else planes[0]
        img = (img - img.min()) / (img.max() - img.min())
        images.append((100 + 60 * img).astype(np.uint8))
    return images


def real_images(folder: Path, count: int, size: int, channels: int) -> list[np.ndarray]:
    """The first ``count`` images of ``folder`` (sorted), resized to ``size`` x ``size``, RGB or grayscale uint8."""
    mode = "RGB" if channels == 3 else "L"
    paths = sorted(folder.glob("*.jpg"))[:count]
    images = []
    for path in paths:
        with Image.open(path) as img:
            images.append(np.asarray(img.convert(mode).resize((size, size), Image.Resampling.BILINEAR)))
    return images


def _images_per_s(fn: Callable[[np.ndarray], Any], images: Sequence[np.ndarray], repeats: int) -> float:
    """Images per second of ``fn`` over ``images``, best of ``repeats`` passes."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for image in images:
            fn(image)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def bench_enhance(
    sizes: Sequence[int] = (224, 512),
    count: int = 8,
    repeats: int = 3,
    reference_count: int = 1,
    real_dir: Path | None = KVASIR_IMAGES,
) -> list[dict[str, Any]]:
    """One row per (source, size, channels, method): images/s; fuzzy rows add the reference's rate and speed-up."""
    sources: dict[str, Callable[[int, int], list[np.ndarray]]] = {
        "synthetic": lambda size, ch: synthetic_images(count, size, ch)
    }
    if real_dir is not None and any(Path(real_dir).glob("*.jpg")):
        sources["kvasir"] = lambda size, ch: real_images(Path(real_dir), count, size, ch)
    rows = []
    for source, load in sources.items():
        for size in sizes:
            for channels in (1, 3):
                images = load(size, channels)
                for method in METHODS:
                    row = {
                        "benchmark": "enhance",
                        "source": source,
                        "size": size,
                        "channels": channels,
                        "method": method,
                        "images_per_s": _images_per_s(lambda im, m=method: enhance(im, m), images, repeats),
                    }
                    if method == "fuzzy":
                        ref = _images_per_s(fuzzy_enhance_reference, images[:reference_count], 1)
                        row["reference_images_per_s"] = ref
                        row["speedup_vs_reference"] = row["images_per_s"] / ref
                    rows.append(row)
    return rows


def summary_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Human-readable figures: images/s per configuration, the fuzzy speed-up beside the direct reference."""
    lines = ["Enhancement throughput (uint8 input, single process, images/s)"]
    for r in rows:
        line = f"  {r['source']:<9} {r['size']}x{r['size']} {'RGB ' if r['channels'] == 3 else 'gray'} "
        line += f"{r['method']:<6} {r['images_per_s']:8.1f}"
        if "speedup_vs_reference" in r:
            line += f"   reference {r['reference_images_per_s']:.2f}  speed-up {r['speedup_vs_reference']:.0f}x"
        lines.append(line)
    return lines
