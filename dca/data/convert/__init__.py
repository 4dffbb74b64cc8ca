"""Convert an upstream dataset layout into the processed format: ``prepare(name, raw, out)``.

Each layout module (one per upstream layout) exposes ``EXPECTED`` (a description for error
messages), ``detect(folder) -> bool`` and ``cases(root, spec) -> list[Case]``; the registry says
which layouts a dataset accepts. Splitting and writing are shared (:mod:`dca.data.splits`,
:mod:`dca.data.convert.writer`).
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from dca.data.convert.common import describe, search
from dca.data.convert.maskcoding import detect_encoding
from dca.data.convert.writer import check_target, write_processed
from dca.data.registry import DatasetSpec, get_dataset
from dca.data.splits import Split, make_split

#: layout name (as used in the registry) -> module
LAYOUTS = {
    name: f"dca.data.convert.{name}"
    for name in ("kvasir", "cvc", "isic", "glas", "monuseg", "acdc", "acdc_mtunet", "synapse_npz", "synapse_raw")
}


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` wrote: the folder, the layout found, and the split."""

    out: Path
    layout: str
    root: Path
    split: Split


def layout_module(name: str) -> ModuleType:
    """The converter module of layout ``name``."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; known layouts: {', '.join(LAYOUTS)}")
    return importlib.import_module(LAYOUTS[name])


def find_layout(spec: DatasetSpec, raw: Path, layouts: tuple[str, ...] = ()) -> tuple[str, Path]:
    """The first of ``layouts`` (default: the dataset's) found in ``raw`` (itself or two levels down) and its root."""
    if raw.is_file():
        raise ValueError(
            f"{raw} is a file, not a folder; unpack it first: "
            f"dca data download {spec.name} --out DIR --url-or-file {raw}"
        )
    if not raw.is_dir():
        raise spec.missing(raw)
    for name in layouts or spec.layouts:
        root = search(raw, layout_module(name).detect)
        if root is not None:
            return name, root
    expected = "\n".join(f"  {layout_module(n).EXPECTED}" for n in layouts or spec.layouts)
    raise ValueError(
        f"dataset {spec.name!r}: no known layout in {raw} (searched it and two levels down).\n"
        f"Found:\n{describe(raw)}\nExpected one of:\n{expected}\nHow to get it: {spec.source.steps}"
    )


def prepare(
    name: str,
    raw: Path,
    out: Path,
    protocol: str | None = None,
    seed: int | None = None,
    overwrite: bool = False,
) -> Prepared:
    """Convert the raw dataset ``name`` found in ``raw`` into the processed format at ``out``."""
    spec = get_dataset(name)
    raw, out = Path(raw), Path(out)
    chosen = spec.resolve(protocol, spec.default_protocol) if protocol else spec.protocol()
    check_target(out, overwrite)
    if chosen.mask_threshold is not None:  # the paper's own labelling: this protocol's processed dataset only
        spec = dataclasses.replace(spec, mask=dataclasses.replace(spec.mask, threshold=chosen.mask_threshold))
    layout, root = find_layout(spec, raw, chosen.layouts)
    module = layout_module(layout)
    cases = module.cases(root, spec)
    encoding = None
    if spec.mask.kind == "threshold" and cases:
        encoding = detect_encoding([c.mask for c in cases if c.mask is not None], spec.mask, name)
        if encoding.rule != spec.mask:
            cases = module.cases(root, dataclasses.replace(spec, mask=encoding.rule))
    if not cases:
        raise ValueError(
            f"dataset {name!r}: the {layout} layout at {root} holds no cases; the folder is empty or incomplete"
        )
    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen:
            raise ValueError(f"case id {case.id!r} occurs twice: {seen[case.id]} and {case.source}; remove one")
        seen[case.id] = case.source
    split = make_split(
        seen,
        chosen,
        spec.seed if seed is None else seed,
        spec.val_fraction,
        groups={c.id: c.group for c in cases if c.group},
        official={c.id: c.subset for c in cases if c.subset},
    )
    subset_of = split.subset_of()
    cases = [c for c in cases if c.id in subset_of]  # a protocol's ``subsets`` may leave cases out
    source = {
        "raw": str(raw.resolve()),
        "layout": layout,
        **({"mask_encoding": encoding.describe()} if encoding else {}),
        "root": str(root.resolve()),
        "kind": spec.source.kind,
        "homepage": spec.source.homepage,
        "citation": spec.source.citation,
        "archives": [{"name": a.name, "url": a.url, "sha256": a.sha256} for a in spec.source.archives],
    }
    units = {
        "groups": {c.id: c.group for c in cases if c.group},
        "official_subsets": {c.id: c.subset for c in cases if c.subset},
    }
    write_processed(spec, cases, split, out, source, overwrite, units=units)
    return Prepared(out, layout, root, split)
