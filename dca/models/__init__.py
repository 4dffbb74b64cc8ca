"""Segmentation models by name: ``build_model(name, ...)``, ``list_models()`` and ``check_model(...)``."""

from dca.models.check import check_model
from dca.models.registry import build_model, list_models, register_model

__all__ = ["build_model", "check_model", "list_models", "register_model"]
