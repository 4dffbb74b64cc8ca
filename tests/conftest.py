"""Fixtures shared by test folders."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from dca.processed import load_case, read_index


@pytest.fixture
def isolated_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run each test on one CPU thread (the machine is shared) in a temporary folder (DVCLive looks for a
    Git/DVC repository from the working directory), restoring the global torch flags a run sets."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) != flags:
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])


def _trivial_dice(root: Path) -> float:
    """The better mean test Dice of predicting all background (0) or all foreground."""
    scores = []
    for row in read_index(root):
        if row["split"] == "test":
            ref = load_case(root, row["id"])[1] > 0
            scores.append(2 * ref.sum() / (ref.sum() + ref.size))
    return max(0.0, float(np.mean(scores)))


@pytest.fixture
def trivial_dice() -> Callable[[Path], float]:
    """The trivial-predictor baseline that trained models must clearly beat."""
    return _trivial_dice


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under this umask (group-readable and group-writable outputs)."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@dataclass(frozen=True)
class TinyDisk:
    """A folder that :meth:`run` mounts as a real 1 MiB tmpfs, for the real full-disk tests."""

    path: Path

    def run(self, script: str, name: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the Python ``script`` with ``path / name`` as its argument while ``path`` is the tiny tmpfs (in a user
        namespace, where the system allows one without root; the test is skipped where it does not)."""
        mount = f"mount -t tmpfs -o size=1m tmpfs {shlex.quote(str(self.path))}"
        python = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)} {shlex.quote(str(self.path / name))}"
        proc = subprocess.run(
            ["unshare", "-rm", "sh", "-c", f"{mount} && {python}"], capture_output=True, text=True, timeout=timeout
        )
        if "mount" in proc.stderr and proc.returncode != 0 and "Traceback" not in proc.stderr:
            pytest.skip(f"no user-namespace mount here: {proc.stderr.strip()}")
        assert proc.returncode == 0, proc.stderr
        return proc


@pytest.fixture
def tiny_disk(tmp_path: Path) -> TinyDisk:
    """A 1 MiB tmpfs to fill for real (skips the test without ``unshare``)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare to mount a tiny tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    return TinyDisk(disk)
