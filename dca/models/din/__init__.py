"""Dual Interaction Network (Noh, Jeon, Park 2025); importing this package registers ``din`` and ``din-tiny``."""

from dca.models.din.model import DIN, DINConfig

__all__ = ["DIN", "DINConfig"]
