"""SIGTERM for a whole ``dca train`` (what SLURM sends before a time limit): stop at once during start-up,
at the next safe point once training; either way the job exits with a code that asks for a requeue.

Torch-free, so that ``dca train`` installs it before importing torch (seconds during which a SIGTERM
would otherwise kill the process with 143).
"""

from __future__ import annotations

import signal
import threading
import types
from typing import Any

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL: "try again later", the job can be requeued


class Preempted(Exception):
    """SIGTERM arrived; ``last.pt`` holds the state at the point where training stopped (if it got that far)."""


class StopRequest:
    """Records SIGTERM while active (main thread only). Before :meth:`start_training` the handler raises
    :class:`Preempted` at once (nothing to save yet); after it, it only records the request, and the
    training loop saves and stops at the next safe point."""

    def __init__(self) -> None:
        self.requested = False
        self.training = False
        self._installed = False
        self._previous: Any = signal.SIG_DFL

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
        return self

    def start_training(self) -> None:
        """From now on a SIGTERM is only recorded (the loop checks :attr:`requested` between steps)."""
        self.training = True

    def _handle(self, signum: int, frame: types.FrameType | None) -> None:
        self.requested = True
        if not self.training:
            raise Preempted("SIGTERM during start-up: nothing new to save")

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous if self._previous is not None else signal.SIG_DFL)
            self._installed = False


def ignore_sigterm(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore the SIGTERM sent to the whole process group, so they live
    until the trainer has saved and shuts them down (torch's default handler would kill them first)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
