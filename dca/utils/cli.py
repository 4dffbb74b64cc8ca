"""Command-line helpers shared by the sub-commands."""

from __future__ import annotations

from typing import Any

import yaml


def parse_key_values(items: list[str], what: str = "option", form: str = "KEY=VALUE") -> dict[str, Any]:
    """Turn ``["key=value", ...]`` into a dict, each value read as YAML (4 -> int, false -> bool, abc -> str)."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} {item!r} must look like {form}")
        result[key] = yaml.safe_load(text)
    return result
