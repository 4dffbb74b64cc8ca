"""Messages of the ``dca`` sub-commands: one ``[dca <stage>] message`` line each on stderr.

Every stage logs through a :data:`Log` (a ``str -> None`` callable) so tests and callers can collect the messages;
:func:`stage_log` is the default one, written above any tqdm bar on the terminal instead of through it. These are
info lines: ``dca -q`` drops them and the progress lines (:func:`quiet`); warnings (``warnings.warn``) and errors stay.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from tqdm import tqdm

Log = Callable[[str], None]

_QUIET = [False]  # set by ``dca -q`` for the length of one command (:func:`quiet`)


@contextlib.contextmanager
def quiet(on: bool) -> Iterator[None]:
    """While ``on``, drop info and progress lines (``dca -q``); the previous setting comes back afterwards."""
    before, _QUIET[0] = _QUIET[0], on
    try:
        yield
    finally:
        _QUIET[0] = before


def is_quiet() -> bool:
    """Whether info and progress lines are dropped (``dca -q``)."""
    return _QUIET[0]


def info(message: str) -> None:
    """Write one info line on stderr (above any tqdm bar), unless quiet."""
    if not _QUIET[0]:
        tqdm.write(message, file=sys.stderr)


def stage_log(stage: str) -> Log:
    """The stderr :data:`Log` of sub-command ``stage`` (``train``, ``evaluate``, ``report``, ``bench``)."""

    def log(message: str) -> None:
        info(f"[dca {stage}] {message}")

    return log
