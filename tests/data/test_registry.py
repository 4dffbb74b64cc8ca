"""The dataset registry: every entry is complete and consistent, and the package ships the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dca.data.convert import layout_module
from dca.data.registry import REGISTRY_PATH, get_dataset, load_registry

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = [
    "glas",
    "monuseg",
    "cvc",
    "kvasir",
    "synapse",
    "acdc",
    "isic2018",
    "synthetic-binary",
    "synthetic-multiclass",
]


def test_packaged_registry_is_the_config_file() -> None:
    assert REGISTRY_PATH.read_bytes() == (ROOT / "config" / "datasets.yaml").read_bytes()


@pytest.mark.parametrize("name", sorted(load_registry()))
def test_entry_is_complete(name: str) -> None:
    spec = get_dataset(name)
    assert spec.labels[0] == "background" and spec.num_classes == len(spec.labels) >= 2
    for layout in spec.layouts:
        module = layout_module(layout)
        assert callable(module.detect) and callable(module.cases) and module.EXPECTED
    assert spec.source.steps and spec.source.folder
    if spec.source.kind == "url":
        assert spec.source.archives and all(a.url and a.url.startswith("https://") for a in spec.source.archives)
    if spec.source.kind == "manual":
        assert spec.source.archives and all(a.url is None for a in spec.source.archives)
    if spec.source.kind == "synthetic":
        assert spec.source.synth in ("binary", "multiclass", "acdc")
    assert spec.protocol().name == spec.default_protocol
    assert spec.dims == 3 or spec.intensity.kind == "none"


def test_registry_facts_of_the_papers_datasets() -> None:
    registry = load_registry()
    assert set(REQUIRED) <= set(registry)
    assert registry["kvasir"].source.kind == registry["isic2018"].source.kind == "url"
    assert registry["synthetic-binary"].layouts == registry["kvasir"].layouts
    assert set(registry["synthetic-multiclass"].layouts) <= set(registry["synapse"].layouts)
    synapse = registry["synapse"]
    assert synapse.labels[1:] == (
        "aorta",
        "gallbladder",
        "kidney_l",
        "kidney_r",
        "liver",
        "pancreas",
        "spleen",
        "stomach",
    )
    assert dict(synapse.mask.values) | {0: 0} == {
        0: 0, 1: 7, 2: 4, 3: 3, 4: 2, 5: 0, 6: 5, 7: 8, 8: 1, 9: 0, 10: 0, 11: 6, 12: 0, 13: 0,
    }  # fmt: skip
    assert (synapse.intensity.low, synapse.intensity.high) == (-125, 275)
    lists = dict(synapse.protocol().lists)
    assert lists["test"] == tuple(
        f"case{i}" for i in "0001 0002 0003 0004 0008 0022 0025 0029 0032 0035 0036 0038".split()
    )
    assert len(lists["train"]) == 18 and not set(lists["train"]) & set(lists["test"])
    assert registry["acdc"].labels == ("background", "rv", "myo", "lv")
    assert (
        set(registry["cvc"].protocols) == {"dca", "din", "dca-paper", "din-paper"}
        and registry["cvc"].default_protocol == "dca"
    )
    assert dict(registry["isic2018"].protocol("din").fractions) == {"val": 0.1, "test": 0.1}
    assert all(0 < s.val_fraction < 1 for s in registry.values())


def test_unknown_names_are_errors_listing_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'kvasirr'.*kvasir"):
        get_dataset("kvasirr")
    with pytest.raises(ValueError, match=r"no split protocol 'din'.*dca"):
        get_dataset("kvasir").protocol("din")


def test_broken_registry_names_file_dataset_and_key(tmp_path: Path) -> None:
    text = (ROOT / "config" / "datasets.yaml").read_text().replace("labels: [background, polyp]", "labelz: [x]", 1)
    path = tmp_path / "datasets.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"datasets\.yaml: datasets\.cvc: required key 'labels'"):
        load_registry(path)
    path.write_text("datasets: [")
    with pytest.raises(ValueError, match=r"not valid YAML"):
        load_registry(path)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ("layouts: [acdc_mtunet], selection: val", r"din-paper\.layouts: \['acdc_mtunet'\] are not layouts"),
        ("layouts: [acdc_mtunet], selection: best", r"din-paper\.selection: 'best' is not one of"),
    ],
)
def test_a_paper_protocol_names_its_layouts_and_selection(tmp_path: Path, replace: str, message: str) -> None:
    text = (ROOT / "config" / "datasets.yaml").read_text()
    assert "layouts: [acdc, acdc_mtunet]" in text and "layouts: [acdc_mtunet], selection: val" in text
    if "best" not in replace:
        text = text.replace("layouts: [acdc, acdc_mtunet]", "layouts: [acdc]", 1)
    path = tmp_path / "datasets.yaml"
    path.write_text(text.replace("layouts: [acdc_mtunet], selection: val", replace, 1))
    with pytest.raises(ValueError, match=message):
        load_registry(path)
    acdc = get_dataset("acdc").protocol("din-paper")
    assert (acdc.layouts, acdc.selection, get_dataset("synapse").protocol("din-paper").selection) == (
        ("acdc_mtunet",),
        "val",
        "test",
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("mask_threshold: 1, note", "mask_threshold: 0, note", r"kvasir.*dca-paper\.mask_threshold: must be >= 1"),
        (
            'official, role: paper, val_fraction: 0, note: "DCA code: the contest split',
            'official, role: paper, val_fraction: 0, mask_threshold: 1, note: "DCA code: the contest split',
            r"glas.*dca-paper\.mask_threshold: the dataset's masks are not thresholded",
        ),
    ],
)
def test_a_protocols_mask_threshold_is_checked(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = (ROOT / "config" / "datasets.yaml").read_text()
    if "0, note" in new:  # kvasir's, the second dca-paper with a threshold (cvc's comes first)
        first = text.index(old) + len(old)
        text = text[:first] + text[first:].replace(old, new, 1)
    else:
        text = text.replace(old, new, 1)
    path = tmp_path / "datasets.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_registry(path)
    assert get_dataset("kvasir").protocol("dca-paper").mask_threshold == 1
    assert get_dataset("kvasir").protocol("dca").mask_threshold is None
