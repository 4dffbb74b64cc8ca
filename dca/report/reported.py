"""The papers' reported numbers (``config/reported/<name>.csv``): find a variant's row and a table cell's column.

Rows: a group's ``reported_rows`` maps a variant to its row, either a string matched against
the CSV's first column or a mapping ``{column: value}`` (YAML booleans match ``yes``/``no``);
without an entry the variant's label is matched against the first column. Columns:
``<dataset>_<metric>`` (metric aliases ``dsc`` for Dice, ``params_m`` for parameters; dataset
aliases below), ``<dataset>_<class>``, and, in a single-dataset group, ``<metric>`` / ``<class>``.
Values are kept as the paper printed them (strings), so no precision is invented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

METRIC_ALIASES = {"dice": ("dice", "dsc"), "iou": ("iou",), "hd95": ("hd95",), "params": ("params_m",)}
# Registry dataset name -> the prefixes the papers' tables use for it.
DATASET_ALIASES = {"cvc": ("clinicdb",), "isic2018": ("isic18",)}


def load_reported(path: Path) -> pd.DataFrame:
    """A reported table with every cell as a string (empty where the paper gives no number)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _normal(value: Any) -> str:
    """A selector value as the CSV spells it: booleans as yes/no, everything else as stripped text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


def find_row(frame: pd.DataFrame, selector: str | Mapping[str, Any] | None, label: str) -> pd.Series | None:
    """The row picked by ``selector`` (default: ``label`` in the first column); None if none matches.

    Several matching rows are an error, since the number beside ours would then be a guess.
    """
    if isinstance(selector, Mapping):
        unknown = sorted(set(selector) - set(frame.columns))
        if unknown:
            raise ValueError(f"reported_rows selector names columns {unknown} that the table lacks")
        mask = pd.Series(True, index=frame.index)
        for column, value in selector.items():
            mask &= frame[column].str.strip() == _normal(value)
    else:
        mask = frame.iloc[:, 0].str.strip() == _normal(label if selector is None else selector)
    rows = frame[mask]
    if len(rows) > 1:
        raise ValueError(f"reported row selector {selector or label!r} matches {len(rows)} rows; make it unique")
    return None if rows.empty else rows.iloc[0]


def find_column(columns: Sequence[str], dataset: str | None, metric: str, cls: str | None, single: bool) -> str | None:
    """The reported column of one table cell (``dataset`` None: parameters), or None when the table has none."""
    names = (cls,) if cls is not None else METRIC_ALIASES[metric]
    prefixes = () if dataset is None else (dataset, *DATASET_ALIASES.get(dataset, ()))
    candidates = [f"{p}_{n}" for p in prefixes for n in names]
    if single or dataset is None:
        candidates += list(names)
    return next((c for c in candidates if c in columns), None)
