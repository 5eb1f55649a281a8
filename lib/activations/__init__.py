"""Activations by name: `get(name, **params)`, `names()`, `spec(name)`.

>>> from lib import activations
>>> act = activations.get("snake", a=30.0, learnable=True, num_features=512)
>>> activations.spec("snake").recovers
{'x + sin²x': {'a': 1.0}}

Each family lives in its own module and registers itself on import; add a new
family's module to `FAMILY_MODULES`.
"""
from importlib import import_module

from lib.activations.registry import (
    ActivationSpec, activation_parameters, families, get, is_activation, names, register, spec, specs,
)

FAMILY_MODULES = ("classical", "snake", "sqrt_family", "ortho")

for _module in FAMILY_MODULES:
    import_module(f"lib.activations.{_module}")

__all__ = [
    "ActivationSpec", "activation_parameters", "families", "get", "is_activation", "names",
    "register", "spec", "specs", "FAMILY_MODULES",
]
