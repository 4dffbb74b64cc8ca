"""Importing this module registers every built-in architecture with the registry."""

from dca.models import (  # noqa: F401
    din,
    doubleunet,
    multiresunet,
    r2unet,
    resunetpp,
    smp_dca,
    unet,
    vnet,
)
