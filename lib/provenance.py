"""Which source files a result depends on: the static import closure of a module, and one hash of it.

A finished sweep run (`lib.sweep`) is stored under a key that includes `source_hash` of the closure
of its run function's module, so that editing `lib/train.py` invalidates the runs that use it and
editing `lib/runner/cli.py` invalidates none. Nothing is imported: every file is parsed with `ast`.

What is followed, inside the followed top-level packages (``lib`` and those of the given modules):

- ``import lib.x``, ``import lib.x as y``, ``from lib.x import y`` (``y`` may be a submodule),
  relative imports (``from . import y``, ``from ..x import y``), at any depth (inside functions too);
- the ``__init__`` of every package on the way (importing ``lib.x.y`` runs them);
- attribute chains on an imported package (``import lib`` then ``lib.x.f()`` reaches ``lib.x``);
- ``importlib.import_module(...)`` / ``__import__(...)`` of a constant, or of an f-string whose
  fields are module-level constants or loop variables over them (``for m in NAMES:
  import_module(f"lib.pkg.{m}")``); an f-string that cannot be resolved stands for every module of
  its package, except inside a module-level ``__getattr__`` (PEP 562 lazy attributes, which are
  reached through the attribute and ``from`` rules above).

The closure is conservative: an import inside ``if TYPE_CHECKING:`` or a ``try`` counts too.

A module whose code reads other files of its folder (``lib/activations/native.py`` compiles
``native.c``) names them in a module-level ``COMPANION_FILES = ("native.c",)``; `source_hash`
hashes them with the module.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.machinery
import importlib.util
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

DEFAULT_FOLLOW = ("lib",)
_IMPORTERS = {"import_module", "__import__"}


@functools.lru_cache(maxsize=64)
def _package_roots(top: str, path: tuple[str, ...] | None) -> tuple[Path, ...]:
    """The folders that hold the top-level module or package `top` (several for a namespace package)."""
    try:
        if path is None:
            spec = importlib.util.find_spec(top)
        else:
            spec = importlib.machinery.PathFinder.find_spec(top, list(path))
    except (ImportError, ValueError):
        return ()
    if spec is None:
        return ()
    if spec.submodule_search_locations:
        return tuple(Path(loc).parent for loc in spec.submodule_search_locations)
    if spec.origin and spec.origin.endswith(".py"):
        return (Path(spec.origin).parent,)
    return ()   # a built-in or compiled module: no source to follow


def module_file(name: str, path: Sequence[str] | None = None) -> Path | None:
    """The source file of module `name` (``a/b.py`` or ``a/b/__init__.py``), None if it has none.

    `path`: the folders to look for the top-level package in (default: where `import` finds it).
    """
    parts = name.split(".")
    for root in _package_roots(parts[0], None if path is None else tuple(map(str, path))):
        base = root.joinpath(*parts)
        for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _is_package_dir(name: str, path: Sequence[str] | None) -> bool:
    parts = name.split(".")
    return any(root.joinpath(*parts).is_dir()
               for root in _package_roots(parts[0], None if path is None else tuple(map(str, path))))


def _submodules(package: str, path: Sequence[str] | None) -> list[str]:
    """Every module below `package` (recursively), for an import that cannot be resolved statically."""
    found = []
    parts = package.split(".")
    for root in _package_roots(parts[0], None if path is None else tuple(map(str, path))):
        folder = root.joinpath(*parts)
        if not folder.is_dir():
            continue
        for file in sorted(folder.rglob("*.py")):
            rel = file.relative_to(root).with_suffix("")
            names = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            if "__pycache__" not in names and all(n.isidentifier() for n in names):
                found.append(".".join(names))
    return found


def _constant_strings(node: ast.AST) -> list[str] | None:
    """The strings a literal stands for: "x", ("x", "y"), ["x"], {"k": "x"} (values); else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        items = [_constant_strings(e) for e in node.elts]
        return None if any(i is None for i in items) else [s for i in items for s in i]
    if isinstance(node, ast.Dict):
        items = [_constant_strings(v) for v in node.values]
        return None if any(i is None for i in items) else [s for i in items for s in i]
    return None


class _ModuleScan(ast.NodeVisitor):
    """Collects the module names one file may import (absolute names; unresolved patterns as prefixes)."""

    def __init__(self, name: str, is_package: bool, tree: ast.Module):
        self.name = name
        self.package = name if is_package else name.rpartition(".")[0]
        self.imported: set[str] = set()        # absolute module names (may not all exist)
        self.from_items: set[str] = set()      # "pkg.y" for `from pkg import y`: a submodule if it exists
        self.whole_packages: set[str] = set()  # every module of these packages
        self.aliases: dict[str, set[str]] = {}  # local name -> modules it may be bound to
        self.attribute_chains: list[tuple[str, list[str]]] = []
        self.strings: dict[str, list[str]] = {}  # module-level constants and loop variables over them
        self._functions: list[str] = []
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                values = _constant_strings(stmt.value)
                if values is not None:
                    self.strings[stmt.targets[0].id] = values
        for node in ast.walk(tree):  # loop variables over known strings, module-wide (conservative)
            if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name):
                values = self._strings_of(node.iter)
                if values is not None:
                    self.strings.setdefault(node.target.id, []).extend(values)
        self.visit(tree)

    def _strings_of(self, node: ast.AST) -> list[str] | None:
        literal = _constant_strings(node)
        if literal is not None:
            return literal
        if isinstance(node, ast.Name):
            return self.strings.get(node.id)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            return self.strings.get(node.value.id)
        if isinstance(node, ast.JoinedStr):
            options = [""]
            for part in node.values:
                if isinstance(part, ast.Constant):
                    values = [str(part.value)]
                elif isinstance(part, ast.FormattedValue) and part.conversion == -1 and part.format_spec is None:
                    values = self._strings_of(part.value)
                else:
                    values = None
                if values is None:
                    return None
                options = [o + v for o in options for v in values]
            return options
        return None

    def _resolve_relative(self, module: str | None, level: int) -> str | None:
        if level == 0:
            return module
        base = self.package.split(".") if self.package else []
        if level - 1 > len(base):
            return None
        base = base[:len(base) - (level - 1)]
        return ".".join(base + ([module] if module else [])) or None

    def visit_FunctionDef(self, node):
        self._functions.append(node.name)
        self.generic_visit(node)
        self._functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            self.imported.add(alias.name)
            if alias.asname:
                self.aliases.setdefault(alias.asname, set()).add(alias.name)
            else:
                top = alias.name.split(".")[0]
                self.aliases.setdefault(top, set()).add(top)

    def visit_ImportFrom(self, node: ast.ImportFrom):
        module = self._resolve_relative(node.module, node.level)
        if module is None:
            return
        self.imported.add(module)
        for alias in node.names:
            if alias.name != "*":
                self.from_items.add(f"{module}.{alias.name}")
                self.aliases.setdefault(alias.asname or alias.name, set()).add(f"{module}.{alias.name}")

    def visit_Attribute(self, node: ast.Attribute):
        chain, inner = [], node
        while isinstance(inner, ast.Attribute):
            chain.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name):
            self.attribute_chains.append((inner.id, chain[::-1]))
            return  # the inner attributes are part of this chain
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call):
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if called in _IMPORTERS and node.args:
            target = node.args[0]
            values = self._strings_of(target)
            if values is not None:
                for value in values:
                    level = len(value) - len(value.lstrip("."))
                    resolved = self._resolve_relative(value.lstrip(".") or None, level)
                    if resolved:
                        self.imported.add(resolved)
            elif self._functions[:1] != ["__getattr__"] and isinstance(target, ast.JoinedStr):
                head = target.values[0] if target.values else None
                if isinstance(head, ast.Constant) and "." in str(head.value):
                    self.whole_packages.add(str(head.value).rpartition(".")[0])
        self.generic_visit(node)


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def import_closure(modules: Iterable[str], *, follow: Iterable[str] | None = None,
                   path: Sequence[str] | None = None) -> list[str]:
    """The given modules and every module they reach by static imports, sorted by name.

    Only modules inside the `follow` top-level packages are followed and listed (default: ``lib``
    and the top-level packages of `modules`); only modules with a source file are listed (a
    namespace package has none). `path`: where to find the top-level packages (default: where
    `import` finds them). Raises ModuleNotFoundError for a given module that has no source.
    """
    if isinstance(modules, str):
        raise TypeError(f"modules must be an iterable of module names, not the string {modules!r}")
    start = list(modules)
    followed = set(DEFAULT_FOLLOW if follow is None else follow) | {m.split(".")[0] for m in start}
    for name in start:
        if module_file(name, path) is None and not _is_package_dir(name, path):
            raise ModuleNotFoundError(f"import_closure: no source file for module {name!r}")

    seen: set[str] = set()
    files: dict[str, Path] = {}
    pending = [p for m in start for p in _with_parents(m)]
    while pending:
        name = pending.pop()
        if name in seen or name.split(".")[0] not in followed:
            continue
        seen.add(name)
        file = module_file(name, path)
        if file is None:
            continue   # a namespace package, or a name that is not a module (skipped: conservative)
        files[name] = file
        scan = _scan(name, file.name == "__init__.py", file.read_bytes(), str(file))
        pending.extend(p for f in _reached(scan, followed, path) for p in _with_parents(f) if p not in seen)
    return sorted(files)


@functools.lru_cache(maxsize=4096)
def _scan(name: str, is_package: bool, source: bytes, filename: str) -> _ModuleScan:
    """The scan of one file's source; cached by content, as a build hashes the same sources once per chapter (scans
    are read, never changed, after they are made)."""
    return _ModuleScan(name, is_package, ast.parse(source, filename=filename))


def _reached(scan: _ModuleScan, followed: set[str], path: Sequence[str] | None) -> set[str]:
    """The module names one scanned file reaches (some may not exist; the caller skips those)."""
    found = set(scan.imported)
    found |= {item for item in scan.from_items if module_file(item, path) or _is_package_dir(item, path)}
    for package in scan.whole_packages:
        found |= set(_submodules(package, path))
    for local, chain in scan.attribute_chains:
        for bound in scan.aliases.get(local, ()):
            for depth in range(1, len(chain) + 1):
                candidate = ".".join([bound, *chain[:depth]])
                if candidate.split(".")[0] not in followed or module_file(candidate, path) is None:
                    break
                found.add(candidate)
    return found


def notebook_imports(notebook: Path | str, *, follow: Iterable[str] | None = None,
                     path: Sequence[str] | None = None) -> list[str]:
    """The `follow` modules (default: ``lib``) that the code cells of a notebook import, sorted.

    Pass the result to `import_closure` for every module the notebook's code depends on (a
    chapter's cache key). IPython magics and shell lines (``%...``, ``!...``) are left out; a
    cell that still does not parse as Python raises SyntaxError naming the notebook and the cell.
    """
    notebook = Path(notebook)
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    followed = set(DEFAULT_FOLLOW if follow is None else follow)
    found: set[str] = set()
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines), filename=f"{notebook} (cell {index})")
        except SyntaxError as err:
            raise SyntaxError(f"{notebook}, cell {index}: {err.msg} (line {err.lineno})") from None
        found |= _reached(_ModuleScan("__notebook__", False, tree), followed, path)
    return sorted(name for name in found if name.split(".")[0] in followed
                  and (module_file(name, path) is not None or _is_package_dir(name, path)))


@functools.lru_cache(maxsize=1024)
def _companions(source: bytes, filename: str) -> tuple[str, ...]:
    """The names in a module-level ``COMPANION_FILES = (...)`` of string constants."""
    for node in ast.parse(source, filename=filename).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "COMPANION_FILES"
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            if not (isinstance(value, tuple) and all(isinstance(v, str) for v in value)):
                raise ValueError(f"{filename}: COMPANION_FILES must be a tuple of file names")
            return value
    return ()


def source_hash(modules: Iterable[str], *, path: Sequence[str] | None = None) -> str:
    """SHA-256 over (relative path, bytes) of the source file of every module, in sorted path order.

    Paths are relative to the package root (``lib/train.py``), so the hash does not depend on where
    the repository is checked out. Pass the result of `import_closure`.
    """
    entries = []
    for name in set(modules):
        file = module_file(name, path)
        if file is None:
            raise ModuleNotFoundError(f"source_hash: no source file for module {name!r}")
        relative = Path(*name.split("."))
        relative = relative / "__init__.py" if file.name == "__init__.py" else relative.with_suffix(".py")
        entries.append((relative.as_posix(), file))
        entries += [((relative.parent / companion).as_posix(), file.parent / companion)
                    for companion in _companions(file.read_bytes(), str(file))]
    digest = hashlib.sha256()
    for relative, file in sorted(entries):
        data = file.read_bytes()
        digest.update(f"{relative}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()
