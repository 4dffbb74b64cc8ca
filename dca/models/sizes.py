"""Input-size rules shared by the models: what H and W must divide by, and the error if not."""

from __future__ import annotations

import math

from dca.nn.dca import DCAOptions

DOWNSAMPLING = 16  # four 2x poolings: U-Net, V-Net, R2U-Net, DoubleU-Net, MultiResUNet
DEFAULT_PATCH_SIZE = 8  # the paper's DCA patch size for the four-skip models


def size_multiple(
    dca: DCAOptions | None, downsampling: int = DOWNSAMPLING, default_patch_size: int = DEFAULT_PATCH_SIZE
) -> int:
    """The number H and W must be multiples of: the total down-sampling, and with DCA also its patch size."""
    if dca is None:
        return downsampling
    if isinstance(dca.patch_size, tuple):
        raise ValueError(
            f"dca_patch_size={dca.patch_size} is per axis, which only volumetric models (unet3d) take; "
            "give one integer for a 2D model"
        )
    return math.lcm(downsampling, dca.patch_size or default_patch_size)


def check_size(model: str, height: int, width: int, multiple: int, what: str = "input size") -> None:
    """Raise a ValueError naming the size and the nearest valid sizes unless both sides divide by ``multiple``."""
    if height > 0 and width > 0 and height % multiple == 0 and width % multiple == 0:
        return

    def lower(n: int) -> int:
        return max(multiple, n // multiple * multiple)

    def upper(n: int) -> int:
        return -(-n // multiple) * multiple

    options = dict.fromkeys((f"{lower(height)}x{lower(width)}", f"{upper(height)}x{upper(width)}"))
    raise ValueError(
        f"{model}: {what} {height}x{width} is not valid: height and width must be divisible by {multiple} "
        f"(the network's total down-sampling, and the DCA patch size when DCA is on). "
        f"Nearest valid sizes: {' or '.join(options)}; resize or pad the images."
    )
