"""Experiments of the chapter "Trainable SQRT-family activations" (Fontana 2021, SPEC §3).

Each *variant* is one activation in one setting: trainable or frozen (its parameters fixed at
the values that recover the classical function), with or without BatchNorm, trained with one
learning rate for everything ("single") or the report's "high-low" rates (a lower one for the
activations' parameters). `run_grid` trains every variant over seeds with `lib.train.train`,
records test and train accuracy per epoch and the trajectories of the activation parameters;
the summaries turn the report's claims into computed comparisons over seeds.

>>> setup = Setup(epochs=2, channels=8, hidden=32)
>>> data = load_data("digits")
>>> results = run_grid([Variant("tsqrt", True, False)], data, setup, seeds=[0, 1])
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from lib import activations
from lib.activations.sqrt_family import TRAINABLE, TrainableActivation
from lib.cnn import ORIGINAL_TABLE2, SqrtCNN, parameter_counts
from lib.data.images import ImageData, load_images
from lib.seeding import seed_everything
from lib.train import History, make_optimizer, train

STRATEGIES = ("single", "high-low")


@dataclass(frozen=True)
class Variant:
    """One activation in one setting."""

    activation: str
    learnable: bool
    batch_norm: bool
    strategy: str = "single"

    def __post_init__(self):
        activations.spec(self.activation)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")

    @property
    def key(self) -> str:
        return (f"{self.activation}|{'trainable' if self.learnable else 'frozen'}|"
                f"{'BN' if self.batch_norm else 'noBN'}|{self.strategy}")

    @property
    def label(self) -> str:
        name = activations.spec(self.activation).label
        if not self.learnable and self.activation in TRAINABLE:
            name = f"{name} (frozen = {TRAINABLE[self.activation]})"
        parts = [name, "BN" if self.batch_norm else "no BN"]
        if self.strategy != "single":
            parts.append(self.strategy)
        return ", ".join(parts)


def variant_grid(trainable: Sequence[str], baselines: Sequence[str] = ("relu",),
                 strategy: str = "single") -> list[Variant]:
    """Every trainable activation trainable and frozen, plus fixed baselines, each without and with BN."""
    unknown = [n for n in trainable if activations.spec(n).name not in TRAINABLE]
    if unknown:
        raise ValueError(f"not trainable SQRT-family activations: {', '.join(unknown)}; "
                         f"choose from {', '.join(TRAINABLE)}")
    out = []
    for bn in (False, True):
        out += [Variant(b, False, bn) for b in baselines]
        for name in trainable:
            out += [Variant(name, True, bn, strategy), Variant(name, False, bn)]
    return out


@dataclass(frozen=True)
class Setup:
    """Everything but the variant and the seed that a training run depends on."""

    epochs: int = 5
    batch_size: int = 128
    lr: float = 1e-3
    activation_lr: float = 1e-5          # the "low" rate of the high-low strategy
    channels: int = 16
    hidden: int = 64
    kernel_size: int = 3
    dropout: float = 0.0
    granularity: str = "element"
    train_eval: int = 2000               # training examples evaluated each epoch (train accuracy)

    def __post_init__(self):
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {self.epochs!r}")
        if not (self.lr > 0 and self.activation_lr > 0):
            raise ValueError(f"learning rates must be positive, got lr={self.lr}, activation_lr={self.activation_lr}")
        if self.granularity not in ("layer", "channel", "element"):
            raise ValueError(f"granularity must be layer, channel or element, got {self.granularity!r}")


def load_data(dataset: str = "fashion_mnist", *, train_limit: int | None = None, test_limit: int | None = None,
              size: int = 16, seed: int = 0) -> ImageData:
    """The chapter's data: `size` x `size` images, standardised, seeded subsets."""
    return load_images(dataset, size=size, standardize=True, train_limit=train_limit, test_limit=test_limit,
                       seed=seed)


def build_model(variant: Variant, data: ImageData, setup: Setup) -> SqrtCNN:
    channels, size = data.train[0].shape[1], data.train[0].shape[-1]
    return SqrtCNN(variant.activation, learnable=variant.learnable, granularity=setup.granularity,
                   batch_norm=variant.batch_norm, dropout=setup.dropout, in_channels=channels,
                   image_size=size, channels=setup.channels, hidden=setup.hidden,
                   kernel_size=setup.kernel_size, classes=len(data.classes))


def parameter_snapshot(model: SqrtCNN) -> dict[str, dict[str, np.ndarray]]:
    """Each activation site's parameters in their own domain (flattened), e.g. {"before FC1": {"z": ...}}."""
    out = {}
    for site, act in model.activation_sites.items():
        if isinstance(act, TrainableActivation):
            out[site] = {n: v.flatten().cpu().numpy().copy() for n, v in act.parameter_values().items()}
    return out


@dataclass
class Run:
    """One trained seed of one variant."""

    variant: Variant
    seed: int
    history: History
    trajectory: list[dict[str, dict[str, np.ndarray]]] = field(default_factory=list)  # epoch 0..E
    model: nn.Module | None = None

    def parameter_path(self, site: str, name: str, stat: str = "mean") -> np.ndarray:
        """A statistic ("mean", "q10", "q90") of one parameter over its elements, per epoch (0..E)."""
        reduce = {"mean": np.mean, "q10": lambda v: np.quantile(v, 0.1), "q90": lambda v: np.quantile(v, 0.9)}[stat]
        return np.array([reduce(snap[site][name]) for snap in self.trajectory])


def train_variant(variant: Variant, data: ImageData, setup: Setup, seed: int, progress: bool = False) -> Run:
    """Train one seed of `variant` (deterministic given `seed`)."""
    seed_everything(seed)
    model = build_model(variant, data, setup)
    activation_lr = setup.activation_lr if variant.strategy == "high-low" else None
    optimizer = make_optimizer(model, "adam", setup.lr, activation_lr=activation_lr)
    trajectory = [parameter_snapshot(model)]
    n_eval = min(setup.train_eval, len(data.train[0]))
    eval_data = {"test": data.test, "train_eval": (data.train[0][:n_eval], data.train[1][:n_eval])}
    history = train(model, data.train, epochs=setup.epochs, optimizer=optimizer, loss="cross_entropy",
                    batch_size=setup.batch_size, eval_data=eval_data, seed=seed, progress=progress,
                    desc=variant.label, callback=lambda epoch, m, h: trajectory.append(parameter_snapshot(m)))
    return Run(variant, seed, history, trajectory, model.cpu().eval())


def run_grid(variants: Iterable[Variant], data: ImageData, setup: Setup, seeds: Sequence[int],
             progress: bool = True) -> dict[Variant, list[Run]]:
    """Train every variant for every seed, one after another (BatchNorm rules out stacking seeds)."""
    variants = list(variants)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("give at least one seed")
    jobs = [(v, s) for v in variants for s in seeds]
    results: dict[Variant, list[Run]] = {v: [] for v in variants}
    for variant, seed in tqdm(jobs, desc="variants x seeds", disable=not progress):
        results[variant].append(train_variant(variant, data, setup, seed))
    return results


# --- summaries ----------------------------------------------------------------------------------

def metric(runs: Sequence[Run], name: str = "test_acc") -> np.ndarray:
    """(seeds, epochs) array of a metric."""
    return np.stack([r.history[name] for r in runs])


def final(runs: Sequence[Run], name: str = "test_acc") -> np.ndarray:
    return metric(runs, name)[:, -1]


@dataclass(frozen=True)
class Comparison:
    """mean(a) - mean(b) over seeds, its standard error, and a verdict at 2 standard errors."""

    a: float
    b: float
    diff: float
    se: float

    @property
    def verdict(self) -> str:
        if self.diff > 2 * self.se:
            return "higher"
        if self.diff < -2 * self.se:
            return "lower"
        return "indistinguishable"


def compare(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Compare two sets of per-seed numbers (Welch's standard error of the difference of means)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    var = lambda v: v.var(ddof=1) / len(v) if len(v) > 1 else 0.0   # noqa: E731
    return Comparison(float(a.mean()), float(b.mean()), float(a.mean() - b.mean()), math.sqrt(var(a) + var(b)))


def find(results: dict[Variant, list[Run]], activation: str, learnable: bool, batch_norm: bool,
         strategy: str = "single") -> list[Run]:
    variant = Variant(activation, learnable, batch_norm, strategy)
    if variant not in results:
        raise KeyError(f"no runs of {variant.label}; trained: {', '.join(v.label for v in results)}")
    return results[variant]


def claims(results: dict[Variant, list[Run]], early_epoch: int = 1) -> dict[str, Comparison]:
    """The report's claims as comparisons of test accuracy over seeds (missing variants are skipped).

    - ``gelu_t_final`` / ``gelu_t_early``: trainable TGELU vs GELU (frozen TGELU), no BN, at the
      end and after `early_epoch` epochs ("GELU_T ≈ GELU but faster early");
    - ``tsqrt_vs_relu``: trainable TSQRT vs ReLU, no BN ("TSQRT worse than ReLU");
    - ``tsqrt_tanh_vs_relu_bn``: trainable TSQRT_tanh without BN vs ReLU with BN ("close to RELU_BN");
    - ``tsqrt_tanh_bn_effect``: TSQRT_tanh with BN vs without ("works better without BN");
    - ``bn_effect_<name>_<trainable|frozen>``: with BN vs without, for every activation trained.
    """
    out: dict[str, Comparison] = {}

    def at(runs, epoch=None):
        m = metric(runs)
        return m[:, -1] if epoch is None else m[:, min(epoch, m.shape[1]) - 1]

    def add(key, a, b, epoch=None):
        try:
            out[key] = compare(at(find(results, *a), epoch), at(find(results, *b), epoch))
        except KeyError:
            pass

    add("gelu_t_final", ("tgelu", True, False), ("tgelu", False, False))
    add("gelu_t_early", ("tgelu", True, False), ("tgelu", False, False), early_epoch)
    add("tsqrt_vs_relu", ("tsqrt", True, False), ("relu", False, False))
    add("tsqrt_tanh_vs_relu_bn", ("tsqrt_tanh", True, False), ("relu", False, True))
    add("tsqrt_tanh_bn_effect", ("tsqrt_tanh", True, True), ("tsqrt_tanh", True, False))
    for v in results:
        if v.batch_norm and v.strategy == "single":
            kind = "trainable" if v.learnable else "frozen"
            add(f"bn_effect_{v.activation}_{kind}", (v.activation, v.learnable, True),
                (v.activation, v.learnable, False))
    return out


def bn_effects(comparisons: dict[str, Comparison], kind: str) -> dict[str, Comparison]:
    """The BN-minus-no-BN comparisons of every activation of one kind ("trainable" or "frozen")."""
    suffix = f"_{kind}"
    return {k[len("bn_effect_"):-len(suffix)]: c for k, c in comparisons.items()
            if k.startswith("bn_effect_") and k.endswith(suffix)}


def movement(runs: Sequence[Run]) -> float:
    """Mean absolute change of the activation parameters from initialisation to the end, over
    every element, parameter, site and seed (0 for frozen or parameter-free activations)."""
    changes = []
    for run in runs:
        first, last = run.trajectory[0], run.trajectory[-1]
        for site in first:
            for name in first[site]:
                changes.append(np.abs(last[site][name] - first[site][name]).mean())
    return float(np.mean(changes)) if changes else 0.0


# --- parameter counts beside the original Table 2 -----------------------------------------------

TABLE2_VARIANTS = {"RELU_BN": ("relu", True), "RELU": ("relu", False), "TSQRT_tanh": ("tsqrt_tanh", False),
                   "TSQRT_tanh_BN": ("tsqrt_tanh", True), "TSQRT_BN": ("tsqrt", True)}
"""The rows of the original Table 2 as (activation, batch_norm); trainable, one parameter per element."""


def parameter_table(kernel_sizes: Sequence[int] = (3, 5), in_channels: int = 3, channels: int = 192,
                    hidden: int = 1256) -> list[dict]:
    """The original network's parameter counts in this book's reading, beside Table 2's."""
    rows = []
    for label, (name, bn) in TABLE2_VARIANTS.items():
        row = {"variant": label, "original": ORIGINAL_TABLE2[label][0], "original_acc": ORIGINAL_TABLE2[label][1]}
        for k in kernel_sizes:
            model = SqrtCNN(name, learnable=True, granularity="element", batch_norm=bn, in_channels=in_channels,
                            channels=channels, hidden=hidden, kernel_size=k)
            counts = parameter_counts(model)
            row[f"k{k}"] = counts["total"]
            row[f"k{k}_activation"] = counts["activation"]
            row[f"k{k}_batch_norm"] = counts["batch_norm"]
        rows.append(row)
    return rows


def final_table(results: dict[Variant, list[Run]], data: ImageData, setup: Setup) -> list[dict]:
    """This book's Table 2 rows (trainable activations, single rate) with counts and test accuracy over seeds."""
    rows = []
    for label, (name, bn) in TABLE2_VARIANTS.items():
        variant = Variant(name, name in TRAINABLE, bn)
        if variant not in results:
            continue
        acc = 100 * final(results[variant])
        rows.append({"variant": label, "params": parameter_counts(build_model(variant, data, setup))["total"],
                     "acc_mean": float(acc.mean()), "acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                     "seeds": len(acc), "original_params": ORIGINAL_TABLE2[label][0],
                     "original_acc": ORIGINAL_TABLE2[label][1]})
    return rows


def with_strategy(variants: Iterable[Variant], strategy: str) -> list[Variant]:
    return [replace(v, strategy=strategy) for v in variants]
