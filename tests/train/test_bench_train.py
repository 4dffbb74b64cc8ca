"""The training-throughput benchmark runs the engine's step and reports images per second."""

from __future__ import annotations

from dca.bench.train import bench_train


def test_bench_train_reports_images_per_second_for_plain_and_dca() -> None:
    rows = bench_train(["unet"], batch=2, size=32, steps=1, warmup=1)
    assert [(r["model"], r["dca"]) for r in rows] == [("unet", False), ("unet", True)]
    assert all(r["device"] == "cpu" and r["images_per_s"] > 0 for r in rows)
    assert all(abs(r["images_per_s"] * r["step_s"] - 2) < 1e-9 for r in rows)
