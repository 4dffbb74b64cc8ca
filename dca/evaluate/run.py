"""``dca evaluate RUN_DIR``: score a finished run's selected checkpoint on the test split.

2D datasets are scored per image, at the model resolution (the loader's resized masks) or at
the original resolution (logits resized back bilinearly, original masks), with the
``standard`` conventions; 3D datasets per volume with the TransUNet protocol
(:func:`~dca.evaluate.protocol.predict_volume`, ``transunet`` conventions, HD95 in mm from the
voxel spacing, in voxels for a source without one: :func:`~dca.evaluate.protocol.hd95_unit`). A run of
the paper protocol also gets the official DCA Dice/IoU (:mod:`dca.metrics.official`: per test batch of
``eval.batch``, at the model resolution; 3D: the 2D slices at the model size). Writes ``eval/per_case.csv``,
``eval/metrics.json`` (the aggregate, with how the model was selected and, under ``data``, the root of the
dataset it was computed on) and ``eval/predictions/``, the first k test ids (sorted), for the figures
(:class:`dca.layout.RunDir`). The run's config is the one kept in its selected checkpoint; its trained epoch
count the one of its ``summary.json`` (a ``best.pt`` may be from before the run continued to more epochs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dca.dims import model_dims
from dca.evaluate.protocol import aggregate, case_metrics, hd95_unit, predict_volume
from dca.evaluate.sliding import sliding_window
from dca.layout import EVAL_METRICS, EVAL_PER_CASE, PREDICTIONS_DIR, RunDir
from dca.metrics.official import official_scores
from dca.processed import ProcessedDir, dataset_info, load_case, read_index
from dca.run_files import finished_run_config, read_summary, selected_checkpoint, selection_info
from dca.train import setup
from dca.train.batches import epoch_batches, make_loader, model_inputs
from dca.train.checkpoint import load_weights
from dca.train.config import RunConfig
from dca.train.device import select_device
from dca.train.losses import to_labels
from dca.utils.io import atomic_path, save_npy, write_json
from dca.utils.log import Log, stage_log
from dca.utils.progress import track
from dca.utils.resample import zoom_slice

LOG = stage_log("evaluate")  # the default: [dca evaluate] lines on stderr


def check_compatible(summary: dict[str, Any], trained: Path, other: Path) -> None:
    """Refuse to test a run on a dataset whose image channels or number of classes differ from those of the
    dataset it was trained on (its weights would not fit): as its ``summary`` records them, so the training dataset
    need not be on disk (read from there for a run whose summary predates the record, when it still is)."""
    ours = summary.get("dataset") or (dataset_info(trained) if ProcessedDir(trained).info.is_file() else None)
    if ours is None:
        return
    theirs = dataset_info(other)
    differ = [
        f"{what} {other_value} (trained on {trained_value})"
        for what, trained_value, other_value in (
            ("channels", ours["channels"], theirs["channels"]),
            ("classes", len(ours["labels"]), len(theirs["labels"])),
        )
        if trained_value != other_value
    ]
    if differ:
        raise ValueError(
            f"{other} does not match {trained}, the dataset the run was trained on: {', '.join(differ)}; "
            "evaluate on a processed dataset with the same channels and classes"
        )


def _save_prediction(folder: Path, case: str, labels: np.ndarray, fmt: str) -> None:
    """Save one predicted label map: uint8 PNG (2D, ``png``) or ``.npy`` (3D volumes always)."""
    labels = labels.astype(np.uint8)
    if fmt == "png" and labels.ndim == 2:
        with atomic_path(folder / f"{case}.png") as tmp:
            Image.fromarray(labels).save(tmp, format="PNG")
    else:
        save_npy(folder / f"{case}.npy", labels)


class _Evaluator:
    """The model of one run on ``device`` and the test split of its dataset."""

    def __init__(
        self, config: RunConfig, model: nn.Module, device: torch.device, out: Path, voxels: bool, hd95_empty: str
    ) -> None:
        self.config, self.model, self.device, self.hd95_empty = config, model, device, hd95_empty
        self.root = Path(config.data.root)
        self.labels = dataset_info(self.root)["labels"]
        self.voxels = voxels  # HD95 in voxels: the source has no real spacing
        #: Model-resolution (prediction, reference) label maps in loader order, for the official metric.
        self.official = config.protocol == "paper"
        self.maps: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        self.test_ids = sorted(row["id"] for row in read_index(self.root) if row["split"] == "test")
        self.keep = set(self.test_ids[: config.eval.save_predictions])
        self.predictions = out / PREDICTIONS_DIR

    def _rows(self, case: str, pred: np.ndarray, ref: np.ndarray, **kwargs: Any) -> list[dict[str, Any]]:
        """Per-class metric rows of one case (prediction saved when it is one of the kept cases)."""
        if case in self.keep:
            _save_prediction(self.predictions, case, pred, self.config.eval.prediction_format)
        rows = case_metrics(pred, ref, self.labels, hd95_empty=self.hd95_empty, **kwargs)
        return [{"case": case, **row} for row in rows]

    @torch.no_grad()
    def images(self, resolution: str) -> list[dict[str, Any]]:
        """Rows for every 2D test image at ``resolution`` (``model`` or ``original``)."""
        cfg = self.config
        dataset = setup.make_dataset(cfg, "test", augment=False)
        batches = epoch_batches(len(dataset), cfg.eval.batch, cfg.seed, 0, shuffle=False)
        rows: list[dict[str, Any]] = []
        loader = make_loader(dataset, batches, cfg.data.workers, cfg.seed, 0, False)
        for batch in track(loader, len(batches), "evaluate", unit="batch"):
            logits = self.model(*model_inputs(batch, cfg.data.inputs, self.device, False)).float().cpu()
            if self.official:
                self.maps[0].extend(to_labels(logits).numpy())
                self.maps[1].extend(batch["mask"].numpy())
            for i, case in enumerate(batch["id"]):
                if resolution == "model":
                    pred, ref = to_labels(logits[i : i + 1])[0].numpy(), batch["mask"][i].numpy()
                else:
                    ref = load_case(self.root, case)[1]
                    resized = F.interpolate(logits[i : i + 1], size=ref.shape, mode="bilinear", align_corners=False)
                    pred = to_labels(resized)[0].numpy()
                rows += self._rows(case, pred, ref, convention="standard")
        return rows

    def _predict_slices(self, case: str) -> Callable[[np.ndarray], np.ndarray]:
        """A ``predict_slices`` for :func:`predict_volume` that feeds the model its configured inputs.

        Enhanced inputs are the case's cached enhanced volumes, cut at the same slice positions
        (``predict_volume`` asks for consecutive slices) and zoomed as it zooms the image.
        """
        cfg, size = self.config, self.config.data.size
        enhanced = {m: np.load(ProcessedDir(self.root).enhanced_file(m, case, 3)) for m in cfg.data.enhanced}
        start = 0

        def slices_of(method: str, n: int) -> np.ndarray:
            cut = enhanced[method][start : start + n]
            return np.stack([zoom_slice(s, (size, size), label=False) for s in cut])

        @torch.no_grad()
        def predict(slices: np.ndarray) -> np.ndarray:
            nonlocal start
            arrays = [slices if name == "image" else slices_of(name, len(slices)) for name in cfg.data.inputs]
            start += len(slices)
            inputs = [torch.from_numpy(a.astype(np.float32))[:, None].to(self.device) for a in arrays]
            labels = to_labels(self.model(*inputs)).cpu().numpy()
            if self.official:
                self.maps[0].extend(labels)
            return labels

        return predict

    def volumes(self) -> list[dict[str, Any]]:
        """Rows for every 3D test volume (TransUNet protocol, HD95 with the voxel spacing or in voxels)."""
        rows: list[dict[str, Any]] = []
        size = self.config.data.size
        for case in track(self.test_ids, len(self.test_ids), "evaluate", unit="volume"):
            volume, label, spacing = load_case(self.root, case)
            predict = self._predict_slices(case)
            pred = predict_volume(predict, volume, size, self.config.eval.batch)
            if self.official:  # the official code's 2D slices: labels zoomed to the model size (nearest)
                self.maps[1].extend(zoom_slice(s, (size, size), label=True) for s in label)
            rows += self._rows(case, pred, label, spacing=None if self.voxels else spacing, convention="transunet")
        return rows

    @torch.no_grad()
    def volume_windows(self) -> list[dict[str, Any]]:
        """Rows for every 3D test volume of a volume model: Gaussian-weighted sliding windows of the training
        patch over the whole volume (:func:`~dca.evaluate.sliding.sliding_window`), scored as :meth:`volumes`."""
        cfg, processed = self.config, ProcessedDir(self.root)
        assert cfg.data.patch is not None  # a volume model's config always has one
        rows: list[dict[str, Any]] = []
        for case in track(self.test_ids, len(self.test_ids), "evaluate", unit="volume"):
            volume, label, spacing = load_case(self.root, case)
            arrays = [
                volume if name == "image" else np.load(processed.enhanced_file(name, case, 3))
                for name in cfg.data.inputs
            ]
            inputs = [torch.from_numpy(np.asarray(a, dtype=np.float32))[None].to(self.device) for a in arrays]
            logits = sliding_window(lambda x: self.model(*x), inputs, cfg.data.patch.size, batch=cfg.eval.batch)
            pred = to_labels(logits[None])[0].cpu().numpy()
            rows += self._rows(case, pred, label, spacing=None if self.voxels else spacing, convention="transunet")
        return rows

    def official_scores(self) -> dict[str, Any]:
        """The official DCA Dice/IoU of the collected label maps, per batch of ``eval.batch`` ({} unless paper)."""
        if not self.official:
            return {}
        return official_scores(*self.maps, len(self.labels), self.config.eval.batch)


def output_dir(run_dir: Path, out: Path | None = None, data: Path | None = None) -> Path:
    """Where :func:`evaluate_run` writes: ``out``, else ``RUN_DIR/eval`` (``RUN_DIR/eval-<folder>`` for ``data``)."""
    if out is not None:
        return Path(out)
    run = RunDir(run_dir)
    return run.eval_dir if data is None else run.path / f"{run.eval_dir.name}-{Path(data).name}"


def evaluate_run(
    run_dir: Path,
    *,
    resolution: str | None = None,
    out: Path | None = None,
    hd95_empty: str = "skip",
    data: Path | None = None,
    log: Log = LOG,
) -> dict[str, Any]:
    """Evaluate the selected checkpoint of the finished run ``run_dir`` on its test split; return the metrics.

    ``data`` (a processed dataset folder) evaluates on that dataset's test split instead (cross-dataset: train
    on Kvasir, test on CVC-ClinicDB), into ``RUN_DIR/eval-<folder name>`` unless ``out`` is given; a dataset whose
    channels or classes differ from the training dataset's is a ValueError (:func:`check_compatible`).

    ``resolution`` overrides the run's ``eval.resolution`` (2D only); ``out`` (default ``RUN_DIR/eval``) gets
    the files of the run folder's ``eval/``; ``hd95_empty`` (``skip`` or ``diagonal``) scores a case whose HD95
    is undefined (:mod:`dca.evaluate.protocol`).
    """
    run_dir = Path(run_dir)
    config = finished_run_config(run_dir)
    if data is not None:
        if not ProcessedDir(data).complete.is_file():
            raise FileNotFoundError(
                f"{data}: not a processed dataset (no {ProcessedDir(data).complete.name}); run `dca data prepare` first"
            )
        check_compatible(read_summary(run_dir), Path(config.data.root), Path(data))
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=str(data)))
    resolution = resolution or config.eval.resolution
    out = output_dir(run_dir, out, data)
    device = select_device(config.device, log)
    info = dataset_info(Path(config.data.root))
    dims = int(info["dims"])

    ckpt_name = selected_checkpoint(config)
    in_channels = setup.input_channels(setup.make_dataset(config, "test", augment=False), config.data.inputs)
    model = setup.build_run_model(config, in_channels, setup.num_outputs(info["labels"]))
    model.load_state_dict(load_weights(run_dir / ckpt_name, device))
    model.to(device).eval()
    summary = read_summary(run_dir)

    unit = hd95_unit(info, resolution)
    evaluator = _Evaluator(config, model, device, out, voxels=unit == "voxels", hd95_empty=hd95_empty)
    if model_dims(config.model.name) == 3:
        evaluator.official = False  # the official metric scores 2D slices; a volume model has none
        per_case = pd.DataFrame(evaluator.volume_windows())
    else:
        per_case = pd.DataFrame(evaluator.volumes() if dims == 3 else evaluator.images(resolution))
    with atomic_path(out / EVAL_PER_CASE) as tmp:
        per_case.to_csv(tmp, index=False)
    metrics = {
        **selection_info(config),
        "run": str(run_dir),
        "checkpoint": ckpt_name,
        "epoch": summary.get("best_epoch"),
        "data": config.data.root,
        "split": "test",
        "resolution": "volume" if dims == 3 else resolution,
        "size": config.data.size,
        "preset": config.preset,
        "epochs": summary["epochs"],  # trained: the selected checkpoint may be from before a continuation
        "batch_size": config.batch_size,
        "convention": "transunet" if dims == 3 else "standard",
        "hd95_unit": unit,
        "hd95_empty": hd95_empty,
        **aggregate(per_case),
        **evaluator.official_scores(),
    }
    write_json(out / EVAL_METRICS, metrics)
    note = f" [{metrics['selection_note']}]" if metrics["test_selected"] else ""
    log(f"test Dice {metrics['dice']:.4f} (model selection: {config.selection}){note}: {out / EVAL_METRICS}")
    return metrics
