"""Tables and per-seed rows of `lib.signal_fits.SignalRun`s, shared by the Snake chapters.

A result is a `SignalRun` or, for a run in which every seed diverged, a `lib.sweep.Diverged` record; every
function here accepts both (a diverged run reads NaN / "diverged").
"""
from __future__ import annotations

import math

import numpy as np

from lib import sweep
from lib.curves import flattened
from lib.report import markdown_table
from lib.signal_metrics import mean_interval
from lib.stats import format_number

ENDPOINTS = {"train_mse": "train MSE", "test_mse": "test MSE", "beyond_mse": "MSE beyond the data",
             "normalised_mse": "test MSE / envelope²"}


def values(result, field: str, seeds=None) -> np.ndarray:
    """A per-seed endpoint of a run (`SignalRun` field name), NaN for every seed of a run that diverged as a whole."""
    if isinstance(result, sweep.Diverged):
        return np.full(len(result.config["seeds"] if seeds is None else seeds), np.nan)
    return np.asarray(getattr(result, field), dtype=float)


def first_period(result, field: str) -> np.ndarray:
    """A per-period metric (amplitude, phase, offset) in the first period beyond the data, per seed."""
    if isinstance(result, sweep.Diverged):
        return np.full(len(result.config["seeds"]), np.nan)
    return np.asarray(getattr(result, field), dtype=float)[:, 0]


def n_diverged(result) -> int:
    """How many seeds of the run diverged."""
    if isinstance(result, sweep.Diverged):
        return len(result.config["seeds"])
    return int(np.sum(result.diverged))


def label_of(result) -> str:
    return result.config["candidate"]["label"] if isinstance(result, sweep.Diverged) else result.label


def finished(results) -> list:
    """The runs that did not diverge as a whole."""
    return [r for r in results if not isinstance(r, sweep.Diverged)]


def interval_text(v, digits: int = 3, empty: str = "n/a") -> str:
    """'mean [low, high]' (95 % Student-t interval) over the finite values; `empty` if there are none (a metric that
    does not apply, e.g. no period beyond the data)."""
    v = np.asarray(v, dtype=float)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return empty
    mean, low, high = mean_interval(finite)
    if finite.size < 2:
        return format_number(float(mean), digits)
    low, high = (format_number(float(x), digits) for x in (low, high))
    return f"{format_number(float(mean), digits)} [{low}, {high}]"


def converged(result, window: int, tolerance: float) -> np.ndarray:
    """Per seed: has the training curve flattened (`lib.curves.flattened`, relative `tolerance` over `window`
    evaluations)? False for diverged seeds."""
    if isinstance(result, sweep.Diverged):
        return np.zeros(len(result.config["seeds"]), dtype=bool)
    met = np.asarray(flattened(result.train_curve, window=window, tolerance=tolerance, relative=True), dtype=bool)
    return met & ~result.diverged


def seed_rows(results, window: int, tolerance: float, **columns) -> list[dict]:
    """One row per seed of every run (for the downloadable tables); `columns` are added to every row."""
    rows = []
    for result in results:
        seeds = result.config["seeds"]
        met = converged(result, window, tolerance)
        fields = {name: values(result, name) for name in ENDPOINTS}
        amplitude, phase, offset = (first_period(result, name) for name in ("amplitude", "phase", "offset"))
        for i, seed in enumerate(seeds):
            diverged = isinstance(result, sweep.Diverged) or bool(result.diverged[i])
            rows.append({**columns, "task": result.config["task"]["name"], "activation": label_of(result),
                         "seed": seed, "epochs": result.config["epochs"], **{k: v[i] for k, v in fields.items()},
                         "amplitude_ratio_period_1": amplitude[i], "phase_error_deg_period_1": math.degrees(phase[i]),
                         "offset_period_1": offset[i], "converged": bool(met[i]), "diverged": diverged})
    return rows


def summary_table(results, window: int, tolerance: float, endpoints=("train_mse", "test_mse", "beyond_mse"),
                  label: str = "activation", labels=None) -> str:
    """A markdown table, one row per run: endpoints and the first period's sine fit as 'mean [95 % interval]' over
    seeds, with how many seeds converged and diverged."""
    header = [label] + [ENDPOINTS[e] for e in endpoints] + ["amplitude ratio, 1st period beyond",
                                                           "phase error (°), 1st period beyond", "converged",
                                                           "diverged"]
    rows = []
    for i, result in enumerate(results):
        n = len(result.config["seeds"])
        name = labels[i] if labels is not None else label_of(result)
        if isinstance(result, sweep.Diverged):
            rows.append([name] + ["diverged"] * (len(endpoints) + 2) + [f"0 of {n}", f"{n} of {n}"])
            continue
        gone = "diverged" if n_diverged(result) == n else "n/a"
        cells = [interval_text(values(result, e), empty=gone) for e in endpoints]
        cells += [interval_text(first_period(result, "amplitude"), 2, empty=gone),
                  interval_text(np.degrees(first_period(result, "phase")), 2, empty=gone)]
        rows.append([name, *cells, f"{int(converged(result, window, tolerance).sum())} of {n}",
                     f"{n_diverged(result)} of {n}"])
    return markdown_table(header, rows)
