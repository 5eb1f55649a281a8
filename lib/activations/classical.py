"""Classical activations: torch's own modules where they exist, registered with their formulas.

Closed forms of the second moments under x ~ N(0, 1) use E[cos x] = E[x sin x] = e^{-1/2},
E[sin^2 x] = (1 - e^{-2})/2, and for ELU E[e^{2x}; x<0] = e^2 Phi(-2), E[e^x; x<0] = e^{1/2} Phi(-1).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lib.activations.registry import register


def _phi_lower(t: float) -> float:
    """Phi(-t), the standard normal CDF at -t."""
    return 0.5 * math.erfc(t / math.sqrt(2.0))


class Sin(nn.Module):
    r"""Sine: :math:`f(x) = \sin x`."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(x)


class XPlusSin(nn.Module):
    r"""x plus sine: :math:`f(x) = x + \sin x` (one of the baselines of Ziyin et al. 2020)."""

    def forward(self, x: Tensor) -> Tensor:
        return x + torch.sin(x)


def _relu_moments() -> tuple[float, float]:
    return 0.5, 0.5


def _leaky_relu_moments(negative_slope: float) -> tuple[float, float]:
    m = (1.0 + negative_slope**2) / 2.0
    return m, m


def _elu_moments(alpha: float) -> tuple[float, float]:
    e2x = math.exp(2.0) * _phi_lower(2.0)      # E[e^{2x}; x < 0]
    ex = math.exp(0.5) * _phi_lower(1.0)       # E[e^{x};  x < 0]
    forward = 0.5 + alpha**2 * (e2x - 2.0 * ex + 0.5)
    backward = 0.5 + alpha**2 * e2x
    return forward, backward


def _sin_moments() -> tuple[float, float]:
    return (1.0 - math.exp(-2.0)) / 2.0, (1.0 + math.exp(-2.0)) / 2.0


def _x_plus_sin_moments() -> tuple[float, float]:
    c = 2.0 * math.exp(-0.5)
    return 1.0 + c + (1.0 - math.exp(-2.0)) / 2.0, 1.0 + c + (1.0 + math.exp(-2.0)) / 2.0


register("relu", label="ReLU", formula=r"\max(0, x)", family="classical",
         second_moments=_relu_moments)(nn.ReLU)
register("leaky_relu", label="LeakyReLU", formula=r"x \text{ if } x > 0 \text{ else } s\,x",
         family="classical", recovers={"ReLU": {"negative_slope": 0.0}, "identity": {"negative_slope": 1.0}},
         second_moments=_leaky_relu_moments, aliases=("leakyrelu",))(nn.LeakyReLU)
register("elu", label="ELU", formula=r"x \text{ if } x > 0 \text{ else } \alpha (e^{x} - 1)",
         family="classical", second_moments=_elu_moments)(nn.ELU)
register("gelu", label="GELU", formula=r"x\,\Phi(x)", family="classical")(nn.GELU)
register("silu", label="SiLU / Swish", formula=r"x\,\sigma(x)", family="classical",
         aliases=("swish",))(nn.SiLU)
register("tanh", label="Tanh", formula=r"\tanh x", family="classical")(nn.Tanh)
register("tanhshrink", label="Tanhshrink", formula=r"x - \tanh x", family="classical")(nn.Tanhshrink)
register("sigmoid", label="Sigmoid", formula=r"\sigma(x) = 1 / (1 + e^{-x})", family="classical")(nn.Sigmoid)
register("sin", label="sin", formula=r"\sin x", family="periodic", second_moments=_sin_moments)(Sin)
register("x_plus_sin", label="x + sin x", formula=r"x + \sin x", family="periodic",
         second_moments=_x_plus_sin_moments, aliases=("x+sin",))(XPlusSin)
