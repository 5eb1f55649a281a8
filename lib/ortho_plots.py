"""Figures and tables of the chapter "Learnable orthogonal activations" (data from `lib.ortho_experiments`)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from lib.ortho_experiments import LanguageRun, Propagation, VisionRun, factory, first_overflow, shape_on_grid
from lib.report import pm

COLORS = {"GELU": "black", "Hermite": "tab:blue", "Fourier": "tab:orange", "Tropical": "tab:green"}


def plot_bases(x_max: float = 4.0, points: int = 401):
    """The basis functions of each family at the paper's degrees, and the four activations at init."""
    x = np.linspace(-x_max, x_max, points)
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.0), sharex=True)
    he = np.polynomial.hermite_e.hermevander(x, 3)
    for k in range(4):
        axes[0].plot(x, he[:, k] / math.factorial(k), label=rf"$\mathrm{{He}}_{k}/{k}!$")
    axes[0].set_ylim(-3, 3)
    axes[0].set_title("Hermite basis (n = 3)")
    for k in range(1, 6):
        axes[1].plot(x, np.cos(k * x - np.pi / 4) / math.factorial(k), label=rf"$\cos({k}x-\pi/4)/{k}!$")
    axes[1].set_title("Fourier basis (n = 5)")
    scale = math.sqrt(2) / 5
    for k in range(6):
        axes[2].plot(x, scale * (1 + k * x), label=rf"$c_{k}+{k}x$")
    axes[2].plot(x, scale * np.max([1 + k * x for k in range(6)], axis=0), color="black", lw=2.5, alpha=0.4,
                 label="max")
    axes[2].set_ylim(-3, 6)
    axes[2].set_title(r"Tropical pieces (n = 5, $\times\sqrt{2}/n$)")
    for label, color in COLORS.items():
        xs, ys = shape_on_grid(factory(label)(1), torch.tensor(x, dtype=torch.float32))
        axes[3].plot(xs, ys, color=color, label=label)
    axes[3].set_ylim(-2, 6)
    axes[3].set_title("the activations at init")
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=6.5, loc="upper left")
        ax.set_xlabel("x")
    fig.tight_layout()
    return fig


def plot_propagation(runs: list[Propagation]):
    """Signal and gradient second moments per layer (log scale): measured mean over seeds (solid)
    and mean-field prediction (dashed); a measured line stops where float32 overflowed."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharex=True)
    cmap = plt.get_cmap("tab20")
    for i, run in enumerate(runs):
        color = cmap(i % 20)
        layers = np.arange(1, run.signal.shape[1] + 1)
        for ax, measured, theory in ((axes[0], run.signal, run.signal_theory),
                                     (axes[1], run.gradient, run.gradient_theory)):
            with np.errstate(invalid="ignore"):
                mean = np.exp(np.nanmean(np.log(np.clip(measured, 1e-300, None)), axis=0))
            mean[~np.isfinite(measured).all(axis=0)] = np.nan
            ax.plot(layers, mean, color=color, label=run.label)
            ax.plot(layers, np.clip(theory, 1e-300, None), color=color, ls="--", lw=0.9)
    for ax, title in zip(axes, (r"signal $E[z_l^2]$", r"gradient $E[(\partial L/\partial z_l)^2]$")):
        ax.set_yscale("log")
        ax.axhspan(0.5, 2.0, color="grey", alpha=0.15)
        ax.set_xlabel("layer l")
        ax.set_title(title)
    axes[1].legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


def within(values: np.ndarray, low: float = 0.5, high: float = 2.0) -> bool:
    values = np.asarray(values, dtype=float)
    return bool(np.isfinite(values).all() and values.min() >= low and values.max() <= high)


def propagation_table(runs: list[Propagation]) -> str:
    rows = ["| activation (init) | signal at layer 1 | signal at layer L (measured) | mean field | "
            "gradient at layer 1 / layer L (measured) | mean field | signal overflows at layer | both within [1/2, 2] |",
            "|---|---|---|---|---|---|---|---|"]
    for run in runs:
        signal_end = np.nanmean(run.signal[:, -1]) if np.isfinite(run.signal[:, -1]).any() else math.nan
        grad_ratio = run.gradient[:, 0] / run.gradient[:, -1]
        overflow = first_overflow(run.signal)
        rows.append(f"| {run.label} | {np.mean(run.signal[:, 0]):.3g} | {signal_end:.3g} | "
                    f"{run.signal_theory[-1]:.3g} | {np.nanmean(grad_ratio):.3g} | "
                    f"{run.gradient_theory[0] / run.gradient_theory[-1]:.3g} | {overflow or '—'} | "
                    f"{'yes' if within(run.signal_theory) and within(run.gradient_theory / run.gradient_theory[-1]) else 'no'} |")
    return "\n".join(rows)


def plot_curves(runs: dict[str, VisionRun | LanguageRun], metric: str, xlabel: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for label, run in runs.items():
        values = getattr(run, metric)
        x = np.arange(1, values.shape[1] + 1) if isinstance(run, VisionRun) else run.steps
        mean, std = values.mean(axis=0), values.std(axis=0)
        ax.plot(x, mean, color=COLORS.get(label), label=f"{label} ({values.shape[0]} seeds)")
        ax.fill_between(x, mean - std, mean + std, color=COLORS.get(label), alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_learned_shapes(runs: dict[str, VisionRun], x_max: float = 4.0):
    """Each trained activation of the first seed (one line per block) beside its init (dashed)."""
    labels = [label for label in runs if label != "GELU"]
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.2), squeeze=False)
    x = torch.linspace(-x_max, x_max, 401)
    for ax, label in zip(axes[0], labels):
        xs, init = shape_on_grid(factory(label)(1), x)
        ax.plot(xs, init, color="grey", ls="--", label="init")
        for block, module in enumerate(runs[label].activations, start=1):
            ax.plot(*shape_on_grid(module, x), label=f"block {block}")
        gelu = torch.nn.functional.gelu(x).numpy()
        ax.plot(xs, gelu, color="black", lw=0.8, alpha=0.5, label="GELU")
        ax.set_title(f"{label}: learned (seed {runs[label].seeds[0]})")
        ax.set_ylim(-3, 6)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def vision_table(runs: dict[str, VisionRun]) -> str:
    gelu = runs["GELU"].seconds.mean() if "GELU" in runs else math.nan
    rows = ["| activation | final test accuracy (mean ± std) | best epoch accuracy | training time / GELU's |",
            "|---|---|---|---|"]
    for label, run in runs.items():
        rows.append(f"| {label} | {pm(run.test_acc[:, -1], '.4f')} | {pm(run.test_acc.max(axis=1), '.4f')} | "
                    f"{run.seconds.mean() / gelu:.2f} |")
    return "\n".join(rows)


def language_table(runs: dict[str, LanguageRun]) -> str:
    gelu = np.median(runs["GELU"].seconds_per_step) if "GELU" in runs else math.nan
    rows = ["| activation | final validation loss (nats/char) | perplexity | time per step / GELU's |",
            "|---|---|---|---|"]
    for label, run in runs.items():
        rows.append(f"| {label} | {pm(run.val_loss[:, -1], '.4f')} | {pm(run.perplexity[:, -1], '.3f')} | "
                    f"{np.median(run.seconds_per_step) / gelu:.2f} |")
    return "\n".join(rows)
