"""Code of the chapter "Swarms: learning rate and momentum" (book/swarm_lr_momentum.ipynb; the follow-up post).

Width 10, ReLU, one hidden layer, a sine on x = linspace(-5, 5, 61), full-batch SGD with momentum
(`lib.swarm.default_train`), 250 epochs, seed 10, over the post's three sweeps of momentum and learning rate;
where the first layer's kinks go. Each swarm has `many_bees` bees; the first `num_bees` are the post's 10 (bees
are built one after another from one seeded stream).

Losses are relative: the mean squared error divided by the sine's variance on the data (1 = predicting the mean).
One sweep run (`train_cell`) is one swarm, one (momentum, learning rate) cell; `grids(p)` lists them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import torch

from lib import stats, swarm, sweep
from lib.data.signals import sine_data
from lib.parameters import Float, Int, ParameterError, Parameters
from lib.report import markdown_table
from lib.run_config import check_keys
from lib.seeding import seed_everything

WIDTH = 10

# The sine's turning points inside [-5, 5], where the original found ReLU kinks gather.
TURNING_POINTS = np.array([-3 * np.pi / 2, -np.pi / 2, np.pi / 2, 3 * np.pi / 2])

# The follow-up post's three sweeps: (momenta, learning rates).
LR_MOMENTUM_SWEEPS = {
    "moderate momentum": ([0.7, 0.9, 0.95], [0.002, 0.01]),
    "low momentum": ([0.0, 0.1, 0.3], [0.01, 0.05]),
    "high momentum": ([0.9, 0.96, 0.99], [0.002, 0.01]),
}
RECOMMENDED = (0.9, 0.01)          # the post's recommendation, the reference for "unstable" and the kinks
GOOD = [(0.9, 0.01), (0.95, 0.01)]  # "momentum 0.9-0.95 with a learning rate near 0.01"


def _check_parameters(p: Mapping[str, Any]) -> None:
    if p["many_bees"] < p["num_bees"]:
        raise ParameterError(f"chapter 'swarm_lr_momentum': many_bees = {p['many_bees']} must be at least num_bees "
                             f"= {p['num_bees']} (the post's bees are the first num_bees of every swarm)")
    if 5 * p["last_epochs"] > p["num_epochs"]:
        raise ParameterError(f"chapter 'swarm_lr_momentum': last_epochs = {p['last_epochs']} must be at most a fifth "
                             f"of num_epochs = {p['num_epochs']}")


PARAMETERS = Parameters(
    "swarm_lr_momentum", constraints=[_check_parameters],
    num_bees=Int(minimum=1), many_bees=Int(minimum=2), num_epochs=Int(minimum=10), seed=Int(0, 2**32 - 1),
    frames=Int(minimum=2), last_epochs=Int(minimum=1), decent_fit=Float(0.0, 1.0, exclusive_minimum=True),
    margin=Float(0.0, 1.0, exclusive_minimum=True), travel_margin=Float(0.0, exclusive_minimum=True),
    never=Float(0.0, 0.5, exclusive_minimum=True), kink_radius=Float(0.0, 1.5, exclusive_minimum=True),
    kink_margin=Float(0.0, 0.5, exclusive_minimum=True),
)


# ----------------------------------------------------------------------------- runs

@cache
def _data() -> tuple[torch.Tensor, torch.Tensor, float]:
    x, y = sine_data()
    return x, y, float(y.double().var(unbiased=False))


def sine_variance() -> float:
    """The sine's variance on the data: the mean squared error of predicting its mean."""
    return _data()[2]


RUN_KEYS = {"momentum", "lr", "bees", "epochs", "seed", "keep_bees"}


def check_cell(config: Mapping[str, Any]) -> None:
    """Refuse a run `train_cell` cannot do, before any run starts."""
    check_keys(config, sorted(RUN_KEYS), "swarm_lr_momentum run", exact=True)
    for key in ("bees", "epochs"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise ValueError(f"{key} = {config[key]!r} must be a positive int")
    if not isinstance(config["keep_bees"], int) or not 0 <= config["keep_bees"] <= config["bees"]:
        raise ValueError(f"keep_bees = {config['keep_bees']!r} must be an int in 0..bees ({config['bees']})")
    x, y, _ = _data()
    swarm.default_train.check({"x": x, "y": y, "lr": config["lr"], "momentum": config["momentum"]})


def train_cell(config: Mapping[str, Any]) -> dict[str, Any]:
    """One swarm of the sweeps (a sweep run): `bees` bees at one momentum and learning rate.

    Returns the relative loss per bee and epoch (``loss``, NaN from a bee's divergence on), ``diverged_at``, the
    predictions of the first `keep_bees` bees (float32, for the figures) and every bee's first-layer kinks -b/w at
    the first and the last record (``kinks_start``, ``kinks_end``: bee x unit).
    """
    check_cell(config)
    seed_everything(config["seed"])
    x, y, variance = _data()
    params = {"x": x, "y": y, "hidden": 1, "width": WIDTH, "activation": "relu", "num_epochs": config["epochs"],
              "lr": config["lr"], "momentum": config["momentum"]}
    fields = "ypred,loss,kinks" if config["keep_bees"] else "loss,kinks"
    r = swarm.hive_trainer(swarm.default_train, [params], num_bees=config["bees"], seed=config["seed"],
                           fields=fields)[0]
    kinks = np.asarray(r["kinks"], dtype=float)
    out = {"loss": np.asarray(r["loss"], dtype=float) / variance, "diverged_at": np.asarray(r["diverged_at"]),
           # a diverged bee's last record is blank (NaN): it has no kinks at the end
           "kinks_start": kinks[:, 0], "kinks_end": kinks[:, -1], "engine": r["engine"]}
    if config["keep_bees"]:
        out["ypred"] = np.asarray(r["ypred"][:config["keep_bees"]], dtype=np.float32)
    return out


def cells(p: Mapping[str, Any]) -> list[tuple[float, float]]:
    """Every (momentum, learning rate) of the three sweeps, once each, in sweep order."""
    return list(dict.fromkeys((m, lr) for momenta, lrs in LR_MOMENTUM_SWEEPS.values() for m in momenta for lr in lrs))


def cell_configs(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"momentum": float(m), "lr": float(lr), "bees": int(p["many_bees"]), "epochs": int(p["num_epochs"]),
             "seed": int(p["seed"]), "keep_bees": int(p["num_bees"])} for m, lr in cells(p)]


def grids(p: Mapping[str, Any]) -> list[sweep.Grid]:
    """Every grid the chapter runs: one swarm per (momentum, learning rate) of the three sweeps."""
    return [sweep.Grid("swarm_lr_momentum-cells", train_cell, cell_configs(p), check=check_cell)]


def as_cells(configs: Sequence[Mapping[str, Any]], results: Sequence[Any]) -> dict[tuple[float, float], dict]:
    """{(momentum, lr): the run's config merged with its result, x and y} (a `lib.sweep.Diverged` run: every bee
    diverged at epoch 0)."""
    x, y, _ = _data()
    out = {}
    for config, result in zip(configs, results, strict=True):
        if isinstance(result, sweep.Diverged):
            bees, epochs = config["bees"], config["epochs"]
            nan = np.full((bees, WIDTH), np.nan)
            result = {"loss": np.full((bees, epochs), np.nan), "diverged_at": np.zeros(bees, dtype=int),
                      "kinks_start": nan, "kinks_end": nan}
            if config["keep_bees"]:
                result["ypred"] = np.full((config["keep_bees"], epochs, len(x)), np.nan, dtype=np.float32)
        out[config["momentum"], config["lr"]] = {
            **config, **result, "x": x.numpy(), "y": y.numpy(),
            "n_diverged": int((np.asarray(result["diverged_at"]) >= 0).sum())}
    return out


def sweep_hive(cells_: Mapping[tuple[float, float], Mapping[str, Any]], name: str) -> list[dict[str, Any]]:
    """The swarms of one of the post's sweeps, with only the post's bees (the ones whose predictions were kept)."""
    momenta, lrs = LR_MOMENTUM_SWEEPS[name]
    return [dict(cells_[m, lr], loss=cells_[m, lr]["loss"][:len(cells_[m, lr]["ypred"])])
            for m in momenta for lr in lrs]


# ----------------------------------------------------------------------------- readings per bee

def upward_travel(loss: np.ndarray, start: int = 0) -> np.ndarray:
    """Sum of each bee's loss increases from epoch `start` on, relative to its loss there: 0 for a
    loss that only falls; large for one that keeps bouncing. NaN for a bee that diverged."""
    loss = np.asarray(loss, dtype=float)[:, start:]
    rises = np.clip(np.diff(loss, axis=1), 0, None).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = rises / loss[:, 0]
    out[~np.isfinite(loss).all(axis=1)] = np.nan
    return out


def tail_start(num_epochs: int) -> int:
    """Where "the end of the run" starts for the bouncing reading: the last fifth."""
    return num_epochs * 4 // 5


def kinks_near(kinks: np.ndarray, points: np.ndarray = TURNING_POINTS, radius: float = 0.5) -> float:
    """Fraction of first-layer kinks (finite, inside the data's range [-5, 5]) within `radius` of a point."""
    k = np.asarray(kinks, dtype=float).ravel()
    k = k[np.isfinite(k) & (np.abs(k) <= 5)]
    if not k.size:
        return float("nan")
    return float((np.abs(k[:, None] - points[None]).min(axis=1) <= radius).mean())


def kinks_near_per_bee(kinks: np.ndarray, radius: float = 0.5) -> np.ndarray:
    """`kinks_near` for each bee's units (bee x unit); NaN for a bee without a kink inside the data's range."""
    return np.array([kinks_near(row, radius=radius) for row in np.asarray(kinks, dtype=float)])


def chance_near(points: np.ndarray = TURNING_POINTS, radius: float = 0.5, low: float = -5, high: float = 5) -> float:
    """The same fraction for kinks spread uniformly over [low, high]."""
    grid = np.linspace(low, high, 100001)
    return float((np.abs(grid[:, None] - points[None]).min(axis=1) <= radius).mean())


def epochs_to_fit(r: Mapping[str, Any], threshold: float) -> np.ndarray:
    """Each bee's first epoch at or below `threshold`, with inf for a bee that never gets there."""
    first = swarm.first_below(r["loss"], threshold).astype(float)
    first[first < 0] = np.inf
    return first


def settled(r: Mapping[str, Any], threshold: float) -> np.ndarray:
    """Whether each bee's loss stays at or below `threshold` from some epoch to the end."""
    return swarm.stays_below(r["loss"], threshold) >= 0


def bee_rows(cells_: Mapping[tuple[float, float], Mapping[str, Any]], last: int, threshold: float,
             radius: float) -> list[dict[str, Any]]:
    """One row per bee of every swarm (the downloadable table)."""
    rows = []
    for (m, lr), r in cells_.items():
        final = swarm.final_loss(r, last)
        travel = upward_travel(r["loss"])
        tail = upward_travel(r["loss"], tail_start(r["loss"].shape[1]))
        first = epochs_to_fit(r, threshold)
        stays = settled(r, threshold)
        near_start = kinks_near_per_bee(r["kinks_start"], radius)
        near_end = kinks_near_per_bee(r["kinks_end"], radius)
        for b in range(len(final)):
            rows.append({"momentum": m, "lr": lr, "bee": b, "post_bee": b < int(r["keep_bees"]),
                         "final_relative_loss": final[b], "first_epoch_at_fit": first[b], "settled": bool(stays[b]),
                         "upward_travel": travel[b], "upward_travel_last_fifth": tail[b],
                         "kinks_near_turning_points_start": near_start[b],
                         "kinks_near_turning_points_end": near_end[b], "diverged_at": int(r["diverged_at"][b])})
    return rows


# ----------------------------------------------------------------------------- verdicts

def _name(cell: tuple[float, float]) -> str:
    return f"(momentum {cell[0]:g}, lr {cell[1]:g})"


def cell_table(cells_: Mapping[tuple[float, float], Mapping[str, Any]], last: int, threshold: float,
               seed: int) -> str:
    """Per swarm: median final loss, median upward travel (whole run, last fifth) with bootstrap intervals, the
    share that settled with its Wilson interval, and how many bees diverged."""
    rows = []
    for (m, lr), r in cells_.items():
        n = len(r["loss"])
        k = int(settled(r, threshold).sum())
        medians = [swarm.median_text(v, seed=seed) for v in
                   (swarm.final_loss(r, last), upward_travel(r["loss"]),
                    upward_travel(r["loss"], tail_start(r["loss"].shape[1])))]
        rows.append([f"{m:g}", f"{lr:g}", *medians, swarm.share_text(k, n), str(r["n_diverged"])])
    return markdown_table(["momentum", "lr", f"final loss (last {last})", "upward travel", "travel, last fifth",
                           "settled", "diverged"], rows)


def lr_momentum_verdicts(cells_: Mapping[tuple[float, float], Mapping[str, Any]], *, last: int, threshold: float,
                         margin: float, travel_margin: float, never: float, seed: int) -> dict[str, Any]:
    """The follow-up post's three conclusions as verdicts (each `lib.swarm.weakest` over its cases).

    - ``good``: in the first sweep, (0.9, 0.01) and (0.95, 0.01) each end with a median final loss below every other
      swarm's by more than `margin` (8 cases);
    - ``unstable``: at momentum 0, 0.1 and 0.3 with learning rate 0.05 the median upward travel exceeds the
      recommended (0.9, 0.01)'s by more than `travel_margin` (3 cases);
    - ``never``: "0.99 never settles", read as at most a share `never` of its bees settle, at both learning rates,
      on the Wilson interval's upper bound (2 cases);
    - ``bouncing``: at momentum 0.99 the median upward travel over the last fifth exceeds momentum 0.9's by more than
      `travel_margin`, at both learning rates (2 cases).
    Diverged bees are dropped from the medians (counted in the prose); every claim here says some setting is the
    less stable one, and leaving out its most unstable bees can only make that harder to confirm.
    """
    final = {k: swarm.final_loss(r, last) for k, r in cells_.items()}
    mods, mod_lrs = LR_MOMENTUM_SWEEPS["moderate momentum"]
    others = [(m, lr) for m in mods for lr in mod_lrs if (m, lr) not in GOOD]
    good = [stats.compare_medians(final[g], final[o], claim="a<b", margin=margin, seed=seed,
                                  names=(_name(g), _name(o))) for g in GOOD for o in others]

    travel = {k: upward_travel(r["loss"]) for k, r in cells_.items()}
    lows = LR_MOMENTUM_SWEEPS["low momentum"][0]
    unstable = [stats.compare_medians(travel[m, 0.05], travel[RECOMMENDED], claim="a>b", margin=travel_margin,
                                      seed=seed, names=(_name((m, 0.05)), _name(RECOMMENDED))) for m in lows]

    high_lrs = LR_MOMENTUM_SWEEPS["high momentum"][1]
    never_cases = []
    for lr in high_lrs:
        r = cells_[0.99, lr]
        never_cases.append(stats.proportion(int(settled(r, threshold).sum()), len(r["loss"]), claim="a<b",
                                            reference=never, names=(f"share settled at {_name((0.99, lr))}",
                                                                    "almost none")))
    tails = {k: upward_travel(cells_[k]["loss"], tail_start(cells_[k]["loss"].shape[1]))
             for k in [(m, lr) for m in (0.9, 0.99) for lr in high_lrs]}
    bouncing = [stats.compare_medians(tails[0.99, lr], tails[0.9, lr], claim="a>b", margin=travel_margin, seed=seed,
                                      names=(f"{_name((0.99, lr))}, last fifth", f"{_name((0.9, lr))}, last fifth"))
                for lr in high_lrs]
    return {"good": swarm.weakest(good), "good_cases": good, "unstable": swarm.weakest(unstable),
            "unstable_cases": unstable, "never": swarm.weakest(never_cases), "never_cases": never_cases,
            "bouncing": swarm.weakest(bouncing), "bouncing_cases": bouncing,
            "diverged_low_high": sum(int(cells_[m, 0.05]["n_diverged"]) for m in lows)}


def kink_verdict(r: Mapping[str, Any], radius: float, margin: float) -> tuple[stats.Verdict, dict[str, Any]]:
    """"Kinks gather at the turning points": the mean over bees of each bee's share of kinks (inside the data's range)
    within `radius` of a turning point, at the end, exceeds the share for kinks spread evenly by more than `margin`
    (one-sample t over bees: a bee's units are not independent of each other, bees are).

    Returns the verdict and the values the prose shows.
    """
    chance = chance_near(radius=radius)
    start, end = kinks_near_per_bee(r["kinks_start"], radius), kinks_near_per_bee(r["kinks_end"], radius)
    verdict = stats.compare(end, chance, claim="a>b", margin=margin, units="",
                            names=("share of a bee's kinks near a turning point at the end", "even spread"))
    start_verdict = stats.compare(start, chance, claim="a>b", margin=margin,
                                  names=("share at the start", "even spread"))
    inside = {when: 100 * float(np.mean(np.abs(np.asarray(r[f"kinks_{when}"])) <= 5)) for when in ("start", "end")}
    values = {"kink_units": int(np.size(r["kinks_end"])), "kink_bees": len(r["kinks_end"]),
              "near_start": 100 * kinks_near(r["kinks_start"], radius=radius),
              "near_end": 100 * kinks_near(r["kinks_end"], radius=radius), "near_chance": 100 * chance,
              "inside_start": inside["start"], "inside_end": inside["end"], "start_verdict": start_verdict}
    return verdict, values
