"""``device.determinism: strict`` on CUDA, refused up front when the run's model or loss uses an op that has no
deterministic CUDA kernel (torch raises at its first call, which would stop the run mid-training).

The ops are found by tracing one forward pass and the loss of the run's model spec on fake CUDA tensors (no GPU,
no memory: :class:`torch._subclasses.fake_tensor.FakeTensorMode`), so the model's CUDA code paths are the ones
seen; the list is torch's own (``torch.use_deterministic_algorithms``: the ops that raise on CUDA).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# aten op (forward) -> what fails: its backward, or the op itself, has no deterministic CUDA kernel.
NONDETERMINISTIC_CUDA = {
    "upsample_linear1d": "linear up-sampling (backward)",
    "upsample_bilinear2d": "bilinear up-sampling (backward)",
    "upsample_bicubic2d": "bicubic up-sampling (backward)",
    "upsample_trilinear3d": "trilinear up-sampling (backward)",
    "_adaptive_avg_pool2d": "adaptive average pooling (backward)",
    "_adaptive_avg_pool3d": "adaptive average pooling 3D (backward)",
    "adaptive_max_pool2d": "adaptive max pooling (backward)",
    "avg_pool3d": "average pooling 3D (backward)",
    "fractional_max_pool2d": "fractional max pooling (backward)",
    "reflection_pad1d": "reflection padding (backward)",
    "reflection_pad2d": "reflection padding (backward)",
    "reflection_pad3d": "reflection padding (backward)",
    "grid_sampler_2d": "grid sampling (backward)",
    "nll_loss_forward": "NLL / cross-entropy loss",
    "nll_loss2d_forward": "NLL / cross-entropy loss",
    "max_unpool2d": "max unpooling",
    "histc": "histc",
}


class StrictDeterminismError(ValueError):
    """``device.determinism: strict`` asked for a model that cannot run bit-exact on CUDA."""


class _Ops(TorchDispatchMode):
    """Records the aten ops dispatched."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def nondeterministic_cuda_ops(
    name: str,
    *,
    dca: bool = False,
    options: Mapping[str, object] | None = None,
    in_channels: int = 3,
    num_classes: int = 1,
    img_size: int | tuple[int, ...] = 224,
    inputs: int = 1,
    loss: object | None = None,
) -> list[str]:
    """The ops of one training step of this model spec (and ``loss``, a :class:`SegmentationLoss`) that raise on
    CUDA under deterministic algorithms, described, sorted (traced with deterministic algorithms on, as the run)."""
    ops = _Ops()
    enabled = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(
        True
    )  # as the run has it: torch then takes deterministic paths where it has them
    try:
        _trace(ops, name, dca, options, in_channels, num_classes, img_size, inputs, loss)
    finally:
        torch.use_deterministic_algorithms(enabled)
    return sorted({NONDETERMINISTIC_CUDA[op] for op in ops.seen if op in NONDETERMINISTIC_CUDA})


def _trace(
    ops: _Ops,
    name: str,
    dca: bool,
    options: Mapping[str, object] | None,
    in_channels: int,
    num_classes: int,
    img_size: int | tuple[int, ...],
    inputs: int,
    loss: object | None,
) -> None:
    """One forward pass and the loss of the model spec on fake CUDA tensors, its ops recorded in ``ops``."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from dca.models import build_model

    with FakeTensorMode(allow_non_fake_inputs=True), torch.device("cuda"):
        model = build_model(
            name, dca=dca, in_channels=in_channels, num_classes=num_classes, img_size=img_size, **(options or {})
        )
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)  # (D, H, W): a volume model
        x = torch.rand(2, in_channels, *size)
        target = torch.randint(0, max(num_classes, 2), (2, *size))
        with ops:
            out = model(*[x] * inputs)
            logits = out[0] if isinstance(out, (list, tuple)) else out
            if loss is not None:
                loss(out, target)
            elif num_classes > 1:
                torch.nn.functional.cross_entropy(logits.float(), target)


def strict_refusal(model: str, ops: list[str], where: str) -> StrictDeterminismError:
    """The error naming the ops, the model and what to do."""
    return StrictDeterminismError(
        f"{where}: device.determinism: strict cannot run {model} on CUDA: {', '.join(ops)} "
        "has no deterministic CUDA kernel (torch would stop the run at its first step); use device.determinism: "
        "seeded (seeded, fast, not bit-exact), run it on the CPU (device: cpu), or choose a model without these ops"
    )
