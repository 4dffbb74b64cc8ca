"""Split protocols on full-size id lists: the papers' sizes, the rounding rule, determinism, errors."""

from __future__ import annotations

import dataclasses

import pytest

from dca.data.registry import get_dataset
from dca.data.splits import count, make_split

#: first test / val ids of the kvasir protocol on ids 0000..0999 (seed 42)
PINNED_TEST = ("0002", "0006", "0007", "0011", "0021")
PINNED_VAL = ("0010", "0013", "0031")


def split_of(name: str, ids: list[str], protocol: str | None = None, **kwargs: object):
    """Split ``ids`` with dataset ``name``'s registry protocol, seed and validation fraction."""
    spec = get_dataset(name)
    return make_split(ids, spec.protocol(protocol), spec.seed, spec.val_fraction, **kwargs)


def sizes(split) -> tuple[int, int, int]:
    return len(split.train), len(split.val), len(split.test)


@pytest.mark.parametrize(
    ("n", "fraction", "expected"),
    [(1000, 0.2, 200), (612, 0.2, 122), (612, 0.1, 61), (2594, 0.1, 259), (100, 0.2, 20), (25, 0.1, 3),
     (15, 0.1, 2), (14, 0.1, 1), (5, 0.1, 1), (800, 0.1, 80), (10, 0.0, 0)],
)  # fmt: skip
def test_rounding_rule(n: int, fraction: float, expected: int) -> None:
    """count(n, f) = floor(n*f + 1/2) exactly (2.5 -> 3, 1.5 -> 2), at least 1 for f > 0."""
    assert count(n, fraction) == expected


@pytest.mark.parametrize(
    ("name", "n", "protocol", "expected"),
    [
        ("kvasir", 1000, None, (720, 80, 200)),  # DCA 80/20, val 10 % of the 800
        ("cvc", 612, "dca", (441, 49, 122)),  # DCA 80/20: 490 / 122
        ("cvc", 612, "din", (490, 61, 61)),  # DIN 80/10/10
        ("isic2018", 2594, None, (2076, 259, 259)),  # DIN 80/10/10
    ],
)
def test_random_protocols_give_the_papers_sizes(name: str, n: int, protocol: str | None, expected: tuple) -> None:
    ids = [f"{i}" for i in range(1, n + 1)]
    split = split_of(name, ids, protocol, official={i: "train" for i in ids})  # ISIC: the Task 1 training images
    assert sizes(split) == expected
    assert sorted(split.train + split.val + split.test) == sorted(ids)
    record = split.to_dict()
    assert record["sizes"] == dict(zip(("train", "val", "test"), expected, strict=True))
    assert record["seed"] == get_dataset(name).seed and "floor" in record["rounding"]


def test_acdc_splits_patients_70_10_20_and_keeps_frames_together() -> None:
    ids = [f"patient{p:03d}_frame{f:02d}" for p in range(1, 101) for f in (1, 12)]
    split = split_of("acdc", ids, groups={i: i.split("_")[0] for i in ids})
    assert sizes(split) == (140, 20, 40)
    for subset in ("train", "val", "test"):
        patients = {i.split("_")[0] for i in getattr(split, subset)}
        assert all(
            f"{p}_frame01" in getattr(split, subset) and f"{p}_frame12" in getattr(split, subset) for p in patients
        )
    assert split.val_fraction == 0.0  # the protocol has its own val subset


def test_synapse_transunet_lists_and_carved_val() -> None:
    ids = [f"case{i:04d}" for i in list(range(1, 11)) + list(range(21, 41))]
    split = split_of("synapse", ids)
    assert sizes(split) == (16, 2, 12)
    lists = dict(get_dataset("synapse").protocol().lists)
    assert split.test == lists["test"]
    assert sorted(split.train + split.val) == sorted(lists["train"])
    assert split.val_fraction == 0.1


def test_official_glas_85_80_and_monuseg_30_14() -> None:
    glas = (
        [f"train_{i}" for i in range(1, 86)]
        + [f"testA_{i}" for i in range(1, 61)]
        + [f"testB_{i}" for i in range(1, 21)]
    )
    split = split_of("glas", glas, official={i: "train" if i.startswith("train") else "test" for i in glas})
    assert sizes(split) == (76, 9, 80)
    assert all(i.startswith("test") for i in split.test) and all(i.startswith("train") for i in split.train + split.val)
    monuseg = [f"tr{i}" for i in range(30)] + [f"te{i}" for i in range(14)]
    split = split_of("monuseg", monuseg, official={i: "train" if i.startswith("tr") else "test" for i in monuseg})
    assert sizes(split) == (27, 3, 14)


def test_deterministic_sorted_and_seed_dependent() -> None:
    ids = [f"img{i:04d}" for i in range(200)]
    first = split_of("kvasir", ids)
    assert split_of("kvasir", list(reversed(ids))) == first  # input order does not matter (sorted ids)
    assert list(first.test) == sorted(first.test)
    spec = get_dataset("kvasir")
    other = make_split(ids, spec.protocol(), spec.seed + 1, spec.val_fraction)
    assert other.test != first.test and len(other.test) == len(first.test)
    assert set(first.train).isdisjoint(first.val) and set(first.train + first.val).isdisjoint(first.test)


def test_list_protocol_errors_and_partial_lists() -> None:
    with pytest.raises(ValueError, match=r"does not list cases \['case0099'\]"):
        split_of("synapse", ["case0001", "case0005", "case0099"])
    with pytest.raises(ValueError, match=r"needs cases .*case0002.* not in the raw data"):
        split_of("synapse", ["case0001", "case0005"])
    split = split_of("synthetic-multiclass", ["case0001", "case0005", "case0006", "case0002"])  # require_all: false
    assert split.test == ("case0001", "case0002") and sorted(split.train + split.val) == ["case0005", "case0006"]


def test_official_without_test_cases_or_subsets_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"found no test cases"):
        split_of("monuseg", ["a", "b"], official={"a": "train", "b": "train"})
    with pytest.raises(ValueError, match=r"gives no subset per case"):
        split_of("glas", ["a", "b"], official={"a": "train"})


def test_too_few_cases_and_split_groups_are_errors() -> None:
    with pytest.raises(ValueError, match=r"only 2 split units"):
        split_of("cvc", ["1", "2"], "din")
    spec = get_dataset("glas")
    with pytest.raises(ValueError, match=r"group 'p1' has cases in both"):
        make_split(
            ["a", "b", "c"],
            spec.protocol(),
            0,
            0.1,
            groups={"a": "p1", "b": "p1"},
            official={"a": "train", "b": "test", "c": "test"},
        )


def test_val_fraction_zero_disables_carving() -> None:
    spec = dataclasses.replace(get_dataset("kvasir"), val_fraction=0.0)
    split = make_split([str(i) for i in range(50)], spec.protocol(), spec.seed, spec.val_fraction)
    assert sizes(split) == (40, 0, 10)


def test_kvasir_split_is_pinned() -> None:
    """Regression guard for reproducibility: the seeded permutation must not change between versions."""
    split = split_of("kvasir", [f"{i:04d}" for i in range(1000)])
    assert split.test[:5] == PINNED_TEST and split.val[:3] == PINNED_VAL
