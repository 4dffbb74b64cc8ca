"""dca: reproducible experiments for Dual Cross-Attention and the Dual Interaction Network."""

__version__ = "0.1.0"
