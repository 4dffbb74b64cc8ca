"""Progress of long steps (downloads, preparation, enhancement, evaluation): tqdm on a terminal, plain lines in logs.

On a terminal the bar is tqdm's. When the stream is not a terminal (a Snakemake or SLURM log file),
tqdm's ``\\r`` frames would fill the log, so the same counts are written as plain lines instead: one
every ``every_percent`` percent of the total (or every ``every_s`` seconds when the total is unknown
or progress is slow), and one at the end, e.g. ``prepare kvasir: 400/1000 images (40%), 85.1 images/s,
ETA 7 s``. Use :func:`progress` as a context manager and call ``update(n)``, or :func:`track` around
an iterable. Under ``dca -q`` (:func:`dca.utils.log.quiet`) nothing is shown.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TextIO, TypeVar

from tqdm import tqdm

from dca.utils.log import is_quiet

T = TypeVar("T")

#: plain-line cadence in logs
EVERY_PERCENT = 10
EVERY_S = 30.0


def _amount(n: float, unit: str, scale: bool) -> str:
    """``n`` with its unit, bytes in binary multiples when ``scale`` (``12.3 MiB``)."""
    if not scale:
        return f"{int(n)}"
    for prefix in ("", "Ki", "Mi", "Gi", "Ti"):
        if abs(n) < 1024 or prefix == "Ti":
            return f"{n:.0f} {prefix}{unit}" if not prefix else f"{n:.1f} {prefix}{unit}"
        n /= 1024
    raise AssertionError("unreachable")


class LogProgress:
    """Plain-line progress for non-terminals: a line per ``every_percent`` % or ``every_s`` seconds, and at the end."""

    def __init__(
        self,
        total: float | None,
        desc: str,
        unit: str,
        unit_scale: bool,
        stream: TextIO,
        every_percent: float = EVERY_PERCENT,
        every_s: float = EVERY_S,
        initial: float = 0,
    ) -> None:
        self.total, self.desc, self.unit, self.scale, self.stream = total, desc, unit, unit_scale, stream
        self.every_percent, self.every_s = every_percent, every_s
        self.n = self.start_n = initial
        self.start = self.last_time = time.monotonic()
        self.last_step = self._step()
        self.closed = False

    def _step(self) -> int:
        """Index of the current ``every_percent`` step (0 without a total)."""
        return int(100 * self.n / self.total // self.every_percent) if self.total else 0

    def line(self) -> str:
        """The current state as one line."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = (self.n - self.start_n) / elapsed
        done = _amount(self.n, self.unit, self.scale)
        if self.total:
            total = _amount(self.total, self.unit, self.scale)
            text = (
                f"{self.desc}: {done}/{total}{'' if self.scale else ' ' + self.unit} ({100 * self.n / self.total:.0f}%)"
            )
        else:
            text = f"{self.desc}: {done}{'' if self.scale else ' ' + self.unit}"
        text += f", {_amount(rate, self.unit, True)}/s" if self.scale else f", {rate:.1f} {self.unit}/s"
        if self.total and rate > 0 and self.n < self.total:
            text += f", ETA {(self.total - self.n) / rate:.0f} s"
        return text if self.n < (self.total or float("inf")) else text + f", done in {elapsed:.1f} s"

    def update(self, n: float = 1) -> None:
        """Count ``n`` more; write a line when a new step is reached or ``every_s`` has passed."""
        self.n += n
        now, step = time.monotonic(), self._step()
        if step > self.last_step or now - self.last_time >= self.every_s:
            if not (self.total and self.n >= self.total):  # the final line comes from close()
                self._write()
            self.last_step, self.last_time = step, now

    def _write(self) -> None:
        """Write the current line."""
        print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        """Write the final line (once)."""
        if not self.closed:
            self.closed = True
            self._write()


class Progress:
    """A progress display: tqdm on a terminal, :class:`LogProgress` otherwise, none when quiet; a context manager."""

    def __init__(
        self,
        total: float | None,
        desc: str,
        unit: str = "it",
        unit_scale: bool = False,
        stream: TextIO | None = None,
        initial: float = 0,
    ) -> None:
        stream = sys.stderr if stream is None else stream
        terminal = hasattr(stream, "isatty") and stream.isatty()
        silent = is_quiet()
        self.bar: tqdm | LogProgress = (
            tqdm(
                total=total,
                desc=desc,
                unit=unit,
                unit_scale=unit_scale,
                unit_divisor=1024,
                file=stream,
                initial=initial,
                disable=silent,
            )
            if terminal or silent
            else LogProgress(total, desc, unit, unit_scale, stream, initial=initial)
        )

    def update(self, n: float = 1) -> None:
        """Count ``n`` more units."""
        self.bar.update(n)

    def close(self) -> None:
        """Finish the display."""
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def track(
    items: Iterable[T], total: int | None, desc: str, unit: str = "it", stream: TextIO | None = None
) -> Iterator[T]:
    """Yield ``items``, counting each one on a :class:`Progress`."""
    with Progress(total, desc, unit, stream=stream) as bar:
        for item in items:
            yield item
            bar.update(1)
