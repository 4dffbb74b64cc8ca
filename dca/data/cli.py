"""``dca data``: list the registry, write synthetic data, download and prepare datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dca.utils.log import info


def _size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. 128x128)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must be HxW, e.g. 128x128, got {text!r}") from None
    return h, w


def _list(args: argparse.Namespace) -> int:
    """Print one line per registry entry."""
    from dca.data.registry import load_registry

    for spec in load_registry().values():
        protocols = ", ".join(p + ("*" if p == spec.default_protocol else "") for p in spec.protocols)
        print(f"{spec.name:22s} {spec.source.kind:9s} {spec.dims}D {len(spec.labels)} labels  protocols: {protocols}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    """Write a synthetic dataset in its raw layout."""
    from dca.data.synthetic import synthesize

    out = synthesize(args.kind, Path(args.out), n=args.n, seed=args.seed, size=args.size, depth=args.depth)
    print(f"wrote synthetic {args.kind} data to {out}")
    return 0


def _download(args: argparse.Namespace) -> int:
    """Download (or take local files), verify and unpack a dataset's archives."""
    from dca.data.download import download
    from dca.data.registry import get_dataset

    spec = get_dataset(args.dataset)
    fetched = download(spec, Path(args.out), args.url_or_file, args.sha256)
    for item in fetched:
        state = "recorded in SHA256SUMS" if item.recorded else "not verified" if item.not_recorded else "verified"
        print(f"{item.name}: sha256 {item.sha256} ({state})")
        if item.not_recorded:
            print(
                f"warning: {item.name}: its checksum is not recorded in SHA256SUMS, as {args.out} does not hold the "
                f"full release ({item.not_recorded}); if the archive is incomplete, delete it and download it again",
                file=sys.stderr,
            )
        for path in item.unpacked:
            print(f"  unpacked {path}")
    if not fetched:
        print(f"{spec.name}: already unpacked in {args.out}; nothing to download")
    info(f"next: dca data prepare {spec.name} --raw {args.out} --out PROCESSED")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    """Convert a raw dataset into the processed format."""
    from dca.data.convert import prepare
    from dca.data.registry import get_dataset

    done = prepare(args.dataset, Path(args.raw), Path(args.out), args.protocol, args.seed, args.overwrite)
    sizes = done.split.sizes()
    print(
        f"{args.dataset}: {sum(sizes.values())} cases from the {done.layout} layout at {done.root} -> {done.out} "
        f"(protocol {done.split.protocol}: train {sizes['train']}, val {sizes['val']}, test {sizes['test']})"
    )
    expected = get_dataset(args.dataset).cases
    if expected is not None and expected != sum(sizes.values()):
        info(f"note: the full {args.dataset} release has {expected} cases")
    return 0


def _splits(args: argparse.Namespace) -> int:
    """Print a prepared dataset's split sizes under a protocol as JSON."""
    import json

    from dca.data.splits import prepared_sizes

    print(json.dumps(prepared_sizes(Path(args.dir), args.protocol)))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``dca data`` and its sub-commands."""
    parser = subparsers.add_parser("data", help="dataset registry, download, conversion, synthetic data")
    sub = parser.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("list", help="list the datasets of the registry (* = default protocol)")
    p.set_defaults(func=_list)

    p = sub.add_parser("synth", help="write a synthetic dataset in an upstream raw layout")
    p.add_argument("kind", help="binary (Kvasir layout), multiclass (Synapse raw layout) or acdc")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--n", type=int, default=None, help="number of cases (patients for acdc); default per kind")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.add_argument("--size", type=_size, default=None, help="image size HxW; default per kind")
    p.add_argument(
        "--depth", type=int, default=None, help="slices per volume (multiclass and acdc are 3D); default per kind"
    )
    p.set_defaults(func=_synth)

    p = sub.add_parser("download", help="download or take local archives, verify SHA-256, unpack safely")
    p.add_argument("dataset", help="registry name (dca data list)")
    p.add_argument("--out", required=True, help="raw data folder to unpack into")
    p.add_argument("--url-or-file", nargs="+", default=None, help="URLs (http, https, file) or local archive paths")
    p.add_argument("--sha256", default=None, help="expected SHA-256 of the (single) archive")
    p.set_defaults(func=_download)

    p = sub.add_parser("prepare", help="convert a raw dataset into the processed format")
    p.add_argument("dataset", help="registry name (dca data list)")
    p.add_argument("--raw", required=True, help="raw folder: the upstream layout itself or up to two levels above it")
    p.add_argument("--out", required=True, help="processed folder to create")
    p.add_argument(
        "--protocol",
        default=None,
        help="split protocol: a registry name (dca data list), or paper / honest (the default's twin); "
        "default: the registry's default (honest)",
    )
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the registry's)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_prepare)

    p = sub.add_parser(
        "splits", help='print a prepared dataset\'s split sizes as JSON {"train": n, "val": n, "test": n}'
    )
    p.add_argument("dir", help="prepared dataset folder (dca data prepare --out)")
    p.add_argument(
        "--protocol",
        default="honest",
        help="paper or honest (the twin of the protocol DIR was prepared with), or a registry protocol name",
    )
    p.set_defaults(func=_splits)


def main(argv: list[str] | None = None) -> int:
    """Run ``dca data ARGV`` (same as the ``dca`` command line with ``data`` first)."""
    from dca.cli import main as dca_main

    return dca_main(["data", *(sys.argv[1:] if argv is None else argv)])
