"""Second moments of an activation and of its derivative under x ~ N(0, 1), by Monte-Carlo.

These are the forward and backward "gains" of a layer: with unit-variance
pre-activations, E[f(x)^2] scales the signal and E[f'(x)^2] the gradient.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Moments:
    """E[f^2] and E[f'^2] with their Monte-Carlo standard errors."""

    forward: float
    forward_se: float
    backward: float
    backward_se: float
    samples: int


def value_and_derivative(act: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f(x) and f'(x) for an elementwise activation, the derivative by autograd."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = act(x)
        (dy,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), dy.detach()


def monte_carlo_moments(act: nn.Module, samples: int = 200_000, seed: int = 0,
                        dtype: torch.dtype = torch.float64) -> Moments:
    """Estimate E[f(x)^2] and E[f'(x)^2] for x ~ N(0, 1) from `samples` draws (seeded)."""
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, generator=generator, dtype=dtype)
    act = act.to(dtype)
    y, dy = value_and_derivative(act, x)
    f2, fp2 = y.square(), dy.square()
    root_n = samples ** 0.5
    return Moments(
        forward=f2.mean().item(), forward_se=(f2.std() / root_n).item(),
        backward=fp2.mean().item(), backward_se=(fp2.std() / root_n).item(),
        samples=samples,
    )
