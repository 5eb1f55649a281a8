"""Activations by name: `create(name, ...)` / `factory(name, ...)`, `get(name, **params)`, `names()`, `spec(name)`.

>>> from lib import activations
>>> act = activations.create("snake", features=512, granularity="channel", a=30.0, learnable=True)
>>> activations.spec("snake").recovers
{'x + sin²x': {'a': 1.0}}

Every activation with parameters takes the same structural arguments (``learnable``,
``granularity`` = ``"layer"`` / ``"channel"`` / ``"element"``, ``num_features``, ``feature_dim``;
see `lib.activations.base`). Each family lives in its own module and registers itself on import;
add a new family's module to `FAMILY_MODULES`.
"""
from importlib import import_module

from lib.activations.base import GRANULARITIES
from lib.activations.factory import ActivationFactory, create, factory
from lib.activations.registry import (
    ActivationSpec,
    activation_parameters,
    families,
    get,
    is_activation,
    names,
    register,
    spec,
    specs,
)

FAMILY_MODULES = ("classical", "snake", "sqrt_family", "ortho")

for _module in FAMILY_MODULES:
    import_module(f"lib.activations.{_module}")

__all__ = [
    "ActivationFactory", "ActivationSpec", "GRANULARITIES", "activation_parameters", "create", "factory", "families",
    "get", "is_activation", "names", "register", "spec", "specs", "FAMILY_MODULES",
]
