"""Acceptance: train U-Net+DCA on the tiny discs dataset on the CPU, evaluate it, beat trivial predictors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dca.evaluate.run import evaluate_run
from dca.layout import RunDir
from dca.train.checkpoint import load_checkpoint
from dca.train.loop import train


def test_train_then_evaluate_beats_trivial_predictors(discs: Path, make_config, trivial_dice, tmp_path: Path) -> None:
    out = tmp_path / "unet_dca"
    messages: list[str] = []
    summary = train(make_config(out, epochs=4), log=messages.append)

    run = RunDir(out)
    for path in (run.last, run.best, run.curves, run.summary, run.log):
        assert path.exists(), path
    assert not run.lock.exists()  # released on exit
    metrics_csv = pd.read_csv(run.curves)
    assert metrics_csv["epoch"].tolist() == [1, 2, 3, 4]
    assert summary["epochs"] == 4 and summary["test_selected"] is False
    assert summary["best"]["val_dice"] == metrics_csv["val_dice"].max()
    assert load_checkpoint(out / "best.pt")["epoch"] == summary["best_epoch"]

    model_res = evaluate_run(out)
    original = evaluate_run(out, resolution="original", out=out / "eval_original")
    baseline = trivial_dice(discs)
    assert model_res["dice"] > 0.75 and model_res["dice"] > baseline + 0.3, (model_res["dice"], baseline)
    assert original["dice"] > 0.75 and original["resolution"] == "original"
    assert model_res["selection"] == "val" and model_res["test_selected"] is False

    per_case = pd.read_csv(out / "eval" / "per_case.csv")
    assert sorted(per_case["case"]) == [f"test{k:02d}" for k in range(4)]
    assert json.loads((out / "eval" / "metrics.json").read_text())["n_cases"] == 4
    saved = sorted(p.name for p in (out / "eval" / "predictions").iterdir())
    assert saved == ["test00.png", "test01.png"]  # the first k = 2 test ids
    assert np.asarray(Image.open(out / "eval" / "predictions" / "test00.png")).shape == (64, 64)
    assert np.asarray(Image.open(out / "eval_original" / "predictions" / "test00.png")).shape == (72, 80)

    last_written = (out / "last.pt").stat().st_mtime_ns
    assert train(make_config(out, epochs=4), log=messages.append) == summary
    assert "nothing to do" in messages[-1] and (out / "last.pt").stat().st_mtime_ns == last_written
