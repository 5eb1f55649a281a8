"""Putting computed numbers into a chapter's prose (myst-nb `glue`) and summarising over seeds."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """NumPy and torch scalars as Python numbers (myst-nb cannot format `np.float64(...)`)."""
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def glue(name: str, value: Any, display: bool = False) -> None:
    """Glue `value` under `name` for the prose ({glue:text}`name:.3f`).

    Returns None so that a glue on a cell's last line adds no output of its own.
    """
    from myst_nb import glue as myst_glue

    value = plain(value)
    myst_glue(name, value, display=display)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        raise ValueError("mean_std of no values")
    std = array.std(ddof=1) if array.size > 1 else 0.0
    return float(array.mean()), float(std)


def pm(values: Iterable[float], fmt: str = ".3g") -> str:
    """'mean ± std' of `values`, formatted with `fmt`."""
    mean, std = mean_std(values)
    return f"{mean:{fmt}} ± {std:{fmt}}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A MyST (GitHub-style) table from a header and rows of already formatted cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
