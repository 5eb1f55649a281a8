"""Figures and animations of `lib.signal_fits.SignalRun`s (the Snake chapters)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from lib.signal_fits import SignalRun
from lib.signal_metrics import distance_to_data, error_by_distance, geometric_band, mean_interval

ANIMATION_DPI = 72           # keeps a page of several 30-frame animations under a few MB


def frame_errors(run: SignalRun) -> tuple[np.ndarray, np.ndarray]:
    """Train and test MSE of member 0 at each animation frame (train: the recorded curve; test: from the frame)."""
    position = {int(e): i for i, e in enumerate(run.completed)}
    train = np.array([run.train_curve[0, position[int(e)]] for e in run.frame_completed])
    test = ((run.frames - run.y_eval) ** 2)[:, run.test_mask].mean(axis=1)
    return train, test


def animate_runs(panels: Sequence[tuple[SignalRun, str]], *, ylim: float | None = None, fps: int = 5,
                 height: float = 2.0, xlabel: str = "x"):
    """An offline HTML animation, one panel per (run, title): the truth in grey, member 0's training points
    as dots and its prediction on the evaluation grid (test points orange), epoch and errors in the title.

    Opens on the first recorded frame after the start (the untrained network is not a frame)."""
    from matplotlib import animation

    from lib.plotting import animation_html

    runs = [r for r, _ in panels]
    if not runs or any(len(r.frame_completed) == 0 for r in runs):
        raise ValueError("every run needs recorded frames (frames > 0 in its config)")
    count = min(len(r.frame_completed) for r in runs)
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, height * len(runs) + 0.3), squeeze=False, sharex=True,
                             dpi=ANIMATION_DPI)
    lines, titles, errors = [], [], []
    for ax, (run, _title) in zip(axes[:, 0], panels):
        x, y = run.x_eval, run.y_eval
        limit = ylim if ylim is not None else 1.6 * float(np.abs(y).max())
        ax.plot(x, y, color="0.6", alpha=0.4, lw=2.5, label="truth")
        ax.scatter(run.x_train[0], run.y_train[0], s=6, color="C0", zorder=3, label="training points")
        blank = np.full_like(x, np.nan)
        (test_line,) = ax.plot(x, blank, color="C1", lw=1.2, label="prediction")
        (train_line,) = ax.plot(x, blank, color="C0", lw=1.2)
        ax.set_xlim(x.min(), x.max())
        ax.set_ylim(-limit, limit)
        ax.spines[["right", "top"]].set_visible(False)
        titles.append(ax.set_title("", fontsize=9, loc="left"))
        lines.append((train_line, test_line))
        errors.append(frame_errors(run))
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=3, frameon=False)
    axes[-1, 0].set_xlabel(xlabel)
    fig.tight_layout()

    def draw(k: int):
        artists = []
        for (run, title), (train_line, test_line), text, (train, test) in zip(panels, lines, titles, errors):
            prediction = run.frames[k]
            train_line.set_ydata(np.where(run.test_mask, np.nan, prediction))
            test_line.set_ydata(np.where(run.test_mask, prediction, np.nan))
            text.set_text(f"{title}: epoch {int(run.frame_completed[k]):,}, train MSE {train[k]:.3g}, "
                          f"test MSE {test[k]:.3g}")
            artists += [train_line, test_line, text]
        return artists

    anim = animation.FuncAnimation(fig, draw, frames=count, interval=1000 // fps, blit=False)
    return animation_html(anim, fps=fps)


def zero_by_distance(run: SignalRun, member: int = 0) -> np.ndarray:
    """The `by_distance` curve of predicting 0 (relative to the envelope², as `by_distance`)."""
    distance = distance_to_data(run.x_eval, run.x_train[member])
    relative = (run.y_eval / run.envelope) ** 2
    return error_by_distance(relative, distance, run.test_mask, run.period, run.by_distance.shape[1])


def _band(ax, x, values, label, color, log=True, marker="o"):
    """Mean with its 95 % interval over seeds (rows); on a log axis the geometric mean ×/÷ geometric std."""
    if log:
        centre, low, high = geometric_band(values)
    else:
        centre, low, high = mean_interval(values)
    ax.plot(x, centre, marker=marker, ms=3, lw=1.2, color=color, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.15, lw=0)


def plot_by_distance(ax, runs: Sequence[SignalRun], *, zero: np.ndarray | None = None, normalised: bool = False):
    """Test error by distance from the training data, one line per run (geometric mean over seeds, band ×/÷ the
    geometric std), the error of predicting 0 as a dotted line."""
    for i, run in enumerate(runs):
        bins = np.arange(run.by_distance.shape[1]) + 0.5
        _band(ax, bins, run.by_distance, run.label, f"C{i}")
    if zero is not None:
        ax.plot(np.arange(len(zero)) + 0.5, zero, color="0.3", ls=":", lw=1.2, label="predict 0")
    ax.set_yscale("log")
    ax.set_xlabel("distance from the nearest training point (periods of the target)")
    ax.set_ylabel("test MSE / envelope²" if normalised else "test MSE")
    ax.spines[["right", "top"]].set_visible(False)


def plot_period_fits(axes, runs: Sequence[SignalRun], amplitude_scale: str = "linear"):
    """Amplitude ratio (1: right) and |phase error| in degrees (0: in phase; 90: what a random phase averages)
    in each period beyond the data: mean over seeds with its 95 % interval. ``amplitude_scale="symlog"`` for
    ratios spanning decades (a prediction that keeps its amplitude while the target decays)."""
    for i, run in enumerate(runs):
        k = np.arange(run.amplitude.shape[1]) + 1
        _band(axes[0], k, run.amplitude, run.label, f"C{i}", log=False)
        _band(axes[1], k, np.degrees(run.phase), run.label, f"C{i}", log=False)
    axes[0].axhline(1.0, color="0.3", ls=":", lw=1)
    axes[0].axhline(0.0, color="0.3", ls="-", lw=0.6)
    axes[1].axhline(90.0, color="0.3", ls=":", lw=1)
    if amplitude_scale == "symlog":
        axes[0].set_yscale("symlog", linthresh=0.1)
    axes[0].set_ylabel("amplitude ratio A")
    axes[1].set_ylabel("|phase error| (degrees)")
    axes[1].set_ylim(0, 180)
    for ax in axes:
        ax.set_xlabel("period beyond the training data")
        ax.spines[["right", "top"]].set_visible(False)


def plot_curves(ax, runs: Sequence[SignalRun], which: str = "train"):
    """Train (or test) MSE against epochs, geometric mean over seeds with the ×/÷ geometric-std band."""
    for i, run in enumerate(runs):
        values = run.train_curve if which == "train" else run.test_curve
        keep = run.completed > 0
        _band(ax, run.completed[keep], values[:, keep], run.label, f"C{i}", marker="")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{which} MSE")
    ax.spines[["right", "top"]].set_visible(False)


def plot_frequencies(ax, run: SignalRun, layer: int = 0):
    """How far each neuron's a moved: the distribution of a_final / a_initial per seed (box per seed)."""
    if run.a_final is None:
        raise ValueError(f"run {run.label!r} has no learnable a")
    ratios = run.a_final[layer] / run.a_initial[layer]
    ax.boxplot([r[np.isfinite(r)] for r in ratios], whis=(5, 95), showfliers=False)
    ax.set_xticks(range(1, len(run.seeds) + 1), [str(s) for s in run.seeds])
    ax.set_xlabel("seed")
    ax.set_ylabel("a after / a before")
    ax.axhline(1.0, color="0.3", ls=":", lw=1)
    ax.spines[["right", "top"]].set_visible(False)


def legend_below(fig, axes, ncol: int = 4):
    """One legend for the figure, below the axes."""
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.08 * math.ceil(len(labels) / ncol), 1, 1))
