"""Cluster keys of the config (partition, account, QoS, constraint, GPUs) reach the SLURM executor under its own
resource names: in the package, in the SLURM plugin's sbatch call, in a dry run's train jobs, and on a real SLURM."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from dca.experiments import ConfigError, validate_config
from dca.experiments.config import load_yaml
from dca.experiments.resources import job_resources

slurm_plugin = pytest.importorskip("snakemake_executor_plugin_slurm")
from snakemake_executor_plugin_slurm.submit_string import get_submit_command  # noqa: E402
from snakemake_executor_plugin_slurm.utils import set_gres_string  # noqa: E402

CLUSTER = {"slurm_partition": "gpu", "slurm_account": "myproj", "qos": "normal", "constraint": "a100|h100"}


class _Resources(dict):
    """What the plugin reads of a job's resources: ``get`` and attribute access."""

    __getattr__ = dict.__getitem__


def train_spec(**changes: Any) -> dict[str, Any]:
    """config/config.yaml's validated `resources.train`, changed."""
    spec = validate_config(load_yaml(Path(__file__).parents[2] / "config" / "config.yaml"))["resources"]["train"]
    return {**spec, **changes}


def sbatch_call(resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """The sbatch command line the SLURM executor plugin builds for a job with ``resources`` (account and
    partition from the executor's own methods; the account check, which asks sacctmgr, accepts any)."""
    monkeypatch.setattr(slurm_plugin, "validate_account", lambda account, logger: account)
    res = _Resources(resources)
    job = SimpleNamespace(resources=res, threads=res["cpus_per_task"], is_group=lambda: False, name="train")
    executor = SimpleNamespace(_partitions=None, _fallback_partition="", _fallback_account_arg="", logger=None)
    params = {
        **{"run_uuid": "u", "slurm_logfile": "log", "comment_str": "c", "workdir": ""},
        "account": next(slurm_plugin.Executor.get_account_arg(executor, job)),
        "partition": slurm_plugin.Executor.get_partition_arg(executor, job),
    }
    return get_submit_command(job, params) + set_gres_string(job)


def test_the_defaults_ask_for_no_cluster_key() -> None:
    assert job_resources("train", train_spec()) == {
        **{"mem_mb": 64000, "runtime": 2880, "cpus_per_task": 8, "gpu": 1},
        "slurm_extra": "--signal=TERM@300",
    }


def test_the_slurm_plugin_turns_the_keys_into_sbatch_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    call = sbatch_call(job_resources("train", train_spec(**CLUSTER, gpu_model="a100")), monkeypatch)
    for flag in ("-A myproj", "-p gpu", "--qos=normal", "-C 'a100|h100'", "--gpus=a100:1", "--signal=TERM@300"):
        assert f" {flag}" in call, call
    plain = sbatch_call(job_resources("train", train_spec()), monkeypatch)
    assert " -p " not in plain and " -A " not in plain and "--qos" not in plain and " -C " not in plain, plain


def test_gres_replaces_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = job_resources("train", train_spec(gres="gpu:a100:2", gpu_model="a100"))
    assert "gpu" not in resources and "gpu_model" not in resources
    call = sbatch_call(resources, monkeypatch)
    assert " --gres=gpu:a100:2" in call and "--gpus" not in call, call


def test_a_gpu_model_without_gpus_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"resources\.evaluate\.gpu_model: 'a100' needs resources\.evaluate\.gpu"):
        job_resources("evaluate", train_spec(gpu=0, gpu_model="a100"))


def test_a_malformed_gres_is_refused_by_the_schema() -> None:
    config = load_yaml(Path(__file__).parents[2] / "config" / "config.yaml")
    config["resources"]["train"]["gres"] = "'gpu:1'"
    with pytest.raises(ConfigError, match=r"resources\.train\.gres"):
        validate_config(config)


def test_a_dry_run_gives_the_train_jobs_the_cluster_keys(wf: Any, tmp_path: Path) -> None:
    workspace = wf.make_workspace(tmp_path / "ws")
    config = yaml.safe_load((wf.repo / ".test" / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["resources"]["train"].update(gpu=1, gpu_model="h100", **CLUSTER)
    wf.write_config(workspace / "cluster.yaml", config)
    result = wf.run([wf.tool("snakemake"), "-n", "train_all", "--configfile", "cluster.yaml"], workspace, timeout=300)
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", result.stdout, re.MULTILINE)
    train = [dict(kv.split("=", 1) for kv in res.split(", ")) for rule, res in jobs if rule == "train"]
    assert train and len(train) == result.stdout.count("\nrule train:\n"), result.stdout[-3000:]
    expected = {**CLUSTER, "gpu": "1", "gpu_model": "h100"}
    assert all({key: resources.get(key) for key in expected} == expected for resources in train), train
    data = [dict(kv.split("=", 1) for kv in res.split(", ")) for rule, res in jobs if rule == "prepare"]
    assert data and not any(key in d for d in data for key in CLUSTER)  # a rule's keys are its own


def _slurm_unavailable() -> str | None:
    """Why the SLURM test cannot run here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (it installs and starts SLURM with .ci/slurm-local.sh)"
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return "needs a Debian system with apt-get (Debian's SLURM packages)"
    return None


@pytest.mark.skipif(_slurm_unavailable() is not None, reason=str(_slurm_unavailable()))
def test_a_job_lands_in_the_configured_partition(wf: Any, tmp_path: Path) -> None:
    """The prepare job, with `resources.data.slurm_partition` naming a partition that is not the default one,
    runs there (the partition is made for this test on the single-node test SLURM, and removed)."""
    up = subprocess.run([str(wf.repo / ".ci/slurm-local.sh"), "up"], capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        pytest.fail(f".ci/slurm-local.sh up failed\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}")
    partition = f"dca{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["scontrol", "create", f"PartitionName={partition}", "Nodes=ALL", "State=UP"], check=True, timeout=60
    )
    try:
        workspace = wf.make_workspace(tmp_path / "ws")
        config = yaml.safe_load((wf.repo / ".test" / "config" / "config.yaml").read_text(encoding="utf-8"))
        config["experiments"] = {"ci_table": config["experiments"]["ci_table"]}  # one dataset: one job
        config["resources"]["data"] = {"cpus_per_task": 1, "mem_mb": 500, "runtime": 5, "slurm_partition": partition}
        wf.write_config(workspace / "cluster.yaml", config)
        args = ["data_all", "--configfile", "cluster.yaml", "--profile", "workflow/profiles/slurm", "--jobs", "1"]
        args += ["--slurm-no-account", "--slurm-status-command", "squeue"]  # the test SLURM has no accounting
        wf.snakemake(workspace, *args, "--slurm-init-seconds-before-status-checks", "1", timeout=300)
        (job_log,) = (workspace / "logs/slurm/rule_prepare").rglob("*.log")
        job = subprocess.run(["scontrol", "show", "job", job_log.stem], capture_output=True, text=True, timeout=60)
        assert f"Partition={partition} " in job.stdout, job.stdout + job.stderr
        assert "JobState=COMPLETED" in job.stdout, job.stdout
    finally:
        subprocess.run(["scontrol", "delete", f"PartitionName={partition}"], check=False, timeout=60)
