"""Checks of every selected chapter before the first one executes: its parameter values against the
rules its module declares (`lib.chapters.<chapter>.PARAMETERS`), and the data sets it will read."""
from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path
from typing import Any

from lib.runner.errors import RunnerError
from lib.runner.params import declared_parameters, load_profile, resolve
from lib.runner.toc import Page, read_toc


def chapter_module(name: str):
    """`lib.chapters.<name>`, or None for a notebook without a chapter module (e.g. a test book's)."""
    if importlib.util.find_spec(f"lib.chapters.{name}") is None:
        return None
    return importlib.import_module(f"lib.chapters.{name}")


def effective_values(page: Page, overrides: dict[str, Any]) -> dict[str, Any]:
    """The values a chapter will run with: its notebook's defaults, replaced by the overrides."""
    values = {}
    for name, declared in declared_parameters(page).items():
        try:
            values[name] = ast.literal_eval(declared.default)
        except (ValueError, SyntaxError):
            raise RunnerError(f"chapter {page.name!r}: the default of {name!r} ({declared.default}) is not a "
                              "literal the runner can check") from None
    values.update(overrides)
    return values


def profile_values(root: Path, chapter: str, profile: str) -> dict[str, Any]:
    """The values `chapter` runs with in `profile` ("full": its notebook's own defaults), as the runner resolves
    them (the profile's entries coerced to the declared types) and checked by the chapter's rules: what the tests
    and benchmarks build a profile's grids from."""
    page = next((p for p in read_toc(root) if p.name == chapter), None)
    if page is None:
        raise RunnerError(f"no chapter {chapter!r} in {root / '_toc.yml'}")
    overrides = resolve({chapter: page}, {chapter: load_profile(root, profile).get(chapter, {})}, {})[chapter]
    values = effective_values(page, overrides)
    module = chapter_module(chapter)
    return module.PARAMETERS.check(values) if module is not None else values


def check_chapters(pages: dict[str, Page], selected: list[str], overrides: dict[str, dict[str, Any]]) -> None:
    """Raise RunnerError (exit code 2) on the first impossible value or missing data set."""
    from lib.data.images import DataError, require
    from lib.parameters import ParameterError

    for name in selected:
        module = chapter_module(name)
        if module is None:
            continue
        values = effective_values(pages[name], overrides.get(name, {}))
        try:
            module.PARAMETERS.check(values)
        except ParameterError as err:
            raise RunnerError(str(err)) from None
        for dataset in getattr(module, "datasets", lambda _values: [])(values):
            try:
                require(dataset)
            except DataError as err:
                raise RunnerError(f"chapter {name!r} reads {dataset}, which is missing.\n{err}") from None
