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


# ----------------------------------------------------------------------------- the chapters' claims

def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def post_observations(hive: Sequence[Mapping[str, Any]], widths: Sequence[int], activations: Sequence[str],
                      early: int) -> tuple[str, dict[str, Any]]:
    """The first post's two readings, measured: median (over bees) error on the central slope at
    epoch `early`, and off it (the arches) at the end, per width and activation.

    Returns a markdown table and the values to glue: which widths above one have Tanh first on
    the central slope, and Tanhshrink against Tanh on the arches at the largest width.
    """
    central = {(w, a): float(np.nanmedian(region_loss(find(hive, width=w, activation=a), early, inner=True)))
               for w in widths for a in activations}
    arches = {(w, a): float(np.nanmedian(region_loss(find(hive, width=w, activation=a), -1, inner=False)))
              for w in widths for a in activations}
    label = swarm.value_label
    table = _md_table(["width", *[f"{label(a)}: centre at {early}" for a in activations],
                       *[f"{label(a)}: arches at end" for a in activations]],
                      [[str(w), *[f"{central[w, a]:.3g}" for a in activations],
                        *[f"{arches[w, a]:.3g}" for a in activations]] for w in widths])
    wide = [w for w in widths if w > 1] or list(widths)
    tanh_first = [w for w in wide if min(activations, key=lambda a: central[w, a]) == "tanh"]
    wmax = max(widths)
    values = {
        "early_epoch": early, "n_wide": len(wide), "n_tanh_first": len(tanh_first),
        "tanh_first_widths": ", ".join(map(str, tanh_first)) or "none",
        "verdict_tanh_centre": verdict(len(tanh_first) == len(wide)),
        "wmax": wmax, "arch_tanhshrink": arches[wmax, "tanhshrink"], "arch_tanh": arches[wmax, "tanh"],
        "verdict_arches": verdict(arches[wmax, "tanhshrink"] < arches[wmax, "tanh"]),
    }
    return table, values


def final_loss_summary(big: Sequence[Mapping[str, Any]], widths: Sequence[int], post: Sequence[str],
                       more: Sequence[str], threshold: float) -> tuple[str, dict[str, Any]]:
    """Share of bees at or below `threshold` per swarm, and the median final loss at the largest width."""
    acts = [*post, *more]
    share = {(w, a): fraction(final_loss(find(big, width=w, activation=a)) <= threshold) for w in widths for a in acts}
    median = {(w, a): float(np.nanmedian(final_loss(find(big, width=w, activation=a)))) for w in widths for a in acts}
    wmax = max(widths)
    label = swarm.value_label
    table = _md_table(["activation", *[f"width {w}: share ≤ threshold" for w in widths],
                       f"median final loss at width {wmax}"],
                      [[label(a), *[f"{share[w, a]:.0%}" for w in widths], f"{median[wmax, a]:.3g}"] for a in acts])
    best = min(acts, key=lambda a: median[wmax, a])
    post_share = float(np.mean([share[wmax, a] for a in post]))
    beats = all(median[wmax, m] < min(median[wmax, a] for a in post) for m in more)
    grows = all(share[widths[i], a] <= share[widths[i + 1], a] for a in acts for i in range(len(widths) - 1))
    values = {
        "best_wide": label(best), "best_wide_median": median[wmax, best], "best_wide_share": 100 * share[wmax, best],
        "post_wide_share": 100 * post_share,
        "verdict_periodic": ("lower than every activation of the post" if beats
                             else "not lower than every activation of the post"),
        "verdict_width": "for every activation" if grows else "not for every activation",
        "verdict_almost_all": verdict(post_share >= 0.9),
    }
    return table, values


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
