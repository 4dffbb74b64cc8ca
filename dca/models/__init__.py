"""Segmentation models by name: ``build_model(name, ...)`` and ``list_models()``."""

from dca.models.registry import build_model, list_models, register_model

__all__ = ["build_model", "list_models", "register_model"]
