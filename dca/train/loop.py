"""The training loop: epochs, validation and model selection, checkpoints, resume, preemption, divergence.

``train(config)`` runs (or resumes, or skips) one run. Its run folder (:class:`dca.layout.RunDir`) holds
``last.pt`` and ``best.pt`` (each with the resolved config the run was trained with, which a resume
checks against the config given), ``curves.csv`` (one row per epoch) and, written last to mark
completion, ``summary.json``. The run config itself (``run.yaml``) is the caller's: never written here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from dca import metrics
from dca.layout import LOCK, PREVIOUS_DIR, STAMP_DIR, RunDir, config_digest
from dca.run_files import selected_checkpoint, selection_info, selection_split, trained_config, trained_epochs
from dca.train import setup
from dca.train.batches import EpochLoader, epoch_batches, model_inputs
from dca.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from dca.train.config import RunConfig, resolve_config, to_dict
from dca.train.device import (
    amp_dtype,
    autocast,
    configure_torch,
    make_scaler,
    prepare_model,
    restore_scaler,
    seed_everything,
    select_device,
    strict_error,
    to_device,
)
from dca.train.history import EpochLog
from dca.train.loader import default_workers
from dca.train.losses import SegmentationLoss, to_labels
from dca.train.runlog import RunLog
from dca.train.selection import SelectionScorer, score_column
from dca.train.stop import PREEMPTED_EXIT_CODE, Preempted, StopRequest
from dca.utils.io import remove_stale_temps, staging_dir, write_json
from dca.utils.lock import run_lock
from dca.utils.log import Log, is_quiet, stage_log

LOG = stage_log("train")  # the default: [dca train] lines on stderr
SYNC_EVERY = 32  # training steps between reads of the device-side loss sum (each read waits for the GPU)


class DivergedError(RuntimeError):
    """The loss, or the model after an epoch, became NaN or infinite; no checkpoint was written from it."""


def image_dice(pred: np.ndarray, ref: np.ndarray, num_labels: int) -> list[float]:
    """Per-image Dice of label maps (B, H, W): the mean over foreground labels of :func:`dca.metrics.dice`."""
    labels = range(1, num_labels)
    return [float(np.mean([metrics.dice(p == k, r == k) for k in labels])) for p, r in zip(pred, ref, strict=True)]


def forward_loss(
    net: torch.nn.Module,
    criterion: torch.nn.Module,
    inputs: list[torch.Tensor],
    target: torch.Tensor,
    device: torch.device,
    amp: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and loss of one batch: the forward under autocast when AMP is on, the loss in full precision."""
    with autocast(device, amp):
        logits = net(*inputs)
    return logits, criterion(logits, target)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """Backward (scaled for fp16) and one optimiser update."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


class LossSum:
    """An epoch's running loss sum and its first non-finite step, kept on the device: adding queues two small
    kernels and never waits for the GPU; :meth:`read` (every :data:`SYNC_EVERY` steps) does."""

    def __init__(self, start: float, device: torch.device) -> None:
        self.total = torch.tensor(start, dtype=torch.float64, device=device)
        self.bad_step = torch.tensor(-1, dtype=torch.int64, device=device)

    def add(self, loss: torch.Tensor, step: int) -> None:
        """Add one step's loss; remember ``step`` if it is the first with a non-finite loss."""
        loss = loss.detach()
        self.bad_step = torch.where((self.bad_step < 0) & ~torch.isfinite(loss), step, self.bad_step)
        self.total += loss.double()

    def read(self) -> tuple[float, int | None]:
        """The sum so far and the first non-finite step (None when every loss was finite)."""
        bad = int(self.bad_step)
        return float(self.total), None if bad < 0 else bad


@dataclass
class TrainingState:
    """Where training stands: epochs done, steps done in the current epoch, best so far, epoch rows."""

    epoch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    best_score: float | None = None
    best_epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """One run's model, optimiser, data and state; :meth:`fit` trains from wherever ``last.pt`` left off."""

    def __init__(self, config: RunConfig, log: Log = LOG) -> None:
        self.config, self.log = config, log
        self.run_dir = config.run_dir
        self.run = RunDir(config.run_dir)
        self.device = select_device(config.device, log)
        self.determinism = configure_torch(config.device, self.device)
        seed_everything(config.seed)
        self.train_set = setup.make_dataset(config, "train", augment=config.data.augment)
        self.split = selection_split(config)
        self.monitor_set = setup.make_dataset(config, self.split, augment=False) if self.split else None
        self.score_key = score_column(self.split or "", config.selection_metric)  # the epoch row's selecting column
        self.workers = default_workers() if config.data.workers is None else config.data.workers
        pin = self.device.type == "cuda"
        self.train_loader = EpochLoader(self.train_set, self.workers, config.seed, pin)
        self.monitor_loader = EpochLoader(self.monitor_set, self.workers, config.seed, pin) if self.split else None
        self.num_labels = len(self.train_set.info["labels"])
        in_channels = setup.input_channels(self.train_set, config.data.inputs)
        self.model = setup.build_run_model(config, in_channels, setup.num_outputs(self.train_set.info["labels"]))
        for line in getattr(self.model, "weights_report", ()):  # pretrained encoders: which tensors loaded
            log(f"encoder_weights: {line}")
        self.net = prepare_model(self.model, config.device, self.device)
        self.optimizer = setup.build_optimizer(config.optim, self.model.parameters())
        self.scheduler = setup.build_scheduler(self.optimizer, config.optim, config.epochs)
        self.amp = amp_dtype(config.device, self.device)
        self.scaler = make_scaler(self.device, self.amp)
        self.criterion = SegmentationLoss(config.loss)
        self._refuse_strict_on_cuda(in_channels)
        self.progress = TrainingState()
        self.saved: tuple[int, int] | None = None  # (epoch, step) that last.pt holds, None before it exists
        self.losses = LossSum(0.0, self.device)

    def _refuse_strict_on_cuda(self, in_channels: int) -> None:
        """Under ``determinism: strict`` on CUDA, stop before any training when the model or the loss uses an op
        without a deterministic CUDA kernel (torch would raise at the first step that reaches it)."""
        if self.device.type != "cuda" or self.determinism != "strict":
            return
        from dca.train.determinism import nondeterministic_cuda_ops, strict_refusal

        model = self.config.model
        ops = nondeterministic_cuda_ops(
            model.name,
            dca=model.dca,
            options=model.options,
            in_channels=in_channels,
            num_classes=setup.num_outputs(self.train_set.info["labels"]),
            img_size=setup.model_size(self.config),
            inputs=len(self.config.data.inputs),
            loss=self.criterion,
        )
        if ops:
            raise strict_refusal(f"{model.name}{'+DCA' if model.dca else ''}", ops, str(self.run_dir))

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
        path = self.run.last
        if not path.exists():
            return
        # On the CPU: load_state_dict places each tensor as a fresh run has it (weights and Adam's moments on the
        # device, Adam's ``step`` counters on the CPU, where reading them never waits for the GPU).
        ckpt = load_checkpoint(path)
        self.restore(ckpt)
        where = f", {ckpt['step']} step(s) into epoch {ckpt['epoch'] + 1}" if ckpt["step"] else ""
        self.log(f"resuming from {path}: {ckpt['epoch']} epoch(s) done{where}")

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Continue from the checkpoint dict ``ckpt`` (as :func:`load_checkpoint` gives it, on any device)."""
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        restore_scaler(self.scaler, ckpt["scaler"], self.log)
        self.progress = TrainingState(
            epoch=ckpt["epoch"],
            step=ckpt["step"],
            loss_sum=ckpt["epoch_loss"],
            best_score=ckpt["best"]["score"],
            best_epoch=ckpt["best"]["epoch"],
            history=ckpt["history"],
        )
        self.saved = (ckpt["epoch"], ckpt["step"])
        set_rng_state(ckpt["rng"])

    def _save_last(self) -> None:
        """Write ``last.pt`` from the current state."""
        save_checkpoint(self.run.last, self.state())
        self.saved = (self.progress.epoch, self.progress.step)

    def _last_good(self) -> str:
        """What a diverged run leaves to fall back on, said as it is."""
        if self.saved is None or not self.run.last.exists():
            return f"no checkpoint was written ({self.run.last} does not exist): lower optim.lr and start again"
        epoch, step = self.saved
        where = f", {step} step(s) into epoch {epoch + 1}" if step else ""
        return f"the last good checkpoint is {self.run.last} ({epoch} epoch(s) done{where})"

    # ------------------------------------------------------------------ steps

    def _batch(self, batch: dict[str, Any]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The model inputs and the target mask of a collated batch, on the device."""
        inputs = model_inputs(batch, self.config.data.inputs, self.device, self.config.device.channels_last)
        return inputs, to_device(batch["mask"], self.device, False)

    def train_step(self, batch: dict[str, Any], epoch: int, step: int) -> None:
        """One optimisation step; its loss joins :attr:`losses` on the device (checked by :meth:`_read_losses`)."""
        inputs, target = self._batch(batch)
        _, loss = forward_loss(self.net, self.criterion, inputs, target, self.device, self.amp)
        self.losses.add(loss, step)
        optimizer_step(loss, self.optimizer, self.scaler)

    def _read_losses(self, epoch: int) -> None:
        """Bring the device-side loss sum into :attr:`progress`; raise :class:`DivergedError` naming the first
        non-finite step (nothing is saved from such a state)."""
        total, bad = self.losses.read()
        if bad is not None:
            raise DivergedError(
                f"loss is not finite at epoch {epoch + 1}, step {bad + 1}: training stopped; {self._last_good()}"
            )
        self.progress.loss_sum = total

    @torch.no_grad()
    def validate(self, epoch: int) -> dict[str, float]:
        """Loss and mean per-image Dice on the selection split at the training resolution, and the paper's
        selection score (``selection_metric``: :mod:`dca.train.selection`) when it is not that Dice."""
        cfg = self.config
        self.net.eval()
        batches = epoch_batches(len(self.monitor_set), cfg.eval.batch, cfg.seed, epoch, shuffle=False)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        dice: list[float] = []
        metric = cfg.selection_metric
        scorer, where = None, {}
        if metric != "dice":
            scorer = SelectionScorer(metric, self.split, cfg.data.root, self.num_labels, cfg.eval.batch)
            where = dict(zip(self.monitor_set.ids, self.monitor_set.cases, strict=True))
        for batch in self.monitor_loader.epoch(batches):
            inputs, target = self._batch(batch)
            logits, loss = forward_loss(self.net, self.criterion, inputs, target, self.device, self.amp)
            loss_sum += loss.double()
            labels, refs = to_labels(logits).cpu().numpy(), batch["mask"].numpy()
            dice += image_dice(labels, refs, self.num_labels)
            if scorer is not None:
                scorer.add(labels, refs, [where[i] for i in batch["id"]])
        self.net.train()
        scores = {f"{self.split}_loss": float(loss_sum) / len(batches), f"{self.split}_dice": float(np.mean(dice))}
        if scorer is not None:
            scores[self.score_key] = scorer.score()
        return scores

    def _check_finite(self, epoch: int, scores: dict[str, float]) -> None:
        """Raise :class:`DivergedError` if the weights or the validation numbers are not finite."""
        finite = all(math.isfinite(v) for v in scores.values()) and all(
            bool(torch.isfinite(p).all()) for p in self.model.parameters()
        )
        if not finite:
            raise DivergedError(
                f"model diverged during epoch {epoch + 1} (non-finite weights or {self.split} scores {scores}): "
                f"training stopped; {self._last_good()}"
            )

    def _preempt(self, epoch: int, where: str) -> None:
        """Save ``last.pt`` at this point (never from a diverged state) and raise :class:`Preempted`."""
        self._check_finite(epoch, {})
        self._save_last()
        self.log(f"SIGTERM: saved {self.run.last} {where}; exiting with code {PREEMPTED_EXIT_CODE} to requeue")
        raise Preempted(where)

    # ------------------------------------------------------------------ epochs

    def run_epoch(self, epoch: int, stop: StopRequest, bar_postfix: dict[str, str]) -> None:
        """Train the rest of ``epoch`` (from ``progress.step``), then validate it and :meth:`end_epoch`."""
        cfg, p = self.config, self.progress
        started = time.perf_counter()
        self.train_set.set_epoch(epoch)
        batches = epoch_batches(len(self.train_set), cfg.batch_size, cfg.seed, epoch)
        self.losses = LossSum(p.loss_sum, self.device)
        self.net.train()
        desc = f"epoch {epoch + 1}/{cfg.epochs}"
        with tqdm(total=len(batches), initial=p.step, desc=desc, file=sys.stderr, disable=not _terminal()) as bar:
            for batch in self.train_loader.epoch(batches[p.step :]):
                self.train_step(batch, epoch, p.step)
                p.step += 1
                bar.update()
                if stop.requested or p.step % SYNC_EVERY == 0 or p.step == len(batches):
                    self._read_losses(epoch)
                    bar_postfix["loss"] = f"{p.loss_sum / p.step:.4f}"
                    bar.set_postfix(bar_postfix, refresh=False)
                if stop.requested and p.step < len(batches):
                    self._preempt(epoch, f"after step {p.step} of epoch {epoch + 1}")
            row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": p.loss_sum / len(batches)}
            scores = self.validate(epoch) if self.monitor_set is not None else {}
            self._check_finite(epoch, scores)
            row.update(scores)
            if scores:
                bar_postfix[self.score_key] = f"{scores[self.score_key]:.4f}"
                bar.set_postfix(bar_postfix)
        self.end_epoch(epoch, row, started)

    def end_epoch(self, epoch: int, row: dict[str, Any], started: float) -> None:
        """Close a finished ``epoch``: step the schedule, record its row, select, save ``best.pt`` (when better)
        and ``last.pt``."""
        p = self.progress
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        row["time_s"] = time.perf_counter() - started
        p.epoch, p.step, p.loss_sum = epoch + 1, 0, 0.0
        p.history.append(row)
        score = row.get(self.score_key)
        if self.config.selection != "last" and (p.best_score is None or score > p.best_score):
            p.best_score, p.best_epoch = score, epoch + 1
            save_checkpoint(self.run.best, self.state())
        self._save_last()

    def _epoch_line(self, started_epoch: int) -> str:
        """One plain line per epoch for logs: epoch, loss, selection Dice, time and the time left."""
        p, row = self.progress, self.progress.history[-1]
        score = f", {self.score_key} {row[self.score_key]:.4f}" if self.split else ""
        done_here = p.history[started_epoch:]
        eta = sum(r["time_s"] for r in done_here) / len(done_here) * (self.config.epochs - p.epoch)
        return (
            f"epoch {p.epoch}/{self.config.epochs}: train_loss {row['train_loss']:.4f}{score}, "
            f"{row['time_s']:.1f} s, ETA {_duration(eta)}"
        )

    def fit(self, stop: StopRequest) -> dict[str, Any]:
        """Train all remaining epochs and return the summary (raises Preempted or DivergedError).

        ``stop`` is switched from stopping at once to stopping at the next safe point once training starts.
        """
        self.resume()
        epoch_log = EpochLog(self.run_dir, self.progress.history)
        postfix: dict[str, str] = {}
        first = self.progress.epoch
        try:
            stop.start_training()
            for epoch in range(self.progress.epoch, self.config.epochs):
                self.run_epoch(epoch, stop, postfix)
                epoch_log.append(self.progress.history[-1])
                self.log(self._epoch_line(first))
                if stop.requested and epoch + 1 < self.config.epochs:
                    self.log(f"SIGTERM: {self.run.last} holds epoch {epoch + 1}")
                    raise Preempted(f"after epoch {epoch + 1}")
        except RuntimeError as err:  # under determinism: strict, an op without a deterministic kernel (train or val)
            clear = strict_error(err)
            if clear is None:
                raise
            raise clear from err
        finally:
            epoch_log.close()
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """The finished run's summary: selection (test selection marked), best and final epochs, cost, how it ran,
        and the channels and labels of its dataset (what another dataset it is tested on must match)."""
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
            "dataset": {"channels": self.train_set.info["channels"], "labels": list(self.train_set.info["labels"])},
            "device": str(self.device),
            "determinism": self.determinism,
            "precision": "fp32" if self.amp is None else str(self.amp).removeprefix("torch."),
            "channels_last": self.config.device.channels_last and self.device.type == "cuda",
            "compile": self.config.device.compile,
            "workers": self.workers,
            "train_time_s": sum(row["time_s"] for row in p.history),
        }


def _terminal() -> bool:
    """Whether stderr is a terminal: only then is the progress bar drawn (no ``\\r`` frames in log files; none
    under ``dca -q``)."""
    return sys.stderr.isatty() and not is_quiet()


def _duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``12s``."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def check_run_config(config: RunConfig, log: Log = LOG) -> None:
    """Raise unless an existing run in ``config.run_dir`` (its ``last.pt``) was trained with ``config``
    (``device`` and ``data.workers`` aside: a resume may run elsewhere, and neither changes the result);
    a run folder never mixes two configs. Only ``epochs`` may change, see :func:`_continue_with_epochs`."""
    last = RunDir(config.run_dir).last
    if not last.exists():
        return
    # Resolved again, so a key added since (with its default, e.g. ``protocol``) does not read as a change.
    old, new = to_dict(resolve_config(trained_config(last))), to_dict(config)
    for plain in (old, new):
        plain.get("data", {}).pop("workers", None)
    changed = sorted(k for k in set(old) | set(new) if k != "device" and old.get(k) != new.get(k))
    if changed == ["epochs"]:
        _continue_with_epochs(config, old["epochs"], last, log)
        return
    if changed:
        raise ValueError(
            f"{config.run_dir} holds a run made with a different config (keys {', '.join(changed)} differ from "
            f"{last}); use another output folder or delete the old run"
        )


def _continue_with_epochs(config: RunConfig, before: int, last: Path, log: Log) -> None:
    """Let a run (unfinished, or finished: :func:`keep_finished_run` keeps it first) continue with a new ``epochs``
    when its learning-rate schedule does not depend on the epoch count (``optim.scheduler: none``); refuse, saying
    why, when it does."""
    run, scheduler = config.run_dir, config.optim.scheduler
    if scheduler != "none":
        raise ValueError(
            f"{run} was trained with epochs: {before}, and its optim.scheduler {scheduler!r} depends on the epoch "
            f"count, so it cannot continue with epochs: {config.epochs}; keep epochs: {before}, or train anew in "
            "another output folder"
        )
    done = trained_epochs(last)
    if done > config.epochs:
        raise ValueError(f"{run} has {done} epoch(s) done already, more than epochs: {config.epochs}")
    log(
        f"epochs changed from {before} to {config.epochs}: continuing the run ({done} done; optim.scheduler "
        "'none' does not depend on the epoch count)"
    )


def keep_finished_run(run: RunDir, done: int, epochs: int, log: Log) -> None:
    """Before a finished run of ``done`` epochs continues to ``epochs`` (accepted by :func:`check_run_config`),
    keep it in ``<run>/.previous/<digest of its config>/``, where the workflow keeps a run whose config changed:
    its checkpoints and curves hard-linked (each save renames a new file in), its log copied, and its summary and
    evaluation folders moved, as they describe the model of ``done`` epochs (the summary last: the run is then
    unfinished)."""
    if not run.last.exists():
        raise ValueError(
            f"{run.path} finished with {done} epoch(s) and its {run.last.name} (the training state) is gone, so it "
            f"cannot continue to epochs: {epochs}; keep epochs: {done}, or train anew in another output folder"
        )
    digest = config_digest(trained_config(run.last))
    entries = sorted(p for p in run.path.iterdir() if p.name not in (LOCK, STAMP_DIR, PREVIOUS_DIR))
    entries = [p for p in entries if not p.name.startswith(".tmp-")]
    moved = [p for p in entries if p.is_dir() and not p.is_symlink()] + [run.summary]
    staging = staging_dir(run.path / PREVIOUS_DIR, digest)
    for path in entries:
        if path in moved:
            continue
        if path == run.log or path.is_symlink():  # appended in place, or not ours to link
            shutil.copy2(path, staging / path.name, follow_symlinks=False)
            continue
        try:
            os.link(path, staging / path.name)
        except OSError:  # a file system without hard links
            shutil.copy2(path, staging / path.name)
    target = run.previous(digest)
    if target.exists():  # an older copy of the same config's run: keep both
        target.rename(target.with_name(f"{digest}-{os.getpid()}-{len(list(target.parent.iterdir()))}"))
    staging.rename(target)
    for path in moved:
        path.rename(target / path.name)
    log(f"the finished run of {done} epoch(s) is kept in {target}; its {run.summary.name} and evaluation moved there")


def train(config: RunConfig, log: Log = LOG, stop: StopRequest | None = None) -> dict[str, Any]:
    """Run, resume or skip (already finished) the training run ``config``; return its summary. A finished run
    given more epochs continues (as an unfinished one), the finished run kept (:func:`keep_finished_run`).

    The run folder is locked for the whole call (a second ``dca train`` on it is refused), temporary
    files left by kills are removed, and every message is also appended to the run's own log.
    ``stop`` is the SIGTERM handling (``dca train`` installs it before importing torch; by default
    one is installed here). Raises :class:`Preempted` on SIGTERM (``last.pt`` saved when training
    had started) and :class:`DivergedError` on a non-finite loss (the last good checkpoint kept).
    """
    run = RunDir(config.run_dir)
    with contextlib.ExitStack() as stack:
        stop = stop or stack.enter_context(StopRequest())
        stack.enter_context(run_lock(run.lock, log))
        log = stack.enter_context(RunLog(run.log, log))
        try:
            check_run_config(config, log)
            if run.summary.exists():
                summary = json.loads(run.summary.read_text(encoding="utf-8"))
                if summary["epochs"] == config.epochs:
                    log(f"{config.run_dir} is finished ({run.summary.name} exists): nothing to do")
                    return summary
                keep_finished_run(run, summary["epochs"], config.epochs, log)
            for stale in remove_stale_temps(run.last) + remove_stale_temps(run.best):
                log(f"removed {stale.name}, left by an interrupted checkpoint write")
            summary = Trainer(config, log).fit(stop)
        except Preempted as err:
            if not stop.training:
                kept = f"{run.last} is kept" if run.last.exists() else "no checkpoint yet"
                log(f"SIGTERM during start-up ({kept}); exiting with code {PREEMPTED_EXIT_CODE} to requeue")
            raise err from None
        write_json(run.summary, summary)
        log(f"finished: {run.summary}")
        return summary
