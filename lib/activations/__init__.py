"""Activations by name: `create(name, ...)` / `factory(name, ...)`, `get(name, **params)`, `names()`, `spec(name)`.

>>> from lib import activations
>>> act = activations.create("snake", features=512, granularity="channel", a=30.0, learnable=True)
>>> activations.spec("snake").recovers
{'x + sin²x': {'a': 1.0}}

Every activation with parameters takes the same structural arguments (``learnable``,
``granularity`` = ``"layer"`` / ``"channel"`` / ``"element"``, ``num_features``, ``feature_dim``;
see `lib.activations.base`). Each family lives in its own module and registers itself on import;
import a new family's module here and add it to `FAMILY_MODULES`.
"""
# isort: off
# Each family registers itself on import, in this order (the order `names()` and the gallery show).
from lib.activations import classical, snake, sqrt_family, ortho  # noqa: F401
# isort: on
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

__all__ = [
    "ActivationFactory", "ActivationSpec", "GRANULARITIES", "activation_parameters", "create", "factory", "families",
    "get", "is_activation", "names", "register", "spec", "specs", "FAMILY_MODULES",
]
