"""The papers' selection scores (``selection_metric``), computed after every epoch on the selection split.

``official``: the DCA code's Dice, batch-pooled over batches of ``eval.batch`` in loader order
(:func:`dca.metrics.official.official_scores`). ``merit``: MERIT's, from each prediction zoomed back (order 0)
to its case's original size: on ``val`` medpy's binary Dice per slice (every label > 0 is foreground; 0 when
both are empty), averaged over slices; on ``test`` TransUNet's per-class rule per case (both non-empty: Dice;
prediction only: 1; else 0), the mean over foreground classes of the mean over cases. The per-image Dice of
``dice`` stays in :mod:`dca.train.loop`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from dca import metrics
from dca.metrics.official import official_scores
from dca.processed import load_case
from dca.utils.resample import zoom_slice


def binary_slice_dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """medpy's ``dc`` of two label maps read as foreground (> 0) vs background: 0 when both are empty."""
    p, r = pred > 0, ref > 0
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(r))
    return 2.0 * int(np.count_nonzero(p & r)) / total if total else 0.0


def score_column(split: str, metric: str) -> str:
    """The column of an epoch row that selects: ``<split>_dice`` (ours), else ``<split>_dice_<metric>``."""
    return f"{split}_dice" if metric == "dice" else f"{split}_dice_{metric}"


class SelectionScorer:
    """Collects one epoch's label maps on the selection split (``split``) and scores them by ``metric``."""

    def __init__(self, metric: str, split: str, root: Path, num_labels: int, batch: int) -> None:
        if metric not in ("official", "merit"):
            raise ValueError(f"selection_metric {metric!r} has no scorer here; expected official or merit")
        self.metric, self.split, self.root, self.num_labels, self.batch = metric, split, Path(root), num_labels, batch
        self.preds: list[np.ndarray] = []
        self.refs: list[np.ndarray] = []
        self.by_case: dict[str, dict[int, np.ndarray]] = defaultdict(dict)

    def add(self, preds: np.ndarray, refs: np.ndarray, cases: list[tuple[str, int]]) -> None:
        """One batch: predicted and reference label maps (B, S, S) and each item's (case id, slice index)."""
        if self.metric == "official":
            self.preds.extend(preds)
            self.refs.extend(refs)
            return
        for pred, (case, k) in zip(preds, cases, strict=True):
            self.by_case[case][k] = pred

    def score(self) -> float:
        """The epoch's score (higher is better)."""
        if self.metric == "official":
            return official_scores(self.preds, self.refs, self.num_labels, self.batch)["dice_official"]
        slice_scores, class_scores = [], []
        for case, slices in self.by_case.items():
            label = load_case(self.root, case)[1]
            label = label if label.ndim == 3 else label[None]
            pred = np.stack([zoom_slice(slices[k], label.shape[1:], label=True) for k in sorted(slices)])
            ref = label[sorted(slices)]
            if self.split == "val":
                slice_scores += [binary_slice_dice(p, r) for p, r in zip(pred, ref, strict=True)]
            else:
                class_scores.append(
                    [
                        metrics.transunet_case(pred == c, ref == c, surface=False)["dice"]
                        for c in range(1, self.num_labels)
                    ]
                )
        return float(np.mean(slice_scores if self.split == "val" else np.mean(class_scores, axis=0)))
