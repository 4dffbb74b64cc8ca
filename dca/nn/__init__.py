"""Neural-network building blocks shared by the models (DCA, conv blocks)."""

from dca.nn.dca import DCAOptions, DualCrossAttention, build_dca

__all__ = ["DCAOptions", "DualCrossAttention", "build_dca"]
