"""Loader benchmark: samples/s of SegmentationDataset with augmentation, cold (cache build) and warm."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from dca.processed import SPLITS, dataset_info, read_index
from dca.train.loader import SegmentationDataset


def _timed_pass(ds: SegmentationDataset, epoch: int, batches: int, batch_size: int, workers: int) -> tuple[int, float]:
    """Draw ``batches`` shuffled batches from ``epoch`` on (wrapping into later epochs); return (samples, seconds)."""
    samples, done = 0, 0
    start = time.perf_counter()
    while done < batches:
        ds.set_epoch(epoch)
        loader = DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=True,
            num_workers=workers,
            generator=torch.Generator().manual_seed(epoch),
        )
        for batch in loader:
            samples += batch["image"].shape[0]
            done += 1
            if done == batches:
                break
        epoch += 1
    return samples, time.perf_counter() - start


def bench_loader(
    root: Path, *, size: int = 224, batches: int = 50, batch_size: int = 16, workers: int = 0
) -> dict[str, Any]:
    """Benchmark loading all splits of a processed dataset with augmentation at ``size``.

    The cache is built in a fresh temporary folder (the dataset's own cache is left alone): ``cache_build_s``
    is that build, ``cold`` the first pass over fresh memory maps, ``warm`` a second pass of ``batches``.
    """
    root = Path(root)
    splits = [s for s in SPLITS if any(r["split"] == s for r in read_index(root))]
    with tempfile.TemporaryDirectory(prefix="dca-bench-cache-") as cache:
        start = time.perf_counter()
        ds = SegmentationDataset(root, splits, size=size, augment=True, cache_dir=Path(cache))
        build_s = time.perf_counter() - start
        cold_n, cold_s = _timed_pass(ds, 0, batches, batch_size, workers)
        warm_n, warm_s = _timed_pass(ds, 1000, batches, batch_size, workers)
    return {
        "dataset": dataset_info(root).get("name", root.name),
        "items": len(ds),
        "size": size,
        "batch_size": batch_size,
        "workers": workers,
        "batches": batches,
        "cache_build_s": round(build_s, 3),
        "cold_samples_per_s": round(cold_n / cold_s, 1),
        "warm_samples_per_s": round(warm_n / warm_s, 1),
    }
