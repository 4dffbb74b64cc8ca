"""The dataset registry: typed, validated view of ``config/datasets.yaml``.

Every dataset fact (labels, mask encoding, layouts, sources, checksums, split protocols) lives in
that file; code reads it only through :func:`get_dataset` / :func:`load_registry`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: The packaged registry (a symbolic link to config/datasets.yaml in the repository).
REGISTRY_PATH = Path(__file__).resolve().parent.parent / "resources" / "datasets.yaml"

SOURCE_KINDS = ("url", "manual", "synthetic")
#: the split a paper protocol's runs select their best epoch on
PAPER_SELECTIONS = ("test", "val")
PROTOCOL_KINDS = ("random", "official", "lists", "sklearn")
#: ``honest``: selection on a validation split (the default); ``paper``: reruns a paper's split (see docs)
PROTOCOL_ROLES = ("honest", "paper")


@dataclass(frozen=True)
class Archive:
    """One upstream file: its name, direct URL (None: manual download) and SHA-256 (None: unknown)."""

    name: str
    url: str | None
    sha256: str | None


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from and exactly how to obtain it."""

    kind: str
    folder: str
    steps: str
    archives: tuple[Archive, ...] = ()
    homepage: str | None = None
    citation: str | None = None
    synth: str | None = None


@dataclass(frozen=True)
class MaskRule:
    """How raw mask values become labels: threshold, values (exact map), nonzero or identity."""

    kind: str
    threshold: int = 128
    values: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Intensity:
    """3D intensity normalisation to [0, 1]: clip to (low, high) then scale, minmax per volume, or none."""

    kind: str
    low: float = 0.0
    high: float = 1.0


@dataclass(frozen=True)
class Protocol:
    """A named split protocol (see :mod:`dca.data.splits` for the kinds).

    ``role`` is honest or paper; ``paper`` names an honest protocol's paper twin(s); ``val_fraction``
    overrides the dataset's (0: no validation split, as the papers' code); ``subsets`` limits the cases
    to these official subsets; ``test_size`` and ``random_state`` belong to the ``sklearn`` kind;
    ``layouts`` (empty: the dataset's) are the raw layouts it accepts, when its split needs one layout's lists;
    ``selection`` is the split a paper protocol's runs select on (``test`` as the papers' code, or ``val``);
    ``mask_threshold`` replaces a thresholded dataset's threshold when this protocol prepares it (the DCA code
    counts every mask value >= 1 as foreground): a prepare-time choice, as each paper split is its own dataset.
    """

    name: str
    kind: str
    note: str = ""
    fractions: tuple[tuple[str, float], ...] = ()
    lists: tuple[tuple[str, tuple[str, ...]], ...] = ()
    require_all: bool = True
    role: str = "honest"
    paper: tuple[str, ...] = ()
    val_fraction: float | None = None
    subsets: tuple[str, ...] = ()
    test_size: float = 0.0
    random_state: int = 42
    layouts: tuple[str, ...] = ()
    selection: str = "test"
    mask_threshold: int | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """One registry entry, validated."""

    name: str
    title: str
    modality: str
    dims: int
    channels: int
    labels: tuple[str, ...]
    layouts: tuple[str, ...]
    mask: MaskRule
    intensity: Intensity
    source: Source
    protocols: dict[str, Protocol]
    default_protocol: str
    seed: int
    val_fraction: float
    cases: int | None = None

    @property
    def num_classes(self) -> int:
        """Number of labels, background included."""
        return len(self.labels)

    def protocol(self, name: str | None = None) -> Protocol:
        """The protocol ``name`` (default: the registry's default for this dataset)."""
        key = name or self.default_protocol
        if key not in self.protocols:
            raise ValueError(
                f"dataset {self.name!r} has no split protocol {key!r}; choose one of {sorted(self.protocols)}"
            )
        return self.protocols[key]

    def resolve(self, alias: str, current: str) -> Protocol:
        """The protocol ``alias`` names for a dataset prepared with ``current``: ``paper``, ``honest`` or a name."""
        if alias not in ("paper", "honest"):
            return self.protocol(alias)
        now = self.protocol(current)
        if alias == now.role:
            return now
        if alias == "paper":
            twins = now.paper
        else:
            twins = tuple(p.name for p in self.protocols.values() if current in p.paper)
        if len(twins) != 1:
            raise ValueError(
                f"dataset {self.name!r}: its {now.role} protocol {current!r} has "
                + (f"several {alias} twins {list(twins)}" if twins else f"no {alias} twin")
                + f"; name one with --protocol ({', '.join(sorted(self.protocols))})"
            )
        return self.protocols[twins[0]]

    def missing(self, where: Path) -> FileNotFoundError:
        """The error for a dataset that is not at ``where``: names it, the path, and how to get it."""
        return FileNotFoundError(
            f"dataset {self.name!r} ({self.title}) was not found at {where} "
            f"(expected the {self.source.folder!r} layout there or up to two levels down). "
            f"How to get it: {self.source.steps}"
        )


class _Entry:
    """Typed access to one YAML mapping with errors that name the file, dataset and key."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}; fix the registry")
        self.data, self.where = data, where

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        """Value of ``key`` checked against ``kind``; required unless ``default`` is given."""
        where = self.where.rstrip(":")
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise ValueError(f"{where}: required key {key!r} is missing; add it to the registry")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
            raise ValueError(f"{where}: key {key!r} has the wrong type ({type(value).__name__}); fix the registry")
        return value

    def sub(self, key: str) -> _Entry:
        """The nested mapping under ``key``."""
        separator = " " if self.where.endswith(":") else "."
        return _Entry(self.get(key, dict), f"{self.where}{separator}{key}")


def _mask_rule(entry: _Entry, num_labels: int) -> MaskRule:
    """Parse ``mask`` (absent: raw values are the labels)."""
    if "mask" not in entry.data:
        return MaskRule("identity")
    mask = entry.sub("mask")
    if "threshold" in mask.data:
        return MaskRule("threshold", threshold=mask.get("threshold", int))
    if mask.get("nonzero", bool, False):
        return MaskRule("nonzero")
    values = {int(k): int(v) for k, v in mask.get("values", dict).items()}
    if any(not 0 <= v < num_labels for v in values.values()):
        raise ValueError(f"{mask.where}.values: a label index is outside 0..{num_labels - 1}; fix the registry")
    return MaskRule("values", values=tuple(sorted(values.items())))


def _intensity(entry: _Entry) -> Intensity:
    """Parse ``intensity`` (absent: none; ``minmax``; or ``{clip: [lo, hi]}``)."""
    value = entry.data.get("intensity")
    if value is None:
        return Intensity("none")
    if value == "minmax":
        return Intensity("minmax")
    clip = entry.sub("intensity").get("clip", list)
    if len(clip) != 2 or not clip[0] < clip[1]:
        raise ValueError(f"{entry.where}.intensity.clip: expected [low, high] with low < high; fix the registry")
    return Intensity("clip", float(clip[0]), float(clip[1]))


def _source(entry: _Entry) -> Source:
    """Parse ``source``."""
    kind = entry.get("kind", str)
    if kind not in SOURCE_KINDS:
        raise ValueError(f"{entry.where}.kind: {kind!r} is not one of {SOURCE_KINDS}; fix the registry")
    archives = []
    for i, raw in enumerate(entry.get("archives", list, [])):
        item = _Entry(raw, f"{entry.where}.archives[{i}]")
        sha = item.get("sha256", str, None)
        if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
            raise ValueError(f"{item.where}.sha256: not a lowercase 64-digit SHA-256; fix the registry")
        url = item.get("url", str, None)
        if kind == "url" and url is None:
            raise ValueError(f"{item.where}.url: a source of kind 'url' needs a URL for every archive")
        archives.append(Archive(item.get("name", str), url, sha))
    return Source(
        kind=kind,
        folder=entry.get("folder", str),
        steps=entry.get("steps", str).strip(),
        archives=tuple(archives),
        homepage=entry.get("homepage", str, None),
        citation=entry.get("citation", str, None),
        synth=entry.get("synth", str, None) if kind == "synthetic" else None,
    )


def _protocol(name: str, entry: _Entry) -> Protocol:
    """Parse one split protocol."""
    kind = entry.get("kind", str)
    if kind not in PROTOCOL_KINDS:
        raise ValueError(f"{entry.where}.kind: {kind!r} is not one of {PROTOCOL_KINDS}; fix the registry")
    fractions: dict[str, float] = {}
    lists: dict[str, tuple[str, ...]] = {}
    if kind == "random":
        fractions = {k: float(v) for k, v in entry.get("fractions", dict).items()}
        if "test" not in fractions or set(fractions) - {"val", "test"} or not 0 < sum(fractions.values()) < 1:
            raise ValueError(
                f"{entry.where}.fractions: give test (and optionally val) fractions summing to less than 1"
            )
    if kind == "lists":
        lists = {s: tuple(str(i) for i in entry.get(s, list)) for s in ("train", "test")}
    test_size = float(entry.get("test_size", (int, float), 0.0))
    if kind == "sklearn" and not 0 < test_size < 1:
        raise ValueError(f"{entry.where}.test_size: a 'sklearn' protocol needs a test_size in (0, 1)")
    role = entry.get("role", str, "honest")
    if role not in PROTOCOL_ROLES:
        raise ValueError(f"{entry.where}.role: {role!r} is not one of {PROTOCOL_ROLES}; fix the registry")
    paper = entry.get("paper", (str, list), [])
    val_fraction = entry.get("val_fraction", (int, float), None)
    if val_fraction is not None and not 0 <= val_fraction < 1:
        raise ValueError(f"{entry.where}.val_fraction: must be in [0, 1), got {val_fraction}")
    selection = entry.get("selection", str, "test")
    if selection not in PAPER_SELECTIONS:
        raise ValueError(f"{entry.where}.selection: {selection!r} is not one of {PAPER_SELECTIONS}; fix the registry")
    mask_threshold = entry.get("mask_threshold", int, None)
    if mask_threshold is not None and mask_threshold < 1:
        raise ValueError(f"{entry.where}.mask_threshold: must be >= 1, got {mask_threshold}; fix the registry")
    return Protocol(
        name=name,
        kind=kind,
        note=entry.get("note", str, ""),
        fractions=tuple(fractions.items()),
        lists=tuple(lists.items()),
        require_all=entry.get("require_all", bool, True),
        role=role,
        paper=(paper,) if isinstance(paper, str) else tuple(str(p) for p in paper),
        val_fraction=None if val_fraction is None else float(val_fraction),
        subsets=tuple(str(x) for x in entry.get("subsets", list, [])),
        test_size=test_size,
        random_state=entry.get("random_state", int, 42),
        layouts=tuple(str(x) for x in entry.get("layouts", list, [])),
        selection=selection,
        mask_threshold=mask_threshold,
    )


def _dataset(name: str, entry: _Entry, defaults: _Entry) -> DatasetSpec:
    """Parse and validate one dataset entry."""
    labels = tuple(str(x) for x in entry.get("labels", list))
    if len(labels) < 2 or labels[0] != "background":
        raise ValueError(f"{entry.where}.labels: need at least two labels, the first 'background'")
    dims, channels = entry.get("dims", int), entry.get("channels", int)
    if dims not in (2, 3) or channels not in (1, 3):
        raise ValueError(f"{entry.where}: dims must be 2 or 3 and channels 1 or 3, got {dims}, {channels}")
    split = entry.sub("split")
    protocols_entry = split.sub("protocols")
    protocols = {p: _protocol(p, protocols_entry.sub(p)) for p in protocols_entry.data}
    default = split.get("default", str)
    if default not in protocols:
        raise ValueError(f"{split.where}.default: {default!r} is not one of its protocols {sorted(protocols)}")
    layouts = tuple(entry.get("layouts", list))
    for protocol in protocols.values():
        if set(protocol.layouts) - set(layouts):
            raise ValueError(
                f"{protocols_entry.where}.{protocol.name}.layouts: {sorted(set(protocol.layouts) - set(layouts))} "
                f"are not layouts of the dataset ({list(layouts)}); fix the registry"
            )
        if protocol.mask_threshold is not None and "threshold" not in (entry.data.get("mask") or {}):
            raise ValueError(
                f"{protocols_entry.where}.{protocol.name}.mask_threshold: the dataset's masks are not thresholded "
                "(its mask has no threshold); remove the key"
            )
        for twin in protocol.paper:
            if twin not in protocols or protocols[twin].role != "paper":
                raise ValueError(
                    f"{protocols_entry.where}.{protocol.name}.paper: {twin!r} is not a paper protocol of this dataset"
                )
    val_fraction = float(split.get("val_fraction", (int, float), defaults.get("val_fraction", (int, float))))
    if not 0 <= val_fraction < 1:
        raise ValueError(f"{split.where}: val_fraction must be in [0, 1), got {val_fraction}")
    return DatasetSpec(
        name=name,
        title=entry.get("title", str),
        modality=entry.get("modality", str),
        dims=dims,
        channels=channels,
        labels=labels,
        layouts=layouts,
        mask=_mask_rule(entry, len(labels)),
        intensity=_intensity(entry),
        source=_source(entry.sub("source")),
        protocols=protocols,
        default_protocol=default,
        seed=split.get("seed", int, defaults.get("seed", int)),
        val_fraction=val_fraction,
        cases=entry.get("cases", int, None),
    )


@functools.cache
def load_registry(path: Path = REGISTRY_PATH) -> dict[str, DatasetSpec]:
    """All registry entries by name, validated (cached per path)."""
    if not path.is_file():
        raise FileNotFoundError(f"dataset registry {path} is missing; reinstall dca or restore config/datasets.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err}); fix the registry") from err
    root = _Entry(data, f"{path}:")
    defaults = root.sub("defaults")
    datasets = root.sub("datasets")
    return {name: _dataset(name, datasets.sub(name), defaults) for name in datasets.data}


def get_dataset(name: str, path: Path = REGISTRY_PATH) -> DatasetSpec:
    """The registry entry ``name``; an unknown name is an error listing the known ones."""
    registry = load_registry(path)
    if name not in registry:
        raise ValueError(f"unknown dataset {name!r}; the registry ({path}) has: {', '.join(registry)}")
    return registry[name]
