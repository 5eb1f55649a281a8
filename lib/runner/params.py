"""Chapter parameters: what each notebook declares, profile overrides, and `--set` overrides,
all checked against the declarations before anything executes."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lib.runner.errors import RunnerError
from lib.runner.toc import Page

PROFILES_DIR = Path("book") / "profiles"
SCALARS = {"int": int, "float": float, "bool": bool, "str": str}
CONTAINERS = {"list": list, "tuple": tuple, "dict": dict}


@dataclass(frozen=True)
class Declared:
    """A parameter as the notebook's `parameters` cell declares it."""

    name: str
    type_name: str   # the hint as written ("int", "list[float]", ...); "None" when there is none
    default: str     # the default's source text
    help: str


def declared_parameters(page: Page) -> dict[str, Declared]:
    """The parameters of a notebook chapter, read by papermill (so the runner and papermill agree)."""
    import papermill

    try:
        found = papermill.inspect_notebook(str(page.path))
    except Exception as err:  # papermill raises several types for unreadable notebooks
        raise RunnerError(f"chapter {page.name!r}: cannot read its parameters ({err})") from err
    declared = {}
    for name, info in found.items():
        type_name = info["inferred_type_name"]
        if type_name == "None":  # no hint: fall back on the default's literal type
            try:
                type_name = type(ast.literal_eval(info["default"])).__name__
            except (ValueError, SyntaxError):
                type_name = "None"
        declared[name] = Declared(name, type_name, info["default"], info.get("help", ""))
    return declared


def parse_value(text: str) -> Any:
    """A `--set` value: a Python literal (1e-3, [1, 2], 'x', True) or, failing that, the bare string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _split_generic(type_name: str) -> tuple[str, list[str]]:
    match = re.fullmatch(r"\s*(\w+)\s*(?:\[(.*)\])?\s*", type_name)
    if not match:
        return type_name, []
    base, inner = match.group(1), match.group(2)
    args, depth, current = [], 0, ""
    for ch in inner or "":
        if ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        current += ch
    if current.strip():
        args.append(current.strip())
    return base.lower(), args


def coerce(value: Any, type_name: str) -> Any:
    """`value` converted to the declared type, or TypeError/ValueError saying why it does not fit.

    ints are accepted for floats; a string is accepted for a number only when it
    parses as one (YAML 1.1 reads `1e-3` as a string). Nothing else is converted.
    """
    base, args = _split_generic(type_name)
    if base in ("none", "any"):
        return value
    if base in SCALARS:
        if base == "float":
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    raise TypeError(f"expected float, got the string {value!r}") from None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif base == "int":
            if isinstance(value, str) and re.fullmatch(r"[+-]?\d[\d_]*", value.strip()):
                return int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif isinstance(value, SCALARS[base]):
            return value
        raise TypeError(f"expected {type_name}, got {type(value).__name__} {value!r}")
    if base in ("list", "tuple"):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected {type_name}, got {type(value).__name__} {value!r}")
        items = [coerce(v, args[0]) for v in value] if args else list(value)
        return items if base == "list" else tuple(items)
    if base == "dict":
        if not isinstance(value, dict):
            raise TypeError(f"expected {type_name}, got {type(value).__name__} {value!r}")
        return dict(value)
    raise TypeError(f"the declared type {type_name!r} is not one the runner can check "
                    f"(use int, float, bool, str, list[...], tuple[...] or dict)")


def available_profiles(root: Path) -> list[str]:
    """'full' (each notebook's own defaults) and every book/profiles/<name>.yaml."""
    found = sorted(p.stem for p in (root / PROFILES_DIR).glob("*.yaml"))
    return ["full", *[f for f in found if f != "full"]]


def load_profile(root: Path, profile: str) -> dict[str, dict[str, Any]]:
    """The overrides of `profile`: {chapter: {parameter: value}} ('full' with no file: none)."""
    path = root / PROFILES_DIR / f"{profile}.yaml"
    if not path.is_file():
        if profile == "full":
            return {}
        raise RunnerError(f"unknown profile {profile!r}; available: {', '.join(available_profiles(root))}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RunnerError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise RunnerError(f"{path} must map chapter names to {{parameter: value}} mappings")
    return {str(k): dict(v) for k, v in data.items()}


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """`CHAPTER.PARAM=VALUE` strings -> {chapter: {param: value}}."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        match = re.fullmatch(r"([\w-]+)\.(\w+)=(.*)", item, flags=re.S)
        if not match:
            raise RunnerError(f"--set {item!r}: expected CHAPTER.PARAM=VALUE, e.g. gallery.mc_samples=20000")
        chapter, name, text = match.groups()
        out.setdefault(chapter, {})[name] = parse_value(text)
    return out


def resolve(pages: dict[str, Page], profile_overrides: dict[str, dict[str, Any]],
            set_overrides: dict[str, dict[str, Any]], source: str = "profile") -> dict[str, dict[str, Any]]:
    """Merge profile and --set overrides (--set wins) and check every one against its chapter.

    Returns {chapter: {param: value}} for the notebook chapters in `pages`; raises
    RunnerError naming the chapter, the parameter and the valid names on the first problem.
    """
    notebooks = {n: p for n, p in pages.items() if p.is_notebook}
    for origin, overrides in ((source, profile_overrides), ("--set", set_overrides)):
        for chapter in overrides:
            if chapter not in notebooks:
                raise RunnerError(f"{origin}: unknown chapter {chapter!r}; chapters with parameters: "
                                  f"{', '.join(notebooks) or '(none)'}")
    resolved: dict[str, dict[str, Any]] = {}
    for chapter, page in notebooks.items():
        wanted = {**profile_overrides.get(chapter, {}), **set_overrides.get(chapter, {})}
        if not wanted:
            resolved[chapter] = {}
            continue
        declared = declared_parameters(page)
        valid = ", ".join(f"{d.name}: {d.type_name}" for d in declared.values()) or "(none)"
        values = {}
        for name, value in wanted.items():
            if name not in declared:
                raise RunnerError(f"chapter {chapter!r} has no parameter {name!r}; valid parameters: {valid}")
            try:
                values[name] = coerce(value, declared[name].type_name)
            except (TypeError, ValueError) as err:
                raise RunnerError(f"chapter {chapter!r}, parameter {name!r}: {err}; "
                                  f"valid parameters: {valid}") from None
        resolved[chapter] = values
    return resolved
