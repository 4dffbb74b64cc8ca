"""Where each built-in architecture is defined: importing a module registers its builders.

Loaded lazily, by name: DIN and the smp U-Nets pull in timm and torchvision (3.5 s per process on
two cores), which a U-Net training or evaluation job never needs.
"""

from __future__ import annotations

MODULES = {
    "unet": "dca.models.unet",
    "unet3d": "dca.models.unet3d",
    "vnet": "dca.models.vnet",
    "r2unet": "dca.models.r2unet",
    "resunetpp": "dca.models.resunetpp",
    "doubleunet": "dca.models.doubleunet",
    "multiresunet": "dca.models.multiresunet",
    "din": "dca.models.din",
    "din-tiny": "dca.models.din",
}
SMP_PREFIX = "smp-unet-"  # one name per segmentation-models-pytorch encoder
SMP_MODULE = "dca.models.smp_dca"


def modules_for(name: str | None) -> list[str]:
    """The modules to import so that ``name`` is registered; every module for None or an unknown name."""
    if name in MODULES:
        return [MODULES[name]]
    if name is not None and name.startswith(SMP_PREFIX):
        return [SMP_MODULE]
    return sorted({*MODULES.values(), SMP_MODULE})
