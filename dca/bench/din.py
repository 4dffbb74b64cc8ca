"""DIN's parameter and FLOP budget beside the paper's (sections 4.5, 7.5, 11 and Table 15).

Everything is measured on the meta device (no memory is allocated): parameters per part of ``din`` and of ``din``
with the EMCAD decoder, and the forward cost of one 224x224 image from torch's FLOP counter. The paper's
"GFLOPs" are multiply-accumulates (the thop/ptflops convention: its 1860.09 is what our model gives counting one
per multiply-add), so the FLOP row reports multiply-adds; torch's counter counts two FLOPs per multiply-add.
RGB input and one output class, as for the binary datasets Table 15 sits beside. The budget rows use the FFN
reading the budget needs (``ffn="conv3x3-4c"``); the ``*_default`` rows are the default model (the text's FFN).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dca.models import build_model

SIZE = 224
IN_CHANNELS = 3
NUM_CLASSES = 1
# The paper's figures (millions of parameters; GFLOPs = multiply-adds at 224x224).
PAPER_PARAMS_M = {"encoders": 178.0, "difm": 119.94, "decoder": 25.27, "total": 323.31}
PAPER_DECODER_SECTION_11_M = 25.67
PAPER_EMCAD_M = 20.72
PAPER_GMACS = 1860.09
BUDGET_FFN = "conv3x3-4c"  # the FFN reading whose DIFMs match the paper's 119.94M (docs/din.md)


def din_macs(model: nn.Module, size: int = SIZE, in_channels: int = IN_CHANNELS) -> int:
    """Multiply-adds of one forward pass of a meta-device DIN on an image and its enhanced copy."""
    model.eval()
    x = torch.zeros(1, in_channels, size, size, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x, x)
    return counter.get_total_flops() // 2


def _row(quantity: str, unit: str, ours: float, paper: float, note: str = "") -> dict[str, object]:
    """One budget line: ours beside the paper's, with the relative difference in percent."""
    return {
        "quantity": quantity,
        "unit": unit,
        "ours": round(ours, 2),
        "paper": paper,
        "diff_pct": round(100 * (ours - paper) / paper, 2),
        "note": note,
    }


def din_budget() -> list[dict[str, object]]:
    """Our DIN's parameters per part (M) and GFLOPs at 224x224 beside the paper's figures: the budget reading's
    parts, then the default model's DIFMs, total and GFLOPs."""
    sizes = {"in_channels": IN_CHANNELS, "num_classes": NUM_CLASSES, "img_size": SIZE}
    with torch.device("meta"):
        model = build_model("din", ffn=BUDGET_FFN, **sizes)
        emcad = build_model("din", ffn=BUDGET_FFN, decoder="emcad", **sizes)
        default = build_model("din", **sizes)
    parts = {k: v / 1e6 for k, v in model.parameter_counts().items()}
    default_parts = {k: v / 1e6 for k, v in default.parameter_counts().items()}
    text_ffn = f"default FFN {default.config.ffn} (the text's doubling)"
    shift = "the paper's split counts ~2.5M of our encoders in its decoders; totals agree (docs/din.md)"
    return [
        _row("params_encoders", "M", parts["encoders"], PAPER_PARAMS_M["encoders"], "two ConvNeXt-base, 3-3-27-3"),
        _row(
            "params_difm", "M", parts["difm"], PAPER_PARAMS_M["difm"], f"four DIFMs ({BUDGET_FFN}), 86 C^2 + 22 C each"
        ),
        _row(
            "params_decoder_mlp",
            "M",
            parts["decoder"],
            PAPER_PARAMS_M["decoder"],
            f"section 11 says {PAPER_DECODER_SECTION_11_M}M; {shift}",
        ),
        _row("params_decoder_emcad", "M", emcad.parameter_counts()["decoder"] / 1e6, PAPER_EMCAD_M, shift),
        _row(
            "params_encoders_plus_decoder",
            "M",
            parts["encoders"] + parts["decoder"],
            round(PAPER_PARAMS_M["total"] - PAPER_PARAMS_M["difm"], 2),
            "paper: total minus DIFMs",
        ),
        _row("params_total", "M", parts["total"], PAPER_PARAMS_M["total"]),
        _row(
            "gflops_224",
            "GMAC",
            din_macs(model) / 1e9,
            PAPER_GMACS,
            "multiply-adds, the paper's GFLOPs convention (torch's FLOP counter gives twice this)",
        ),
        _row("params_difm_default", "M", default_parts["difm"], PAPER_PARAMS_M["difm"], text_ffn),
        _row("params_total_default", "M", default_parts["total"], PAPER_PARAMS_M["total"], text_ffn),
        _row("gflops_224_default", "GMAC", din_macs(default) / 1e9, PAPER_GMACS, text_ffn),
    ]
