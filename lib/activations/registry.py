"""A registry of activations by name, in the spirit of timm's `create_act`.

Each family module registers its classes with `register`; users build them with
`get(name, **params)`. A registration carries what the book shows about an
activation: its formula, the parameter values that recover a classical function,
and (where one exists) the closed form of E[f(x)^2] and E[f'(x)^2] for x ~ N(0, 1).
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

# Constructor arguments that shape a module rather than choose its function.
STRUCTURAL_ARGS = frozenset({"inplace", "num_features", "learnable", "feature_dim", "granularity", "shape"})


@dataclass(frozen=True)
class ActivationSpec:
    """What the registry knows about one activation."""

    name: str
    cls: type[nn.Module]
    label: str
    formula: str
    family: str
    recovers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    second_moments: Callable[..., tuple[float, float]] | None = None
    aliases: tuple[str, ...] = ()

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.cls.__init__)

    @property
    def accepts_any_kwargs(self) -> bool:
        return any(p.kind is p.VAR_KEYWORD for p in self.signature.parameters.values())

    @property
    def arguments(self) -> dict[str, Any]:
        """Every keyword the constructor takes, with its default (inspect.Parameter.empty if none)."""
        return {
            n: p.default for n, p in self.signature.parameters.items()
            if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }

    @property
    def params(self) -> dict[str, Any]:
        """The parameters that choose the function (not its shape), with their defaults."""
        return {n: d for n, d in self.arguments.items() if n not in STRUCTURAL_ARGS}

    def check_arguments(self, params: Mapping[str, Any]) -> None:
        unknown = sorted(set(params) - set(self.arguments))
        if unknown and not self.accepts_any_kwargs:
            valid = ", ".join(self.arguments) or "(none)"
            raise TypeError(f"activation {self.name!r} has no parameter(s) {', '.join(unknown)}; valid: {valid}")

    def build(self, **params: Any) -> nn.Module:
        self.check_arguments(params)
        return self.cls(**params)

    def closed_form_moments(self, **params: Any) -> tuple[float, float] | None:
        """E[f(x)^2], E[f'(x)^2] for x ~ N(0,1) at these parameters, or None if no closed form."""
        if self.second_moments is None:
            return None
        values = {n: d for n, d in self.params.items() if d is not inspect.Parameter.empty}
        values.update({n: v for n, v in params.items() if n in self.params})
        return self.second_moments(**values)


_REGISTRY: dict[str, ActivationSpec] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register(
    name: str,
    *,
    label: str | None = None,
    formula: str,
    family: str,
    recovers: Mapping[str, Mapping[str, Any]] | None = None,
    second_moments: Callable[..., tuple[float, float]] | None = None,
    aliases: tuple[str, ...] = (),
):
    """Register an activation class; usable as a decorator or called on an existing class.

    `formula` is LaTeX for f(x); `recovers` maps the name of a classical function
    to the parameter values at which this activation equals it.
    """
    key = _key(name)

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"activation {name!r} is already registered")
        spec = ActivationSpec(
            name=key, cls=cls, label=label or name, formula=formula, family=family,
            recovers=dict(recovers or {}), second_moments=second_moments, aliases=tuple(aliases),
        )
        _REGISTRY[key] = spec
        for alias in aliases:
            _ALIASES[_key(alias)] = key
        return cls

    return decorate


def spec(name: str) -> ActivationSpec:
    """The registration of `name` (case-insensitive; aliases accepted)."""
    key = _key(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, list(_REGISTRY) + list(_ALIASES), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown activation {name!r}.{hint} Registered: {', '.join(names())}")
    return _REGISTRY[key]


def get(name: str, **params: Any) -> nn.Module:
    """Build the activation `name` with `params` (unknown parameters raise TypeError)."""
    return spec(name).build(**params)


def names(family: str | None = None) -> list[str]:
    """Registered names in registration order, optionally of one family."""
    return [n for n, s in _REGISTRY.items() if family is None or s.family == family]


def specs(family: str | None = None) -> list[ActivationSpec]:
    return [_REGISTRY[n] for n in names(family)]


def families() -> list[str]:
    return list(dict.fromkeys(s.family for s in _REGISTRY.values()))


def is_activation(module: nn.Module) -> bool:
    """True for instances of registered activation classes."""
    return any(type(module) is s.cls for s in _REGISTRY.values())


def activation_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable parameters that belong to registered activations inside `model`."""
    seen: dict[int, nn.Parameter] = {}
    for module in model.modules():
        if is_activation(module):
            for p in module.parameters():
                seen.setdefault(id(p), p)
    return list(seen.values())
