"""What one job of a rule asks its executor for: config ``resources.<step>`` as Snakemake resources, under the
names the SLURM executor (snakemake-executor-plugin-slurm >= 1.0) reads (``slurm_partition``, ``slurm_account``,
``qos``, ``constraint``, ``gpu``/``gpu_model`` or ``gres``, ``slurm_extra``); locally only the counts matter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dca.experiments.config import ConfigError

#: Passed on only when set: the plugin turns an empty ``constraint``/``qos`` into ``-C ''``/``--qos=''``.
SLURM_KEYS = ("slurm_partition", "slurm_account", "qos", "constraint", "slurm_extra")


def job_resources(step: str, spec: Mapping[str, Any]) -> dict[str, int | str]:
    """The Snakemake resources of rule ``step``'s jobs from its validated config ``spec``: memory, runtime and
    cores always; ``gres`` when set, else ``gpu`` (and ``gpu_model``) when it asks for GPUs; the SLURM keys set."""
    if spec["gpu_model"] and not spec["gpu"] and not spec["gres"]:
        raise ConfigError(f"resources.{step}.gpu_model: {spec['gpu_model']!r} needs resources.{step}.gpu >= 1")
    out: dict[str, int | str] = {key: spec[key] for key in ("mem_mb", "runtime", "cpus_per_task")}
    if spec["gres"]:
        out["gres"] = spec["gres"]
    elif spec["gpu"]:
        out["gpu"] = spec["gpu"]
        if spec["gpu_model"]:
            out["gpu_model"] = spec["gpu_model"]
    out.update({key: spec[key] for key in SLURM_KEYS if spec[key]})
    return out
