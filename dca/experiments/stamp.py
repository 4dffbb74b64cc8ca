"""``dca experiments stamp``: write a run's ``run.yaml`` and config stamp, keeping any run of another config.

The workflow's run_config job calls it before a (re)training. A changed run config must never destroy a
finished run before its replacement exists, so the run made with the old config is moved (not deleted) to
``<run>/.previous/<old digest>/``, and moved back when the config returns to that digest: reverting a
config (``dvc exp apply``, ``git checkout``) finds its run again instead of retraining it. A change of
``device`` alone keeps the run in place (``dca train`` resumes it on the new device).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from dca.experiments.config import ConfigError
from dca.layout import LOCK, PREVIOUS_DIR, STAMP_DIR, RunDir, config_digest
from dca.utils.io import write_text

#: Run config keys that ``dca train`` lets change on resume (so a change keeps the run where it is).
RESUMABLE_KEYS = ("device",)


def _run_files(folder: Path) -> list[Path]:
    """The entries of a run folder that belong to the run made with its current config."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name not in (STAMP_DIR, PREVIOUS_DIR))


def _same_run(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``dca train`` would resume the run of ``old`` under ``new`` (they differ only in resumable keys)."""
    strip = lambda config: {k: v for k, v in config.items() if k not in RESUMABLE_KEYS}  # noqa: E731
    return strip(old) == strip(new)


def _check_not_training(run_dir: RunDir) -> None:
    """Refuse to move a run a live ``dca train`` holds (its lock names a running process)."""
    try:
        pid = int(run_dir.lock.read_text(encoding="utf-8").split()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return
    except PermissionError:
        pass
    raise ConfigError(f"{run_dir.path}: a dca train process (pid {pid}, {LOCK}) is training it; wait or stop it")


def _move(files: list[Path], target: Path) -> None:
    """Move ``files`` into the folder ``target`` (renames on one file system: nothing is copied or lost)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        path.rename(target / path.name)


def stamp_run(run_dir: RunDir, text: str, digest: str) -> list[str]:
    """Make ``run_dir`` hold the run of the run config ``text`` (digest ``digest``); return what was done."""
    config = yaml.safe_load(text)
    if not isinstance(config, dict) or config_digest(config) != digest:
        raise ConfigError(f"{run_dir.path}: the run config given does not have the digest {digest}")
    done: list[str] = []
    files = _run_files(run_dir.path)
    if run_dir.config.is_file() and any(p.name != run_dir.config.name for p in files):
        old = yaml.safe_load(run_dir.config.read_text(encoding="utf-8")) or {}
        old_digest = config_digest(old)
        if old_digest != digest and not _same_run(old, config):
            _check_not_training(run_dir)
            target = run_dir.previous(old_digest)
            if target.exists():  # an older copy of the same config's run: keep both
                target.rename(target.with_name(f"{old_digest}-{os.getpid()}-{len(list(target.parent.iterdir()))}"))
            _move(files, target)
            done.append(f"moved the run of config {old_digest} to {target}")
    kept = run_dir.previous(digest)
    if kept.is_dir() and not _run_files(run_dir.path):
        _move(_run_files(kept), run_dir.path)
        kept.rmdir()
        done.append(f"restored the run of config {digest} from {kept}")
    write_text(run_dir.config, text)
    write_text(run_dir.stamp(digest), "")
    for stale in run_dir.stamp_dir.iterdir():
        if stale.name != digest:
            stale.unlink()
    return done
