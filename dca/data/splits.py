"""Train/val/test splits from a registry protocol, deterministic and recorded in dataset.json.

Protocol kinds:

* ``random``: the sorted split units are permuted with ``numpy.random.default_rng(seed)``; the
  first ``count(n, test)`` units are test, the next ``count(n, val)`` (if the protocol has a val
  fraction) val, the rest train.
* ``official``: the upstream defines train/test per case (GlaS file prefixes, MoNuSeg folders).
* ``lists``: train/test ids listed in the registry (Synapse TransUNet split).
* ``sklearn``: the official DCA code's ``sklearn.model_selection.train_test_split(units, test_size,
  random_state=42)`` over the sorted units, transcribed (scikit-learn is no dependency; a test checks
  equality with it): ``n_test = ceil(test_size * n)``, ``n_train = floor((1 - test_size) * n)``, a
  ``numpy.random.RandomState(random_state).permutation(n)`` whose first ``n_test`` positions are test
  and the next ``n_train`` train. E.g. 1000 -> 800/200 (0.2), 612 -> 459/153 (0.25), 30 -> 18/12 (0.4).

A protocol's own ``val_fraction`` (0 for the paper protocols: the papers' code trains on the whole
training split) replaces the dataset's; ``subsets`` keeps only the cases of those official subsets
(ISIC 2018: the Task 1 training and test images that the DIN paper counts).

A split unit is a case, or its group where cases share a subject (ACDC: both frames of a patient
go to the same subset). When the protocol has no val subset, validation is carved out of train:
the sorted train units are permuted with ``default_rng(seed)`` and the first
``count(len(train), val_fraction)`` become val.

Rounding rule: ``count(n, f) = floor(n * f + 1/2)`` computed exactly (round half up), at least 1
when ``f > 0``; train takes the remainder. E.g. 1000 -> 800/200, 612 -> 490/122 (80/20) or
490/61/61 (80/10/10), 100 patients -> 70/10/20.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from dca.data.registry import Protocol, get_dataset
from dca.processed import ProcessedDir, dataset_info

SUBSETS = ("train", "val", "test")
ROUNDING = "count(n, f) = floor(n*f + 1/2), at least 1 when f > 0; train takes the remainder"


@dataclass(frozen=True)
class Split:
    """Case ids per subset plus everything needed to reproduce them."""

    protocol: str
    kind: str
    seed: int
    val_fraction: float
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    fractions: tuple[tuple[str, float], ...] = ()
    role: str = "honest"
    note: str = ""

    def subset_of(self) -> dict[str, str]:
        """Map case id -> subset name."""
        return {i: s for s in SUBSETS for i in getattr(self, s)}

    def sizes(self) -> dict[str, int]:
        """Number of cases per subset."""
        return {s: len(getattr(self, s)) for s in SUBSETS}

    def to_dict(self) -> dict[str, object]:
        """The JSON record written to dataset.json."""
        return {
            "protocol": self.protocol,
            "role": self.role,
            "note": self.note,
            "kind": self.kind,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "fractions": dict(self.fractions),
            "rounding": ROUNDING,
            "sizes": self.sizes(),
            **{s: list(getattr(self, s)) for s in SUBSETS},
        }


def count(n: int, fraction: float) -> int:
    """Units of ``n`` that ``fraction`` gets: exact round half up, at least 1 when fraction > 0."""
    if fraction <= 0:
        return 0
    return max(1, math.floor(n * Fraction(str(fraction)) + Fraction(1, 2)))


def _permuted(units: Iterable[str], seed: int) -> list[str]:
    """The sorted ``units`` in the seeded random order."""
    ordered = sorted(units)
    return [ordered[i] for i in np.random.default_rng(seed).permutation(len(ordered))]


def _random(units: list[str], fractions: Mapping[str, float], seed: int) -> dict[str, list[str]]:
    """Seeded random assignment of units to test, val (when given) and train."""
    order = _permuted(units, seed)
    n_test, n_val = count(len(units), fractions["test"]), count(len(units), fractions.get("val", 0.0))
    if n_test + n_val >= len(units):
        raise ValueError(
            f"only {len(units)} split units: too few for test {fractions['test']} and val {fractions.get('val', 0)} "
            "with a non-empty train set; add cases or use another protocol"
        )
    return {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}


def sklearn_split(n: int, test_size: float, random_state: int) -> tuple[list[int], list[int]]:
    """(train, test) positions of ``train_test_split(range(n), test_size=..., random_state=...)``, transcribed."""
    n_test, n_train = math.ceil(test_size * n), math.floor((1.0 - test_size) * n)
    if n_train == 0 or n_test == 0:
        raise ValueError(f"only {n} split units: too few for test_size {test_size} with non-empty train and test")
    permutation = np.random.RandomState(random_state).permutation(n)
    return permutation[n_test : n_test + n_train].tolist(), permutation[:n_test].tolist()


def _sklearn(units: list[str], protocol: Protocol) -> dict[str, list[str]]:
    """The official DCA split of the sorted ``units``."""
    ordered = sorted(units)
    train, test = sklearn_split(len(ordered), protocol.test_size, protocol.random_state)
    return {"train": [ordered[i] for i in train], "val": [], "test": [ordered[i] for i in test]}


def _lists(units: list[str], protocol: Protocol) -> dict[str, list[str]]:
    """Assignment from the registry lists; unlisted units are an error, so are missing listed ones if required."""
    lists = dict(protocol.lists)
    listed = {u: s for s, ids in lists.items() for u in ids}
    unlisted = sorted(set(units) - set(listed))
    if unlisted:
        raise ValueError(
            f"split protocol {protocol.name!r} does not list cases {unlisted}; "
            "add them to its lists in the registry or remove them from the raw data"
        )
    missing = sorted(set(listed) - set(units))
    if missing and protocol.require_all:
        raise ValueError(
            f"split protocol {protocol.name!r} needs cases {missing} that are not in the raw data; "
            "the release is incomplete: download it again"
        )
    present = set(units)
    return {s: [u for u in ids if u in present] for s, ids in lists.items()}


def _official(units: list[str], official: Mapping[str, str], protocol: Protocol) -> dict[str, list[str]]:
    """Assignment given by the upstream release, per unit."""
    out: dict[str, list[str]] = {s: [] for s in SUBSETS}
    for u in units:
        out[official[u]].append(u)
    for subset in ("train", "test"):
        if not out[subset]:
            raise ValueError(
                f"split protocol {protocol.name!r} ({protocol.note}) found no {subset} cases in the raw data; "
                "the release is incomplete (see the dataset's download steps)"
            )
    return out


def _unit_map(ids: list[str], groups: Mapping[str, str] | None, per_case: Mapping[str, str] | None) -> dict[str, str]:
    """Map each split unit (group) to its official subset, checking that a group is not split."""
    unit_subset: dict[str, str] = {}
    for i in ids:
        unit, subset = (groups or {}).get(i, i), (per_case or {}).get(i, "")
        if unit_subset.setdefault(unit, subset) != subset:
            raise ValueError(f"case {i}: its group {unit!r} has cases in both {unit_subset[unit]} and {subset}")
    return unit_subset


def make_split(
    ids: Iterable[str],
    protocol: Protocol,
    seed: int,
    val_fraction: float,
    groups: Mapping[str, str] | None = None,
    official: Mapping[str, str] | None = None,
) -> Split:
    """Split case ``ids`` by ``protocol``; ``groups`` maps a case to its split unit, ``official`` to its subset."""
    ids = sorted(ids)
    if len(set(ids)) != len(ids):
        raise ValueError("case ids are not unique")
    if protocol.val_fraction is not None:
        val_fraction = protocol.val_fraction
    if protocol.subsets:
        ids = _in_subsets(ids, protocol, official or {})
    if protocol.kind == "official" and not set(ids) <= set(official or {}):
        raise ValueError(f"split protocol {protocol.name!r} is 'official' but the layout gives no subset per case")
    unit_subset = _unit_map(ids, groups, official)
    units = sorted(unit_subset)
    if protocol.kind == "random":
        by_unit = _random(units, dict(protocol.fractions), seed)
    elif protocol.kind == "sklearn":
        by_unit = _sklearn(units, protocol)
    elif protocol.kind == "lists":
        by_unit = _lists(units, protocol)
    else:
        by_unit = _official(units, unit_subset, protocol)
    carve = not by_unit.get("val") and "val" not in dict(protocol.fractions)
    if carve and val_fraction > 0 and len(by_unit["train"]) > 1:
        order = _permuted(by_unit["train"], seed)
        n_val = count(len(order), val_fraction)
        by_unit["val"], by_unit["train"] = order[:n_val], order[n_val:]
    subset_of_unit = {u: s for s, us in by_unit.items() for u in us}
    members = {s: tuple(i for i in ids if subset_of_unit.get((groups or {}).get(i, i)) == s) for s in SUBSETS}
    return Split(
        protocol=protocol.name,
        kind=protocol.kind,
        seed=seed,
        val_fraction=val_fraction if carve else 0.0,
        fractions=protocol.fractions
        + ((("test_size", protocol.test_size), ("random_state", protocol.random_state)) if protocol.test_size else ()),
        role=protocol.role,
        note=protocol.note,
        **members,
    )


def _in_subsets(ids: list[str], protocol: Protocol, official: Mapping[str, str]) -> list[str]:
    """The ids whose official subset is one the protocol draws from; every such subset must have cases."""
    kept = [i for i in ids if official.get(i) in protocol.subsets]
    for subset in protocol.subsets:
        if not any(official.get(i) == subset for i in kept):
            raise ValueError(
                f"split protocol {protocol.name!r} ({protocol.note}) draws from the official {subset} cases, "
                f"but the raw data has none; add them (see the dataset's download steps) or choose another protocol"
            )
    return kept


def prepared_sizes(root: Path, protocol: str) -> dict[str, int]:
    """Subset sizes of the prepared dataset at ``root`` under ``protocol`` (``paper``, ``honest`` or a name).

    The protocol it was prepared with gives the recorded sizes; another one is recomputed from the case
    ids, groups and official subsets that dataset.json records, with the seed it was prepared with.
    """
    path, info = ProcessedDir(root).info, dataset_info(root)
    try:
        spec, recorded = get_dataset(info["name"]), info["split"]
        current, ids = recorded["protocol"], [i for s in SUBSETS for i in recorded[s]]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a readable dataset description ({err}); prepare the dataset again") from err
    chosen = spec.resolve(protocol, current)
    if chosen.name == current:
        return {s: len(recorded[s]) for s in SUBSETS}
    if (chosen.kind == "official" or chosen.subsets) and "official_subsets" not in info:
        raise ValueError(
            f"{path} records no official subsets (prepared by an older dca): prepare it again to see {chosen.name!r}"
        )
    try:
        split = make_split(
            ids, chosen, recorded["seed"], spec.val_fraction, info.get("groups"), info.get("official_subsets")
        )
    except ValueError as err:
        raise ValueError(
            f"{root} (prepared with protocol {current!r}) cannot be re-split by {chosen.name!r}: {err}. "
            f"Prepare the raw data with --protocol {chosen.name}"
        ) from err
    return split.sizes()
