"""The volume DCA benchmark: its side-by-side rows, MEASURED or ESTIMATED, written as CSV and JSON."""

from __future__ import annotations

import json

import pytest
import torch

from dca.bench import dca3d
from dca.bench.cli import main


def test_literal_port_estimate_and_the_size_it_is_measured_at():
    # 64^3: 262,144 full-resolution tokens; 4 skips x 2 samples x 4 heads x N^2 float32 probabilities.
    assert dca3d.tokens("literal", 64) == 64**3 and dca3d.tokens("dca", 64) == 512
    assert dca3d.scores_bytes("literal", 64, 2, 4) == 4 * 2 * 4 * (64**3) ** 2 * 4
    assert dca3d.literal_size_that_fits(64) == 16


def test_literal_port_runs_the_transcription_on_full_resolution_tokens():
    torch.manual_seed(0)
    model = dca3d.build("literal", 16, 0.0625).eval()  # eval: batch norm takes one sample
    seen = []
    sca = model.dca.blocks[0].sca
    sca.register_forward_hook(lambda *_: pytest.fail("the literal port must not run our fast SCA"))
    model.dca.embed[0].register_forward_hook(lambda *_: pytest.fail("nor our pooling"))
    model.dca.outputs[0].register_forward_pre_hook(lambda *_: pytest.fail("nor our output path"))
    model.dca.blocks[0].sca.norms[0].register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    with torch.no_grad():
        assert model(torch.randn(1, 1, 16, 16, 16)).shape == (1, dca3d.CLASSES, 16, 16, 16)
    assert seen == [(1, 16**3, 4)]  # every skip's tokens on the first skip's 16^3 grid


def test_bench_entry_prints_and_writes_the_table(tmp_path, capsys, monkeypatch):
    """Plain and DCA measured, the literal port estimated (its measurement at 16^3 takes a minute: the bench run)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU table only, even on a GPU machine
    args = ["dca3d", "--size", "16", "--width", "0.0625", "--repeats", "1", "--literal-size", "0"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "literal  ESTIMATED" in out and "not measured, no CUDA device" in out
    rows = json.loads((tmp_path / "dca3d.json").read_text())["cpu"]
    assert [(r["variant"], r["status"]) for r in rows] == [
        ("plain", "MEASURED"),
        ("dca", "MEASURED"),
        ("literal", "ESTIMATED"),
    ]
    assert all(r["peak_mb"] > 0 for r in rows) and all(r["step_s"] > 0 for r in rows[:2])
    assert rows[-1]["peak_mb"] == dca3d.scores_bytes("literal", 16, 2, 4) / 2**20
    assert (tmp_path / "dca3d.csv").read_text().startswith("device,")
