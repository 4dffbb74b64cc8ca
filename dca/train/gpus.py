"""A machine's GPUs as a pool of lock-file slots: each ``dca train`` pins itself to a free GPU before CUDA starts.

``snakemake --resources gpu=G`` bounds how many GPU jobs run at once, but every job would still see all GPUs
and take GPU 0. Here a job takes the first free slot (an exclusive ``flock`` on ``gpu-<id>-<k>.lock`` in the
pool folder, dropped by the kernel when the process ends, however it ends) and sets ``CUDA_VISIBLE_DEVICES``
to that one GPU. A GPU has :data:`JOBS_PER_GPU_ENV` slots (default 1: never two jobs on one GPU); a job finding
none free waits. The GPUs are those ``CUDA_VISIBLE_DEVICES`` lists, else all of the machine's; inside a SLURM
job the pool is that job's own (SLURM already gave it its GPUs). Torch-free: it runs before torch is imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path

#: How many jobs may share one GPU (the workflow sets it from its config key ``jobs_per_gpu``).
JOBS_PER_GPU_ENV = "DCA_JOBS_PER_GPU"
#: The pool folder; default a per-user (and per-SLURM-job) folder in the system's temp folder.
SLOTS_DIR_ENV = "DCA_GPU_SLOTS_DIR"
#: Seconds between two looks for a free slot while all are taken.
POLL_S = 1.0
#: Where the NVIDIA driver lists the machine's GPUs (one folder each), read without starting CUDA.
NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")


def visible_gpus(environ: MutableMapping[str, str]) -> list[str]:
    """The GPU ids a job may use: ``CUDA_VISIBLE_DEVICES``'s entries when set (up to an invalid one, as CUDA
    reads it), else ``0..n-1`` for the GPUs the driver lists; empty on a machine without NVIDIA GPUs."""
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = []
        for entry in (e.strip() for e in listed.split(",")):
            if not entry or entry.startswith("-"):
                break
            ids.append(entry)
        return ids
    if NVIDIA_PROC.is_dir():
        return [str(i) for i in range(len(list(NVIDIA_PROC.iterdir())))]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    result = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=False)
    return [str(i) for i in range(sum(line.startswith("GPU ") for line in result.stdout.splitlines()))]


def jobs_per_gpu(environ: MutableMapping[str, str]) -> int:
    """How many jobs may share one GPU, from :data:`JOBS_PER_GPU_ENV` (default 1)."""
    value = environ.get(JOBS_PER_GPU_ENV, "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{JOBS_PER_GPU_ENV}={value!r}: expected a whole number >= 1 (jobs that may share a GPU)")
    return int(value)


def slots_dir(environ: MutableMapping[str, str]) -> Path:
    """The pool folder: :data:`SLOTS_DIR_ENV`, else one per user (and per SLURM job) in the temp folder."""
    if environ.get(SLOTS_DIR_ENV):
        return Path(environ[SLOTS_DIR_ENV])
    name = f"dca-gpu-slots-{os.getuid()}"
    if environ.get("SLURM_JOB_ID"):
        name += f"-slurm{environ['SLURM_JOB_ID']}"
    return Path(tempfile.gettempdir()) / name


def _stamp() -> str:
    """The local time with milliseconds, for the job log."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


@contextlib.contextmanager
def gpu_slot(
    device: str, log: Callable[[str], None], environ: MutableMapping[str, str] = os.environ
) -> Iterator[str | None]:
    """Hold a free GPU slot for the block and pin the process to its GPU (``CUDA_VISIBLE_DEVICES``); yields
    the GPU id, or None (nothing changed) for ``device`` cpu or a machine without GPUs. Call it before CUDA
    starts: CUDA reads ``CUDA_VISIBLE_DEVICES`` once."""
    gpus = [] if device == "cpu" else visible_gpus(environ)
    if not gpus:
        yield None
        return
    share = jobs_per_gpu(environ)
    folder = slots_dir(environ)
    folder.mkdir(parents=True, exist_ok=True)
    # slot k of every GPU before slot k+1 of any: shared GPUs fill evenly
    slots = [
        (gpu, folder / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', gpu)}-{k}.lock") for k in range(share) for gpu in gpus
    ]
    waiting = False
    while True:
        for gpu, path in slots:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                environ["CUDA_VISIBLE_DEVICES"] = gpu
                log(f"{_stamp()} GPU {gpu} taken (slot {path}): CUDA_VISIBLE_DEVICES={gpu}")
                yield gpu
            finally:
                log(f"{_stamp()} GPU {gpu} released")
                os.close(fd)
            return
        if not waiting:
            log(f"waiting for a free GPU: all {len(slots)} slots in {folder} are taken ({share} per GPU)")
            waiting = True
        time.sleep(POLL_S)
