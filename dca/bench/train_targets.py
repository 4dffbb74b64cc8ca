"""The GPU benchmark's targets, each judged from rows of one run and printed beside its figure.

Targets on an H100/H200-class GPU: U-Net+DCA trains at >= 2,500 images/s at 224x224 (bf16,
channels_last); plain U-Net reaches >= 25 % model FLOP utilisation; DCA's time overhead is at most
its FLOP ratio x 1.1 for every model; our DCA steps >= 2x as fast as the official-style DCA; real-data
epochs are within 10 % of the no-data-loading epochs. Figures that only a GPU gives say so on CPU.
"""

from __future__ import annotations

from typing import Any

UNET_DCA_IMAGES_PER_S = 2500.0
UNET_MFU = 0.25
OVERHEAD_SLACK = 1.1
OFFICIAL_SPEEDUP = 2.0
REAL_DATA_SLACK = 1.1
NEEDS_CUDA = "needs CUDA"


def _target(name: str, value: float | None, goal: str, met: bool | None, note: str = "") -> dict[str, Any]:
    """One target row: what, the figure, the goal, whether met (None: not judged here)."""
    return {"target": name, "value": value, "goal": goal, "met": met, "note": note}


def _best(rows: list[dict[str, Any]], key: str, **match: Any) -> dict[str, Any] | None:
    """The row with the largest ``key`` among those matching every ``match`` item (bf16 rows: any compile mode)."""
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items()) and r.get(key) is not None]
    return max(found, key=lambda r: r[key]) if found else None


def _bf16(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bf16 rows (eager and compiled) on CUDA."""
    return [r for r in rows if r["amp"] == "bf16" and r["device"].startswith("cuda")]


def judge(rows: list[dict[str, Any]], loader_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every target this run's rows can speak to; ``met`` is None where the figure needs CUDA or is absent."""
    on_cuda = any(r["device"].startswith("cuda") for r in rows)
    bf16 = _bf16(rows)
    ours = [r for r in rows if not r["official_style"]]
    out = []
    row = _best(bf16, "images_per_s", model="unet", dca=True, official_style=False, size=224)
    out.append(
        _target(
            "U-Net+DCA training images/s at 224 (bf16, channels_last, best of eager/compile, data loading bypassed)",
            row["images_per_s"] if row else None,
            f">= {UNET_DCA_IMAGES_PER_S:,.0f}",
            row["images_per_s"] >= UNET_DCA_IMAGES_PER_S if row else None,
            (f"{row['precision']}, batch {row['batch']}" if row else NEEDS_CUDA + " (bf16 U-Net+DCA at 224)"),
        )
    )
    row = _best(bf16, "mfu", model="unet", dca=False)
    out.append(
        _target(
            "plain U-Net model FLOP utilisation (bf16, vs the measured bf16 GEMM peak)",
            row["mfu"] if row else None,
            f">= {UNET_MFU:.0%}",
            row["mfu"] >= UNET_MFU if row else None,
            f"{row['precision']}, {row['tflops_per_s']:.0f} TFLOP/s; {_mfu(row)}"
            if row
            else NEEDS_CUDA + " (bf16 U-Net, GEMM peak)",
        )
    )
    for model in dict.fromkeys(r["model"] for r in ours):
        for precision in dict.fromkeys(r["precision"] for r in ours if r["model"] == model):
            plain = _best(ours, "images_per_s", model=model, dca=False, precision=precision)
            dca = _best(ours, "images_per_s", model=model, dca=True, precision=precision)
            if plain is None or dca is None:
                continue
            time_ratio = dca["step_s"] / plain["step_s"]
            limit = dca["gflops_per_step"] / plain["gflops_per_step"] * OVERHEAD_SLACK
            out.append(
                _target(
                    f"{model} {precision}: DCA time overhead (step time ratio) vs FLOP ratio x {OVERHEAD_SLACK}",
                    time_ratio,
                    f"<= {limit:.3f}",
                    time_ratio <= limit if on_cuda else None,
                    "" if on_cuda else NEEDS_CUDA + " (the target is for the GPU; CPU figure shown)",
                )
            )
    for ref in (r for r in rows if r["official_style"]):
        mine = _best(ours, "images_per_s", model=ref["model"], dca=True, precision=ref["precision"])
        if mine is None:
            continue
        speedup = ref["step_s"] / mine["step_s"]
        out.append(
            _target(
                f"{ref['model']} {ref['precision']}: our DCA step rate / official-style DCA step rate",
                speedup,
                f">= {OFFICIAL_SPEEDUP:.1f}",
                speedup >= OFFICIAL_SPEEDUP if on_cuda else None,
                "" if on_cuda else NEEDS_CUDA + " (CPU figure shown)",
            )
        )
    for r in (r for r in ours if "real_vs_no_data_loading" in r):
        out.append(
            _target(
                f"{r['model']}{'+DCA' if r['dca'] else ''} {r['precision']}: real-data epoch / no-data-loading epoch "
                f"({r['workers']} workers)",
                r["real_vs_no_data_loading"],
                f"<= {REAL_DATA_SLACK:.2f}",
                r["real_vs_no_data_loading"] <= REAL_DATA_SLACK if on_cuda else None,
                "" if on_cuda else NEEDS_CUDA + " (CPU figure shown)",
            )
        )
    demand = max((r["images_per_s"] for r in ours), default=None)
    for lr in loader_rows:
        out.append(
            _target(
                f"loader alone, {lr['workers']} workers: images/s vs the fastest case's demand",
                lr["images_per_s"],
                f">= {demand:,.0f}" if demand else "n/a",
                lr["images_per_s"] >= demand if demand and on_cuda else None,
                "" if on_cuda else NEEDS_CUDA + " (the GPU's demand)",
            )
        )
    return out


def _fmt(value: float | None) -> str:
    """A figure for printing: fractions < 1 as percent-ish decimals, big numbers with separators."""
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"


def _mfu(row: dict[str, Any]) -> str:
    """A row's MFU against the measured GEMM peak and the datasheet peak of its math (``fp32 (TF32)`` etc.)."""
    if row["mfu"] is None:
        return f"MFU {NEEDS_CUDA}"
    sheet = f"{row['mfu_datasheet']:.1%} of datasheet" if row.get("mfu_datasheet") is not None else "datasheet n/a"
    return f"MFU {row['math']} {row['mfu']:.1%} of measured, {sheet}"


def summary_lines(
    rows: list[dict[str, Any]],
    loader_rows: list[dict[str, Any]],
    peak: dict[str, float | None],
    targets: list[dict[str, Any]],
) -> list[str]:
    """Human-readable figures: the GEMM peaks, one line per case, the loader, then each target beside its figure."""
    lines = [
        f"{math} GEMM peak ({8192}^3, CUDA events): " + (f"{tflops:.0f} TFLOP/s" if tflops else NEEDS_CUDA)
        for math, tflops in peak.items()
    ]
    for r in rows:
        kind = "+DCA(official-style)" if r["official_style"] else "+DCA" if r["dca"] else ""
        mfu = _mfu(r)
        line = (
            f"  {r['model'] + kind:<26} {r['precision']:<13} batch {r['batch']:>3} {r['size']}px "
            f"channels_last={r['channels_last']!s:<5}: {r['images_per_s']:>9,.1f} images/s "
            f"(no data loading), {r['gflops_per_step']:,.1f} GFLOP/step, {r['tflops_per_s']:.2f} TFLOP/s, {mfu}"
        )
        if "epoch_s" in r:
            line += (
                f"; epoch {r['epoch_s']:.2f} s real data ({r['images_per_s_real_data']:,.1f} images/s, "
                f"{r['workers']} workers) vs {r['epoch_s_no_data_loading']:.2f} s bypassed"
            )
        lines.append(line)
    for lr in loader_rows:
        lines.append(
            f"  loader alone, {lr['workers']:>2} workers, batch {lr['batch']}, {lr['size']}px: "
            f"{lr['images_per_s']:,.0f} images/s"
        )
    lines.append("Targets (H100/H200-class GPU):")
    for t in targets:
        verdict = {True: "MET", False: "MISSED", None: "not judged"}[t["met"]]
        note = f"  [{t['note']}]" if t["note"] else ""
        lines.append(f"  {verdict:<10} {t['target']}: {_fmt(t['value'])} (target {t['goal']}){note}")
    return lines
