"""The enhancement benchmark times every method of the enhancement registry, so a new method is benchmarked too."""

from __future__ import annotations

from dca.bench.enhance import bench_enhance
from dca.enhance import METHODS


def test_enhance_benchmark_covers_every_registered_method() -> None:
    rows = bench_enhance(sizes=(16,), count=1, repeats=1, real_dir=None)
    for channels in (1, 3):
        assert [r["method"] for r in rows if r["channels"] == channels] == list(METHODS)
    assert all(r["images_per_s"] > 0 for r in rows)
    fuzzy = [r for r in rows if r["method"] == "fuzzy"]
    assert fuzzy and all(r["speedup_vs_reference"] > 0 for r in fuzzy)
