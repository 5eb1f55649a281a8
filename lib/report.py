"""Putting computed numbers into a chapter's prose (myst-nb `glue`), tables readers can download, and
summaries over seeds."""
from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DOWNLOADS = "downloads"     # beside the notebook; the book runner keeps <downloads>/<chapter>/ with the page


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


def _csv_value(value: Any) -> Any:
    value = plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(str(_csv_value(v)) for v in np.asarray(value).ravel())
    return value


def table_download(rows: Sequence[Mapping[str, Any]], chapter: str, name: str,
                   label: str = "Download this table's data (CSV, one row per run)"):
    """Write `rows` (one dict per seed or run) to ``downloads/<chapter>/<name>.csv`` beside the notebook
    and return the Markdown link to show under the table (``display(...)`` it).

    Columns are the union of the rows' keys in first-seen order; NaN and infinities are written as
    ``nan``/``inf``, arrays as space-separated numbers.
    """
    from IPython.display import Markdown

    if not rows:
        raise ValueError(f"table {name!r}: no rows to write")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not re.fullmatch(r"[A-Za-z0-9_]+", chapter):
        raise ValueError(f"chapter and table names must be plain file names, got {chapter!r}, {name!r}")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    folder = Path(DOWNLOADS) / chapter
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    with temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
    os.replace(temporary, path)
    return Markdown(f"{{download}}`{label} <{path.as_posix()}>`")
