"""Fitting 1-D signals with many seeds of a small MLP at once: fits recorded for animations, comparisons
of activations over seeds, sweeps of an activation's constants (the core of both Snake chapters).

Every experiment trains several copies of one network as one vectorised program
(`lib.ensemble`): the copies differ in their seed and, for the sweeps, in the fixed
constants of their activation (buffers are stacked like parameters). Copy (p, s) is
built right after ``seed_everything(seeds[s])``, so for one seed every parameter
set starts from the same weights, and each copy equals a lone run with that seed.

The networks follow the seed document: input 1 -> hidden widths -> 1, Xavier-normal
weights, zero biases, Adam, full-batch mean squared error.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from lib import activations
from lib.data.signals import Split
from lib.ensemble import Ensemble, EnsembleHistory, evaluate_ensemble, train_ensemble
from lib.models.mlp import INITS, MLP
from lib.report import mean_std
from lib.seeding import seed_everything


@dataclass(frozen=True)
class Candidate:
    """One activation of a comparison: a label for tables, a registry name, its parameters.

    ``params`` go to `lib.activations.factory`, e.g. ``{"learnable": True, "granularity": "channel"}``
    for one learnable constant per neuron.
    """

    label: str
    activation: str
    params: dict = field(default_factory=dict)


def comparison_candidates(snake_a: float = 30.0) -> list[Candidate]:
    """The activations Ziyin et al. compare, plus Snake with a fixed and a learnable per-neuron a."""
    return [
        Candidate("ReLU", "relu"),
        Candidate("tanh", "tanh"),
        Candidate("sin", "sin"),
        Candidate("x + sin x", "x_plus_sin"),
        Candidate("x + sin²x", "snake", {"a": 1.0}),
        Candidate(f"Snake, a = {snake_a:g}", "snake", {"a": snake_a}),
        Candidate(f"Snake, learnable a (from {snake_a:g})", "snake",
                  {"a": snake_a, "learnable": True, "granularity": "channel"}),
    ]


def make_network(activation: str, params: dict | None = None, hidden: Sequence[int] = (512, 512),
                 init: str = "xavier_normal", zero_bias: bool = True) -> MLP:
    """The seed's network: 1 -> hidden -> 1 with `activation` after every hidden layer."""
    return MLP(1, tuple(hidden), 1, activation=activation, activation_params=dict(params or {}),
               init=init, zero_bias=zero_bias)


def _check_setup(activation: str, param_sets: Sequence[dict], seeds: Sequence[int], hidden: Sequence[int],
                 init: str, epochs: int, lr: float) -> None:
    """Fail before any training on names or values that cannot work."""
    for params in param_sets:                              # unknown names, parameters and values fail here
        activations.factory(activation, **params)
    if not param_sets:
        raise ValueError("need at least one parameter set")
    if not seeds:
        raise ValueError("need at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose from {', '.join(INITS)}")
    if not hidden or any(int(w) < 1 for w in hidden):
        raise ValueError(f"hidden widths must be positive integers, got {list(hidden)}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr}")


def build_ensemble(activation: str, param_sets: Sequence[dict], seeds: Sequence[int], *,
                   hidden: Sequence[int], init: str = "xavier_normal", zero_bias: bool = True) -> Ensemble:
    """Members in order (p0, s0), (p0, s1), ..., (p1, s0), ...: member p*len(seeds)+s has
    ``param_sets[p]`` and starts from ``seed_everything(seeds[s])``."""
    models = []
    for params in param_sets:
        for seed in seeds:
            seed_everything(int(seed))
            models.append(make_network(activation, params, hidden, init, zero_bias))
    return Ensemble(models)


@dataclass
class GridResult:
    """Final train/test MSE of every (parameter set, seed): arrays of shape (sets, seeds)."""

    activation: str
    param_sets: list[dict]
    seeds: list[int]
    train_mse: np.ndarray
    test_mse: np.ndarray
    diverged_at: np.ndarray
    history: EnsembleHistory
    ensemble: Ensemble

    def member(self, p: int, s: int) -> torch.nn.Module:
        return self.ensemble.member(p * len(self.seeds) + s)

    def summary(self, which: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """Mean and sample std over seeds (NaN-aware: a diverged seed is left out), shape (sets,)."""
        values = self.test_mse if which == "test" else self.train_mse
        means, stds = [], []
        for row in values:
            finite = row[np.isfinite(row)]
            m, s = mean_std(finite) if finite.size else (math.nan, math.nan)
            means.append(m)
            stds.append(s)
        return np.array(means), np.array(stds)


def train_grid(split: Split, activation: str, param_sets: Sequence[dict], seeds: Sequence[int], *,
               hidden: Sequence[int] = (64, 64), init: str = "xavier_normal", zero_bias: bool = True,
               lr: float = 1e-3, epochs: int = 1000, progress: bool = True, desc: str | None = None,
               device: torch.device | str | None = None) -> GridResult:
    """Train one network per (parameter set, seed) on `split`'s training points, all at once.

    All parameter sets must build modules of one structure (the same learnable/fixed
    constants); they may differ in the constants' values (e.g. Snake's fixed a).
    """
    param_sets, seeds = [dict(p) for p in param_sets], [int(s) for s in seeds]
    _check_setup(activation, param_sets, seeds, hidden, init, epochs, lr)
    ensemble = build_ensemble(activation, param_sets, seeds, hidden=hidden, init=init, zero_bias=zero_bias)
    history = train_ensemble(ensemble, split.train, epochs=epochs, optimizer="adam", lr=lr, loss="mse",
                             progress=progress, desc=desc or activation, device=device)
    shape = (len(param_sets), len(seeds))
    final, dev = {}, history_device(ensemble)
    for name, (x, y) in (("train", split.train), ("test", split.test)):
        final[name] = evaluate_ensemble(ensemble, x.to(dev), y.to(dev))["loss"]
    diverged = history.diverged_at >= 0
    train_mse = np.where(diverged, np.nan, final["train"]).reshape(shape)
    test_mse = np.where(diverged, np.nan, final["test"]).reshape(shape)
    return GridResult(activation, param_sets, seeds, train_mse, test_mse, history.diverged_at.reshape(shape),
                      history, ensemble)


def history_device(ensemble: Ensemble) -> torch.device:
    return next(iter(ensemble.stacked.values())).device


# --- Fits recorded for animations ------------------------------------------------------------

@dataclass
class Fit:
    """A training run recorded for an animation.

    `predictions[m, f, i]` is member m's prediction at grid point i at recorded
    epoch `frame_epochs[f]` (the network that epoch's update starts from; the first
    frame is the untrained network). `train_mse`/`test_mse` (members, epochs) are
    per epoch: train before the update, test after it (NaN where not evaluated).
    """

    split: Split
    label: str
    frame_epochs: np.ndarray
    predictions: np.ndarray
    train_mse: np.ndarray
    test_mse: np.ndarray
    final_train_mse: np.ndarray
    final_test_mse: np.ndarray
    final_predictions: np.ndarray
    ensemble: Ensemble
    seconds: float

    def frame_mse(self, member: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Train and test MSE of each recorded frame, from its predictions."""
        y = self.split.y.flatten().numpy()
        err = (self.predictions[member] - y) ** 2
        mask = self.split.is_train.numpy()
        return err[:, mask].mean(axis=1), err[:, ~mask].mean(axis=1)


def fit(split: Split, activation: str = "snake", params: dict | None = None, *, seeds: Sequence[int] = (0,),
        hidden: Sequence[int] = (512, 512), init: str = "xavier_normal", zero_bias: bool = True,
        lr: float = 1e-4, epochs: int = 5000, frames: int = 50, eval_every: int = 1, label: str | None = None,
        progress: bool = True, device: torch.device | str | None = None) -> Fit:
    """Train on `split` and record the predictions on its whole grid every ``epochs // frames`` epochs.

    The defaults are the seed's: 2 x 512 hidden, Snake a = 30 (pass ``params``),
    Xavier-normal weights, zero biases, Adam lr 1e-4, full batch.
    """
    params = dict(params if params is not None else ({"a": 30.0} if activation == "snake" else {}))
    seeds = [int(s) for s in seeds]
    _check_setup(activation, [params], seeds, hidden, init, epochs, lr)
    if not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a positive int, got {frames!r}")
    ensemble = build_ensemble(activation, [params], seeds, hidden=hidden, init=init, zero_bias=zero_bias)
    every = max(1, epochs // frames)
    grid_x = split.x

    def record(epoch: int, ens: Ensemble, outputs: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            return {"grid": ens(grid_x.to(outputs.device)).squeeze(-1)}

    history = train_ensemble(ensemble, split.train, epochs=epochs, optimizer="adam", lr=lr, loss="mse",
                             eval_data={"test": split.test}, eval_every=eval_every, record=record,
                             record_every=every, progress=progress, desc=label or activation, device=device)
    dev = history_device(ensemble)
    with torch.no_grad():
        final_predictions = ensemble(grid_x.to(dev)).squeeze(-1).cpu().numpy()
    y = split.y.flatten().numpy()
    mask = split.is_train.numpy()
    err = (final_predictions - y) ** 2
    return Fit(split=split, label=label or activations.spec(activation).label,
               frame_epochs=np.asarray(history.record_epochs), predictions=history.record("grid"),
               train_mse=history["train_loss"], test_mse=history["test_loss"],
               final_train_mse=err[:, mask].mean(axis=1), final_test_mse=err[:, ~mask].mean(axis=1),
               final_predictions=final_predictions, ensemble=ensemble, seconds=history.seconds)


def frame_indices(available: int, frames: int) -> np.ndarray:
    """`frames` evenly spaced indices into `available` recorded frames (first and last included)."""
    if available < 1:
        raise ValueError("no recorded frames")
    return np.unique(np.linspace(0, available - 1, min(frames, available)).round().astype(int))


def animate_fit(result: Fit, member: int = 0, frames: int = 50, fps: int = 10, ylim: float | None = None):
    """The fit as an offline HTML animation: 50 frames, 10 x 2 inches, the truth faint, the
    predictions on train (blue) and test (orange) points, epoch and train/test MSE in the title."""
    import matplotlib.pyplot as plt
    from matplotlib import animation

    from lib.plotting import animation_html

    split = result.split
    x, y = split.x.flatten().numpy(), split.y.flatten().numpy()
    mask = split.is_train.numpy()
    train_mse, test_mse = result.frame_mse(member)
    chosen = frame_indices(len(result.frame_epochs), frames)
    limit = ylim if ylim is not None else 1.6 * float(np.abs(y).max())

    fig, ax = plt.subplots(figsize=(10, 2))
    ax.plot(x, y, color="0.6", alpha=0.35, lw=2.5, label="truth")
    blank = np.full_like(x, np.nan)
    (train_line,) = ax.plot(x, blank, color="C0", lw=1.2, label="prediction, train points")
    (test_line,) = ax.plot(x, blank, color="C1", lw=1.2, label="prediction, test points")
    ax.set_xlim(x.min(), x.max())
    ax.set_ylim(-limit, limit)
    ax.spines[["right", "top"]].set_visible(False)
    ax.legend(loc="upper right", fontsize=7, ncol=3, frameon=False)
    title = ax.set_title("", fontsize=9)
    fig.tight_layout()

    def draw(k: int):
        f = chosen[k]
        prediction = result.predictions[member, f]
        train_line.set_ydata(np.where(mask, prediction, np.nan))
        test_line.set_ydata(np.where(~mask, prediction, np.nan))
        title.set_text(f"{result.label} ({split.name}): epoch {result.frame_epochs[f]}, "
                       f"train MSE {train_mse[f]:.3g}, test MSE {test_mse[f]:.3g}")
        return train_line, test_line, title

    anim = animation.FuncAnimation(fig, draw, frames=len(chosen), interval=1000 // fps, blit=False)
    return animation_html(anim, fps=fps)


# --- Comparisons over seeds ------------------------------------------------------------------

@dataclass
class Comparison:
    """Test (and train) MSE per candidate and task over seeds: arrays (candidates, tasks, seeds)."""

    candidates: list[Candidate]
    tasks: list[str]
    seeds: list[int]
    train_mse: np.ndarray
    test_mse: np.ndarray
    results: dict[tuple[str, str], GridResult]

    def stats(self, which: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """Mean and std over seeds (diverged seeds left out), shape (candidates, tasks)."""
        values = self.test_mse if which == "test" else self.train_mse
        mean = np.full(values.shape[:2], np.nan)
        std = np.full(values.shape[:2], np.nan)
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                finite = values[i, j][np.isfinite(values[i, j])]
                if finite.size:
                    mean[i, j], std[i, j] = mean_std(finite)
        return mean, std

    def best(self, task: str) -> Candidate:
        """The candidate with the lowest mean test MSE on `task`."""
        mean, _ = self.stats()
        return self.candidates[int(np.nanargmin(mean[:, self.tasks.index(task)]))]

    def row(self, label: str) -> int:
        return [c.label for c in self.candidates].index(label)

    def markdown(self, fmt: str = ".3g", which: str = "test") -> str:
        """A MyST table: one row per candidate, 'mean ± std' per task; the best per task in bold."""
        mean, std = self.stats(which)
        header = "| activation | " + " | ".join(self.tasks) + " |"
        lines = [header, "|---|" + "---:|" * len(self.tasks)]
        best = [int(np.nanargmin(mean[:, j])) if np.isfinite(mean[:, j]).any() else -1 for j in range(len(self.tasks))]
        for i, c in enumerate(self.candidates):
            cells = []
            for j in range(len(self.tasks)):
                text = f"{mean[i, j]:{fmt}} ± {std[i, j]:{fmt}}" if np.isfinite(mean[i, j]) else "diverged"
                cells.append(f"**{text}**" if best[j] == i else text)
            lines.append(f"| {c.label} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def compare_activations(tasks: dict[str, Split], candidates: Sequence[Candidate], seeds: Sequence[int], *,
                        hidden: Sequence[int] = (64, 64), init: str = "xavier_normal", zero_bias: bool = True,
                        lr: float = 1e-3, epochs: int = 1000, progress: bool = True,
                        device: torch.device | str | None = None) -> Comparison:
    """Every candidate on every task, each over `seeds` (the seeds of one candidate train together)."""
    candidates, seeds = list(candidates), [int(s) for s in seeds]
    if not candidates or not tasks:
        raise ValueError("need at least one candidate and one task")
    for c in candidates:                                   # check everything before the first epoch
        _check_setup(c.activation, [c.params], seeds, hidden, init, epochs, lr)
    shape = (len(candidates), len(tasks), len(seeds))
    train_mse, test_mse = np.full(shape, np.nan), np.full(shape, np.nan)
    results = {}
    for j, (task, split) in enumerate(tasks.items()):
        for i, c in enumerate(candidates):
            r = train_grid(split, c.activation, [c.params], seeds, hidden=hidden, init=init, zero_bias=zero_bias,
                           lr=lr, epochs=epochs, progress=progress, desc=f"{task}: {c.label}", device=device)
            train_mse[i, j], test_mse[i, j] = r.train_mse[0], r.test_mse[0]
            results[(c.label, task)] = r
    return Comparison(candidates, list(tasks), seeds, train_mse, test_mse, results)


def compare_means(values: np.ndarray, others: np.ndarray, lower: str = "lower than", higher: str = "higher than",
                  same: str = "not clearly different from") -> str:
    """Words for how the mean of `values` compares with the mean of `others` (each over seeds).

    A difference counts only if it exceeds two standard errors of the difference
    (Welch), so the sentence a chapter builds from it stays true when rerun with other
    seeds unless the effect is real. NaNs (diverged seeds) are left out.
    """
    a, b = np.asarray(values, dtype=float), np.asarray(others, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return "not comparable with"
    se2 = (a.var(ddof=1) / a.size if a.size > 1 else 0.0) + (b.var(ddof=1) / b.size if b.size > 1 else 0.0)
    diff = a.mean() - b.mean()
    if abs(diff) <= 2 * math.sqrt(se2):
        return same
    return lower if diff < 0 else higher


def zero_baseline(split: Split) -> float:
    """The test MSE of predicting 0 everywhere (the mean square of the test targets)."""
    return float(split.test[1].square().mean())
