"""The one activation factory (in the spirit of timm's `create_act_layer`): a name, its parameters,
and where the parameters live.

>>> act = create("snake", features=512, granularity="channel", a=30.0, learnable=True)   # one a per unit
>>> make = factory("tsqrt", granularity="element", learnable=True)    # shape -> module, for a model
>>> make((16, 8, 8)).raw_z.shape
torch.Size([16, 8, 8])

Every model of the book takes a ``make_activation(features)`` callable built here; ``features`` is
the layer's channel count or per-example shape. Parameter-free activations (ReLU, tanh, ...)
ignore `features`, `granularity` and `learnable`, so one grid can mix them with trainable ones.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from lib.activations.base import GRANULARITIES
from lib.activations.registry import spec

Features = int | tuple[int, ...]
ActivationFactory = Callable[[Features], nn.Module]


def create(name: str, *, features: Features | None = None, granularity: str = "layer", feature_dim: int = 1,
           **params: Any) -> nn.Module:
    """The registered activation `name` with `params`, its parameters per `granularity`.

    Args:
        features: the channel count or per-example shape of the input (needed for "channel" and "element").
        granularity: ``"layer"`` (one value per parameter), ``"channel"`` or ``"element"``.
        feature_dim: the input dimension the channels run along (1, or -1 for (B, T, C)).
        params: the activation's own parameters (e.g. ``a=30.0``) and ``learnable``.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    s = spec(name)
    if "granularity" not in s.arguments:                  # no parameters of its own: nothing to place or learn
        params.pop("learnable", None)
        return s.build(**params)
    if granularity != "layer" and features is None:
        raise ValueError(f'granularity "{granularity}" needs the features (channel count or per-example shape)')
    structure = {"granularity": granularity, "feature_dim": feature_dim}
    if granularity != "layer":
        structure["num_features"] = features
    return s.build(**params, **structure)


def factory(activation: str | type[nn.Module] | ActivationFactory, *, granularity: str = "layer",
            feature_dim: int = 1, **params: Any) -> ActivationFactory:
    """``features -> a fresh activation module``, checked now (a bad name or value fails before any training).

    `activation` is a registry name, an ``nn.Module`` class (built without arguments, as the original
    swarm package passed ``nn.ReLU``), or already a factory (returned unchanged).
    """
    if isinstance(activation, str):
        create(activation, features=1, granularity=granularity, feature_dim=feature_dim, **params)   # probe

        def make(features: Features) -> nn.Module:
            return create(activation, features=features, granularity=granularity, feature_dim=feature_dim,
                          **params)

        return make
    if params or granularity != "layer":
        raise ValueError("activation parameters and granularity only apply to a registry name")
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return lambda features: activation()
    if callable(activation):
        return activation
    raise TypeError(f"activation must be a registry name, an nn.Module class or a factory, got {activation!r}")
