"""Reading training curves so that a verdict does not depend on which epoch happens to be read.

A curve holds evaluations along its last axis: shape (evaluations,) for one run, (members, evaluations) for the
seeds or ensemble members of one setting. Non-finite entries (an epoch that was not evaluated) are skipped by
every function here; use :func:`diverged` to find runs whose curve *ends* non-finite, and drop them (set their
endpoint to NaN, which :func:`lib.stats.compare` then counts as a diverged run).

- :func:`endpoint`: the mean over the last k evaluations, the number a chapter compares across settings.
- :func:`flattened` with :func:`criterion_text`: a stated convergence criterion and the words that state it.
- :func:`best_checkpoint`: where the curve was best, for reporting (not for verdicts: the best of a noisy curve is
  biased towards luck).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from lib.stats import format_number

MODES = ("min", "max")


def _rows(curve: Any) -> tuple[np.ndarray, bool]:
    """The curve as (members, evaluations) float64 and whether it was one run (1-D)."""
    array = np.asarray(curve, dtype=float)
    if array.ndim not in (1, 2) or array.shape[-1] == 0:
        raise ValueError(f"a curve must have shape (evaluations,) or (members, evaluations) with at least one "
                         f"evaluation, got shape {array.shape}")
    return np.atleast_2d(array), array.ndim == 1


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name}={value!r} must be a whole number ≥ 1")
    return int(value)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} must be one of {MODES} (min: lower is better, e.g. a loss)")


def _shape_like(values: list, one_run: bool) -> Any:
    return values[0] if one_run else np.asarray(values)


def endpoint(curve: Any, last: int = 3) -> float | np.ndarray:
    """The mean over the last `last` evaluations (finite ones; fewer if the curve has fewer), per member.

    NaN for a member without a finite evaluation. A float for a 1-D curve, an array of one value per member otherwise.
    """
    rows, one_run = _rows(curve)
    last = _positive_int("last", last)
    values = []
    for row in rows:
        finite = row[np.isfinite(row)]
        values.append(float(finite[-last:].mean()) if finite.size else float("nan"))
    return _shape_like(values, one_run)


def diverged(curve: Any) -> bool | np.ndarray:
    """Whether the curve's final evaluation is non-finite (NaN or ±inf), per member: a run that blew up."""
    rows, one_run = _rows(curve)
    return _shape_like([bool(not np.isfinite(row[-1])) for row in rows], one_run)


def _gain(row: np.ndarray, window: int, mode: str) -> tuple[float, float]:
    """(improvement of the last `window` finite values on the best before them, that best); NaNs if too short."""
    finite = row[np.isfinite(row)]
    if finite.size < window + 1:
        return float("nan"), float("nan")
    before, inside = finite[:-window], finite[-window:]
    if mode == "min":
        return float(before.min() - inside.min()), float(before.min())
    return float(inside.max() - before.max()), float(before.max())


def improvement(curve: Any, window: int, mode: str = "min") -> float | np.ndarray:
    """How much the last `window` finite evaluations improve on the best value before them, per member.

    mode "min" (a loss): min(before) − min(window); mode "max" (an accuracy): max(window) − max(before).
    Negative when the window is worse than the earlier best; NaN with fewer than `window` + 1 finite evaluations.
    """
    rows, one_run = _rows(curve)
    window = _positive_int("window", window)
    _check_mode(mode)
    return _shape_like([_gain(row, window, mode)[0] for row in rows], one_run)


def flattened(curve: Any, window: int, tolerance: float, relative: bool = False,
              mode: str = "min") -> bool | np.ndarray:
    """Whether the curve has converged: its last `window` evaluations improve on the best before them by less than
    `tolerance` (in the curve's units, or, when `relative`, as a fraction of |best before|), per member.

    A curve too short to tell (fewer than `window` + 1 finite evaluations) has not flattened.
    """
    rows, one_run = _rows(curve)
    window = _positive_int("window", window)
    _check_mode(mode)
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance={tolerance!r} must be a finite number ≥ 0")
    answers = []
    for row in rows:
        gain, best = _gain(row, window, mode)
        if relative:                                   # no gain on a best of 0 is 0; any gain on it is infinite
            gain = gain / abs(best) if best != 0 else (np.inf if gain > 0 else 0.0)
        answers.append(bool(gain < tolerance))         # NaN (too short) compares False
    return _shape_like(answers, one_run)


def criterion_text(window: int, tolerance: float, relative: bool = False, units: str = "") -> str:
    """The words for :func:`flattened`'s criterion, e.g. "the last 3 evaluations improve on the best before them
    by less than 0.5 points"."""
    window = _positive_int("window", window)
    if relative:
        amount = f"{format_number(100 * tolerance)} % of it"
    else:
        amount = format_number(tolerance) + (f" {units}" if units else "")
    evaluations = "evaluation improves" if window == 1 else f"{window} evaluations improve"
    return f"the last {evaluations} on the best before them by less than {amount}"


def best_checkpoint(curve: Any, mode: str = "min") -> tuple[Any, Any]:
    """The index and value of the best finite evaluation (the first one on ties), per member.

    (int, float) for a 1-D curve, (int array, float array) for (members, evaluations). A member without any
    finite evaluation is an error: there is no checkpoint to point at.
    """
    rows, one_run = _rows(curve)
    _check_mode(mode)
    empty = [i for i, row in enumerate(rows) if not np.isfinite(row).any()]
    if empty:
        raise ValueError(f"curve member(s) {empty} have no finite evaluation, so no best checkpoint")
    filled = np.where(np.isfinite(rows), rows, np.inf if mode == "min" else -np.inf)
    index = filled.argmin(axis=1) if mode == "min" else filled.argmax(axis=1)
    value = rows[np.arange(len(rows)), index]
    if one_run:
        return int(index[0]), float(value[0])
    return index, value
