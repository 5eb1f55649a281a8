"""A multilayer perceptron with any activation (the networks of the Snake and swarm chapters)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from lib import activations
from lib.activations import ActivationFactory

INITS = ("default", "xavier_normal", "snake")


class MLP(nn.Module):
    """in_features -> hidden widths (each followed by an activation) -> out_features.

    Args:
        hidden: widths of the hidden layers.
        activation: a registry name, an ``nn.Module`` class, a `width -> module` factory, or one of these per
            hidden layer.
        activation_params: keyword arguments for a named activation, e.g. ``{"a": 30.0, "learnable": True,
            "granularity": "channel"}`` (one parameter per unit), as for `lib.activations.factory`.
        init: ``"default"`` (PyTorch's), ``"xavier_normal"`` (the Snake seed's), or ``"snake"``
            (Ziyin et al.'s gain 1: W ~ N(0, 1/fan_in)).
        zero_bias: start every bias at zero.
    """

    def __init__(self, in_features: int = 1, hidden: Sequence[int] = (64, 64), out_features: int = 1,
                 activation: str | ActivationFactory | Sequence[str | ActivationFactory] = "relu",
                 activation_params: dict[str, Any] | None = None, init: str = "default",
                 zero_bias: bool = False):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose from {', '.join(INITS)}")
        hidden = list(hidden)
        if not hidden or any(int(w) < 1 for w in hidden):
            raise ValueError(f"hidden widths must be positive integers, got {hidden}")
        per_layer = list(activation) if isinstance(activation, (list, tuple)) else [activation] * len(hidden)
        if len(per_layer) != len(hidden):
            raise ValueError(f"{len(per_layer)} activations given for {len(hidden)} hidden layers")
        factories = [activations.factory(a, **dict(activation_params or {})) for a in per_layer]

        widths = [in_features, *hidden]
        self.hidden_layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(widths[:-1], widths[1:]))
        self.activations = nn.ModuleList(f(w) for f, w in zip(factories, hidden))
        self.head = nn.Linear(widths[-1], out_features)
        self.reset_parameters(init, zero_bias)

    def reset_parameters(self, init: str, zero_bias: bool) -> None:
        for layer in [*self.hidden_layers, self.head]:
            if init == "xavier_normal":
                nn.init.xavier_normal_(layer.weight)
            elif init == "snake":
                nn.init.normal_(layer.weight, std=1.0 / math.sqrt(layer.in_features))
            if zero_bias:
                nn.init.zeros_(layer.bias)

    def features(self, x: Tensor) -> Tensor:
        """The output of the last hidden layer (after its activation)."""
        for layer, act in zip(self.hidden_layers, self.activations):
            x = act(layer(x))
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
