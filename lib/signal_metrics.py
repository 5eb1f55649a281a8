"""Metrics that can see extrapolation of a 1-D signal (the Snake chapters).

One test MSE over a range several times the training data mixes the points next to the data with
those far from it, and cannot tell a continuation with the right phase and a shrinking amplitude
from a flat line. These functions read a prediction the way the Snake chapters need:

- `distance_to_data` and `error_by_distance`: the squared error as a function of the distance from
  the nearest training point, in bins of one period of the target (optionally relative to the
  target's envelope, so that a signal that decays towards 0 cannot be matched by predicting 0);
- `period_fits`: in each period beyond the training data (left of its smallest x and right of its
  largest), the least-squares fit of ``A·E(x)·sin(x + φ) + c`` to the prediction, E the target's
  envelope: amplitude ratio A (1: the right amplitude), phase error φ (0: in phase) and offset c;
- `phase_decoding` and `decoding_chance`: how well the phase x mod 2π can be read linearly off a
  network's features on held-out periods, and what the same decoder scores when the link between
  features and phase is broken (its chance level);
- `mean_interval`: the mean over seeds with its Student-t interval (what tables and bands show).

Everything takes NumPy arrays in the target's own coordinate x (the one the period refers to).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import stdtrit

TWO_PI = 2 * math.pi


def _vector(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    return array


def distance_to_data(x: np.ndarray, x_train: np.ndarray) -> np.ndarray:
    """For every point of `x`, the distance to the nearest training point."""
    x, x_train = _vector(x, "x"), np.sort(_vector(x_train, "x_train"))
    right = np.clip(np.searchsorted(x_train, x), 0, len(x_train) - 1)
    left = np.clip(right - 1, 0, len(x_train) - 1)
    return np.minimum(np.abs(x - x_train[left]), np.abs(x - x_train[right]))


def error_by_distance(squared_error: np.ndarray, distance: np.ndarray, mask: np.ndarray, period: float,
                      bins: int) -> np.ndarray:
    """The mean of `squared_error` over the `mask`ed points in each distance bin [k·period, (k+1)·period),
    k = 0 … bins − 1 (NaN for an empty bin); points farther than `bins` periods are left out."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive int, got {bins!r}")
    if not period > 0:
        raise ValueError(f"period must be positive, got {period}")
    squared_error, distance = _vector(squared_error, "squared_error"), _vector(distance, "distance")
    mask = np.asarray(mask, dtype=bool).reshape(-1)
    if not len(squared_error) == len(distance) == len(mask):
        raise ValueError(f"squared_error, distance and mask need one value per point, got lengths "
                         f"{len(squared_error)}, {len(distance)}, {len(mask)}")
    index = np.floor(distance / period).astype(int)
    out = np.full(bins, np.nan)
    for k in range(bins):
        chosen = mask & (index == k)
        if chosen.any():
            out[k] = float(squared_error[chosen].mean())
    return out


def fit_sine(x: np.ndarray, y: np.ndarray, envelope: np.ndarray | None = None) -> tuple[float, float, float]:
    """Least-squares (A, φ, c) of ``y ≈ A·E·sin(x + φ) + c`` (E = `envelope`, 1 if None), A ≥ 0, φ in (−π, π].

    Linear in (α, β, c) = (A cos φ, A sin φ, c) since sin(x + φ) = sin x cos φ + cos x sin φ.
    """
    x, y = _vector(x, "x"), _vector(y, "y")
    e = np.ones_like(x) if envelope is None else _vector(envelope, "envelope")
    if not len(x) == len(y) == len(e) or len(x) < 3:
        raise ValueError(f"fit_sine needs at least 3 points and equal lengths, got {len(x)}, {len(y)}, {len(e)}")
    design = np.stack([e * np.sin(x), e * np.cos(x), np.ones_like(x)], axis=1)
    (alpha, beta, c), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(math.hypot(alpha, beta)), float(math.atan2(beta, alpha)), float(c)


def period_windows(x: np.ndarray, x_train: np.ndarray, period: float,
                   periods: int) -> list[tuple[int, int, np.ndarray]]:
    """The whole periods of `x` beyond the training data: (side, k, indices) with side −1 (left of the
    smallest training x) or +1 (right of the largest), k = 0 … periods − 1 counted from the data, and
    the indices of the points of `x` in that period. A period that `x` does not cover to its end is left out."""
    x, x_train = _vector(x, "x"), _vector(x_train, "x_train")
    low, high = float(x_train.min()), float(x_train.max())
    windows = []
    for side, edge in ((-1, low), (1, high)):
        for k in range(periods):
            near, far = edge + side * k * period, edge + side * (k + 1) * period
            if (x.max() < far) if side > 0 else (x.min() > far):
                break                                       # the grid ends inside this period
            inside = ((x > near) & (x <= far)) if side > 0 else ((x >= far) & (x < near))
            index = np.flatnonzero(inside)
            if len(index) >= 3:
                windows.append((side, k, index))
    return windows


def period_fits(x: np.ndarray, prediction: np.ndarray, x_train: np.ndarray, period: float, periods: int,
                envelope: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per period k beyond the data (both sides averaged where both exist): the amplitude ratio A, the absolute
    phase error |φ| (radians) and the offset c relative to the mean envelope of the period, arrays of
    length `periods` (NaN where neither side has that period)."""
    x, prediction = _vector(x, "x"), _vector(prediction, "prediction")
    e = np.ones_like(x) if envelope is None else _vector(envelope, "envelope")
    sums = {name: np.zeros(periods) for name in ("amplitude", "phase", "offset")}
    counts = np.zeros(periods)
    for _, k, index in period_windows(x, x_train, period, periods):
        amplitude, phase, offset = fit_sine(x[index], prediction[index], e[index])
        sums["amplitude"][k] += amplitude
        sums["phase"][k] += abs(phase)
        sums["offset"][k] += offset / float(np.mean(e[index]))
        counts[k] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return {name: np.where(counts > 0, total / counts, np.nan) for name, total in sums.items()}


def beyond_mask(x: np.ndarray, x_train: np.ndarray) -> np.ndarray:
    """True where x lies outside [min(x_train), max(x_train)]: extrapolation proper."""
    x, x_train = _vector(x, "x"), _vector(x_train, "x_train")
    return (x < x_train.min()) | (x > x_train.max())


# ---------------------------------------------------------------- reading the phase off features

def _standardise(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    centre = features[rows].mean(axis=0)
    scale = features[rows].std(axis=0)
    return (features - centre) / np.where(scale > 0, scale, 1.0)


def _ridge(design: np.ndarray, targets: np.ndarray, ridge: float) -> np.ndarray:
    with_bias = np.concatenate([design, np.ones((len(design), 1))], axis=1)
    penalty = ridge * len(design) * np.eye(with_bias.shape[1])
    penalty[-1, -1] = 0.0                                   # the intercept is not shrunk
    return np.linalg.solve(with_bias.T @ with_bias + penalty, with_bias.T @ targets)


def _decode(features: np.ndarray, train: np.ndarray, targets: np.ndarray, ridge: float) -> np.ndarray:
    z = _standardise(features, train)
    weights = _ridge(z[train], targets, ridge)
    decoded = np.concatenate([z, np.ones((len(z), 1))], axis=1) @ weights
    return np.arctan2(decoded[:, 0], decoded[:, 1])


def _check_decoding(features, x, train_mask, test_mask):
    features = np.asarray(features, dtype=float)
    x = _vector(x, "x")
    train, test = np.asarray(train_mask, dtype=bool).reshape(-1), np.asarray(test_mask, dtype=bool).reshape(-1)
    if features.ndim != 2 or not len(features) == len(x) == len(train) == len(test):
        raise ValueError(f"features must be (points, units) with one row per x; got {features.shape} for {len(x)} "
                         f"points and masks of {len(train)}, {len(test)}")
    if train.sum() < 3 or test.sum() < 1:
        raise ValueError("phase decoding needs at least 3 training points and 1 test point")
    return features, x, train, test


def phase_decoding(features: np.ndarray, x: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray,
                   ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Decode (sin x, cos x) linearly (ridge) from `features` fitted on the training points; return the decoded
    phase atan2(ŝ, ĉ) at every point and the score cos(φ̂ − x) at the test points.

    The score's mean is 1 for features from which sin x and cos x are linear (a perfect periodic
    representation), and near 0 when the decoded phase is unrelated to x. Features are standardised with
    the training points' mean and spread; `ridge` is relative to the number of training points.
    """
    features, x, train, test = _check_decoding(features, x, train_mask, test_mask)
    decoded = _decode(features, train, np.stack([np.sin(x[train]), np.cos(x[train])], axis=1), ridge)
    return decoded, np.cos(decoded[test] - x[test])


def decoding_chance(features: np.ndarray, x: np.ndarray, train_mask: np.ndarray, test_mask: np.ndarray,
                    shuffles: int = 100, seed: int = 0, ridge: float = 1e-3) -> np.ndarray:
    """The mean test score of `phase_decoding` when the training targets are shuffled among the training points
    (the same features, the link between feature and phase broken), once per shuffle: the decoder's chance level."""
    features, x, train, test = _check_decoding(features, x, train_mask, test_mask)
    rng = np.random.default_rng(seed)
    phases = x[train]
    scores = np.empty(shuffles)
    for i in range(shuffles):
        shuffled = rng.permutation(phases)
        decoded = _decode(features, train, np.stack([np.sin(shuffled), np.cos(shuffled)], axis=1), ridge)
        scores[i] = float(np.cos(decoded[test] - x[test]).mean())
    return scores


# ---------------------------------------------------------------- summaries over seeds

def mean_interval(values, level: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and the two ends of its Student-t interval over `axis` (NaNs — diverged seeds — left out).

    With fewer than 2 finite values the interval is NaN (a single seed has no spread to report).
    """
    array = np.moveaxis(np.asarray(values, dtype=float), axis, 0)
    finite = np.isfinite(array)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(np.where(finite, array, 0.0), axis=0) / np.maximum(n, 1), np.nan)
        deviation = np.where(finite, array - mean, 0.0)
        variance = (deviation ** 2).sum(axis=0) / np.maximum(n - 1, 1)
        half = np.where(n >= 2, stdtrit(np.maximum(n - 1, 1), (1 + level) / 2) * np.sqrt(variance / np.maximum(n, 1)),
                        np.nan)
    return mean, mean - half, mean + half


def geometric_band(values, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geometric mean and the band ×/÷ the geometric standard deviation over `axis` (positive values; NaNs
    left out): a spread for log axes that never runs below zero."""
    logs = np.log(np.asarray(values, dtype=float))
    logs = np.where(np.isfinite(logs), logs, np.nan)
    with np.errstate(invalid="ignore"), _quiet():
        centre = np.nanmean(logs, axis=axis)
        spread = np.nanstd(logs, axis=axis, ddof=1) if np.asarray(values).shape[axis] > 1 else np.zeros_like(centre)
    spread = np.where(np.isfinite(spread), spread, 0.0)
    return np.exp(centre), np.exp(centre - spread), np.exp(centre + spread)


class _quiet:
    """Silence NumPy's 'mean of empty slice' warnings (an all-NaN column is a NaN, not news)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def envelope_values(envelope: Callable | None, x: np.ndarray) -> np.ndarray:
    """`envelope` (a function of a torch tensor or of an array) at x as an array; ones for None."""
    x = _vector(x, "x")
    if envelope is None:
        return np.ones_like(x)
    import torch

    return np.asarray(envelope(torch.as_tensor(x)), dtype=float).reshape(-1)
