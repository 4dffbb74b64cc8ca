"""Evaluation: per-case metrics, aggregation and slice-wise 3D inference (pure functions in ``protocol``)."""

from dca.evaluate.protocol import CONVENTIONS, aggregate, case_metrics, predict_volume

__all__ = ["CONVENTIONS", "aggregate", "case_metrics", "predict_volume"]
