"""Loss-surface slices along filter-normalised random directions (Li et al. 2018).

A direction d has one Gaussian tensor per weight; every *filter* of it (a row of a Linear
weight, an output channel of a Conv weight) is rescaled to the norm of the same filter of
the trained weights θ, so that a step α·d means the same relative change in every layer
whatever its scale. Biases, BatchNorm parameters and the activations' own parameters get a
zero direction (Li et al. also leave biases and BN out). The slices are

    L(α) = loss(θ + α d)              (1-D)
    L(α, β) = loss(θ + α d + β e)      (2-D, d and e independent)

evaluated in eval mode on a fixed batch. `roughness` turns a slice into one number.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lib.activations import activation_parameters


def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> dict[str, Tensor]:
    """One random direction, filter-normalised, as {parameter name: tensor} (zeros where left out)."""
    skip = {id(p) for p in activation_parameters(model)}
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            skip |= {id(p) for p in module.parameters()}
    direction = {}
    for name, p in model.named_parameters():
        if p.dim() <= 1 or id(p) in skip:
            direction[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        p_norm = p.detach().flatten(1).norm(dim=1)
        direction[name] = d * (p_norm / d_norm).reshape(-1, *([1] * (p.dim() - 1)))
    return direction


@torch.no_grad()
def _loss_at(model: nn.Module, base: dict[str, Tensor], steps: Sequence[tuple[float, dict[str, Tensor]]],
             x: Tensor, y: Tensor, loss_fn) -> float:
    params = dict(model.named_parameters())
    for name, p in params.items():
        p.copy_(base[name] + sum(a * d[name] for a, d in steps))
    return float(loss_fn(model(x), y))


@torch.no_grad()
def loss_slices(model: nn.Module, x: Tensor, y: Tensor, *, span: float = 1.0, points_1d: int = 41,
                points_2d: int = 15, seed: int = 0,
                loss_fn=nn.functional.cross_entropy) -> dict[str, np.ndarray]:
    """The 1-D slice on `points_1d` values of α in [-span, span] and the 2-D slice on a
    `points_2d` x `points_2d` grid, around the model's current weights (restored afterwards).

    Returns ``alphas``, ``loss_1d`` (points_1d,), ``grid`` (points_2d,), ``loss_2d`` (points_2d, points_2d)
    (rows: β, columns: α).
    """
    if not span > 0 or points_1d < 3 or points_2d < 3:
        raise ValueError(f"need span > 0 and at least 3 points per axis, got span={span}, "
                         f"points_1d={points_1d}, points_2d={points_2d}")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    d = filter_normalized_direction(model, generator)
    e = filter_normalized_direction(model, generator)
    try:
        alphas = np.linspace(-span, span, points_1d)
        loss_1d = np.array([_loss_at(model, base, [(a, d)], x, y, loss_fn) for a in alphas])
        grid = np.linspace(-span, span, points_2d)
        loss_2d = np.array([[_loss_at(model, base, [(a, d), (b, e)], x, y, loss_fn) for a in grid] for b in grid])
    finally:
        for name, p in model.named_parameters():
            p.copy_(base[name])
        model.train(was_training)
    return {"alphas": alphas, "loss_1d": loss_1d, "grid": grid, "loss_2d": loss_2d}


def excess_variation(curve: np.ndarray) -> float:
    """Total variation of a 1-D curve beyond what a single basin needs, relative to it.

    For a curve that falls to its minimum and then rises (unimodal), the total variation is
    (L(left) - min) + (L(right) - min) and the result is 0; each extra bump adds twice its
    height. A constant curve gives 0.
    """
    curve = np.asarray(curve, dtype=float)
    if curve.ndim != 1 or curve.size < 2:
        raise ValueError("excess_variation needs a 1-D curve of at least 2 points")
    if not np.all(np.isfinite(curve)):
        return float("inf")
    tv = np.abs(np.diff(curve)).sum()
    basin = (curve[0] - curve.min()) + (curve[-1] - curve.min())
    return float(tv / basin - 1.0) if basin > 0 else 0.0


def roughness(slices: dict[str, np.ndarray]) -> dict[str, float]:
    """Scalar summaries of a slice: ``excess_1d`` (excess variation of the 1-D slice), ``excess_2d``
    (its mean over every row and column of the 2-D slice), and ``curvature`` (mean |second
    difference| of the 1-D slice divided by its range: large for a jagged curve, small for a
    smooth bowl of the same depth)."""
    loss_1d, loss_2d = slices["loss_1d"], slices["loss_2d"]
    lines = [*loss_2d, *loss_2d.T]
    span = np.ptp(loss_1d)
    second = np.abs(np.diff(loss_1d, 2)).mean()
    return {"excess_1d": excess_variation(loss_1d),
            "excess_2d": float(np.mean([excess_variation(line) for line in lines])),
            "curvature": float(second / span) if span > 0 else 0.0}


def plot_slices(slices: dict[str, dict[str, np.ndarray]]):
    """The 1-D slices of several models in one panel, then one 2-D contour panel per model."""
    import matplotlib.pyplot as plt

    n = len(slices)
    fig, axes = plt.subplots(1, n + 1, figsize=(3.3 * (n + 1), 3.0))
    for i, (label, s) in enumerate(slices.items()):
        axes[0].plot(s["alphas"], s["loss_1d"], color=f"C{i}", label=label)
        ax = axes[i + 1]
        levels = np.quantile(s["loss_2d"], np.linspace(0, 1, 15))
        contour = ax.contourf(s["grid"], s["grid"], s["loss_2d"], levels=np.unique(levels), cmap="viridis")
        fig.colorbar(contour, ax=ax, shrink=0.8)
        ax.plot(0, 0, "w+")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("α")
        ax.set_ylabel("β")
    axes[0].set_xlabel("α")
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
