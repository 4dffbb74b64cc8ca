"""Messages of the ``dca`` sub-commands: one ``[dca <stage>] message`` line each on stderr.

Every stage logs through a :data:`Log` (a ``str -> None`` callable) so tests and callers can collect the messages;
:func:`stage_log` is the default one, written above any tqdm bar on the terminal instead of through it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

Log = Callable[[str], None]


def stage_log(stage: str) -> Log:
    """The stderr :data:`Log` of sub-command ``stage`` (``train``, ``evaluate``, ``report``, ``bench``)."""

    def log(message: str) -> None:
        tqdm.write(f"[dca {stage}] {message}", file=sys.stderr)

    return log
