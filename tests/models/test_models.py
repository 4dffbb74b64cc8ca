"""One parametrised suite for every architecture: parameter parity, shapes, gradients, errors."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dca.models import build_model, list_models
from dca.nn.dca import DualCrossAttention

PAPER_MODELS = ["unet", "vnet", "r2unet", "resunetpp", "doubleunet", "multiresunet"]
COUNTS = Path(__file__).resolve().parents[2] / "config" / "reported" / "dca_param_counts.csv"


def _rows() -> list[dict[str, str]]:
    with open(COUNTS, newline="") as f:
        return list(csv.DictReader(f))


def _options(row: dict[str, str]) -> dict[str, object]:
    opts: dict[str, object] = {}
    if row["dca"] == "yes":
        layout = row["dca_layout"] or "cca-sca"
        opts = {"dca_layout": layout, "dca_patch_embed": row["dca_patch_embed"] or "avgpool"}
    return opts


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def dca_count(model: torch.nn.Module) -> int:
    return sum(count(m) for m in model.modules() if isinstance(m, DualCrossAttention))


def test_registry_lists_the_paper_models():
    names = list_models()
    assert set(PAPER_MODELS) <= set(names)
    assert "smp-unet-resnet34" in names


def test_each_name_is_loaded_from_the_module_that_defines_it():
    from dca.models.builtin import modules_for
    from dca.models.registry import _REGISTRY

    list_models()
    for name, builder in _REGISTRY.items():
        assert builder.__module__.startswith(tuple(modules_for(name))), name


def test_building_a_paper_model_does_not_import_timm():
    """DIN and smp pull in timm and torchvision (seconds per job); a U-Net job loads only its module."""
    code = "import sys; from dca.models import build_model; build_model('unet'); print('timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


def test_unknown_model_and_option_are_named():
    with pytest.raises(KeyError, match="unknown model 'unet3d'"):
        build_model("unet3d")
    with pytest.raises(TypeError, match="dca_heads"):
        build_model("unet", dca=True, dca_heads=2)
    with pytest.raises(TypeError, match="dca=False"):
        build_model("unet", dca_layout="cca")
    with pytest.raises(TypeError, match="depth"):
        build_model("unet", depth=5)


@pytest.mark.parametrize("row", _rows(), ids=lambda r: f"{r['name']}-{r['dca']}-{r['dca_layout']}-"
                         f"{r['dca_patch_embed']}-{r['in_channels']}x{r['num_classes']}")
def test_parameter_counts_match_the_official_models(row):
    """Every row of the reference table, counted on the meta device (no memory allocated)."""
    with torch.device("meta"):
        model = build_model(
            row["name"], dca=row["dca"] == "yes", in_channels=int(row["in_channels"]),
            num_classes=int(row["num_classes"]), img_size=int(row["img_size"]), **_options(row),
        )
    assert count(model) == int(row["params"])
    assert dca_count(model) == int(row["dca_module_params"])


def test_our_fusion_variants_cost_what_we_document():
    """Table 3 fusions are ours (not in the official code): sum adds nothing, concat 3 C_i per stage."""
    with torch.device("meta"):
        base = count(build_model("unet", dca=True))
        assert count(build_model("unet", dca=True, dca_fusion="sum")) == base
        assert count(build_model("unet", dca=True, dca_fusion="concat")) == base + 3 * 480
        assert count(build_model("unet", dca=True, dca_layout="sca-cca")) == base
        assert count(build_model("unet", dca=True, dca_blocks=2)) == base + (12 + 8 * 4) * 480


@pytest.mark.parametrize("name", PAPER_MODELS)
@pytest.mark.parametrize("dca", [False, True], ids=["plain", "dca"])
@pytest.mark.parametrize(("in_channels", "num_classes"), [(3, 1), (1, 9)], ids=["binary", "synapse"])
def test_forward_backward_shapes_and_gradients(name, dca, in_channels, num_classes):
    torch.manual_seed(0)
    size = 64  # divisible by every model's down-sampling and patch size; keeps CPU time low
    model = build_model(name, dca=dca, in_channels=in_channels, num_classes=num_classes, img_size=size)
    x = torch.randn(2, in_channels, size, size)
    out = model(x)
    assert out.shape == (2, num_classes, size, size)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    for module in model.modules():
        if isinstance(module, DualCrossAttention):
            # SCA key biases shift whole softmax rows: their exact gradient is zero, and they get it.
            dead = [n for n, p in module.named_parameters()
                    if p.grad is None or not (p.grad.abs().sum() > 0 or re.search(r"\.sca\.k\.\d+\.bias$", n))]
            assert not dead, f"DCA parameters without gradient: {dead}"


@pytest.mark.parametrize(
    "options",
    [
        {"dca_layout": "sca-cca"},
        {"dca_layout": "cca"},
        {"dca_layout": "sca"},
        {"dca_fusion": "sum"},
        {"dca_fusion": "concat"},
        {"dca_patch_embed": "conv"},
        {"dca_blocks": 2},
        {"dca_patch_size": 16},
        {"dca_channel_heads": 2, "dca_spatial_heads": 8},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_dca_variants_run(options):
    model = build_model("unet", dca=True, img_size=64, **options)
    x = torch.randn(1, 3, 64, 64)
    out = model(x)
    assert out.shape == (1, 1, 64, 64)
    out.mean().backward()


def test_paper_resolution_and_non_square_inputs():
    model = build_model("unet", dca=True).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1, 224, 224)
        assert model(torch.randn(1, 3, 96, 160)).shape == (1, 1, 96, 160)


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_invalid_input_size_names_the_size(name):
    model = build_model(name, dca=True, img_size=64).eval()
    with pytest.raises(ValueError, match="60x64"), torch.inference_mode():
        model(torch.randn(1, 3, 60, 64))


def test_invalid_img_size_is_rejected_at_construction():
    with pytest.raises(ValueError, match="img_size"):
        build_model("unet", dca=True, img_size=100)


def test_smp_backbone_with_dca(tmp_path):
    torch.manual_seed(0)
    plain = build_model("smp-unet-resnet18", img_size=64)
    model = build_model("smp-unet-resnet18", dca=True, img_size=64)
    assert count(model) > count(plain)
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 1, 64, 64)
    out.mean().backward()
    weights = tmp_path / "encoder.pt"
    torch.save(plain.encoder.state_dict(), weights)
    loaded = build_model("smp-unet-resnet18", dca=True, img_size=64, encoder_weights=str(weights))
    first = next(iter(plain.encoder.state_dict()))
    torch.testing.assert_close(loaded.encoder.state_dict()[first], plain.encoder.state_dict()[first])
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        build_model("smp-unet-resnet18", encoder_weights=str(tmp_path / "missing.pt"))
