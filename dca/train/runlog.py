"""The run's own log: every message of ``dca train`` appended, time-stamped, to the run folder's log file.

A scheduler deletes a job's log before each retry (Snakemake does); this file keeps every attempt.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

from dca.utils.log import Log


class RunLog:
    """A log callable: the message to ``echo`` (stderr) and a time-stamped line to ``path`` (opened for appending)."""

    def __init__(self, path: Path, echo: Log) -> None:
        self.path, self.echo = Path(path), echo
        self._file = None

    def __enter__(self) -> RunLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # closed in __exit__
        self._file.write(f"{self._stamp()} attempt started (pid {os.getpid()})\n")
        return self

    @staticmethod
    def _stamp() -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S")

    def __call__(self, message: str) -> None:
        self.echo(message)
        if self._file is not None:
            self._file.write(f"{self._stamp()} {message}\n")

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if self._file is not None:
            if err is not None:
                self._file.write(f"{self._stamp()} attempt ended: {type(err).__name__}: {err}\n")
            self._file.close()
            self._file = None
