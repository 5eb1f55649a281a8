"""Code of the chapter "Trainable SQRT-family activations" (book/sqrt_family.ipynb; Fontana 2021).

Each *variant* is one activation in one setting: trainable or frozen (its parameters fixed at the values that
recover the classical function), with or without BatchNorm, at one learning rate for the weights, and with one
*strategy* for the activations' own parameters: "single" (the weights' rate), "high-low" (the report's much
lower rate) or "fast-activation" (a higher rate, so that the parameters can move). Every (variant, seed) is one
run of the sweep engine (`lib.sweep`) with `lib.image_runs.train_run`: BatchNorm's batch statistics rule out
stacking seeds into one vmapped program. `grids(p)` builds every grid of the chapter from its parameters alone:

- ``main``: every activation trainable and frozen, without and with BN, single rate (plus ReLU with BN whose
  affine parameters are frozen); the runs of `landscape_activations` also slice their loss surface;
- ``rates``: the `rate_activations` (trainable, no BN) under the high-low and fast-activation strategies, and
  TSQRT_tanh with BN under high-low (the report's setting for its Table 2 rows);
- ``collapse``: ReLU, TSQRT and SQRT with BN at the report's learning rate `collapse_lr` (its 44.3 % run);
- ``references``: a linear classifier and a ReLU MLP on the same data.

>>> p = PARAMETERS.check(notebook_values)          # the notebook's parameters as a dict
>>> results = {g.name: sweep.run(g) for g in grids(p)}
>>> study = collect([g for g in grids(p) if g.name != f"{CHAPTER}-references"], results)   # {Variant: [Run]}
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import nn

from lib import activations, curves, image_runs, slice_measures, stats, sweep
from lib.activations.base import GRANULARITIES
from lib.activations.sqrt_family import TRAINABLE
from lib.data.images import DATASETS
from lib.image_runs import EVAL_BATCH, IMAGE_SIZE, QUANTILES, SCHEDULES, TRAIN_EVAL, load_data  # noqa: F401
from lib.models.sqrt_cnn import SqrtCNN, parameter_counts
from lib.parameters import Bool, Float, Int, ListOf, OneOf, ParameterError, Parameters, Positive, Seeds
from lib.run_config import check_keys

CHAPTER = "sqrt_family"
BASELINES = ("relu",)
STRATEGIES = ("single", "high-low", "fast-activation")
REFERENCES = ("linear", "mlp")

# How verdicts read the curves, and the margins of the claims (stated, with their reasons, in the chapter).
ENDPOINT_LAST = 3               # a final accuracy is the mean over the last 3 epochs
FLAT_WINDOW, FLAT_TOLERANCE = 3, 0.5    # flattened: the last 3 epochs gain < 0.5 points on the best before
ACCURACY_MARGIN = 1.0           # points of accuracy
COLLAPSE_MARGIN = 5.0           # points: "collapse" means more than this below ReLU + BN
FLUCTUATION_MARGIN = 0.25       # points per epoch
LANDSCAPE_MARGIN = math.log(1.25)   # natural log of a ratio: a factor of 1.25

# The report's Table 2 (CIFAR-10, single runs): parameters and test accuracy (%).
ORIGINAL_TABLE2 = {
    "RELU_BN": (4_811_922, 63.3),
    "RELU": (4_749_226, 59.2),
    "TSQRT_tanh": (4_780_574, 61.82),
    "TSQRT_tanh_BN": (4_843_270, 58.05),
    "TSQRT_BN": (4_843_270, 44.32),
}
TABLE2_VARIANTS = {"RELU_BN": ("relu", True), "RELU": ("relu", False), "TSQRT_tanh": ("tsqrt_tanh", False),
                   "TSQRT_tanh_BN": ("tsqrt_tanh", True), "TSQRT_BN": ("tsqrt", True)}
"""The rows of the report's Table 2 as (activation, batch_norm); trainable, one parameter per element."""


# ---------------------------------------------------------------- parameters

def check_names(trainable: Sequence[str], rate_activations: Sequence[str], landscape: Sequence[str]) -> None:
    """The chapter's lists of activations, checked before any training starts."""
    unknown = [n for n in trainable if n not in TRAINABLE]
    if unknown:
        raise ValueError(f"not trainable SQRT-family activations: {unknown}; choose from {list(TRAINABLE)}")
    missing = [n for n in rate_activations if n not in trainable]
    if missing:
        raise ValueError(f"rate_activations {missing} must be among the trainable ones {list(trainable)}")
    missing = [n for n in landscape if n not in trainable and n not in BASELINES]
    if missing:
        raise ValueError(f"landscape_activations {missing} must be trained in the main grid "
                         f"(trainable {list(trainable)} or baselines {list(BASELINES)})")


def _check_lists(p) -> None:
    try:
        check_names(p["trainable"], p["rate_activations"], p["landscape_activations"])
    except ValueError as err:
        raise ParameterError(f"chapter {CHAPTER!r}: {err}") from None
    if p["early_epochs"] >= p["epochs"]:
        raise ParameterError(f"chapter {CHAPTER!r}: early_epochs = {p['early_epochs']} must be below "
                             f"epochs = {p['epochs']} (early training is the start of a longer run)")
    for name in ("landscape_points_1d", "landscape_points_2d"):
        if p[name] % 2 == 0:
            raise ParameterError(f"chapter {CHAPTER!r}, parameter {name!r} = {p[name]!r}: must be odd, so that "
                                 "the grid holds the trained weights")


PARAMETERS = Parameters(
    CHAPTER, constraints=[_check_lists],
    dataset=OneOf(*DATASETS), train_limit=Int(minimum=0), test_limit=Int(minimum=0), data_seed=Int(0, 2**32 - 1),
    epochs=Int(minimum=2), early_epochs=Int(minimum=1), batch_size=Int(minimum=1), lr=Positive(),
    schedule=OneOf(*SCHEDULES), activation_lr=Positive(), fast_activation_lr=Positive(), collapse_lr=Positive(),
    channels=Int(minimum=1), hidden=Int(minimum=1), kernel_size=OneOf(1, 3, 5, 7), dropout=Float(0.0, 0.95),
    granularity=OneOf(*GRANULARITIES), trainable=ListOf(OneOf(*TRAINABLE), distinct=True), seeds=Seeds(),
    rate_activations=ListOf(OneOf(*TRAINABLE), min_length=0, distinct=True),
    collapse_study=Bool(), reference_hidden=Int(minimum=1),
    landscape_activations=ListOf(OneOf(*TRAINABLE, *BASELINES), min_length=0, distinct=True),
    landscape_examples=Int(minimum=10), landscape_points_1d=Int(minimum=3), landscape_points_2d=Int(minimum=3),
    landscape_span=Positive(),
)


def datasets(p) -> list[str]:
    """The image data sets the chapter will read with parameters `p` (located before any chapter runs)."""
    return [p["dataset"]]


# ---------------------------------------------------------------- variants and configurations

@dataclass(frozen=True)
class Variant:
    """One activation in one setting (`lr`: the weights' learning rate)."""

    activation: str
    learnable: bool
    batch_norm: bool
    strategy: str = "single"
    lr: float = 1e-3
    bn_affine: bool = True          # False: BatchNorm's scale and shift frozen at 1 and 0

    def __post_init__(self):
        activations.spec(self.activation)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.strategy != "single" and not (self.learnable and self.activation in TRAINABLE):
            raise ValueError(f"strategy {self.strategy!r} needs a trainable activation, got {self.activation!r} "
                             f"(learnable={self.learnable})")
        if not self.bn_affine and not self.batch_norm:
            raise ValueError("bn_affine=False needs batch_norm=True")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")

    @property
    def trainable(self) -> bool:
        """Whether the activation has parameters that train."""
        return self.learnable and self.activation in TRAINABLE

    @property
    def label(self) -> str:
        name = activations.spec(self.activation).label
        if self.activation in TRAINABLE and not self.learnable:
            name = f"{TRAINABLE[self.activation]} (frozen {name})"
        parts = [name, ("BN" if self.bn_affine else "BN, affine frozen") if self.batch_norm else "no BN"]
        if self.strategy != "single":
            parts.append(self.strategy)
        return ", ".join(parts) + f", lr {self.lr:g}"

    @property
    def setting(self) -> str:
        """'trainable', 'frozen' or 'fixed' (an activation without parameters)."""
        return "trainable" if self.trainable else "frozen" if self.activation in TRAINABLE else "fixed"


VARIANT_FIELDS = tuple(f.name for f in fields(Variant))


def _data_config(p) -> dict:
    return {"dataset": p["dataset"], "train_limit": p["train_limit"], "test_limit": p["test_limit"],
            "data_seed": p["data_seed"]}


def _training_config(p) -> dict:
    return {"epochs": p["epochs"], "batch_size": p["batch_size"], "schedule": p["schedule"]}


def cnn_config(p, variant: Variant, seed: int, slices: bool = False) -> dict:
    """The JSON configuration of one run of `variant` (see `lib.image_runs`); "strategy" is a label the run ignores."""
    activation_lr = {"single": None, "high-low": p["activation_lr"],
                     "fast-activation": p["fast_activation_lr"]}[variant.strategy]
    config = {"model": "cnn", **_data_config(p), **_training_config(p), **asdict(variant),
              "activation_lr": activation_lr, "channels": p["channels"], "hidden": p["hidden"],
              "kernel_size": p["kernel_size"], "dropout": p["dropout"], "granularity": p["granularity"],
              "slices": None, "seed": int(seed)}
    if slices:
        config["slices"] = {"examples": p["landscape_examples"], "points_1d": p["landscape_points_1d"],
                            "points_2d": p["landscape_points_2d"], "span": p["landscape_span"]}
    return config


def reference_config(p, model: str, seed: int) -> dict:
    """A reference model on the same data: "linear" (softmax regression on the pixels) or "mlp" (two ReLU layers)."""
    return {"model": model, **_data_config(p), **_training_config(p), "lr": p["lr"],
            "hidden": p["reference_hidden"], "seed": int(seed)}


def main_variants(p) -> list[Variant]:
    """ReLU, and every trainable activation trainable and frozen, each without and with BN; ReLU + BN frozen."""
    out = []
    for bn in (False, True):
        out += [Variant(name, False, bn, lr=p["lr"]) for name in BASELINES]
        for name in p["trainable"]:
            out += [Variant(name, True, bn, lr=p["lr"]), Variant(name, False, bn, lr=p["lr"])]
    out.append(Variant("relu", False, True, lr=p["lr"], bn_affine=False))
    return out


def rate_variants(p) -> list[Variant]:
    """The `rate_activations` (no BN) under high-low and fast-activation rates; TSQRT_tanh + BN under high-low."""
    out = [Variant(name, True, False, strategy, lr=p["lr"])
           for strategy in ("high-low", "fast-activation") for name in p["rate_activations"]]
    if "tsqrt_tanh" in p["rate_activations"]:
        out.append(Variant("tsqrt_tanh", True, True, "high-low", lr=p["lr"]))
    return out


def collapse_variants(p) -> list[Variant]:
    """ReLU and TSQRT with BN at the report's `collapse_lr`, TSQRT under the single rate and under the
    fast-activation rate (where z is free to move); none unless `collapse_study` and TSQRT is trained."""
    if not p["collapse_study"] or "tsqrt" not in p["trainable"]:
        return []
    lr = p["collapse_lr"]
    return [Variant("relu", False, True, lr=lr), Variant("tsqrt", True, True, lr=lr),
            Variant("tsqrt", True, True, "fast-activation", lr=lr)]


def _cnn_grid(name: str, p, variants: Iterable[Variant], sliced: Sequence[Variant] = ()) -> sweep.Grid | None:
    configs = [cnn_config(p, v, s, slices=v in sliced) for v in variants for s in p["seeds"]]
    return sweep.Grid(f"{CHAPTER}-{name}", image_runs.train_run, configs, check=check_config) if configs else None


def landscape_variants(p) -> list[Variant]:
    """The main-grid variants whose runs slice their loss surface: trainable where possible, no BN, single rate."""
    return [Variant(name, name in TRAINABLE, False, lr=p["lr"]) for name in p["landscape_activations"]]


def grids(p) -> list[sweep.Grid]:
    """Every grid the chapter runs, from the parameter values `p` alone (none depends on earlier results)."""
    out = [_cnn_grid("main", p, main_variants(p), landscape_variants(p)),
           _cnn_grid("rates", p, rate_variants(p)),
           _cnn_grid("collapse", p, collapse_variants(p)),
           sweep.Grid(f"{CHAPTER}-references", image_runs.train_run,
                      [reference_config(p, m, s) for m in REFERENCES for s in p["seeds"]], check=check_config)]
    return [g for g in out if g is not None]


def check_config(config: Mapping) -> None:
    """Impossible configurations fail here, before any run starts (the sweep calls it on every config): the run's
    own checks (`lib.image_runs.check_config`), then the chapter's variant and its strategy."""
    image_runs.check_config(config)
    if config["model"] != "cnn":
        return
    check_keys(config, VARIANT_FIELDS, "sqrt_family variant")
    variant = Variant(**{k: config[k] for k in VARIANT_FIELDS})
    if (config["activation_lr"] is None) != (variant.strategy == "single"):
        raise ValueError(f"activation_lr must be None exactly for the single-rate strategy, got "
                         f"{config['activation_lr']!r} with strategy {variant.strategy!r}")


# ---------------------------------------------------------------- collecting the results

@dataclass(frozen=True)
class Run:
    """One seed of one variant: its result, or the message of the divergence that ended it."""

    variant: Variant
    seed: int
    result: dict | None
    diverged: str | None = None


def collect(grid_list: Sequence[sweep.Grid], results: Mapping[str, list]) -> dict[Variant, list[Run]]:
    """{Variant: [Run per seed]} from the CNN grids and their `sweep.run` results ({grid name: results})."""
    out: dict[Variant, list[Run]] = {}
    for grid in grid_list:
        if grid.name not in results:
            raise KeyError(f"no results for grid {grid.name!r}; have {sorted(results)}")
        for config, value in zip(grid.configs, results[grid.name], strict=True):
            if config["model"] != "cnn":
                continue
            variant = Variant(**{k: config[k] for k in VARIANT_FIELDS})
            if isinstance(value, sweep.Diverged):
                run = Run(variant, config["seed"], None, value.message)
            else:
                run = Run(variant, config["seed"], value)
            out.setdefault(variant, []).append(run)
    return out


def collect_references(grid: sweep.Grid, results: list) -> dict[str, list[Run]]:
    """{"linear": [...], "mlp": [...]} from the references grid (runs with a ReLU variant placeholder)."""
    out: dict[str, list[Run]] = {}
    for config, value in zip(grid.configs, results, strict=True):
        placeholder = Variant("relu", False, False, lr=config["lr"])
        diverged = value.message if isinstance(value, sweep.Diverged) else None
        out.setdefault(config["model"], []).append(
            Run(placeholder, config["seed"], None if diverged else value, diverged))
    return out


def find(study: Mapping[Variant, list[Run]], activation: str, learnable: bool, batch_norm: bool,
         strategy: str = "single", lr: float | None = None, bn_affine: bool = True) -> list[Run]:
    """The runs of one variant; `lr` None accepts any learning rate if only one variant matches."""
    matches = [v for v in study if (v.activation, v.learnable, v.batch_norm, v.strategy, v.bn_affine) ==
               (activation, learnable, batch_norm, strategy, bn_affine) and (lr is None or v.lr == lr)]
    if len(matches) != 1:
        what = "no runs" if not matches else f"{len(matches)} variants (give lr)"
        raise KeyError(f"{what} of {activation} (learnable={learnable}, batch_norm={batch_norm}, {strategy}, "
                       f"lr={lr}, bn_affine={bn_affine}); trained: {[v.label for v in study]}")
    return study[matches[0]]


# ---------------------------------------------------------------- per-seed numbers

def curve(runs: Sequence[Run], metric: str = "test_acc") -> np.ndarray:
    """(seeds, epochs) in percent for accuracies (NaN rows for diverged runs)."""
    length = max((len(r.result[metric]) for r in runs if r.result is not None), default=1)
    scale = 100.0 if metric.endswith("_acc") else 1.0
    rows = [scale * np.asarray(r.result[metric], float) if r.result is not None else np.full(length, np.nan)
            for r in runs]
    return np.stack(rows)


def final(runs: Sequence[Run], metric: str = "test_acc", last: int = ENDPOINT_LAST) -> np.ndarray:
    """Per seed: the mean over the last `last` epochs (percent for accuracies; NaN for a diverged run)."""
    return np.asarray(curves.endpoint(curve(runs, metric), last=last), dtype=float)


def early(runs: Sequence[Run], epochs: int, metric: str = "test_acc") -> np.ndarray:
    """Per seed: the mean over the first `epochs` epochs (early training)."""
    c = curve(runs, metric)[:, :epochs]
    return np.where(np.isfinite(c).all(axis=1), c.mean(axis=1), np.nan)


def fluctuation(runs: Sequence[Run], metric: str = "test_acc") -> np.ndarray:
    """Per seed: the mean absolute change of the metric from one epoch to the next (points per epoch)."""
    c = curve(runs, metric)
    if c.shape[1] < 2:
        return np.full(len(runs), np.nan)
    return np.abs(np.diff(c, axis=1)).mean(axis=1)


def flattened(runs: Sequence[Run]) -> np.ndarray:
    """Per seed: whether the test accuracy met the flattening criterion (`criterion()`)."""
    c = curve(runs)
    return np.array([bool(curves.flattened(row, FLAT_WINDOW, FLAT_TOLERANCE, mode="max")) for row in c])


def criterion() -> str:
    """The flattening criterion in words."""
    return curves.criterion_text(FLAT_WINDOW, FLAT_TOLERANCE, units="points of test accuracy")


def movement(run: Run) -> dict[str, dict[str, dict[str, float]]]:
    """{site: {parameter: {"initial", "mean", "q90", "max"}}} of |final − initial| over the units of one run."""
    out = {}
    if run.result is None:
        return out
    for site, params in run.result["parameters"].items():
        out[site] = {}
        for name, values in params.items():
            change = np.abs(values["final"].astype(float) - values["initial"].astype(float))
            out[site][name] = {"initial": float(np.mean(values["initial"])), "mean": float(change.mean()),
                               "q90": float(np.quantile(change, 0.9)), "max": float(change.max())}
    return out


def moved(runs: Sequence[Run]) -> np.ndarray:
    """Per seed: the mean |change| of the activation parameters over every unit, parameter and site."""
    values = []
    for run in runs:
        m = movement(run)
        changes = [entry["mean"] for site in m.values() for entry in site.values()]
        values.append(float(np.mean(changes)) if changes else (0.0 if run.result is not None else np.nan))
    return np.asarray(values)


def roughness(runs: Sequence[Run], measure: str) -> np.ndarray:
    """Per seed: one measure of the run's loss slices (`lib.slice_measures.roughness`)."""
    values = []
    for run in runs:
        if run.result is None or "slices" not in run.result:
            values.append(np.nan)
        else:
            values.append(slice_measures.roughness(run.result["slices"])[measure])
    return np.asarray(values, dtype=float)


def seeds_of(runs: Sequence[Run]) -> list[int]:
    return [r.seed for r in runs]


# ---------------------------------------------------------------- the report's claims

@dataclass(frozen=True)
class Side:
    """One side of a comparison: a variant (by its settings) and what is read from its runs."""

    activation: str
    learnable: bool
    batch_norm: bool
    strategy: str = "single"
    lr: str = "main"                  # "main" (p["lr"]) or "collapse" (p["collapse_lr"])
    bn_affine: bool = True


@dataclass(frozen=True)
class ClaimSpec:
    """A claim of the report and the comparison that tests it."""

    id: str
    wording: str
    section: str
    claim: str                      # "a<b", "a>b" or "a≈b"
    a: Side
    b: Side
    names: tuple[str, str]
    measure: str = "final"          # final, early, fluctuation, second_difference, sharpness
    margin: float = ACCURACY_MARGIN


SECTIONS = {
    "gelu": "GELU_T against GELU",
    "tsqrt": "Trainable SQRT",
    "bn": "Trainable activations and BatchNorm",
    "tsqrt_tanh": "TSQRT_tanh",
    "table2": "The rows of the report's Table 2",
    "rates": "High-low and fast activation rates",
    "collapse": "TSQRT with BatchNorm: the 44.3 % run",
    "landscape": "The energy landscape",
}

_UNITS = {"final": "points", "early": "points", "fluctuation": "points per epoch",
          "second_difference": "(ln of the ratio)", "sharpness": "(ln of the ratio)"}


def claim_specs(p) -> list[ClaimSpec]:
    """Every claim the chapter tests with parameters `p` (claims whose variants are not trained are left out)."""
    T, G = True, False
    specs = []
    rates = set(p["rate_activations"])
    # what is trained: activations by name, "@rates:<name>", "@collapse", "@landscape:<name>"
    available = {*p["trainable"], *BASELINES, *(f"@rates:{n}" for n in rates),
                 *(f"@landscape:{n}" for n in p["landscape_activations"])}
    if collapse_variants(p):
        available.add("@collapse")

    def add(requires, *args, **kwargs):
        if set(requires) <= available:
            specs.append(ClaimSpec(*args, **kwargs))

    add({"tgelu"}, "sqrt_family.gelu.final_same", "GELU and GELU_T perform almost the same", SECTIONS["gelu"], "a≈b",
        Side("tgelu", T, G), Side("tgelu", G, G), ("GELU_T", "GELU"))
    add({"tgelu"}, "sqrt_family.gelu.faster_early", "during the early training, the accuracy of GELU_T is higher as "
        "the convergence speed is higher", SECTIONS["gelu"], "a>b", Side("tgelu", T, G), Side("tgelu", G, G),
        ("GELU_T", "GELU"), measure="early")
    add({"tgelu", "@rates:tgelu"}, "sqrt_family.gelu.final_same_fast", "GELU and GELU_T perform almost the same "
        "(tested where GELU_T's parameters move: fast activation rate)", SECTIONS["gelu"], "a≈b",
        Side("tgelu", T, G, "fast-activation"), Side("tgelu", G, G), ("GELU_T fast", "GELU"))
    add({"tsqrt"}, "sqrt_family.tsqrt.below_relu", "the SQRT trainable version has an energy landscape too "
        "complicated and the performance are very low", SECTIONS["tsqrt"], "a<b", Side("tsqrt", T, G),
        Side("relu", G, G), ("TSQRT", "ReLU"))
    for name in p["trainable"]:
        label = activations.spec(name).label
        add({name}, f"sqrt_family.bn.worse_with_bn_{name}", "often the trainable version performs worse when "
            "associated with BN", SECTIONS["bn"], "a<b", Side(name, T, T), Side(name, T, G),
            (f"{label} + BN", label))
    add(set(), "sqrt_family.bn.learnable_affine_better", "the BN with learnable parameters perform slightly better "
        "than the network with these weights frozen (5% difference on accuracy)", SECTIONS["bn"], "a>b",
        Side("relu", G, T), Side("relu", G, T, bn_affine=False), ("ReLU + BN", "ReLU + frozen BN"))
    hl = "high-low" if "tsqrt_tanh" in rates else "single"
    tanh_name = "TSQRT_tanh" + (" (high-low)" if hl == "high-low" else "")
    add({"tsqrt_tanh", "tsqrt"}, "sqrt_family.tsqrt_tanh.above_tsqrt", "The new activation function is slightly "
        "better than the first trainable SQRT", SECTIONS["tsqrt_tanh"], "a>b", Side("tsqrt_tanh", T, G, hl),
        Side("tsqrt", T, G), (tanh_name, "TSQRT"))
    add({"tsqrt_tanh"}, "sqrt_family.tsqrt_tanh.close_to_relu_bn", "performs very similar to the RELU BN",
        SECTIONS["tsqrt_tanh"], "a≈b", Side("tsqrt_tanh", T, G, hl), Side("relu", G, T), (tanh_name, "ReLU + BN"))
    add({"tsqrt_tanh"}, "sqrt_family.tsqrt_tanh.better_without_bn", "TSQRT_tanh(x) works better without BN",
        SECTIONS["tsqrt_tanh"], "a>b", Side("tsqrt_tanh", T, G, hl), Side("tsqrt_tanh", T, T, hl),
        (tanh_name, tanh_name + " + BN"))
    add({"tsqrt_tanh"}, "sqrt_family.tsqrt_tanh.early_as_relu_bn", "in the early training perform as much as "
        "RELU BN", SECTIONS["tsqrt_tanh"], "a≈b", Side("tsqrt_tanh", T, G, hl), Side("relu", G, T),
        (tanh_name, "ReLU + BN"), measure="early")
    add({"tsqrt_tanh"}, "sqrt_family.tsqrt_tanh.final_below_relu_bn", "but then the accuracy will be smaller",
        SECTIONS["tsqrt_tanh"], "a<b", Side("tsqrt_tanh", T, G, hl), Side("relu", G, T), (tanh_name, "ReLU + BN"))
    add(set(), "sqrt_family.table2.relu_bn_above_relu", "Table 2: RELU_BN 63.3 % against RELU 59.2 %",
        SECTIONS["table2"], "a>b", Side("relu", G, T), Side("relu", G, G), ("ReLU + BN", "ReLU"))
    add({"tsqrt_tanh"}, "sqrt_family.table2.tsqrt_tanh_above_relu", "Table 2: TSQRT_tanh 61.82 % against "
        "RELU 59.2 %", SECTIONS["table2"], "a>b", Side("tsqrt_tanh", T, G, hl), Side("relu", G, G),
        (tanh_name, "ReLU"))
    add({"tsqrt"}, "sqrt_family.table2.tsqrt_bn_below_relu_bn", "Table 2: TSQRT_BN 44.32 % against RELU_BN 63.3 %",
        SECTIONS["table2"], "a<b", Side("tsqrt", T, T), Side("relu", G, T), ("TSQRT + BN", "ReLU + BN"))
    add({"tsqrt_tanh", "@rates:tsqrt_tanh"}, "sqrt_family.rates.high_low_stabilises", "To achieve stability on "
        "the learning I adopted the strategy high-low learning rate", SECTIONS["rates"], "a<b",
        Side("tsqrt_tanh", T, G, "high-low"), Side("tsqrt_tanh", T, G), ("TSQRT_tanh high-low", "TSQRT_tanh single"),
        measure="fluctuation", margin=FLUCTUATION_MARGIN)
    add({"tsqrt", "@collapse"}, "sqrt_family.collapse.tsqrt_bn_collapses", "Table 2: TSQRT_BN 44.32 % against "
        "RELU_BN 63.3 % (at the report's learning rate, with BN)", SECTIONS["collapse"], "a<b",
        Side("tsqrt", T, T, lr="collapse"), Side("relu", G, T, lr="collapse"), ("TSQRT + BN", "ReLU + BN"),
        margin=COLLAPSE_MARGIN)
    add({"tsqrt", "@collapse"}, "sqrt_family.collapse.tsqrt_bn_collapses_moving", "Table 2: TSQRT_BN 44.32 % "
        "against RELU_BN 63.3 % (at the report's learning rate, with BN, z free to move: fast activation rate)",
        SECTIONS["collapse"], "a<b", Side("tsqrt", T, T, "fast-activation", lr="collapse"),
        Side("relu", G, T, lr="collapse"), ("TSQRT fast + BN", "ReLU + BN"), margin=COLLAPSE_MARGIN)
    for measure, words in (("second_difference", "roughness"), ("sharpness", "sharpness")):
        add({"tsqrt", "@landscape:tsqrt", "@landscape:relu"}, f"sqrt_family.landscape.tsqrt_above_relu_{measure}",
            f"the SQRT trainable version has an energy landscape too complicated ({words} of the loss slices)",
            SECTIONS["landscape"], "a>b", Side("tsqrt", T, G), Side("relu", G, G), ("TSQRT", "ReLU"),
            measure=measure, margin=LANDSCAPE_MARGIN)
        add({"tsqrt", "tsqrt_tanh", "@landscape:tsqrt", "@landscape:tsqrt_tanh"},
            f"sqrt_family.landscape.tsqrt_tanh_below_tsqrt_{measure}",
            f"the tanhexp seems to smooth the landscape better than the other activation function ({words} of the "
            "loss slices, TSQRT_tanh against TSQRT)", SECTIONS["landscape"], "a<b", Side("tsqrt_tanh", T, G),
            Side("tsqrt", T, G), ("TSQRT_tanh", "TSQRT"), measure=measure, margin=LANDSCAPE_MARGIN)
    return specs


def side_runs(study: Mapping[Variant, list[Run]], side: Side, p) -> list[Run]:
    lr = p["lr"] if side.lr == "main" else p["collapse_lr"]
    return find(study, side.activation, side.learnable, side.batch_norm, side.strategy, lr, side.bn_affine)


def measure_values(runs: Sequence[Run], measure: str, p) -> np.ndarray:
    """Per seed: the number a claim compares (landscape measures on a log scale)."""
    if measure == "final":
        return final(runs)
    if measure == "early":
        return early(runs, p["early_epochs"])
    if measure == "fluctuation":
        return fluctuation(runs)
    if measure in ("second_difference", "sharpness"):
        values = roughness(runs, measure)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log(values), np.nan)
    raise ValueError(f"unknown measure {measure!r}")


def setting_text(p, spec: ClaimSpec) -> str:
    """The setting of a claim in words (model, data, epochs, seeds, what is read)."""
    n_train = "all" if not p["train_limit"] else f"{p['train_limit']:,}"
    reading = {"final": f"test accuracy, mean of the last {ENDPOINT_LAST} epochs",
               "early": f"test accuracy, mean of the first {p['early_epochs']} epochs",
               "fluctuation": "mean |change| of test accuracy from epoch to epoch",
               "second_difference": "ln of the slices' normalised mean |second difference|",
               "sharpness": "ln of the slices' sharpness (relative rise of the loss within a quarter of the span)"
               }[spec.measure]
    lr = p["collapse_lr"] if spec.a.lr == "collapse" else p["lr"]
    return (f"report's CNN at C = {p['channels']}, H = {p['hidden']}; {n_train} {p['dataset']} training images at "
            f"16×16; {p['epochs']} epochs of Adam at lr {lr:g} ({p['schedule']}); {reading}; "
            f"seeds {', '.join(map(str, p['seeds']))}")


def decide(study: Mapping[Variant, list[Run]], spec: ClaimSpec, p, level: float = 0.95) -> dict:
    """The keyword arguments of `lib.claims.ClaimSet.add` for one claim: the verdict and its details."""
    runs_a, runs_b = side_runs(study, spec.a, p), side_runs(study, spec.b, p)
    a, b = measure_values(runs_a, spec.measure, p), measure_values(runs_b, spec.measure, p)
    verdict = stats.compare(a, b, claim=spec.claim, margin=spec.margin, level=level, units=_UNITS[spec.measure],
                            names=spec.names)
    details = {"a": a.tolist(), "b": b.tolist(), "measure": spec.measure,
               "moved_a": moved(runs_a).tolist(), "moved_b": moved(runs_b).tolist(),
               "flattened_a": flattened(runs_a).tolist(), "flattened_b": flattened(runs_b).tolist()}
    return {"id": spec.id, "source": "sqrt", "wording": spec.wording, "section": spec.section,
            "setting": setting_text(p, spec), "verdict": verdict,
            "seeds": sorted(set(seeds_of(runs_a)) | set(seeds_of(runs_b))), "details": details}


def record_claims(claims, study: Mapping[Variant, list[Run]], p, section: str | None = None) -> list:
    """Decide every claim (of one `section` key, or all) and add it to `claims` (a `lib.claims.ClaimSet`)."""
    added = []
    for spec in claim_specs(p):
        if section is not None and spec.section != SECTIONS[section]:
            continue
        added.append(claims.add(**decide(study, spec, p)))
    return added


# ---------------------------------------------------------------- tables

def run_rows(study: Mapping[Variant, list[Run]]) -> list[dict]:
    """One row per (variant, seed) for the downloadable table."""
    rows = []
    for variant, runs in study.items():
        for run in runs:
            row = {"variant": variant.label, "activation": variant.activation, "setting": variant.setting,
                   "batch_norm": variant.batch_norm, "bn_affine": variant.bn_affine, "strategy": variant.strategy,
                   "lr": variant.lr, "seed": run.seed, "diverged": run.diverged or ""}
            if run.result is not None:
                one = [run]
                row.update(test_acc=float(final(one)[0]), train_acc=float(final(one, "train_eval_acc")[0]),
                           test_acc_epoch1=float(curve(one)[0, 0]), flattened=bool(flattened(one)[0]),
                           parameter_change=float(moved(one)[0]), params=run.result["counts"]["total"],
                           cpu_seconds=run.result["cpu_seconds"], seconds=run.result["seconds"])
            rows.append(row)
    return rows


def summary(runs: Sequence[Run]) -> dict:
    """Over seeds: final test and train accuracy (mean, sd), gap, flattened count, diverged count, movement."""
    test, train_acc = final(runs), final(runs, "train_eval_acc")
    ok = np.isfinite(test)

    def mean_sd(v):
        v = v[np.isfinite(v)]
        return (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0) if len(v) else (math.nan, math.nan)

    return {"test": mean_sd(test), "train": mean_sd(train_acc), "gap": mean_sd(train_acc - test),
            "flattened": int(flattened(runs)[ok].sum()), "n": int(ok.sum()), "diverged": int((~ok).sum()),
            "moved": mean_sd(moved(runs))}


def parameter_table(kernel_sizes: Sequence[int] = (3, 5), in_channels: int = 3, channels: int = 192,
                    hidden: int = 1256) -> list[dict]:
    """The report's network in this book's reading: parameter counts beside Table 2's (no training)."""
    rows = []
    for label, (name, bn) in TABLE2_VARIANTS.items():
        row = {"variant": label, "original": ORIGINAL_TABLE2[label][0], "original_acc": ORIGINAL_TABLE2[label][1]}
        for k in kernel_sizes:
            with torch.device("meta"):          # counts only: no memory for the 4.8 M weights
                model = SqrtCNN(name, learnable=True, granularity="element", batch_norm=bn,
                                in_channels=in_channels, channels=channels, hidden=hidden, kernel_size=k)
            counts = parameter_counts(model)
            row[f"k{k}"] = counts["total"]
            row[f"k{k}_activation"] = counts["activation"]
            row[f"k{k}_batch_norm"] = counts["batch_norm"]
        rows.append(row)
    return rows


def movement_rows(study: Mapping[Variant, list[Run]]) -> list[dict]:
    """Per trainable variant, site and parameter, over seeds: initial value, mean and 90th percentile of
    |final − initial| over units (means over seeds), and the per-seed means."""
    rows = []
    for variant, runs in study.items():
        if not variant.trainable:
            continue
        per_run = [movement(r) for r in runs if r.result is not None]
        if not per_run:
            continue
        for site, params in per_run[0].items():
            for name in params:
                entries = [m[site][name] for m in per_run]
                rows.append({"variant": variant.label, "activation": variant.activation, "strategy": variant.strategy,
                             "batch_norm": variant.batch_norm, "lr": variant.lr, "site": site, "parameter": name,
                             "initial": entries[0]["initial"],
                             "mean_change": float(np.mean([e["mean"] for e in entries])),
                             "q90_change": float(np.mean([e["q90"] for e in entries])),
                             "max_change": float(np.max([e["max"] for e in entries])),
                             "per_seed_mean_change": [e["mean"] for e in entries]})
    return rows


# ---------------------------------------------------------------- figures

SETTING_STYLES = {("trainable", False): ("C0", "-", "trainable, no BN"),
                  ("frozen", False): ("C1", "--", "frozen, no BN"), ("trainable", True): ("C2", "-", "trainable, BN"),
                  ("frozen", True): ("C3", "--", "frozen, BN"),
                  ("fixed", False): ("C0", "-", "no BN"), ("fixed", True): ("C2", "-", "BN")}


def plot_curves(study: Mapping[Variant, list[Run]], metric: str = "test_acc",
                references: Mapping[str, float] | None = None, lr: float | None = None,
                strategies: Sequence[str] = ("single",), ncols: int = 4):
    """One panel per activation (affine BN, learning rate `lr` or the most common, the given `strategies`):
    `metric` per epoch, mean over seeds with a min–max band, per setting; `references` as horizontal lines."""
    from lib.plotting import grid

    chosen = [v for v in study if v.strategy in strategies and v.bn_affine]
    if lr is None:
        lrs = [v.lr for v in chosen]
        lr = max(set(lrs), key=lrs.count)
    chosen = [v for v in chosen if v.lr == lr]
    names = list(dict.fromkeys(v.activation for v in chosen))
    fig, axes = grid(len(names), min(ncols, len(names)), panel=(3.3, 2.5), sharey=True)
    for ax, name in zip(axes, names, strict=False):
        for v in chosen:
            if v.activation != name:
                continue
            color, style, label = SETTING_STYLES[(v.setting, v.batch_norm)]
            if v.strategy != "single":
                color, style, label = "C4", ":", f"{label}, {v.strategy}"
            c = curve(study[v], metric)
            epochs = np.arange(1, c.shape[1] + 1)
            with np.errstate(all="ignore"):
                ax.plot(epochs, np.nanmean(c, 0), style, color=color, label=label)
                if len(c) > 1:
                    ax.fill_between(epochs, np.nanmin(c, 0), np.nanmax(c, 0), color=color, alpha=0.15)
        for i, (ref, value) in enumerate((references or {}).items()):
            ax.axhline(value, color="0.4", ls=":" if i == 0 else "-.", lw=1, label=ref)
        ax.set_title(activations.spec(name).label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=6.5, loc="lower right")
    ylabels = {"test_acc": "test accuracy (%)", "train_eval_acc": "train accuracy (%)"}
    axes[0].set_ylabel(ylabels.get(metric, metric))
    fig.tight_layout()
    return fig


def _mean_path(runs: Sequence[Run], site: str, name: str) -> np.ndarray | None:
    paths = [r.result["parameters"][site][name]["path"] for r in runs if r.result is not None]
    return np.mean(paths, axis=0) if paths else None


def plot_parameter_paths(study: Mapping[Variant, list[Run]], variants: Sequence[Variant]):
    """One row per (activation, parameter), one column per variant of that activation (in the given order):
    per epoch, the median over units (line) and the 5–95 % range over units (band) at each site, each averaged
    over seeds. The panels of a row share their y axis, so that strategies compare at a glance."""
    import matplotlib.pyplot as plt

    columns: dict[str, list[Variant]] = {}
    for v in variants:
        runs = [r for r in study.get(v, []) if r.result is not None]
        if runs and runs[0].result["parameters"]:
            columns.setdefault(v.activation, []).append(v)
    rows = []
    for name, chosen in columns.items():
        first = next(r for r in study[chosen[0]] if r.result is not None)
        rows += [(name, pname) for pname in next(iter(first.result["parameters"].values()))]
    if not rows:
        raise ValueError("no trainable variant with parameters among the given ones")
    ncols = max(len(c) for c in columns.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(3.4 * ncols, 2.5 * len(rows)), sharey="row",
                             squeeze=False)
    lrs = {v.lr for v in variants}
    for i, (name, pname) in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            if j >= len(columns[name]):
                ax.set_visible(False)
                continue
            v = columns[name][j]
            runs = [r for r in study[v] if r.result is not None]
            for k, site in enumerate(runs[0].result["parameters"]):
                path = _mean_path(runs, site, pname)
                epochs = np.arange(len(path))
                ax.plot(epochs, path[:, 3], color=f"C{k}", label=site)
                ax.fill_between(epochs, path[:, 1], path[:, 5], color=f"C{k}", alpha=0.15)
            title = f"{activations.spec(name).label}: {pname}, {v.strategy}" + (", BN" if v.batch_norm else "")
            if len(lrs) > 1:
                title += f", lr {v.lr:g}"
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("epoch")
            ax.ticklabel_format(axis="y", useOffset=False)
            if j == 0:
                ax.set_ylabel(pname)
                ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig


def learned_activation(name: str, values: Mapping[str, float]) -> nn.Module:
    """A layer-granularity activation with the given parameter values (e.g. the median learned ones)."""
    return activations.get(name, **{k: float(v) for k, v in values.items()})


def plot_learned_shapes(study: Mapping[Variant, list[Run]], variants: Sequence[Variant], x_max: float = 3.0,
                        ncols: int = 4):
    """Each variant's activation at initialisation (dashed) and with the median learned parameters of each site
    (median over units, mean over seeds) after the last epoch."""
    from lib.plotting import grid

    chosen = [v for v in variants if any(r.result is not None for r in study.get(v, []))]
    fig, axes = grid(len(chosen), min(ncols, len(chosen)), panel=(3.2, 2.4))
    x = torch.linspace(-x_max, x_max, 401)
    for ax, v in zip(axes, chosen, strict=False):
        runs = [r for r in study[v] if r.result is not None]
        with torch.no_grad():
            ax.plot(x, activations.get(v.activation)(x), "k--", lw=1, label="initial")
            for i, site in enumerate(runs[0].result["parameters"]):
                values = {name: _mean_path(runs, site, name)[-1, 3] for name in runs[0].result["parameters"][site]}
                try:
                    act = learned_activation(v.activation, values)
                except ValueError:      # a median outside the constructor's domain: skip the curve
                    continue
                ax.plot(x, act(x), color=f"C{i}", label=site)
        ax.set_title(f"{activations.spec(v.activation).label}, {v.strategy}", fontsize=10)
        ax.set_xlabel("x")
        ax.legend(fontsize=6.5)
    fig.tight_layout()
    return fig


def slices_of(runs: Sequence[Run]) -> dict | None:
    """The slices of the first run that has them."""
    for run in runs:
        if run.result is not None and "slices" in run.result:
            return run.result["slices"]
    return None


def final_values(runs: Sequence[Run], name: str) -> dict[str, np.ndarray]:
    """{site: every unit's final value of parameter `name`, pooled over the seeds}."""
    out: dict[str, list] = {}
    for run in runs:
        if run.result is None:
            continue
        for site, params in run.result["parameters"].items():
            if name in params:
                out.setdefault(site, []).append(params[name]["final"])
    return {site: np.concatenate(v) for site, v in out.items()}


def landscape_rows(study: Mapping[Variant, list[Run]], variants: Sequence[Variant]) -> list[dict]:
    """One row per (variant, seed) with slices: the roughness measures and the loss at the trained weights."""
    rows = []
    for v in variants:
        for run in study.get(v, []):
            if run.result is None or "slices" not in run.result:
                continue
            s = run.result["slices"]
            centre = int(np.argmin(np.abs(s["alphas"])))
            rows.append({"variant": v.label, "activation": v.activation, "seed": run.seed,
                         "loss_at_weights": float(s["loss_1d"][centre]), **slice_measures.roughness(s)})
    return rows


def geometric(values: Iterable[float]) -> tuple[float, float]:
    """Geometric mean and geometric standard deviation (a factor ≥ 1) of positive values (NaN if none)."""
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0], dtype=float)
    if not len(v):
        return math.nan, math.nan
    logs = np.log(v)
    return float(np.exp(logs.mean())), float(np.exp(logs.std(ddof=1))) if len(v) > 1 else 1.0
