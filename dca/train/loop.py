"""The training loop: epochs, validation and model selection, checkpoints, resume, preemption, divergence.

``train(config)`` runs (or resumes, or skips) one run. Its run folder holds ``config.yaml`` (the
resolved config), ``last.pt`` and ``best.pt``, ``metrics.csv`` and ``dvclive/`` (one row per
epoch) and, written last to mark completion, ``summary.json``.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm import tqdm

from dca.data.loader import read_index
from dca.train import setup
from dca.train.batches import epoch_batches, make_loader, model_inputs
from dca.train.checkpoint import BEST, LAST, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from dca.train.config import RunConfig, dump_config, to_dict
from dca.train.device import (
    Log,
    amp_dtype,
    autocast,
    configure_torch,
    make_scaler,
    prepare_model,
    seed_everything,
    select_device,
    to_device,
)
from dca.train.history import EpochLog
from dca.train.losses import SegmentationLoss, to_labels
from dca.utils.io import write_json, write_text

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: "try again later", the job can be requeued
CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
TEST_SELECTION_NOTE = (
    "best epoch selected on the TEST split (the papers' protocol): test scores of this run are optimistically biased"
)


class DivergedError(RuntimeError):
    """The loss, or the model after an epoch, became NaN or infinite; no checkpoint was written from it."""


class Preempted(Exception):
    """SIGTERM arrived; ``last.pt`` holds the state at the point where training stopped."""


def log_message(message: str) -> None:
    """Print a run message to stderr without breaking the progress bar."""
    tqdm.write(f"[dca train] {message}", file=sys.stderr)


def selection_split(config: RunConfig) -> str | None:
    """The split scored after every epoch: ``test`` for test selection, else ``val`` when it has cases."""
    if config.selection == "test":
        return "test"
    if any(row["split"] == "val" for row in read_index(Path(config.data.root))):
        return "val"
    if config.selection == "val":
        raise ValueError(f"{config.data.root} has no val cases; use selection: last (or test)")
    return None


def selected_checkpoint(config: RunConfig) -> str:
    """File name of the checkpoint that evaluation uses: ``best.pt``, or ``last.pt`` for ``selection: last``."""
    return LAST if config.selection == "last" else BEST


def selection_info(config: RunConfig) -> dict[str, Any]:
    """How the evaluated model was chosen, for every report (summary and metrics): test selection is marked."""
    info: dict[str, Any] = {"selection": config.selection, "test_selected": config.selection == "test"}
    if config.selection == "test":
        info["selection_note"] = TEST_SELECTION_NOTE
    return info


def batch_dice(pred: torch.Tensor, ref: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Per-image Dice (B,) of label maps, averaged over foreground labels (both empty: 1)."""
    scores = []
    for label in range(1, num_labels):
        p, r = (pred == label).flatten(1), (ref == label).flatten(1)
        inter, size = (p & r).sum(1), p.sum(1) + r.sum(1)
        scores.append(torch.where(size > 0, 2.0 * inter / size.clamp(min=1), 1.0))
    return torch.stack(scores, 1).mean(1)


def forward_loss(
    net: torch.nn.Module,
    criterion: torch.nn.Module,
    inputs: list[torch.Tensor],
    target: torch.Tensor,
    device: torch.device,
    amp: torch.dtype | None,
) -> torch.Tensor:
    """Loss of one batch: the forward under autocast when AMP is on, the loss in full precision."""
    with autocast(device, amp):
        logits = net(*inputs)
    return criterion(logits, target)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """Backward (scaled for fp16) and one optimiser update."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


class _StopRequest:
    """Records SIGTERM while active (main thread only), so training stops at the next safe point."""

    def __init__(self) -> None:
        self.requested = False
        self._installed = threading.current_thread() is threading.main_thread()
        self._previous: Any = signal.SIG_DFL

    def __enter__(self) -> _StopRequest:
        if self._installed:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: types.FrameType | None) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous if self._previous is not None else signal.SIG_DFL)


@dataclass
class Progress:
    """Where training stands: epochs done, steps done in the current epoch, best so far, epoch rows."""

    epoch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    best_score: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """One run's model, optimiser, data and state; :meth:`fit` trains from wherever ``last.pt`` left off."""

    def __init__(self, config: RunConfig, log: Log = log_message) -> None:
        self.config, self.log = config, log
        self.run_dir = config.run_dir
        self.device = select_device(config.device, log)
        configure_torch(config.device, self.device)
        seed_everything(config.seed)
        self.train_set = setup.make_dataset(config, "train", augment=config.data.augment)
        self.split = selection_split(config)
        self.monitor_set = setup.make_dataset(config, self.split, augment=False) if self.split else None
        self.num_labels = len(self.train_set.info["labels"])
        in_channels = setup.input_channels(self.train_set, config.data.inputs)
        self.model = setup.build_run_model(config, in_channels, setup.num_outputs(self.train_set.info["labels"]))
        self.net = prepare_model(self.model, config.device, self.device)
        self.optimizer = setup.build_optimizer(config.optim, self.model.parameters())
        self.scheduler = setup.build_scheduler(self.optimizer, config.optim, config.epochs)
        self.amp = amp_dtype(config.device, self.device)
        self.scaler = make_scaler(self.device, self.amp)
        self.criterion = SegmentationLoss(config.loss)
        self.progress = Progress()

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        """The full training state as a checkpoint dict (see :mod:`dca.train.checkpoint`)."""
        p = self.progress
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": p.epoch,
            "step": p.step,
            "epoch_loss": p.loss_sum,
            "best": {"score": p.best_score, "epoch": p.best_epoch},
            "history": p.history,
            "rng": rng_state(),
            "config": to_dict(self.config),
        }

    def resume(self) -> None:
        """Load ``last.pt`` if there is one (weights, optimiser, schedule, scaler, progress, RNG states)."""
        path = self.run_dir / LAST
        if not path.exists():
            return
        ckpt = load_checkpoint(path, self.device)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.progress = Progress(
            epoch=ckpt["epoch"],
            step=ckpt["step"],
            loss_sum=ckpt["epoch_loss"],
            best_score=ckpt["best"]["score"],
            best_epoch=ckpt["best"]["epoch"],
            history=ckpt["history"],
        )
        set_rng_state(ckpt["rng"])
        where = f", {ckpt['step']} step(s) into epoch {ckpt['epoch'] + 1}" if ckpt["step"] else ""
        self.log(f"resuming from {path}: {ckpt['epoch']} epoch(s) done{where}")

    # ------------------------------------------------------------------ steps

    def train_step(self, batch: dict[str, Any], epoch: int, step: int) -> float:
        """One optimisation step; raises :class:`DivergedError` (before updating) on a non-finite loss."""
        inputs = model_inputs(batch, self.config.data.inputs, self.device, self.config.device.channels_last)
        target = to_device(batch["mask"], self.device, False)
        loss = forward_loss(self.net, self.criterion, inputs, target, self.device, self.amp)
        value = loss.item()
        if not math.isfinite(value):
            raise DivergedError(
                f"loss is {value} at epoch {epoch + 1}, step {step + 1}: training stopped; "
                f"the last good checkpoint is {self.run_dir / LAST} ({self.progress.epoch} epoch(s) done)"
            )
        optimizer_step(loss, self.optimizer, self.scaler)
        return value

    @torch.no_grad()
    def validate(self, epoch: int) -> dict[str, float]:
        """Loss and mean per-image Dice on the selection split at the training resolution."""
        self.net.eval()
        batches = epoch_batches(len(self.monitor_set), self.config.eval.batch, self.config.seed, epoch, shuffle=False)
        loader = make_loader(self.monitor_set, batches, self.config.data.workers, self.config.seed, epoch, False)
        loss_sum, dice_sum = 0.0, 0.0
        for batch in loader:
            inputs = model_inputs(batch, self.config.data.inputs, self.device, self.config.device.channels_last)
            target = to_device(batch["mask"], self.device, False)
            with autocast(self.device, self.amp):
                logits = self.net(*inputs)
            loss_sum += self.criterion(logits, target).item()
            dice_sum += batch_dice(to_labels(logits), target, self.num_labels).sum().item()
        self.net.train()
        return {f"{self.split}_loss": loss_sum / len(batches), f"{self.split}_dice": dice_sum / len(self.monitor_set)}

    def _check_finite(self, epoch: int, scores: dict[str, float]) -> None:
        """Raise :class:`DivergedError` if the weights or the validation numbers are not finite."""
        finite = all(math.isfinite(v) for v in scores.values()) and all(
            bool(torch.isfinite(p).all()) for p in self.model.parameters()
        )
        if not finite:
            raise DivergedError(
                f"model diverged during epoch {epoch + 1} (non-finite weights or {self.split} scores {scores}): "
                f"training stopped; the last good checkpoint is {self.run_dir / LAST}"
            )

    def _preempt(self, where: str) -> None:
        """Save ``last.pt`` at this point and raise :class:`Preempted`."""
        save_checkpoint(self.run_dir / LAST, self.state())
        self.log(f"SIGTERM: saved {self.run_dir / LAST} {where}; exiting with code {PREEMPTED_EXIT_CODE} to requeue")
        raise Preempted(where)

    # ------------------------------------------------------------------ epochs

    def run_epoch(self, epoch: int, stop: _StopRequest, bar_postfix: dict[str, str]) -> None:
        """Train the rest of ``epoch`` (from ``progress.step``), then validate, select, save and log it."""
        cfg, p = self.config, self.progress
        started = time.perf_counter()
        self.train_set.set_epoch(epoch)
        batches = epoch_batches(len(self.train_set), cfg.batch_size, cfg.seed, epoch)
        loader = make_loader(
            self.train_set, batches[p.step :], cfg.data.workers, cfg.seed, epoch, self.device.type == "cuda"
        )
        self.net.train()
        with tqdm(total=len(batches), initial=p.step, desc=f"epoch {epoch + 1}/{cfg.epochs}", file=sys.stderr) as bar:
            for batch in loader:
                p.loss_sum += self.train_step(batch, epoch, p.step)
                p.step += 1
                bar_postfix["loss"] = f"{p.loss_sum / p.step:.4f}"
                bar.set_postfix(bar_postfix, refresh=False)
                bar.update()
                if stop.requested and p.step < len(batches):
                    self._preempt(f"after step {p.step} of epoch {epoch + 1}")
            row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": p.loss_sum / len(batches)}
            if self.monitor_set is not None:
                scores = self.validate(epoch)
                self._check_finite(epoch, scores)
                row.update(scores)
                bar_postfix[f"{self.split}_dice"] = f"{scores[f'{self.split}_dice']:.4f}"
                bar.set_postfix(bar_postfix)
            else:
                self._check_finite(epoch, {})
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        row["time_s"] = time.perf_counter() - started
        p.epoch, p.step, p.loss_sum = epoch + 1, 0, 0.0
        p.history.append(row)
        score = row.get(f"{self.split}_dice")
        if self.config.selection != "last" and (p.best_score is None or score > p.best_score):
            p.best_score, p.best_epoch = score, epoch + 1
            save_checkpoint(self.run_dir / BEST, self.state())
        save_checkpoint(self.run_dir / LAST, self.state())

    def fit(self) -> dict[str, Any]:
        """Train all remaining epochs and return the summary (raises Preempted or DivergedError)."""
        self.resume()
        epoch_log = EpochLog(self.run_dir, self.progress.history)
        postfix: dict[str, str] = {}
        try:
            with _StopRequest() as stop:
                for epoch in range(self.progress.epoch, self.config.epochs):
                    self.run_epoch(epoch, stop, postfix)
                    epoch_log.append(self.progress.history[-1])
                    if stop.requested and epoch + 1 < self.config.epochs:
                        self.log(f"SIGTERM: {self.run_dir / LAST} holds epoch {epoch + 1}")
                        raise Preempted(f"after epoch {epoch + 1}")
        finally:
            epoch_log.close()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """The finished run's summary: selection (test selection marked), best and final epochs, cost."""
        p = self.progress
        best_epoch = p.epoch if self.config.selection == "last" else p.best_epoch
        return {
            "status": "finished",
            "model": self.config.model.name,
            "dca": self.config.model.dca,
            "epochs": p.epoch,
            **selection_info(self.config),
            "selection_split": self.split,
            "checkpoint": selected_checkpoint(self.config),
            "best_epoch": best_epoch,
            "best": p.history[best_epoch - 1] if best_epoch else None,
            "final": p.history[-1],
            "parameters": sum(t.numel() for t in self.model.parameters()),
            "device": str(self.device),
            "train_time_s": sum(row["time_s"] for row in p.history),
        }


def _prepare_run_dir(config: RunConfig) -> None:
    """Check that an existing run (``last.pt``) was made with this config (device aside); write ``config.yaml``."""
    run_dir = config.run_dir
    path = run_dir / CONFIG_FILE
    if (run_dir / LAST).exists() and path.exists():
        old = yaml.safe_load(path.read_text(encoding="utf-8"))
        new = to_dict(config)
        changed = sorted(k for k in set(old) | set(new) if k != "device" and old.get(k) != new.get(k))
        if changed:
            raise ValueError(
                f"{run_dir} holds a run made with a different config (keys {', '.join(changed)} differ); "
                "use another output folder or delete the old run"
            )
    write_text(path, dump_config(config))


def train(config: RunConfig, log: Log = log_message) -> dict[str, Any]:
    """Run, resume or skip (already finished) the training run ``config``; return its summary.

    Raises :class:`Preempted` after saving ``last.pt`` on SIGTERM and :class:`DivergedError`
    on a non-finite loss (the last good checkpoint kept).
    """
    summary_path = config.run_dir / SUMMARY_FILE
    if summary_path.exists():
        log(f"{config.run_dir} is finished ({SUMMARY_FILE} exists): nothing to do")
        return json.loads(summary_path.read_text(encoding="utf-8"))
    _prepare_run_dir(config)
    summary = Trainer(config, log).fit()
    write_json(summary_path, summary)
    log(f"finished: {summary_path}")
    return summary
