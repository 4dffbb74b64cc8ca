"""``dca experiments prune``: bound what finished run folders keep (the DVC cache keeps every version of them).

A finished run (its ``summary.json``) loses ``last.pt`` unless it is the checkpoint evaluation uses or
``keep_last``; ``.previous/`` keeps the ``previous`` newest runs of older configs. A folder a live ``dca train``
holds, or an unfinished run's ``last.pt`` (resume needs it), is never touched. The workflow runs it when it
succeeds, with the config's ``storage`` keys.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dca.experiments.config import ConfigError
from dca.experiments.stamp import _check_not_training
from dca.layout import LAST_CHECKPOINT, PREVIOUS_DIR, RUN_CONFIG, RunDir


def run_dirs(root: Path) -> list[RunDir]:
    """The run folders at or under ``root`` (each holds a ``run.yaml``), outside ``.previous/`` copies."""
    found = [root] if (root / RUN_CONFIG).is_file() else []
    found += [p.parent for p in root.rglob(RUN_CONFIG) if p.parent != root and PREVIOUS_DIR not in p.parts]
    return [RunDir(p) for p in sorted(found)]


def prune_run(run_dir: RunDir, keep_last: bool, previous: int) -> list[str]:
    """Prune one run folder; return what was removed."""
    try:
        _check_not_training(run_dir)
    except ConfigError:
        return []
    removed: list[str] = []
    if not keep_last and run_dir.summary.is_file() and run_dir.last.is_file():
        selected = json.loads(run_dir.summary.read_text(encoding="utf-8")).get("checkpoint")
        if selected != LAST_CHECKPOINT:
            run_dir.last.unlink()
            removed.append(str(run_dir.last))
    kept = run_dir.path / PREVIOUS_DIR
    if kept.is_dir():
        older = sorted(kept.iterdir(), key=lambda p: p.stat().st_mtime_ns, reverse=True)[previous:]
        for path in older:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(str(path))
        if not any(kept.iterdir()):
            kept.rmdir()
    return removed


def prune_runs(root: Path, keep_last: bool, previous: int) -> list[str]:
    """Prune every run folder at or under ``root``; a ConfigError when ``root`` is no folder."""
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder (a run folder or a runs root, paths.runs)")
    return [path for run_dir in run_dirs(root) for path in prune_run(run_dir, keep_last, previous)]
