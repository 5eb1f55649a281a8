"""What each chapter's parameters may be: ranges and choices, checked before any work starts.

A chapter module declares its rules once::

    PARAMETERS = Parameters("gallery", mc_samples=Int(minimum=1000), names=ListOf(OneOf(*activations.names())))

The runner (`python -m lib build`) checks every selected chapter's values (the notebook's defaults, the
profile and ``--set``) against them before the first chapter executes, and each notebook checks its own
values right after its parameters cell, so that a plain ``papermill ... -p epochs -3`` fails in seconds
too. A failure names the chapter, the parameter, the value and what is allowed.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class ParameterError(ValueError):
    """A chapter parameter outside what the chapter allows."""


class Rule:
    """One parameter's rule: `check(value)` raises ValueError; `allowed` says in words what passes."""

    allowed = "any value"

    def check(self, value: Any) -> None:  # pragma: no cover - every rule overrides it
        raise NotImplementedError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Int(Rule):
    """An integer in [minimum, maximum]."""

    minimum: int | None = None
    maximum: int | None = None

    @property
    def allowed(self) -> str:
        return "an int" + _range_words(self.minimum, self.maximum, False)

    def check(self, value: Any) -> None:
        if not _is_int(value) or not _within(value, self.minimum, self.maximum, False):
            raise ValueError(self.allowed)


@dataclass(frozen=True)
class Float(Rule):
    """A finite number in [minimum, maximum] (or (minimum, maximum] with `exclusive_minimum`)."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    @property
    def allowed(self) -> str:
        return "a finite number" + _range_words(self.minimum, self.maximum, self.exclusive_minimum)

    def check(self, value: Any) -> None:
        if not _is_number(value) or not math.isfinite(value) or \
                not _within(value, self.minimum, self.maximum, self.exclusive_minimum):
            raise ValueError(self.allowed)


def Positive() -> Float:     # noqa: N802 (reads as a rule, like Int and Float)
    """A finite number > 0 (learning rates, scales)."""
    return Float(minimum=0.0, exclusive_minimum=True)


@dataclass(frozen=True)
class Bool(Rule):
    allowed = "True or False"

    def check(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise ValueError(self.allowed)


class OneOf(Rule):
    """One of a fixed set of choices (names of activations, data sets, tasks...)."""

    def __init__(self, *choices: Any):
        if not choices:
            raise ValueError("OneOf needs at least one choice")
        self.choices = tuple(choices)

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def check(self, value: Any) -> None:
        if value not in self.choices:
            raise ValueError(self.allowed)


@dataclass(frozen=True)
class ListOf(Rule):
    """A list whose items each pass `item`, with at least `min_length` items (and, if `distinct`, no repeats)."""

    item: Rule
    min_length: int = 1
    max_length: int | None = None
    distinct: bool = False

    @property
    def allowed(self) -> str:
        if self.max_length is None:
            size = f"at least {self.min_length}"
        elif self.max_length != self.min_length:
            size = f"{self.min_length} to {self.max_length}"
        else:
            size = f"exactly {self.min_length}"
        words = f"a list of {size} item(s), each {self.item.allowed}"
        return words + (", all different" if self.distinct else "")

    def check(self, value: Any) -> None:
        if not isinstance(value, (list, tuple)) or len(value) < self.min_length or \
                (self.max_length is not None and len(value) > self.max_length):
            raise ValueError(self.allowed)
        for item in value:
            try:
                self.item.check(item)
            except ValueError:
                raise ValueError(f"{self.allowed} ({item!r} is not)") from None
        if self.distinct and len(set(map(repr, value))) != len(value):
            raise ValueError(f"{self.allowed} (some repeat)")


def Seeds(min_length: int = 1) -> ListOf:     # noqa: N802
    """A non-empty list of distinct seeds in [0, 2**32)."""
    return ListOf(Int(0, 2**32 - 1), min_length=min_length, distinct=True)


def _within(value: float, low: float | None, high: float | None, exclusive_low: bool) -> bool:
    if low is not None and (value <= low if exclusive_low else value < low):
        return False
    return high is None or value <= high


def _range_words(low, high, exclusive_low) -> str:
    if low is not None and high is not None:
        return f" in {'(' if exclusive_low else '['}{low:g}, {high:g}]"
    if low is not None:
        return f" {'>' if exclusive_low else '>='} {low:g}"
    if high is not None:
        return f" <= {high:g}"
    return ""


class Parameters:
    """The rules of one chapter's parameters, plus checks that involve several of them.

    `constraints` are functions of the whole mapping of values that raise ParameterError (use
    `Parameters.fail`) when a combination is impossible, e.g. a subset that is not a subset.
    """

    def __init__(self, chapter: str, *, constraints: Sequence[Callable[[Mapping[str, Any]], None]] = (),
                 **rules: Rule):
        self.chapter = chapter
        self.rules = rules
        self.constraints = tuple(constraints)

    def fail(self, name: str, value: Any, allowed: str) -> None:
        raise ParameterError(f"chapter {self.chapter!r}, parameter {name!r} = {value!r}: must be {allowed}")

    def check(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check the declared parameters found in `values` (e.g. a notebook's ``globals()``); returns them.

        Every declared parameter must be present.
        """
        missing = [name for name in self.rules if name not in values]
        if missing:
            raise ParameterError(f"chapter {self.chapter!r}: no value for parameter(s) {', '.join(missing)}")
        chosen = {name: values[name] for name in self.rules}
        for name, rule in self.rules.items():
            try:
                rule.check(chosen[name])
            except ValueError as err:
                self.fail(name, chosen[name], str(err))
        for constraint in self.constraints:
            constraint(chosen)
        return chosen

    def describe(self) -> dict[str, str]:
        """What each parameter may be, in words."""
        return {name: rule.allowed for name, rule in self.rules.items()}
