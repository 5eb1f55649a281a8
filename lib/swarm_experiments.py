"""The swarm chapters' experiments: the posts' hives, and the numbers their claims are checked with.

"Swarms: width and activation" (Morrison, 2020) and its follow-up "Learning rate and
momentum": a sine on x = linspace(-5, 5, 61), one hidden layer, full-batch SGD with
momentum (`lib.swarm.default_train`), every swarm seeded alike.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from lib import swarm

# The sine's turning points inside [-5, 5], where the original found ReLU kinks gather.
TURNING_POINTS = np.array([-3 * np.pi / 2, -np.pi / 2, np.pi / 2, 3 * np.pi / 2])

# The follow-up post's three sweeps: (momenta, learning rates).
LR_MOMENTUM_SWEEPS = {
    "moderate momentum": ([0.7, 0.9, 0.95], [0.002, 0.01]),
    "low momentum": ([0.0, 0.1, 0.3], [0.01, 0.05]),
    "high momentum": ([0.9, 0.96, 0.99], [0.002, 0.01]),
}


def sine_data(points: int = 61, low: float = -5.0, high: float = 5.0) -> tuple[torch.Tensor, torch.Tensor]:
    if points < 2 or not high > low:
        raise ValueError(f"need points >= 2 and high > low, got {points}, [{low}, {high}]")
    x = torch.linspace(low, high, points)
    return x, torch.sin(x)


def width_activation_hive(widths: Sequence[int], activations: Sequence[Any], num_bees: int, num_epochs: int,
                          seed: int = 10, lr: float = 0.01, momentum: float = 0.9,
                          fields: str = "ypred,loss") -> list[dict[str, Any]]:
    """The first post's hive: widths x activations, hidden 1 (width varies slowest, as in the post)."""
    x, y = sine_data()
    static = {"x": x, "y": y, "hidden": 1, "momentum": momentum, "lr": lr, "num_epochs": num_epochs}
    params = swarm.make_combo_paramsets(static, width=list(widths), activation=list(activations))
    return swarm.hive_trainer(swarm.default_train, params, num_bees=num_bees, seed=seed, fields=fields)


def lr_momentum_hive(momenta: Sequence[float], lrs: Sequence[float], num_bees: int, num_epochs: int,
                     seed: int = 10, width: int = 10, fields: str = "ypred,loss") -> list[dict[str, Any]]:
    """The follow-up post's hive: momenta x learning rates, width 10, ReLU, hidden 1."""
    x, y = sine_data()
    static = {"x": x, "y": y, "width": width, "hidden": 1, "activation": "relu", "num_epochs": num_epochs}
    params = swarm.make_combo_paramsets(static, momentum=list(momenta), lr=list(lrs))
    return swarm.hive_trainer(swarm.default_train, params, num_bees=num_bees, seed=seed, fields=fields)


def find(results: Sequence[Mapping[str, Any]], **where) -> Mapping[str, Any]:
    """The one swarm whose parameters equal `where`."""
    hits = [r for r in results if all(r[k] == v for k, v in where.items())]
    if len(hits) != 1:
        raise KeyError(f"{len(hits)} swarms match {where}")
    return hits[0]


def final_loss(r: Mapping[str, Any]) -> np.ndarray:
    """Each bee's loss at the last record (NaN for a diverged bee)."""
    return np.asarray(r["loss"])[:, -1]


def region_loss(r: Mapping[str, Any], epoch: int, inner: bool, edge: float = np.pi / 2) -> np.ndarray:
    """Each bee's MSE at `epoch` on the central slope |x| <= edge (inner) or outside it (the arches)."""
    x = np.asarray(r["x"]).ravel()
    mask = np.abs(x) <= edge if inner else np.abs(x) > edge
    err = (np.asarray(r["ypred"])[:, epoch, :] - np.asarray(r["y"]).ravel()) ** 2
    return err[:, mask].mean(axis=1)


def upward_travel(loss: np.ndarray, start: int = 0) -> np.ndarray:
    """Sum of each bee's loss increases from epoch `start` on, relative to its loss there: 0 for a
    loss that only falls; large for one that keeps bouncing. NaN for a bee that diverged."""
    loss = np.asarray(loss, dtype=float)[:, start:]
    rises = np.clip(np.diff(loss, axis=1), 0, None).sum(axis=1)
    out = rises / loss[:, 0]
    out[~np.isfinite(loss).all(axis=1)] = np.nan
    return out


def fraction(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=bool)
    return float(values.mean()) if values.size else float("nan")


def verdict(holds: bool) -> str:
    return "confirmed" if holds else "not confirmed"


def kinks_near(kinks: np.ndarray, points: np.ndarray = TURNING_POINTS, radius: float = 0.5) -> float:
    """Fraction of first-layer kinks (finite, inside the data's range [-5, 5]) within `radius` of a point."""
    k = np.asarray(kinks, dtype=float).ravel()
    k = k[np.isfinite(k) & (np.abs(k) <= 5)]
    if not k.size:
        return float("nan")
    return float((np.abs(k[:, None] - points[None]).min(axis=1) <= radius).mean())


def chance_near(points: np.ndarray = TURNING_POINTS, radius: float = 0.5, low: float = -5, high: float = 5) -> float:
    """The same fraction for kinks spread uniformly over [low, high]."""
    grid = np.linspace(low, high, 100001)
    return float((np.abs(grid[:, None] - points[None]).min(axis=1) <= radius).mean())
