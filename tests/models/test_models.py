"""One parametrised suite for every architecture (the six DCA hosts, DIN and the smp U-Nets): parameter parity,
parameter counts on the meta device, shapes, gradients, size errors, and ``check_model``."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dca.models import build_model, check_model, list_models
from dca.nn.dca import DualCrossAttention

PAPER_MODELS = ["unet", "vnet", "r2unet", "resunetpp", "doubleunet", "multiresunet"]
OTHER_MODELS = ["din-tiny", "smp-unet-resnet18"]  # DIN at CPU size and an smp U-Net
# (name, dca): every model whose input size has a rule; smp's U-Net has one with DCA (its token grid).
SIZE_RULES = [*((n, True) for n in PAPER_MODELS), ("din-tiny", False), ("din", False), ("smp-unet-resnet18", True)]
# Our exact counts (RGB, one class): DIN's derivation is in docs/din.md; smp's are smp's own U-Nets.
META_COUNTS = {
    (
        "din",
        False,
    ): 225_666_049,  # the default FFN reading; 323,158,529 with ffn="conv3x3-4c" (tests/models/test_din.py)
    ("din-tiny", False): 275_473,
    ("smp-unet-resnet34", False): 24_436_369,
    ("smp-unet-resnet18", False): 14_328_209,
    ("smp-unet-resnet18", True): 14_443_409,
}
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


def run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model on ``x``; DIN's two-input variants get a second image of the same shape."""
    inputs = [x, torch.randn_like(x)][: getattr(model, "num_inputs", 1)]
    return model(*inputs)


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
    with pytest.raises(KeyError, match="unknown model 'unet4d'"):
        build_model("unet4d")
    with pytest.raises(TypeError, match="dca_heads"):
        build_model("unet", dca=True, dca_heads=2)
    with pytest.raises(TypeError, match="dca=False"):
        build_model("unet", dca_layout="cca")
    with pytest.raises(TypeError, match="depth"):
        build_model("unet", depth=5)


@pytest.mark.parametrize(
    "row",
    _rows(),
    ids=lambda r: (
        f"{r['name']}-{r['dca']}-{r['dca_layout']}-{r['dca_patch_embed']}-{r['in_channels']}x{r['num_classes']}"
    ),
)
def test_parameter_counts_match_the_official_models(row):
    """Every row of the reference table, counted on the meta device (no memory allocated)."""
    with torch.device("meta"):
        model = build_model(
            row["name"],
            dca=row["dca"] == "yes",
            in_channels=int(row["in_channels"]),
            num_classes=int(row["num_classes"]),
            img_size=int(row["img_size"]),
            **_options(row),
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
            dead = [
                n
                for n, p in module.named_parameters()
                if p.grad is None or not (p.grad.abs().sum() > 0 or re.search(r"\.sca\.k\.\d+\.bias$", n))
            ]
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


@pytest.mark.parametrize(("name", "dca"), SIZE_RULES, ids=lambda v: v if isinstance(v, str) else f"dca={v}")
def test_invalid_input_size_names_the_size(name, dca):
    with torch.device("meta"):  # the check comes before any arithmetic: no memory needed, even for DIN
        model = build_model(name, dca=dca, img_size=64).eval()
        x = torch.randn(1, 3, 60, 64)
    with pytest.raises(ValueError, match=rf"{name}: input size 60x64 is not valid.*Nearest valid sizes: \d+x64"):
        run(model, x)


@pytest.mark.parametrize(("name", "dca"), list(META_COUNTS), ids=lambda v: v if isinstance(v, str) else f"dca={v}")
def test_parameter_counts_on_the_meta_device(name, dca):
    with torch.device("meta"):
        model = build_model(name, dca=dca, img_size=64)
    assert count(model) == META_COUNTS[name, dca]
    assert all(p.is_meta for p in model.parameters())


@pytest.mark.parametrize("name", OTHER_MODELS)
@pytest.mark.parametrize("dca", [False, True], ids=["plain", "dca"])
@pytest.mark.parametrize(("in_channels", "num_classes"), [(3, 1), (1, 9)], ids=["binary", "synapse"])
def test_din_and_smp_forward_backward_shapes_and_gradients(name, dca, in_channels, num_classes):
    """DIN has no DCA variant (dca=True is refused); every parameter of the others gets a finite gradient."""
    if name.startswith("din") and dca:
        with pytest.raises(ValueError, match="no DCA variant"):
            build_model(name, dca=True)
        return
    torch.manual_seed(0)
    model = build_model(name, dca=dca, in_channels=in_channels, num_classes=num_classes, img_size=64)
    out = run(model, torch.randn(2, in_channels, 64, 64))
    assert out.shape == (2, num_classes, 64, 64)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    # SCA key biases shift whole softmax rows: their exact gradient is zero (see the test above).
    dead = [
        n
        for n, p in model.named_parameters()
        if p.grad is None or not (p.grad.abs().sum() > 0 or re.search(r"\.sca\.k\.\d+\.bias$", n))
    ]
    assert not dead, f"parameters without gradient: {dead}"


@pytest.mark.parametrize("name", [*PAPER_MODELS, *OTHER_MODELS])
def test_every_model_keeps_the_one_size_rule(name):
    """Hosts, DIN and the smp U-Nets share one size rule (dca.models.base.SizedModel), named by their registry name."""
    from dca.models.base import SizedModel

    with torch.device("meta"):
        model = build_model(name, img_size=64)
    assert isinstance(model, SizedModel)
    assert model.model_name == name
    assert 64 % model.size_multiple == 0


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


@pytest.mark.parametrize(
    ("name", "dca", "options", "img_size", "message"),
    [
        (
            "unet",
            True,
            {"dca_layot": "cca"},
            224,
            r"unet: unknown DCA option 'dca_layot'; known: dca_blocks, .*dca_layout",
        ),
        ("unet", True, {"dca_layout": "ccc"}, 224, r"unet: dca_layout='ccc' is not one of cca-sca, sca-cca, cca, sca"),
        ("unet", False, {}, 63, r"unet: img_size 63x63 is not valid.*Nearest valid sizes: 48x48 or 64x64"),
        ("resunetpp", True, {}, 63, r"Nearest valid sizes: 56x56 or 64x64"),
        ("unet", False, {"depth": 5}, 224, r"unet: unknown option\(s\) depth; known options: .*width"),
        ("unet", False, {"width": "wide"}, 224, r"unet: width must be a positive number, got 'wide'"),
        ("vnet", False, {"width": -1}, 224, r"vnet: width must be a positive number"),
        ("din", False, {"fusoin": "layer"}, 224, r"din: unknown option\(s\) fusoin; known options: .*fusion"),
        ("din", False, {"ffn": "mlp"}, 224, r"din: ffn must be one of 'conv1x1-2c', 'conv3x3-4c'"),
        ("din", False, {}, 100, r"din: img_size 100x100 .*Nearest valid sizes: 96x96 or 104x104"),
        ("din", True, {}, 224, r"din: DIN has no DCA variant"),
        ("din", False, {"encoder_weights": "ssl"}, 224, r"weight names such as 'ssl' are not supported"),
        ("smp-unet-resnet18", True, {}, 40, r"smp-unet-resnet18: img_size 40x40 .*32x32 or 48x48"),
        ("smp-unet-resnet18", False, {"encoder_weights": "/nowhere/r18.pt"}, 224, r"r18\.pt' does not exist"),
        ("unet4d", False, {}, 224, r"unknown model 'unet4d'; known models: din, "),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_check_model_names_the_bad_option_value_or_size(name, dca, options, img_size, message):
    with pytest.raises(ValueError, match=message):
        check_model(name, dca, options, in_channels=3, num_classes=1, img_size=img_size)


def test_check_model_accepts_good_specs_without_allocating():
    """The full DIN (323M parameters) is checked on the meta device: no parameter memory is allocated."""
    check_model("din", False, {"num_difm": 3, "decoder": "emcad"}, in_channels=1, num_classes=4, img_size=224)
    check_model("unet", True, {"dca_layout": "cca"}, in_channels=3, num_classes=1, img_size=64)
    check_model("smp-unet-resnet18", False, None, in_channels=3, num_classes=1, img_size=40)  # smp interpolates
