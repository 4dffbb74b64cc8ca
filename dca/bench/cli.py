"""``python -m dca.bench NAME`` / ``dca bench NAME``: run one benchmark and write its tables."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from dca.utils.io import write_json, write_text


def _models(args: argparse.Namespace) -> dict[str, list[dict]]:
    from dca.bench import models

    names = args.models or list(models.PAPER_MODELS)
    result = models.run(names, batch=args.batch, size=args.size, repeats=args.repeats, memory=not args.no_memory)
    print("\n".join(models.summary_lines(result)))
    if not args.no_din:
        from dca.bench.din import din_budget

        result["din"] = din_budget()
        print("DIN budget, ours vs the paper (Table 15, section 4.5):")
        for r in result["din"]:
            print(f"  {r['quantity']:<28} ours {r['ours']:>10,.2f} {r['unit']:<7} paper {r['paper']}  "
                  f"({r['diff_pct']:+.2f}%)")
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
        row = bench_loader(processed, size=args.size, batch_size=16)
        loader_rows.append(row)
        print(f"Loader with augmentation, {args.size}x{args.size}, batch 16, synthetic binary: "
              f"{row['warm_samples_per_s']:.0f} samples/s warm, {row['cold_samples_per_s']:.0f} cold "
              f"(cache built in {row['cache_build_s']:.2f} s)")
    return {"enhance": enhance_rows, "loader": loader_rows}


def _train(args: argparse.Namespace) -> dict[str, list[dict]]:
    from dca.bench.metrics import bench_hd95
    from dca.bench.train import bench_train
    from dca.train.config import DeviceConfig

    names = args.models or ["unet", "vnet", "r2unet", "resunetpp", "doubleunet", "multiresunet"]
    device = DeviceConfig(name=args.device, amp=args.amp, channels_last=args.channels_last, deterministic=False)
    train_rows = bench_train(names, batch=args.batch, size=args.size, steps=args.repeats, device=device)
    for r in train_rows:
        print(f"  {r['model']:<13} {'DCA ' if r['dca'] else 'plain'} {r['device']} amp={r['amp']} "
              f"channels_last={r['channels_last']}: {r['images_per_s']:.2f} images/s")
    hd95_rows = bench_hd95()
    for r in hd95_rows:
        print(f"  HD95 {r['shape']}: ours {r['dca_s']:.3f} s, medpy {r['medpy_s']:.3f} s per volume "
              f"({r['speedup']:.0f}x)")
    return {"train": train_rows, "hd95": hd95_rows}


BENCHES: dict[str, Callable[[argparse.Namespace], dict[str, list[dict]]]] = {
    "models": _models,
    "data": _data,
    "train": _train,
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
    parser.add_argument("--models", nargs="*", help="models (models bench; default: the six paper models)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions (median reported)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess probes")
    parser.add_argument("--no-din", action="store_true", help="models bench: skip the DIN budget")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="train bench device")
    parser.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"], help="train bench AMP (CUDA)")
    parser.add_argument("--channels-last", action="store_true", help="train bench: channels_last (CUDA)")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    result = BENCHES[args.bench](args)
    for path in write_tables(args.bench, result, args.out):
        print(f"wrote {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark (models, data, train)")
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dca.bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
