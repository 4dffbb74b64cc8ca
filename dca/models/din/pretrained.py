"""ImageNet ConvNeXt weights into DIN's encoders: ``encoder_weights: imagenet`` (timm's ``convnext_base`` through
the Hugging Face cache, downloaded when missing and online) or ``PATH``, a local timm or torchvision file.

Our encoder's ``stages`` are timm's ``ConvNeXtStage`` modules under timm's names, so a timm ``convnext_base``
state dict maps key for key; torchvision's ``convnext_base`` names the same tensors differently (``features.*``,
``layer_scale`` of shape (C, 1, 1)) and is renamed here. Every key of the file is accounted for, else a ValueError
names the keys left over:

- loaded: the stem's LayerNorm, every stage's down-sampling layer and blocks (into both encoders);
- not loadable, left at ConvNeXt's initialisation: the stem conv (ImageNet's is 4x4 stride 4 on RGB, DIN's is
  3x3 stride 1, section 9.1) and the classifier head (``head.*`` / ``classifier.*``: DIN has none);
- not in the file, left at initialisation: DIN's edge pooling layers (ConvNeXt has no such layer).

Stages a model does not build (``num_difm`` < 4 with ``removed_difm: drop``) skip their keys. A file whose
shapes differ (another ConvNeXt size, or ``widths`` other than 128..1024) is refused with the first mismatches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn

from dca.models.weights import read_state_dict

WEIGHTS_ADVICE = (
    "Give encoder_weights=imagenet (timm's convnext_base through the Hugging Face cache), none (from scratch), or a "
    "local ImageNet ConvNeXt-base state dict, e.g. timm's "
    "model.safetensors from https://huggingface.co/timm/convnext_base.fb_in22k_ft_in1k (or save "
    "timm.create_model('convnext_base', pretrained=True).state_dict()), or torchvision's "
    "convnext_base-6075fbad.pth (torchvision.models.ConvNeXt_Base_Weights.IMAGENET1K_V1), and pass the local "
    "file as encoder_weights=<path>."
)
#: The ``encoder_weights`` name of timm's ImageNet ConvNeXt-base (the checkpoint ``timm.create_model("convnext_base",
#: pretrained=True)`` loads), and where it is on the Hugging Face hub.
IMAGENET = "imagenet"
IMAGENET_REPO = "timm/convnext_base.fb_in22k_ft_in1k"
IMAGENET_FILE = "model.safetensors"
NOT_LOADABLE = re.compile(r"^(stem\.0\.|head\.|features\.0\.0\.|classifier\.)")  # stem conv and classifier
# torchvision block layers -> timm names: block.0 depth-wise conv, block.2 LayerNorm, block.3/5 the MLP.
_TV_BLOCK = {"0": "conv_dw", "2": "norm", "3": "mlp.fc1", "5": "mlp.fc2"}


def timm_name(key: str) -> str:
    """The timm ``convnext_*`` name of a torchvision ``convnext_*`` key (timm keys are returned unchanged)."""
    if match := re.fullmatch(r"features\.0\.1\.(\w+)", key):  # stem LayerNorm
        return f"stem.1.{match[1]}"
    if match := re.fullmatch(r"features\.(\d+)\.([01])\.(\w+)", key):
        index = int(match[1])
        if index % 2 == 0:  # features.2/4/6: down-sampling (LN, conv) before stage index / 2
            return f"stages.{index // 2}.downsample.{match[2]}.{match[3]}"
    if match := re.fullmatch(r"features\.(\d+)\.(\d+)\.(layer_scale|block\.(\d)\.(\w+))", key):
        stage, block = (int(match[1]) - 1) // 2, match[2]
        if match[3] == "layer_scale":
            return f"stages.{stage}.blocks.{block}.gamma"
        if match[4] in _TV_BLOCK:
            return f"stages.{stage}.blocks.{block}.{_TV_BLOCK[match[4]]}.{match[5]}"
    return key


def _listed(keys: Iterable[str], limit: int = 8) -> str:
    """The first ``limit`` keys, comma-separated, with a count of the rest."""
    keys = sorted(keys)
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def encoder_state(state: dict[str, Tensor], encoder: nn.Module, source: str) -> dict[str, Tensor]:
    """The tensors of a ConvNeXt state dict under ``encoder``'s names; a ValueError names unmatched keys."""
    target = encoder.state_dict()
    stages = sum(1 for k in target if re.fullmatch(r"stages\.\d+\.blocks\.0\.conv_dw\.weight", k))
    mapped: dict[str, Tensor] = {}
    unmatched = []
    for key, value in state.items():
        if NOT_LOADABLE.match(key):
            continue
        name = timm_name(key)
        stage = re.match(r"stages\.(\d+)\.", name)
        if stage and int(stage[1]) >= stages:
            continue  # a stage this model does not build
        if name not in target:
            unmatched.append(key)
            continue
        mapped[name] = value.flatten() if name.endswith(".gamma") else value  # torchvision: (C, 1, 1)
    if unmatched:
        raise ValueError(
            f"din: {source}: {len(unmatched)} key(s) match no ConvNeXt layer of DIN's encoder: {_listed(unmatched)}. "
            "encoder_weights takes a timm or torchvision ConvNeXt state dict."
        )
    wanted = {k for k in target if not k.startswith(("stem.0.", "edge_pools."))}
    if missing := wanted - mapped.keys():
        raise ValueError(f"din: {source} lacks {len(missing)} encoder tensor(s): {_listed(missing)}")
    if wrong := [
        f"{k} {tuple(v.shape)} vs {tuple(target[k].shape)}" for k, v in mapped.items() if v.shape != target[k].shape
    ]:
        raise ValueError(
            f"din: {source} has other shapes than DIN's encoder (file vs model): {_listed(wrong, 3)}; "
            "ConvNeXt-base weights fit widths 128/256/512/1024 and depths 3/3/27/3"
        )
    return mapped


def imagenet_file() -> Path:
    """timm's ImageNet ConvNeXt-base file from the Hugging Face cache (downloaded into it when online)."""
    from huggingface_hub import constants, hf_hub_download

    try:
        return Path(hf_hub_download(IMAGENET_REPO, IMAGENET_FILE))
    except Exception as err:  # offline and not cached, or the hub refused: the same remedy either way
        fetch = f"huggingface_hub.hf_hub_download('{IMAGENET_REPO}', '{IMAGENET_FILE}')"
        command = f'python -c "import huggingface_hub; {fetch}"'
        raise FileNotFoundError(
            f"din: encoder_weights={IMAGENET} needs {IMAGENET_FILE} of https://huggingface.co/{IMAGENET_REPO}, "
            f"which is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and could not be downloaded "
            f"({type(err).__name__}: {err}). On a machine with internet run `{command}` and copy the cache here "
            "(or point HF_HOME at it), or pass the file as encoder_weights=<path>; encoder_weights=none trains from "
            "scratch."
        ) from err


def building_on_meta() -> bool:
    """Whether modules are being built on the meta device (``dca.models.check_model``: nothing is read there)."""
    return torch.empty(0).is_meta


def load_convnext_weights(encoders: nn.ModuleList, path: str | Path) -> list[str]:
    """Load a ConvNeXt state dict into every encoder (the stem conv and edge pooling layers stay initialised);
    returns the log lines that say which tensors loaded and which did not."""
    state = read_state_dict(path)
    report: list[str] = []
    for index, encoder in enumerate(encoders):
        mapped = encoder_state(state, encoder, str(path))
        if not any(p.is_meta for p in encoder.parameters()):  # on the meta device (check_model) checking is all
            encoder.load_state_dict(mapped, strict=False)
        left = sorted(k for k in encoder.state_dict() if k not in mapped)
        report.append(
            f"encoder {index}: loaded {len(mapped)} of its {len(mapped) + len(left)} tensors from {path}; "
            f"left at initialisation: {_listed(left, len(left))}"
        )
    skipped = sorted(k for k in state if NOT_LOADABLE.match(k))
    report.append(f"not loaded from the file (DIN's stem conv differs, DIN has no classifier): {_listed(skipped)}")
    return report
