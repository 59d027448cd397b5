"""Configuration as data: ``key=value`` overrides parsed into typed values.

Values are read as YAML scalars or flow sequences, so ``stages=3`` is an int, ``alpha=0.5`` a float,
``block=lmrb`` a string and ``dilations=[1,2,3,4]`` a list.
"""

from __future__ import annotations

from typing import Any, Iterable

import yaml

from lspd_bench.errors import InputError


def parse_value(text: str) -> Any:
    """One override value, typed as YAML would type it (lists become tuples, so they can be hashed)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise InputError(f"cannot parse value {text!r}") from None
    return tuple(value) if isinstance(value, list) else value


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["stages=3", "block=basic"]`` → ``{"stages": 3, "block": "basic"}``; malformed items raise ``InputError``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "").isalnum():
            raise InputError(f"override {item!r} is not of the form key=value")
        if key in out:
            raise InputError(f"override key {key!r} is given twice")
        out[key] = parse_value(value.strip())
    return out
