"""Loss-surface slices along filter-normalised random directions (Li et al. 2018).

A direction d has one Gaussian tensor per weight; every *filter* of it (a row of a Linear
weight, an output channel of a Conv weight) is rescaled to the norm of the same filter of
the trained weights θ, so that a step α·d means the same relative change in every layer
whatever its scale. Biases, BatchNorm parameters and the activations' own parameters get a
zero direction (Li et al. also leave biases and BN out). The slices are

    L(α) = loss(θ + α d)              (1-D)
    L(α, β) = loss(θ + α d + β e)      (2-D, d and e independent)

evaluated in eval mode on a fixed batch. `lib.slice_measures` turns slices into numbers and figures (kept apart,
so that a training run that slices its landscape does not depend on how the slices are read).
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
             x: Tensor, y: Tensor, loss_fn, moving: Sequence[str]) -> float:
    """The loss at base + Σ a·d; only the `moving` parameters (non-zero in some direction) are rewritten."""
    params = dict(model.named_parameters())
    for name in moving:
        p = params[name]
        p.copy_(base[name])
        for a, d in steps:
            if a != 0:
                p.add_(d[name], alpha=a)
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
    if not span > 0 or points_1d < 3 or points_2d < 3 or points_1d % 2 == 0 or points_2d % 2 == 0:
        raise ValueError(f"need span > 0 and an odd number (at least 3) of points per axis, so that the grid "
                         f"holds the trained weights, got span={span}, points_1d={points_1d}, points_2d={points_2d}")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    d = filter_normalized_direction(model, generator)
    e = filter_normalized_direction(model, generator)
    moving = [n for n in base if bool(d[n].any()) or bool(e[n].any())]
    try:
        alphas = np.linspace(-span, span, points_1d)
        loss_1d = np.array([_loss_at(model, base, [(a, d)], x, y, loss_fn, moving) for a in alphas])
        grid = np.linspace(-span, span, points_2d)
        loss_2d = np.array([[_loss_at(model, base, [(a, d), (b, e)], x, y, loss_fn, moving) for a in grid]
                            for b in grid])
    finally:
        for name, p in model.named_parameters():
            p.copy_(base[name])
        model.train(was_training)
    return {"alphas": alphas, "loss_1d": loss_1d, "grid": grid, "loss_2d": loss_2d}
