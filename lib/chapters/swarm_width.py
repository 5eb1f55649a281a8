"""Code of the chapter "Swarms: width and activation" (book/swarm_width.ipynb; Morrison, 2020).

The post's hive: a sine on x = linspace(-5, 5, 61), one hidden layer of width 1, 3 or 10 with ReLU, Tanh or
Tanhshrink, full-batch SGD (learning rate 0.01, momentum 0.9; `lib.swarm.default_train`), 10 bees, seed 10,
150 epochs. The chapter trains `many_bees` bees per swarm; because bees are built one after another from one
seeded stream, the first 10 of each swarm are the post's own bees. Beyond the post: two periodic activations,
a target that is not periodic (the control: a bump, or the original package's default exp on [-1, 3]) and a
longer run for "given enough epochs".

Losses are *relative*: the mean squared error divided by the target's variance on the data, so 1 is what
predicting the mean costs, and thresholds and margins mean the same on every target.

One sweep run (`train_swarm`) is one swarm: one target, width and activation, all its bees trained as one
vectorised program. `grids(p)` lists every run the chapter makes.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch

from lib import activations, curves, stats, swarm, sweep
from lib.parameters import Float, Int, ListOf, OneOf, ParameterError, Parameters
from lib.report import markdown_table
from lib.run_config import check_keys
from lib.seeding import seed_everything

POST = ("relu", "tanh", "tanhshrink")          # the post's activations ("x-tanh" is Tanhshrink, x - tanh x)
PERIODIC = ("snake", "x_plus_sin")             # beyond the post: Snake (a = 1, x + sin^2 x) and x + sin x
LR, MOMENTUM = 0.01, 0.9                       # the post's optimiser
CENTRAL_EDGE = math.pi / 2                     # the central slope of the sine is |x| <= pi/2; the arches the rest


@dataclass(frozen=True)
class Target:
    """A 1-D function on `points` evenly spaced x in [low, high]."""

    name: str
    formula: str                               # in plain text, for the prose
    fn: Callable[[torch.Tensor], torch.Tensor]
    low: float
    high: float
    points: int = 61
    periodic: bool = False


TARGETS = {
    "sine": Target("sine", "sin x", torch.sin, -5.0, 5.0, periodic=True),
    # Same grid and amplitude as the sine, one hump, nothing repeats.
    "bump": Target("bump", "exp(−x²/2)", lambda x: torch.exp(-x * x / 2), -5.0, 5.0),
    # The default example of the original swarm package.
    "exp": Target("exp", "eˣ", torch.exp, -1.0, 3.0),
}
CONTROLS = tuple(name for name, t in TARGETS.items() if not t.periodic)


def _check_parameters(p: Mapping[str, Any]) -> None:
    if p["many_bees"] < p["num_bees"]:
        raise ParameterError(f"chapter 'swarm_width': many_bees = {p['many_bees']} must be at least num_bees = "
                             f"{p['num_bees']} (the post's bees are the first num_bees of every swarm)")
    if p["last_epochs"] > p["num_epochs"] // 5:
        raise ParameterError(f"chapter 'swarm_width': last_epochs = {p['last_epochs']} must be at most a fifth of "
                             f"num_epochs = {p['num_epochs']} (the early reading averages the records up to epoch "
                             "num_epochs // 5)")
    if p["long_epochs"] < p["num_epochs"]:
        raise ParameterError(f"chapter 'swarm_width': long_epochs = {p['long_epochs']} must be at least num_epochs "
                             f"= {p['num_epochs']}")


PARAMETERS = Parameters(
    "swarm_width", constraints=[_check_parameters],
    num_bees=Int(minimum=1), many_bees=Int(minimum=2), num_epochs=Int(minimum=2), long_epochs=Int(minimum=2),
    seed=Int(0, 2**32 - 1), widths=ListOf(Int(minimum=1), distinct=True), frames=Int(minimum=2),
    last_epochs=Int(minimum=1), decent_fit=Float(0.0, 1.0, exclusive_minimum=True),
    almost_all=Float(0.5, 1.0, exclusive_minimum=True), margin=Float(0.0, 1.0, exclusive_minimum=True),
    control=OneOf(*CONTROLS),
)


# ----------------------------------------------------------------------------- data and one run

@cache
def target_data(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y of the target `name` (float32, as the swarm trains)."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    t = TARGETS[name]
    x = torch.linspace(t.low, t.high, t.points)
    return x, t.fn(x)


def describe_target(name: str) -> str:
    """"the bump, exp(−x²/2) on [−5, 5]": the target in words for the prose."""
    t = TARGETS[name]
    return f"the {t.name}, {t.formula} on [{stats.format_number(t.low)}, {stats.format_number(t.high)}]"


def target_variance(name: str) -> float:
    """The target's variance on its data: the mean squared error of predicting its mean."""
    return float(target_data(name)[1].double().var(unbiased=False))


RUN_KEYS = {"target", "width", "activation", "bees", "epochs", "seed", "keep_bees", "regions"}


def check_swarm(config: Mapping[str, Any]) -> None:
    """Refuse a run `train_swarm` cannot do, before any run starts."""
    check_keys(config, sorted(RUN_KEYS), "swarm_width run", exact=True)
    if config["target"] not in TARGETS:
        raise ValueError(f"target {config['target']!r}: choose from {', '.join(TARGETS)}")
    if config["activation"] not in activations.names():
        raise ValueError(f"activation {config['activation']!r} is not registered in lib.activations")
    for key in ("bees", "epochs", "width"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise ValueError(f"{key} = {config[key]!r} must be a positive int")
    if not isinstance(config["keep_bees"], int) or not 0 <= config["keep_bees"] <= config["bees"]:
        raise ValueError(f"keep_bees = {config['keep_bees']!r} must be an int in 0..bees ({config['bees']})")
    if config["regions"] and config["target"] != "sine":
        raise ValueError("regions (central slope and arches) are defined for the sine only")


def train_swarm(config: Mapping[str, Any]) -> dict[str, Any]:
    """One swarm of the chapter (a sweep run): `bees` bees of one width and activation on one target.

    Returns the relative loss per bee and epoch (``loss``: MSE / the target's variance, NaN from a bee's
    divergence on), ``diverged_at``, the predictions of the first `keep_bees` bees (float32, for the figures) and,
    with `regions`, the relative error on the sine's central slope and on its arches per bee and epoch.
    """
    check_swarm(config)
    seed_everything(config["seed"])
    x, y = target_data(config["target"])
    variance = target_variance(config["target"])
    regions = bool(config["regions"])
    keep = int(config["keep_bees"])
    fields = "ypred,loss" if keep or regions else "loss"
    params = {"x": x, "y": y, "hidden": 1, "width": config["width"], "activation": config["activation"],
              "num_epochs": config["epochs"], "lr": LR, "momentum": MOMENTUM}
    r = swarm.hive_trainer(swarm.default_train, [params], num_bees=config["bees"], seed=config["seed"],
                           fields=fields)[0]
    out = {"loss": np.asarray(r["loss"], dtype=float) / variance, "diverged_at": np.asarray(r["diverged_at"]),
           "engine": r["engine"]}
    if "ypred" in r:
        ypred = np.asarray(r["ypred"], dtype=float)
        out["ypred"] = ypred[:keep].astype(np.float32)
        if regions:
            err = (ypred - y.numpy()[None, None]) ** 2 / variance
            inner = np.abs(x.numpy()) <= CENTRAL_EDGE
            out["central"] = err[:, :, inner].mean(axis=2)
            out["arches"] = err[:, :, ~inner].mean(axis=2)
    return out


def hive_configs(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The main hive: the sine and the control, every width, the post's and the periodic activations."""
    return [{"target": target, "width": int(w), "activation": a, "bees": int(p["many_bees"]),
             "epochs": int(p["num_epochs"]), "seed": int(p["seed"]), "keep_bees": int(p["num_bees"]),
             "regions": target == "sine"}
            for target in ("sine", p["control"]) for w in p["widths"] for a in (*POST, *PERIODIC)]


def long_configs(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The longer run: the post's activations at the largest width on the sine, for `long_epochs` epochs."""
    return [{"target": "sine", "width": int(max(p["widths"])), "activation": a, "bees": int(p["many_bees"]),
             "epochs": int(p["long_epochs"]), "seed": int(p["seed"]), "keep_bees": 0, "regions": False}
            for a in POST]


def grids(p: Mapping[str, Any]) -> list[sweep.Grid]:
    """Every grid the chapter runs: the hive (targets x widths x activations) and the longer run."""
    return [sweep.Grid("swarm_width-hive", train_swarm, hive_configs(p), check=check_swarm),
            sweep.Grid("swarm_width-long", train_swarm, long_configs(p), check=check_swarm)]


def as_swarms(configs: Sequence[Mapping[str, Any]], results: Sequence[Any]) -> list[dict[str, Any]]:
    """Each run's config merged with its result and the target's x and y (what `lib.swarm_plots` draws).

    A run that came back as `lib.sweep.Diverged` (the engine raised) becomes a swarm whose every bee diverged at
    epoch 0, so that it shows up in the counts instead of disappearing.
    """
    swarms = []
    for config, result in zip(configs, results, strict=True):
        x, y = target_data(config["target"])
        if isinstance(result, sweep.Diverged):
            nan = np.full((config["bees"], config["epochs"]), np.nan)
            result = {"loss": nan, "diverged_at": np.zeros(config["bees"], dtype=int)}
            if config["regions"]:
                result.update(central=nan, arches=nan)
            if config["keep_bees"]:
                result["ypred"] = np.full((config["keep_bees"], config["epochs"], len(x)), np.nan, dtype=np.float32)
        swarms.append({**config, **result, "x": x.numpy(), "y": y.numpy(),
                       "n_diverged": int((np.asarray(result["diverged_at"]) >= 0).sum())})
    return swarms


def shown(swarms: Sequence[Mapping[str, Any]], target: str, acts: Sequence[str]) -> list[dict[str, Any]]:
    """The swarms of `target` and `acts` with only the bees whose predictions were kept (the post's bees)."""
    return [dict(s, loss=s["loss"][:len(s["ypred"])]) for s in swarms
            if s["target"] == target and s["activation"] in acts]


# ----------------------------------------------------------------------------- readings per bee

def early_epoch(num_epochs: int) -> int:
    """The "early" epoch of the post's first observation: a fifth of the run."""
    return max(num_epochs // 5, 1)


def centre_early(s: Mapping[str, Any], early: int, last: int) -> np.ndarray:
    """Each bee's relative error on the central slope, averaged over the `last` records up to epoch `early`."""
    return swarm.final_loss(np.asarray(s["central"])[:, :early + 1], last)


def arches_final(s: Mapping[str, Any], last: int) -> np.ndarray:
    """Each bee's relative error off the central slope (the arches), averaged over its last `last` records."""
    return swarm.final_loss(np.asarray(s["arches"]), last)


def flattening_text(last: int, margin: float) -> str:
    """The stated convergence criterion of a bee (see `flattened`)."""
    return curves.criterion_text(last, margin / 10, units="(relative MSE)")


def flattened(s: Mapping[str, Any], last: int, margin: float) -> np.ndarray:
    """Whether each bee's relative loss has flattened: its last `last` epochs improve on the best before them by less
    than a tenth of the margin. A diverged bee has not."""
    loss = np.asarray(s["loss"], dtype=float)
    done = np.asarray(curves.flattened(loss, window=last, tolerance=margin / 10), dtype=bool)
    return done & ~np.asarray(curves.diverged(loss), dtype=bool)


def bee_rows(swarms: Sequence[Mapping[str, Any]], last: int, decent_fit: float, margin: float,
             early: int | None = None) -> list[dict[str, Any]]:
    """One row per bee (the downloadable table): its swarm's settings, final relative loss, fit and flattening, and
    on the sine the early central-slope and final arch errors."""
    rows = []
    for s in swarms:
        final = swarm.final_loss(s, last)
        done = flattened(s, last, margin)
        centre = centre_early(s, early, last) if early is not None and "central" in s else None
        arches = arches_final(s, last) if "arches" in s else None
        for b in range(len(final)):
            row = {"target": s["target"], "width": s["width"], "activation": s["activation"],
                   "epochs": s["epochs"], "bee": b, "post_bee": b < int(s["keep_bees"]),
                   "final_relative_loss": final[b], "decent_fit": bool(final[b] <= decent_fit),
                   "flattened": bool(done[b]), "diverged_at": int(s["diverged_at"][b])}
            if centre is not None:
                row[f"central_relative_error_to_epoch_{early}"] = centre[b]
            if arches is not None:
                row["arches_relative_error_final"] = arches[b]
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------- verdicts

def _label(name: str) -> str:
    return swarm.value_label(name)


def post_observations(swarms: Sequence[Mapping[str, Any]], widths: Sequence[int], early: int, last: int,
                      margin: float, seed: int) -> dict[str, Any]:
    """The post's two readings of its pictures, as verdicts on the sine swarms.

    *Tanh fits the central slope most quickly*: at every width above one, Tanh's median relative error on the
    central slope (mean over the `last` records up to epoch `early`) is below both others' by more than `margin`
    (`lib.swarm.weakest` over the cases). *Tanhshrink arches into the curves better*: at the largest width, its
    median final error on the arches is below Tanh's by more than `margin`.
    Returns the table, the two verdicts and their cases.
    """
    sine = {(s["width"], s["activation"]): s for s in swarms if s["target"] == "sine"}
    centre = {k: centre_early(s, early, last) for k, s in sine.items()}
    arches = {k: arches_final(s, last) for k, s in sine.items()}
    header = ["width", *[f"{_label(a)}: centre to epoch {early}" for a in POST],
              *[f"{_label(a)}: arches at the end" for a in POST]]
    table = markdown_table(header, [[str(w), *[swarm.median_text(centre[w, a], seed) for a in POST],
                                     *[swarm.median_text(arches[w, a], seed) for a in POST]] for w in widths])
    wide = [w for w in widths if w > 1] or list(widths)
    cases = [stats.compare_medians(centre[w, "tanh"], centre[w, other], claim="a<b", margin=margin, seed=seed,
                                   names=(f"Tanh at width {w}", f"{_label(other)} at width {w}"))
             for w in wide for other in POST if other != "tanh"]
    wmax = max(widths)
    arch = stats.compare_medians(arches[wmax, "tanhshrink"], arches[wmax, "tanh"], claim="a<b", margin=margin,
                                 seed=seed, names=(f"Tanhshrink at width {wmax}", f"Tanh at width {wmax}"))
    return {"table": table, "tanh_centre": swarm.weakest(cases), "tanh_centre_cases": cases, "arches": arch,
            "wide": wide, "wmax": wmax}


def fits(swarms: Sequence[Mapping[str, Any]], last: int, decent_fit: float) -> tuple[int, int]:
    """How many bees of `swarms` end with a relative loss at or below `decent_fit`, and how many bees there are."""
    k = sum(int((swarm.final_loss(s, last) <= decent_fit).sum()) for s in swarms)
    return k, sum(len(s["loss"]) for s in swarms)


def fit_table(swarms: Sequence[Mapping[str, Any]], target: str, widths: Sequence[int], acts: Sequence[str],
              last: int, decent_fit: float, margin: float, seed: int) -> str:
    """Per activation: the share of bees with a decent fit at each width, with its Wilson interval, and the median
    final relative loss at the largest width with its bootstrap interval; the share that flattened."""
    cells = {(s["width"], s["activation"]): s for s in swarms if s["target"] == target}
    wmax = max(widths)
    rows = []
    for a in acts:
        shares = [swarm.share_text(*fits([cells[w, a]], last, decent_fit)) for w in widths]
        done = flattened(cells[wmax, a], last, margin)
        rows.append([_label(a), *shares, swarm.median_text(swarm.final_loss(cells[wmax, a], last), seed),
                     f"{100 * done.mean():.0f} %"])
    return markdown_table(["activation", *[f"width {w}: decent fit" for w in widths],
                           f"width {wmax}: median final loss", f"width {wmax}: flattened"], rows)


def almost_all(swarms: Sequence[Mapping[str, Any]], width: int, last: int, decent_fit: float,
               share: float) -> stats.Verdict:
    """"Almost all of these networks find a decent fit": the share of the post's activations' bees at `width` whose
    final relative loss is at most `decent_fit` exceeds `share`, decided on the Wilson interval (its lower bound
    must clear `share`)."""
    chosen = [s for s in swarms if s["target"] == "sine" and s["width"] == width and s["activation"] in POST]
    k, n = fits(chosen, last, decent_fit)
    return stats.proportion(k, n, claim="a>b", reference=share,
                            names=(f"share with a decent fit after {chosen[0]['epochs']} epochs", "almost all"))


def not_worse(a: np.ndarray, b: np.ndarray, margin: float, names: tuple[str, str], seed: int) -> stats.Verdict:
    """Non-inferiority of medians: median(a) − median(b) < margin, decided on the bootstrap interval (its upper bound
    must lie below the margin). `lib.stats` decides "a<b" against zero, so b is shifted by the margin first."""
    shifted = np.asarray(b, dtype=float) + margin
    return stats.compare_medians(a, shifted, claim="a<b", margin=0.0, seed=seed,
                                 names=(names[0], f"({names[1]} + {stats.format_number(margin)})"))


def periodic_verdicts(swarms: Sequence[Mapping[str, Any]], widths: Sequence[int], control: str, last: int,
                      margin: float, seed: int) -> dict[str, Any]:
    """Snake against the post's activations on the sine and on the control, at every width above one.

    - ``sine``: Snake's median final relative loss is below every post activation's by more than `margin`;
    - ``control_best``: the same on the control target (if it holds there too, the advantage is not about
      periodicity);
    - ``control_relu``: on the control, Snake is not worse than ReLU by `margin` or more (non-inferiority).
    Each is `lib.swarm.weakest` over its cases.
    """
    final = {(s["target"], s["width"], s["activation"]): swarm.final_loss(s, last) for s in swarms}
    wide = [w for w in widths if w > 1] or list(widths)

    def beats_all(target):
        return [stats.compare_medians(final[target, w, "snake"], final[target, w, other], claim="a<b", margin=margin,
                                      seed=seed, names=(f"Snake at width {w}", f"{_label(other)} at width {w}"))
                for w in wide for other in POST]

    sine, control_cases = beats_all("sine"), beats_all(control)
    relu_cases = [not_worse(final[control, w, "snake"], final[control, w, "relu"], margin,
                            (f"Snake at width {w}", f"ReLU at width {w}"), seed) for w in wide]
    return {"sine": swarm.weakest(sine), "sine_cases": sine, "control_best": swarm.weakest(control_cases),
            "control_best_cases": control_cases, "control_relu": swarm.weakest(relu_cases),
            "control_relu_cases": relu_cases}


def periodic_context(pv: Mapping[str, Any], control: str) -> str:
    """What the control says about Snake's result on the sine, in a sentence that follows the two verdicts."""
    sine, control_best = pv["sine"].outcome, pv["control_best"].outcome
    if sine != "confirmed":
        return "Since Snake's advantage on the sine is not established, there is no advantage here to put in context."
    if control_best == "confirmed":
        return (f"Snake beats the post's activations on the {control} as well, so its advantage on the sine is not "
                "specific to periodic targets: its units are simply more flexible.")
    if control_best == "contradicted":
        return (f"Snake beats every activation of the post on the sine but not on the {control}: its advantage on the "
                "sine comes with the target being periodic, not with Snake units being better at everything.")
    return (f"On the {control} the comparison is undecided, so whether Snake's advantage on the sine is specific to "
            "periodic targets stays open at this number of bees.")


def fit_share_curve(swarms: Sequence[Mapping[str, Any]], last: int,
                    decent_fit: float) -> tuple[np.ndarray, np.ndarray, int]:
    """How the share of decent fits grows with training: for each epoch e from `last` - 1 on, the number of bees of
    `swarms` whose mean loss over the `last` records up to e is at most `decent_fit` (a diverged bee never is).

    Returns the epochs, those counts and the number of bees.
    """
    loss = np.concatenate([np.asarray(s["loss"], dtype=float) for s in swarms])
    if loss.shape[1] < last:
        raise ValueError(f"curves of {loss.shape[1]} records are shorter than last = {last}")
    trailing = np.lib.stride_tricks.sliding_window_view(loss, last, axis=1).mean(axis=2)
    with np.errstate(invalid="ignore"):
        counts = (trailing <= decent_fit).sum(axis=0)
    return np.arange(last - 1, loss.shape[1]), counts, len(loss)
