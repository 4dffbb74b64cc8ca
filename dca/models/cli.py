"""``dca models``: list the registered architectures and count a model's parameters."""

from __future__ import annotations

import argparse

import torch

from dca.models.registry import build_model, list_models
from dca.nn.dca import DualCrossAttention
from dca.utils.cli import parse_key_values


def _list(args: argparse.Namespace) -> int:
    names = [n for n in list_models() if args.all or not n.startswith("smp-")]
    print("\n".join(names))
    return 0


def _params(args: argparse.Namespace) -> int:
    options = parse_key_values(args.option, "--option")
    with torch.device("meta"):  # counting needs no memory
        model = build_model(
            args.name,
            dca=args.dca,
            in_channels=args.in_channels,
            num_classes=args.num_classes,
            img_size=args.img_size,
            **options,
        )
    total = sum(p.numel() for p in model.parameters())
    dca = sum(sum(p.numel() for p in m.parameters()) for m in model.modules() if isinstance(m, DualCrossAttention))
    print(f"{args.name}{' + DCA' if args.dca else ''}: {total:,} parameters ({dca:,} in DCA)")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list models or count a model's parameters")
    sub = parser.add_subparsers(dest="models_command", required=True)
    listing = sub.add_parser("list", help="names accepted by build_model")
    listing.add_argument("--all", action="store_true", help="also list every smp-unet-<encoder> name")
    listing.set_defaults(func=_list)
    params = sub.add_parser("params", help="count parameters (on the meta device)")
    params.add_argument("name")
    params.add_argument("--dca", action="store_true")
    params.add_argument("--in-channels", type=int, default=3)
    params.add_argument("--num-classes", type=int, default=1)
    params.add_argument("--img-size", type=int, default=224)
    params.add_argument("--option", action="append", default=[], help="model/DCA option key=value (repeatable)")
    params.set_defaults(func=_params)
