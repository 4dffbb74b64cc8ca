"""``python -m dca.bench NAME`` / ``dca bench NAME``: run one benchmark and write its tables."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from dca.utils.io import write_json, write_text


def _models(args: argparse.Namespace) -> dict[str, list[dict]]:
    from dca.bench import models

    names = args.models or list(models.PAPER_MODELS)
    result = models.run(
        names, batch=args.batch or 4, size=args.size or 224, repeats=args.repeats, memory=not args.no_memory
    )
    print("\n".join(models.summary_lines(result)))
    if not args.no_din:
        from dca.bench.din import din_budget

        result["din"] = din_budget()
        print("DIN budget, ours vs the paper (Table 15, section 4.5):")
        for r in result["din"]:
            print(
                f"  {r['quantity']:<28} ours {r['ours']:>10,.2f} {r['unit']:<7} paper {r['paper']}  "
                f"({r['diff_pct']:+.2f}%)"
            )
    return result


def _data(args: argparse.Namespace) -> dict[str, list[dict]]:
    from dca.bench.data_loader import bench_loader
    from dca.bench.enhance import bench_enhance
    from dca.bench.enhance import summary_lines as enhance_lines
    from dca.data.convert import prepare
    from dca.data.synthetic import synthesize

    enhance_rows = bench_enhance()
    print("\n".join(enhance_lines(enhance_rows)))
    loader_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = synthesize("binary", Path(tmp) / "raw", n=64, size=(288, 352))
        processed = Path(tmp) / "processed"
        prepare("synthetic-binary", raw, processed)
        size = args.size or 224
        row = bench_loader(processed, size=size, batch_size=16)
        loader_rows.append(row)
        print(
            f"Loader with augmentation, {size}x{size}, batch 16, synthetic binary: "
            f"{row['warm_samples_per_s']:.0f} samples/s warm, {row['cold_samples_per_s']:.0f} cold "
            f"(cache built in {row['cache_build_s']:.2f} s)"
        )
    return {"enhance": enhance_rows, "loader": loader_rows}


def _train_settings(args: argparse.Namespace, on_cuda: bool) -> dict[str, Any]:
    """The train bench's settings: the full GPU benchmark on CUDA, a reduced one on the CPU (unset options)."""
    from dca.bench.train import GPU_MODELS

    full = {
        "models": list(GPU_MODELS),
        "precisions": ["fp32", "bf16", "bf16-compile"],
        "batch": None,
        "size": 224,
        "steps": 20,
        "warmup": 5,
        "synthetic_n": 800,
    }
    reduced = {
        "models": ["unet"],
        "precisions": ["fp32"],
        "batch": 2,
        "size": 32,
        "steps": 1,
        "warmup": 1,
        "synthetic_n": 10,
    }
    chosen = full if on_cuda else reduced
    given = {
        "models": args.models,
        "precisions": args.precisions,
        "batch": args.batch,
        "size": args.size,
        "steps": args.steps,
        "warmup": args.warmup,
        "synthetic_n": args.synthetic_n,
    }
    return {key: chosen[key] if value is None else value for key, value in given.items()}


def _train(args: argparse.Namespace) -> dict[str, list[dict]]:
    from dca.bench import train
    from dca.bench.train_targets import judge, summary_lines
    from dca.train.config import DeviceConfig
    from dca.train.device import select_device
    from dca.utils.log import stage_log

    dev = select_device(DeviceConfig(name=args.device, determinism="seeded"), stage_log("bench"))
    s = _train_settings(args, dev.type == "cuda")
    if dev.type != "cuda":
        print(
            f"No CUDA device: a reduced CPU benchmark ({', '.join(s['models'])}, {s['size']}px, batch "
            f"{s['batch']}); images/s on a GPU, MFU, the GEMM peak and every GPU target need CUDA."
        )
    from dca.train.loader import default_workers

    workers = default_workers() if args.workers is None else args.workers
    with tempfile.TemporaryDirectory(prefix="dca-bench-train-") as tmp:
        data = None if args.no_data_loading else (args.data or _synthetic_dataset(Path(tmp), s["synthetic_n"]))
        peak = train.measured_peaks(dev)
        rows = train.bench_train(
            s["models"],
            batch=s["batch"],
            size=s["size"],
            steps=s["steps"],
            warmup=s["warmup"],
            dca=[False] if args.no_dca else [False, True],
            precisions=s["precisions"],
            device=DeviceConfig(name=dev.type, determinism="seeded"),
            channels_last=False if args.no_channels_last else None,
            official_style=args.official_style,
            data=data,
            workers=workers,
            peak_tflops=peak,
        )
        loader_rows = []
        if data is not None:
            dataset = train.SegmentationDataset(data, "train", size=s["size"], augment=True)
            batch = s["batch"] or train.DCA_PAPER_BATCH
            for n in sorted({0, workers} if args.loader_workers is None else set(args.loader_workers)):
                loader_rows.append(train.bench_loader(dataset, batch, n, dev.type == "cuda"))
    targets = judge(rows, loader_rows)
    print("\n".join(summary_lines(rows, loader_rows, peak, targets)))
    return {
        "train": rows,
        "loader": loader_rows,
        "targets": targets,
        "peak": [
            {"device": str(dev), "math": math, "gemm": f"{math} {train.PEAK_GEMM_SIZE}^3", "tflops": tflops}
            for math, tflops in peak.items()
        ],
    }


def _synthetic_dataset(folder: Path, n: int) -> Path:
    """A prepared synthetic binary dataset (Kvasir layout, 80/20 split) of ``n`` cases under ``folder``."""
    from dca.data.convert import prepare
    from dca.data.synthetic import synthesize

    raw = synthesize("binary", folder / "raw", n=n, size=(288, 352))
    prepare("synthetic-binary", raw, folder / "processed")
    return folder / "processed"


def _metrics(args: argparse.Namespace) -> dict[str, list[dict]]:
    from dca.bench.metrics import bench_hd95

    hd95_rows = bench_hd95()
    for r in hd95_rows:
        print(
            f"  HD95 {r['shape']}: ours {r['dca_s']:.3f} s, medpy {r['medpy_s']:.3f} s per volume ({r['speedup']:.0f}x)"
        )
    return {"hd95": hd95_rows}


def _dca3d(args: argparse.Namespace) -> dict[str, list[dict]]:
    from dca.bench import dca3d

    return dca3d.run(
        size=args.size, batch=args.batch, width=args.width, repeats=args.repeats, literal_size=args.literal_size
    )


BENCHES: dict[str, Callable[[argparse.Namespace], dict[str, list[dict]]]] = {
    "models": _models,
    "data": _data,
    "train": _train,
    "metrics": _metrics,
    "dca3d": _dca3d,
}


def write_tables(name: str, result: dict[str, list[dict]], out: Path) -> list[Path]:
    """Write each table of a benchmark as ``<name>.csv`` (first) or ``<name>_<table>.csv``, plus a JSON."""
    written = []
    for i, (table, rows) in enumerate(result.items()):
        if not rows:
            continue
        path = out / (f"{name}.csv" if i == 0 else f"{name}_{table}.csv")
        write_text(path, pd.DataFrame(rows).to_csv(index=False))
        written.append(path)
    write_json(out / f"{name}.json", result)
    written.append(out / f"{name}.json")
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bench", choices=sorted(BENCHES), help="which benchmark to run")
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="output folder")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    parser.add_argument("--models", nargs="*", help="models (default: the six paper models; train on CUDA: and DIN)")
    parser.add_argument(
        "--batch",
        type=int,
        default=None,
        help="batch size (models: 4; train: each model's paper batch, 16 or DIN's 3; CPU: 2)",
    )
    parser.add_argument("--size", type=int, default=None, help="input size (default 224; train on CPU: 32)")
    parser.add_argument("--repeats", type=int, default=5, help="models bench: timed repetitions (median reported)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess probes")
    parser.add_argument("--no-din", action="store_true", help="models bench: skip the DIN budget")
    parser.add_argument(
        "--width", type=float, default=None, help="dca3d bench: 3D U-Net width factor (CPU 0.125, GPU 0.5)"
    )
    parser.add_argument(
        "--literal-size",
        type=int,
        default=None,
        help="dca3d bench: size at which the literal port is measured (default: the largest that fits; 0: estimate)",
    )
    train = parser.add_argument_group("train bench (the GPU benchmark; a reduced version on CPU)")
    train.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="device")
    train.add_argument(
        "--precisions",
        nargs="+",
        default=None,
        metavar="P",
        help="fp32, bf16, bf16-compile, fp16, fp32-compile (default: fp32 bf16 bf16-compile; CPU: fp32)",
    )
    train.add_argument("--steps", type=int, default=None, help="timed steps per round, 3 rounds (default 20; CPU: 1)")
    train.add_argument("--warmup", type=int, default=None, help="warm-up (and compile) steps (default 5; CPU: 1)")
    train.add_argument(
        "--no-data-loading",
        action="store_true",
        help="bypass data loading only: dummy tensors already on the device (no real-data epochs)",
    )
    train.add_argument(
        "--data",
        type=Path,
        default=None,
        help="processed dataset for the real-data epochs (default: a synthetic one in a temp folder)",
    )
    train.add_argument("--synthetic-n", type=int, default=None, help="cases of that synthetic dataset (default 800)")
    train.add_argument(
        "--workers",
        type=int,
        default=None,
        help="loader workers of the real-data epochs (default: the job's CPUs less one, as dca train)",
    )
    train.add_argument(
        "--loader-workers",
        type=int,
        nargs="*",
        default=None,
        help="worker counts for the loader-alone figures (default: 0 and --workers)",
    )
    train.add_argument(
        "--official-style",
        nargs="*",
        default=["unet"],
        help="models whose official-style DCA is timed beside ours (default unet)",
    )
    train.add_argument("--no-dca", action="store_true", help="plain models only")
    train.add_argument("--no-channels-last", action="store_true", help="keep NCHW on CUDA")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    result = BENCHES[args.bench](args)
    for path in write_tables(args.bench, result, args.out):
        print(f"wrote {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark (models, data, train, metrics, dca3d)")
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gpu-check"]:  # a check of several stages (processes), not one benchmark table
        from dca.bench.gpu_check import main as gpu_check_main

        return gpu_check_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m dca.bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
