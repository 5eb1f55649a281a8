"""Code of the chapter "Swarms: learning rate and momentum" (book/swarm_lr_momentum.ipynb; the follow-up post).

Width 10, ReLU, one hidden layer, full-batch SGD with momentum (`lib.swarm.default_train`) over the
post's three sweeps of momentum and learning rate; where the first layer's kinks go.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lib import swarm
from lib.data.signals import sine_data
from lib.parameters import Float, Int, Parameters
from lib.swarm import final_loss, fraction

PARAMETERS = Parameters(
    "swarm_lr_momentum",
    num_bees=Int(minimum=1), num_epochs=Int(minimum=5), seed=Int(0, 2**32 - 1),
    threshold=Float(minimum=0.0, exclusive_minimum=True), frames=Int(minimum=2), kink_bees=Int(minimum=1),
)


# The sine's turning points inside [-5, 5], where the original found ReLU kinks gather.
TURNING_POINTS = np.array([-3 * np.pi / 2, -np.pi / 2, np.pi / 2, 3 * np.pi / 2])

# The follow-up post's three sweeps: (momenta, learning rates).
LR_MOMENTUM_SWEEPS = {
    "moderate momentum": ([0.7, 0.9, 0.95], [0.002, 0.01]),
    "low momentum": ([0.0, 0.1, 0.3], [0.01, 0.05]),
    "high momentum": ([0.9, 0.96, 0.99], [0.002, 0.01]),
}


def lr_momentum_hive(momenta: Sequence[float], lrs: Sequence[float], num_bees: int, num_epochs: int,
                     seed: int = 10, width: int = 10, fields: str = "ypred,loss") -> list[dict[str, Any]]:
    """The follow-up post's hive: momenta x learning rates, width 10, ReLU, hidden 1."""
    x, y = sine_data()
    static = {"x": x, "y": y, "width": width, "hidden": 1, "activation": "relu", "num_epochs": num_epochs}
    params = swarm.make_combo_paramsets(static, momentum=list(momenta), lr=list(lrs))
    return swarm.hive_trainer(swarm.default_train, params, num_bees=num_bees, seed=seed, fields=fields)


def upward_travel(loss: np.ndarray, start: int = 0) -> np.ndarray:
    """Sum of each bee's loss increases from epoch `start` on, relative to its loss there: 0 for a
    loss that only falls; large for one that keeps bouncing. NaN for a bee that diverged."""
    loss = np.asarray(loss, dtype=float)[:, start:]
    rises = np.clip(np.diff(loss, axis=1), 0, None).sum(axis=1)
    out = rises / loss[:, 0]
    out[~np.isfinite(loss).all(axis=1)] = np.nan
    return out


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


def epochs_to_threshold(r: Mapping[str, Any], threshold: float) -> np.ndarray:
    """Each bee's first epoch at or below `threshold`, with inf for a bee that never gets there."""
    first = swarm.first_below(r["loss"], threshold).astype(float)
    first[first < 0] = np.inf
    return first


def lr_momentum_claims(cells: Mapping[tuple[float, float], Mapping[str, Any]], threshold: float,
                       num_epochs: int) -> dict[str, Any]:
    """The follow-up post's three conclusions as comparisons between swarms keyed by (momentum, lr)."""
    final = {k: float(np.nanmedian(final_loss(r))) for k, r in cells.items()}
    mods, mod_lrs = LR_MOMENTUM_SWEEPS["moderate momentum"]
    good = [(0.9, 0.01), (0.95, 0.01)]
    others = [(m, lr) for m in mods for lr in mod_lrs if (m, lr) not in good]
    best = min(final, key=final.get)
    values: dict[str, Any] = {
        "good_final": max(final[k] for k in good), "others_final": min(final[k] for k in others),
        "best_cell": f"momentum {best[0]:g}, lr {best[1]:g}", "best_final": final[best],
    }
    values["verdict_good"] = verdict(values["good_final"] < values["others_final"])

    travel = {k: float(np.nanmedian(upward_travel(r["loss"]))) for k, r in cells.items()}
    lows = LR_MOMENTUM_SWEEPS["low momentum"][0]
    values.update({
        "travel_low_high": max(travel[m, 0.05] for m in lows), "travel_low_low": max(travel[m, 0.01] for m in lows),
        "travel_good": travel[0.9, 0.01], "n_low": len(lows),
        "n_low_more": sum(travel[m, 0.05] > travel[m, 0.01] for m in lows),
        "diverged_low_high": sum(int(cells[m, 0.05]["n_diverged"]) for m in lows),
        "verdict_unstable": verdict(min(travel[m, 0.05] for m in lows) > travel[0.9, 0.01]),
    })

    high_lrs = LR_MOMENTUM_SWEEPS["high momentum"][1]
    tail = num_epochs * 4 // 5
    settled = {(m, lr): fraction(swarm.stays_below(cells[m, lr]["loss"], threshold) >= 0)
               for m in (0.9, 0.99) for lr in high_lrs}
    tails = {(m, lr): float(np.nanmedian(upward_travel(cells[m, lr]["loss"], tail)))
             for m in (0.9, 0.99) for lr in high_lrs}
    values["tail_epoch"] = tail
    for lr in high_lrs:
        key = str(lr).replace(".", "_")
        values[f"settled_99_{key}"] = 100 * settled[0.99, lr]
        values[f"settled_90_{key}"] = 100 * settled[0.9, lr]
        values[f"tail_99_{key}"] = tails[0.99, lr]
        values[f"tail_90_{key}"] = tails[0.9, lr]
    values["verdict_never"] = verdict(all(settled[0.99, lr] == 0 for lr in high_lrs))
    values["verdict_bouncing"] = verdict(all(tails[0.99, lr] > tails[0.9, lr] for lr in high_lrs))
    return values


def kink_summary(kinks: np.ndarray, radius: float = 0.5) -> dict[str, Any]:
    """Kinks (bee, epoch, unit) near the turning points at the start and the end, against chance."""
    start, end, chance = kinks_near(kinks[:, 0], radius=radius), kinks_near(kinks[:, -1], radius=radius), \
        chance_near(radius=radius)
    return {
        "kink_units": kinks.shape[0] * kinks.shape[2],
        "near_start": 100 * start, "near_end": 100 * end, "near_chance": 100 * chance,
        "inside_start": 100 * float(np.mean(np.abs(kinks[:, 0]) <= 5)),
        "inside_end": 100 * float(np.mean(np.abs(kinks[:, -1]) <= 5)),
        "verdict_gather": verdict(end > start and end > chance),
    }
