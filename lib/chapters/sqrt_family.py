"""Code of the chapter "Trainable SQRT-family activations" (book/sqrt_family.ipynb; Fontana 2021).

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from lib import activations
from lib.activations.base import GRANULARITIES
from lib.activations.sqrt_family import TRAINABLE, TrainableActivation
from lib.data.images import ImageData, load_images
from lib.models.sqrt_cnn import SqrtCNN, parameter_counts
from lib.parameters import Float, Int, ListOf, OneOf, ParameterError, Parameters, Positive
from lib.seeding import seed_everything
from lib.train import History, make_optimizer, train

BASELINES = ("relu",)


def _check_lists(p) -> None:
    try:
        check_names(p["trainable"], p["high_low_activations"], p["landscape_activations"], BASELINES)
    except (KeyError, ValueError) as err:
        raise ParameterError(f"chapter 'sqrt_family': {err}") from None


PARAMETERS = Parameters(
    "sqrt_family", constraints=[_check_lists],
    dataset=OneOf("fashion_mnist", "cifar10", "digits"), train_limit=Int(minimum=0), test_limit=Int(minimum=0),
    data_seed=Int(0, 2**32 - 1), epochs=Int(minimum=1), batch_size=Int(minimum=1), lr=Positive(),
    activation_lr=Positive(), channels=Int(minimum=1), hidden=Int(minimum=1), kernel_size=OneOf(1, 3, 5, 7),
    dropout=Float(0.0, 0.95), granularity=OneOf(*GRANULARITIES), trainable=ListOf(OneOf(*TRAINABLE), distinct=True),
    seeds=Int(minimum=1), high_low_activations=ListOf(OneOf(*TRAINABLE), min_length=0, distinct=True),
    landscape_activations=ListOf(OneOf(*TRAINABLE, *BASELINES), min_length=0, distinct=True),
    landscape_examples=Int(minimum=10), landscape_points_1d=Int(minimum=3), landscape_points_2d=Int(minimum=3),
    landscape_span=Positive(), torch_threads=Int(0, 64),
)


def datasets(p) -> list[str]:
    """The image data sets the chapter will read with parameters `p` (located before any chapter runs)."""
    return [p["dataset"]]

STRATEGIES = ("single", "high-low")

# The report's Table 2 (CIFAR-10, single runs): parameters and test accuracy (%).
ORIGINAL_TABLE2 = {
    "RELU_BN": (4_811_922, 63.3),
    "RELU": (4_749_226, 59.2),
    "TSQRT_tanh": (4_780_574, 61.82),
    "TSQRT_tanh_BN": (4_843_270, 58.05),
    "TSQRT_BN": (4_843_270, 44.32),
}


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
    - ``tsqrt_bn_vs_relu_bn``: the same with BN (Table 2's TSQRT_BN against RELU_BN);
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
    add("tsqrt_bn_vs_relu_bn", ("tsqrt", True, True), ("relu", False, True))
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


# --- the report's claims, each with a computed verdict --------------------------------------------

def claim_rows(comparisons: dict[str, Comparison]) -> list[dict]:
    """One row per claim of the report: what was compared, the measured difference and a verdict
    ("confirmed" / "not confirmed") that follows from the numbers (differences at 2 standard errors)."""
    rows = []

    def row(key, claim, expected, what):
        if key in comparisons:
            c = comparisons[key]
            rows.append({"key": key, "claim": claim, "what": what, "diff": 100 * c.diff, "se": 100 * c.se,
                         "outcome": c.verdict,
                         "verdict": "confirmed" if c.verdict in expected else "not confirmed"})

    row("gelu_t_final", "GELU_T ≈ GELU (final accuracy)", {"indistinguishable"},
        "TGELU trainable − GELU, no BN, last epoch")
    row("gelu_t_early", "GELU_T faster early", {"higher"}, "TGELU trainable − GELU, no BN, first epoch")
    row("tsqrt_vs_relu", "TSQRT worse than ReLU", {"lower"}, "TSQRT trainable − ReLU, no BN")
    row("tsqrt_bn_vs_relu_bn", "TSQRT worse than ReLU (with BN, Table 2)", {"lower"},
        "TSQRT trainable + BN − ReLU + BN")
    row("tsqrt_tanh_vs_relu_bn", "TSQRT_tanh close to ReLU + BN", {"indistinguishable"},
        "TSQRT_tanh trainable (no BN) − ReLU + BN")
    row("tsqrt_tanh_bn_effect", "TSQRT_tanh better without BN", {"lower"}, "TSQRT_tanh trainable: BN − no BN")
    trainable = bn_effects(comparisons, "trainable")
    if trainable:
        lower = sum(c.verdict == "lower" for c in trainable.values())
        higher = sum(c.verdict == "higher" for c in trainable.values())
        rows.append({"key": "bn_hurts_trainable", "claim": "BN hurts trainable versions",
                     "what": f"trainable activations where BN lowers / raises accuracy (of {len(trainable)})",
                     "diff": 100 * float(np.mean([c.diff for c in trainable.values()])), "se": float("nan"),
                     "outcome": f"{lower} lower, {higher} higher",
                     "verdict": "confirmed" if lower > len(trainable) / 2 else "not confirmed"})
    return rows


# --- figures ----------------------------------------------------------------------------------------

SETTING_STYLES = {(True, False): ("C0", "-", "trainable, no BN"), (False, False): ("C1", "--", "frozen, no BN"),
                  (True, True): ("C2", "-", "trainable, BN"), (False, True): ("C3", "--", "frozen, BN")}


def plot_curves(results: dict[Variant, list[Run]], metric_name: str = "test_acc", ncols: int = 4):
    """One panel per activation: `metric_name` per epoch, mean ± std over seeds, for each setting."""
    from lib.plotting import grid

    names = list(dict.fromkeys(v.activation for v in results if v.strategy == "single"))
    fig, axes = grid(len(names), min(ncols, len(names)), panel=(3.2, 2.4), sharey=True)
    for ax, name in zip(axes, names):
        for v, runs in results.items():
            if v.activation != name or v.strategy != "single":
                continue
            color, style, label = SETTING_STYLES[(v.learnable or name not in TRAINABLE, v.batch_norm)]
            if name not in TRAINABLE:
                label = "BN" if v.batch_norm else "no BN"
            m = 100 * metric(runs, metric_name)
            epochs = runs[0].history.epochs
            ax.plot(epochs, m.mean(0), style, color=color, label=label)
            if len(runs) > 1:
                ax.fill_between(epochs, m.mean(0) - m.std(0, ddof=1), m.mean(0) + m.std(0, ddof=1),
                                color=color, alpha=0.2)
        ax.set_title(activations.spec(name).label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    ylabels = {"test_acc": "test accuracy (%)", "train_eval_acc": "train accuracy (%)"}
    axes[0].set_ylabel(ylabels.get(metric_name, metric_name))
    fig.tight_layout()
    return fig


def _trainable_runs(results, batch_norm=False, strategy="single"):
    return {v.activation: runs for v, runs in results.items()
            if v.learnable and v.activation in TRAINABLE and v.batch_norm == batch_norm and v.strategy == strategy}


def plot_trajectories(results: dict[Variant, list[Run]], batch_norm: bool = False, ncols: int = 4):
    """One panel per (activation, parameter): the element-mean of the parameter per epoch, one line
    per site (mean over seeds; band: 10-90 % quantiles over elements, averaged over seeds)."""
    from lib.plotting import grid

    panels = []
    for name, runs in _trainable_runs(results, batch_norm).items():
        for pname in runs[0].trajectory[0]["before FC2"]:
            panels.append((name, pname, runs))
    fig, axes = grid(len(panels), min(ncols, len(panels)), panel=(3.2, 2.4))
    for ax, (name, pname, runs) in zip(axes, panels):
        for i, site in enumerate(runs[0].trajectory[0]):
            paths = {s: np.mean([r.parameter_path(site, pname, s) for r in runs], axis=0)
                     for s in ("mean", "q10", "q90")}
            epochs = np.arange(len(paths["mean"]))
            ax.plot(epochs, paths["mean"], color=f"C{i}", label=site)
            ax.fill_between(epochs, paths["q10"], paths["q90"], color=f"C{i}", alpha=0.15)
        ax.set_title(f"{activations.spec(name).label}: {pname}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def learned_activation(name: str, values: dict[str, float]) -> nn.Module:
    """A layer-granularity activation with the given parameter values (e.g. the mean learned ones)."""
    return activations.get(name, **{k: float(v) for k, v in values.items()})


def plot_learned_shapes(results: dict[Variant, list[Run]], batch_norm: bool = False, x_max: float = 4.0,
                        ncols: int = 4):
    """Each trainable activation at initialisation (dashed) and with the learned parameters of each
    site (element- and seed-mean) after the last epoch."""
    from lib.plotting import grid

    trained = _trainable_runs(results, batch_norm)
    fig, axes = grid(len(trained), min(ncols, len(trained)), panel=(3.2, 2.4))
    x = torch.linspace(-x_max, x_max, 401)
    for ax, (name, runs) in zip(axes, trained.items()):
        with torch.no_grad():
            ax.plot(x, activations.get(name)(x), "k--", lw=1, label="initial")
            for i, site in enumerate(runs[0].trajectory[-1]):
                values = {p: np.mean([r.trajectory[-1][site][p].mean() for r in runs])
                          for p in runs[0].trajectory[-1][site]}
                try:
                    act = learned_activation(name, values)
                except ValueError:      # a mean outside the constructor's domain: skip the curve
                    continue
                ax.plot(x, act(x), color=f"C{i}", label=site)
        ax.set_title(activations.spec(name).label, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- loss landscapes around the trained weights ----------------------------------------------------

def landscape_study(results: dict[Variant, list[Run]], names: Sequence[str], data: ImageData, *,
                    examples: int = 1000, span: float = 1.0, points_1d: int = 41, points_2d: int = 15,
                    batch_norm: bool = False, progress: bool = True) -> dict[str, list[dict]]:
    """Loss slices (lib.landscape) around every seed's trained model of each activation in `names`
    (trainable where it can be, no BN by default), on the first `examples` training images.

    Returns {activation: [per seed: slices with an added "roughness" dict]}.
    """
    from lib import landscape

    x, y = data.train[0][:examples], data.train[1][:examples]
    out = {}
    jobs = []
    for name in names:
        variant = Variant(name, name in TRAINABLE, batch_norm)
        if variant not in results:
            raise KeyError(f"no trained runs of {variant.label} for the landscape")
        jobs += [(name, run) for run in results[variant]]
    for name, run in tqdm(jobs, desc="loss slices", disable=not progress):
        s = landscape.loss_slices(run.model, x, y, span=span, points_1d=points_1d, points_2d=points_2d,
                                  seed=run.seed)
        s["roughness"] = landscape.roughness(s)
        out.setdefault(name, []).append(s)
    return out


def roughness_over_seeds(study: dict[str, list[dict]], measure: str = "excess_2d") -> dict[str, np.ndarray]:
    return {name: np.array([s["roughness"][measure] for s in slices]) for name, slices in study.items()}


def check_names(trainable: Sequence[str], high_low: Sequence[str], landscape: Sequence[str],
                baselines: Sequence[str] = ("relu",)) -> None:
    """The chapter's lists of activations, checked before any training starts."""
    variant_grid(trainable, baselines)
    missing = [n for n in high_low if n not in trainable]
    if missing:
        raise ValueError(f"high_low_activations {missing} must be among the trainable ones {list(trainable)}")
    missing = [n for n in landscape if n not in trainable and n not in baselines]
    if missing:
        raise ValueError(f"landscape_activations {missing} must be trained in the grid "
                         f"(trainable {list(trainable)} or baselines {list(baselines)})")
