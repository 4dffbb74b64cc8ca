"""The resolved run configuration: one frozen dataclass tree, loaded from YAML over a paper preset.

A run config names everything a training run depends on (model, data, inputs, loss,
optimiser, schedule, seed, device, output folder, evaluation); the resolved form is copied
into the run folder, so a run folder alone says how it was made.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dca.dims import model_dims
from dca.utils.cli import parse_key_values

SELECTIONS = ("val", "test", "last")
#: The score that picks the best epoch: ``dice`` (ours: per-image foreground Dice at the training size),
#: ``official`` (the DCA code's batch-pooled Dice) or ``merit`` (MERIT's: slice Dice on val, per-volume on test).
SELECTION_METRICS = ("dice", "official", "merit")
#: Training augmentations (:mod:`dca.train.loader`): the official DCA code's, or MERIT's (TransUNet's).
AUGMENTATIONS = ("dca", "merit")
#: ``paper``: the paper's own split, selection and metric rerun (docs/protocols.md); ``honest``: ours.
PROTOCOLS = ("honest", "paper")
OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("none", "cosine", "poly")
DEVICES = ("auto", "cuda", "cpu")
AMP_MODES = ("none", "bf16", "fp16")
DETERMINISM = ("auto", "seeded", "strict")
RESOLUTIONS = ("model", "original")
PREDICTION_FORMATS = ("png", "npy")


def _check_choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    """Raise a ValueError naming ``key`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{key}={value!r} is not one of {', '.join(allowed)}")


def _check_positive(key: str, value: float) -> None:
    """Raise a ValueError naming ``key`` unless ``value`` > 0."""
    if value <= 0:
        raise ValueError(f"{key} must be > 0, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Which registered architecture to build (``dca.models.build_model``) and its options."""

    name: str
    dca: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PatchConfig:
    """Random training patches of a volume model (:mod:`dca.train.patches`): ``size`` (D, H, W) voxels, the
    share of patches centred on a foreground voxel (nnU-Net's 1/3) and patches drawn per training volume per
    epoch."""

    size: tuple[int, ...]
    foreground: float = 1 / 3
    per_volume: int = 2

    def __post_init__(self) -> None:
        if len(self.size) != 3 or min(self.size) < 1:
            raise ValueError(f"data.patch.size must be three sizes >= 1 (D, H, W), got {list(self.size)}")
        if not 0.0 <= self.foreground <= 1.0:
            raise ValueError(f"data.patch.foreground must be in [0, 1], got {self.foreground}")
        _check_positive("data.patch.per_volume", self.per_volume)


@dataclass(frozen=True)
class DataConfig:
    """The processed dataset and what the model sees of it.

    ``inputs`` are the model's forward arguments in order: ``image`` or an enhancement method
    cached under ``enhanced/<method>`` (``[image]`` single input; ``[image, fuzzy]`` for DIN).
    ``workers``: DataLoader worker processes; None (the default) uses the job's CPUs
    (:func:`dca.train.loader.default_workers`), 0 loads in the training process. ``patch``: the random
    patches a volume model (``unet3d``) trains on, required for one and refused for a 2D model.
    ``augmentation``: which random transform ``augment`` applies (:data:`AUGMENTATIONS`).
    """

    root: str
    size: int = 224
    inputs: tuple[str, ...] = ("image",)
    augment: bool = True
    workers: int | None = None
    augmentation: str = "dca"
    patch: PatchConfig | None = None

    def __post_init__(self) -> None:
        _check_positive("data.size", self.size)
        if not 1 <= len(self.inputs) <= 2:
            raise ValueError(f"data.inputs must list one or two inputs, got {list(self.inputs)}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"data.workers must be >= 0, got {self.workers}")
        _check_choice("data.augmentation", self.augmentation, AUGMENTATIONS)

    @property
    def enhanced(self) -> tuple[str, ...]:
        """The enhancement methods among the inputs (what the loader must provide), in order."""
        return tuple(dict.fromkeys(name for name in self.inputs if name != "image"))


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms: ``dice`` (soft Dice), ``ce`` (BCE or CE), ``boundary`` (multi-scale Sobel)."""

    dice: float = 1.0
    ce: float = 0.0
    boundary: float = 0.0
    boundary_scales: tuple[int, ...] = (1, 2, 4)

    def __post_init__(self) -> None:
        if min(self.dice, self.ce, self.boundary) < 0 or self.dice + self.ce + self.boundary <= 0:
            raise ValueError(f"loss weights must be >= 0 and not all zero, got {self.dice}, {self.ce}, {self.boundary}")
        if not self.boundary_scales or min(self.boundary_scales) < 1:
            raise ValueError(f"loss.boundary_scales must be down-sampling factors >= 1, got {self.boundary_scales}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and learning-rate schedule (stepped once per epoch)."""

    name: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    scheduler: str = "none"

    def __post_init__(self) -> None:
        _check_choice("optim.name", self.name, OPTIMIZERS)
        _check_choice("optim.scheduler", self.scheduler, SCHEDULERS)
        _check_positive("optim.lr", self.lr)
        if self.weight_decay < 0:
            raise ValueError(f"optim.weight_decay must be >= 0, got {self.weight_decay}")


@dataclass(frozen=True)
class DeviceConfig:
    """Where and how to run: device, mixed precision, memory layout, compilation, determinism, CPU threads.

    ``amp`` and ``channels_last`` apply on CUDA only (the CPU runs fp32): bf16 autocast and channels_last
    by default, ``amp: none`` for fp32. ``determinism``: ``strict`` is bit-exact (deterministic kernels
    only, no TF32, no cuDNN autotuning; an op without a deterministic kernel stops the run naming it),
    ``seeded`` is seeded but fast (TF32 and cuDNN autotuning on CUDA: repeat runs differ in the last bits),
    ``auto`` is strict on the CPU and seeded on CUDA. The former ``deterministic: true/false`` reads as
    ``strict``/``seeded``.
    """

    name: str = "auto"
    amp: str = "bf16"
    channels_last: bool = True
    compile: bool = False
    determinism: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        _check_choice("device.name", self.name, DEVICES)
        _check_choice("device.amp", self.amp, AMP_MODES)
        _check_choice("device.determinism", self.determinism, DETERMINISM)
        if self.threads is not None:
            _check_positive("device.threads", self.threads)


@dataclass(frozen=True)
class EvalConfig:
    """How ``dca evaluate`` scores the test split and which predictions it keeps for the figures."""

    resolution: str = "model"
    batch: int = 16
    save_predictions: int = 8
    prediction_format: str = "png"

    def __post_init__(self) -> None:
        _check_choice("eval.resolution", self.resolution, RESOLUTIONS)
        _check_choice("eval.prediction_format", self.prediction_format, PREDICTION_FORMATS)
        _check_positive("eval.batch", self.batch)
        if self.save_predictions < 0:
            raise ValueError(f"eval.save_predictions must be >= 0, got {self.save_predictions}")


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run depends on; ``selection`` picks the split that chooses the best epoch."""

    model: ModelConfig
    data: DataConfig
    out: str
    preset: str | None = None
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    epochs: int = 200
    batch_size: int = 4
    seed: int = 0
    selection: str = "val"
    selection_metric: str = "dice"
    protocol: str = "honest"
    device: DeviceConfig = field(default_factory=DeviceConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        _check_positive("epochs", self.epochs)
        _check_positive("batch_size", self.batch_size)
        volume = model_dims(self.model.name) == 3
        if volume and self.data.patch is None:
            raise ValueError(
                f"model {self.model.name!r} trains on volume patches: give data.patch.size (D, H, W), e.g. [16, 64, 64]"
            )
        if not volume and self.data.patch is not None:
            raise ValueError(f"data.patch is for volume models only; model {self.model.name!r} takes 2D images")
        if volume and self.loss.boundary > 0:
            raise ValueError(
                f"loss.boundary (2D Sobel edges) does not apply to volume model {self.model.name!r}: set 0"
            )
        _check_choice("selection", self.selection, SELECTIONS)
        _check_choice("selection_metric", self.selection_metric, SELECTION_METRICS)
        _check_choice("protocol", self.protocol, PROTOCOLS)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")

    @property
    def run_dir(self) -> Path:
        """The output folder of the run."""
        return Path(self.out)


def _dca_preset(batch_size: int) -> dict[str, Any]:
    """DCA paper settings (Ates et al. 2023): Adam lr 1e-4, Dice loss, 200 epochs, 224x224 inputs."""
    return {
        "data": {"size": 224},
        "loss": {"dice": 1.0, "ce": 0.0, "boundary": 0.0},
        "optim": {"name": "adam", "lr": 1e-4, "weight_decay": 0.0, "scheduler": "none"},
        "epochs": 200,
        "batch_size": batch_size,
    }


# Paper settings by name; a config's own keys override them. The DIN paper does not give a
# weight decay or schedule: ``din`` keeps AdamW's default decay (0.01) and a constant rate; ``din-paper`` takes
# them from MERIT's code, which DIN's is based on (weight decay 1e-4, constant rate), with DIN's own batch,
# epochs and loss where its text gives them.
PRESETS: dict[str, dict[str, Any]] = {
    "dca-glas": _dca_preset(4),
    "dca-monuseg": _dca_preset(4),
    "dca-cvc-clinicdb": _dca_preset(16),
    "dca-kvasir-seg": _dca_preset(16),
    "dca-synapse": _dca_preset(24),
    "din": {
        "loss": {"dice": 0.7, "ce": 0.3, "boundary": 1.0, "boundary_scales": [1, 2, 4]},
        "optim": {"name": "adamw", "lr": 1e-4, "weight_decay": 0.01, "scheduler": "none"},
        "epochs": 300,
        "batch_size": 3,
    },
    "din-paper": {
        "data": {"size": 224},
        "loss": {"dice": 0.7, "ce": 0.3, "boundary": 1.0, "boundary_scales": [1, 2, 4]},
        "optim": {"name": "adamw", "lr": 1e-4, "weight_decay": 1e-4, "scheduler": "none"},
        "epochs": 300,
        "batch_size": 3,
    },
}


#: Defaults of the paper protocol per preset family (a config's own keys override them): the DCA code trains in
#: fp32 and selects on its batch-pooled Dice; DIN's (MERIT's) selects with MERIT's Dice and augments as MERIT.
PAPER_DEFAULTS: dict[str, dict[str, Any]] = {
    "dca-": {"device": {"amp": "none"}, "selection_metric": "official"},
    "din": {"data": {"augmentation": "merit"}, "selection_metric": "merit"},
}


def paper_defaults(preset: str | None) -> dict[str, Any]:
    """The paper protocol's defaults for a run of ``preset`` ({} for a preset of neither paper)."""
    family = next((prefix for prefix in PAPER_DEFAULTS if (preset or "").startswith(prefix)), None)
    return PAPER_DEFAULTS[family] if family else {}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated by ``override``, merging nested dicts key by key (``model.options`` included)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _convert(hint: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the type hint ``hint`` (YAML types), converting lists to tuples and ints to floats."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(inner, value, key)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise TypeError(f"{key} must be a mapping, got {value!r}")
        return _build(hint, value, f"{key}.")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(f"{key} must be a list, got {value!r}")
        (inner,) = typing.get_args(hint)[:1]
        return tuple(_convert(inner, item, key) for item in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            number = float(value)
        except ValueError:
            raise TypeError(f"{key} must be a number, got {value!r}") from None
        if math.isfinite(number):
            return number
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise TypeError(f"{key} must be of type {hint.__name__}, got {value!r}")
    return value


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a plain dict, rejecting unknown keys by their dotted name."""
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise KeyError(f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; known: {', '.join(hints)}")
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in data and _required(f)]
    if missing:
        raise KeyError(f"missing config key(s) {', '.join(prefix + k for k in missing)}")
    return cls(**{key: _convert(hints[key], value, prefix + key) for key, value in data.items()})


def _required(f: dataclasses.Field[Any]) -> bool:
    """Whether a dataclass field has no default."""
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _legacy_determinism(merged: dict[str, Any]) -> dict[str, Any]:
    """Read the former ``device.deterministic`` flag as ``device.determinism`` (true: strict, false: seeded)."""
    device = merged.get("device")
    if not isinstance(device, dict) or "deterministic" not in device:
        return merged
    device = dict(device)
    flag = device.pop("deterministic")
    if "determinism" in device:
        raise KeyError("device.deterministic is replaced by device.determinism: give only device.determinism")
    if not isinstance(flag, bool):
        raise TypeError(f"device.deterministic must be true or false, got {flag!r} (prefer device.determinism)")
    return {**merged, "device": {**device, "determinism": "strict" if flag else "seeded"}}


def resolve_config(raw: dict[str, Any], overrides: dict[str, Any] | None = None) -> RunConfig:
    """Resolve a config dict: its ``preset`` (if any) first, then its own keys, then ``overrides``; under
    ``protocol: paper`` the paper's defaults (:data:`PAPER_DEFAULTS`) lie beneath all of them."""
    merged = _legacy_determinism(deep_merge(raw, overrides or {}))
    preset = merged.get("preset")
    if preset is not None:
        if preset not in PRESETS:
            raise KeyError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
        merged = deep_merge(PRESETS[preset], merged)
    if merged.get("protocol") == "paper":
        merged = deep_merge(paper_defaults(preset), merged)
    return _build(RunConfig, merged)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``["optim.lr=1e-3", "model.dca=true"]`` into a nested dict (values parsed as YAML)."""
    result: dict[str, Any] = {}
    for key, value in parse_key_values(pairs, "override", form="key.sub=value").items():
        node = result
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return result


def load_run_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load a YAML run config from ``path`` and resolve it (preset, own keys, overrides)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise TypeError(f"{path}: a run config must be a YAML mapping")
    return resolve_config(raw, overrides)


def to_dict(config: RunConfig) -> dict[str, Any]:
    """The resolved config as plain YAML-able data (tuples as lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    data = plain(dataclasses.asdict(config))
    if data["data"]["patch"] is None:  # 2D runs: the config (and its digest) as before volume models existed
        del data["data"]["patch"]
    for parent, key, default in ((data, "selection_metric", "dice"), (data["data"], "augmentation", "dca")):
        if parent[key] == default:  # honest runs: the config (and its digest) as before these keys existed
            del parent[key]
    return data


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML text (key order as in the dataclasses)."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
