"""Checks of one run's configuration, the first thing a grid's `check` does (`lib.sweep.Grid`).

A module of its own, importing nothing of `lib`: run functions use it, and the sources a run function's module
imports go into its stored runs' keys (`lib.provenance`), so editing the sweep engine must not invalidate them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def check_keys(config: Mapping[str, Any], keys: Iterable[str], what: str, *, exact: bool = False) -> None:
    """The first thing a grid's `check` does: a ValueError naming the keys `config` lacks (with `exact`, also
    the keys it has beyond `keys`), so that a config with a typo fails before any run starts."""
    keys = list(keys)
    missing = [key for key in keys if key not in config]
    unknown = sorted(set(config) - set(keys)) if exact else []
    if not (missing or unknown):
        return
    problems = [f"lacks {missing}"] if missing else []
    if unknown:
        problems.append(f"has unknown keys {unknown}")
    detail = f"; it needs exactly the keys {keys}" if exact else f": {dict(config)!r}"
    raise ValueError(f"a {what} config {' and '.join(problems)}{detail}")
