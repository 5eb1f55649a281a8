"""The architecture, enforced: core code never imports chapter or runner code, chapters never import each
other, module-level imports form no cycle, and every chapter of the book has its module with its rules."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lib.runner.params import declared_parameters
from lib.runner.toc import read_toc

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def lib_imports(path: Path, module_level_only: bool = False) -> set[str]:
    """The `lib...` modules a file imports (names imported from a package count as the package)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "lib"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lib" and not node.level:
            folder = LIB.parent / node.module.replace(".", "/")
            submodules = {a.name for a in node.names if (folder / f"{a.name}.py").is_file()
                          or (folder / a.name / "__init__.py").is_file()}
            found |= {f"{node.module}.{name}" for name in submodules}
            if len(submodules) < len(node.names):        # names defined by the module itself
                found.add(node.module)
    return found


MODULES = {module_name(p): p for p in sorted(LIB.rglob("*.py"))}
CHAPTERS = {m for m in MODULES if m.startswith("lib.chapters.") and not m.endswith("__init__")}
RUNNER = {m for m in MODULES if m == "lib.runner" or m.startswith("lib.runner.")}


ENTRY_POINTS = {"lib.__main__", "lib.book_extension"}      # the command line and the Sphinx extension


@pytest.mark.parametrize("module", sorted(set(MODULES) - CHAPTERS - RUNNER - ENTRY_POINTS))
def test_core_modules_import_no_chapter_and_no_runner_code(module):
    bad = {m for m in lib_imports(MODULES[module]) if m.startswith(("lib.chapters", "lib.runner"))}
    assert not bad, f"{module} (core) imports {sorted(bad)}"


@pytest.mark.parametrize("module", sorted(CHAPTERS))
def test_chapter_modules_import_no_other_chapter(module):
    others = {m for m in lib_imports(MODULES[module]) if m.startswith("lib.chapters") and m != module}
    assert not others, f"{module} imports {sorted(others)}: move the shared piece down into the core"


def test_module_level_imports_form_no_cycle():
    graph = {m: {i for i in lib_imports(p, module_level_only=True) if i in MODULES and i != m}
             for m, p in MODULES.items()}
    # a package's __init__ is imported with any of its submodules; count that edge too
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path, m, n]))
            if n not in state:
                visit(n, [*path, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


NOTEBOOK_CHAPTERS = [p for p in read_toc(ROOT) if p.is_notebook]


@pytest.mark.parametrize("page", NOTEBOOK_CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_has_a_module_whose_rules_cover_its_parameters(page):
    module = f"lib.chapters.{page.name}"
    assert module in MODULES, f"{page.name}: no {module}"
    import importlib

    rules = importlib.import_module(module).PARAMETERS
    assert rules.chapter == page.name
    assert set(rules.rules) == set(declared_parameters(page)), \
        f"{page.name}: rules for {sorted(set(rules.rules) ^ set(declared_parameters(page)))} do not match the notebook"


@pytest.mark.parametrize("page", NOTEBOOK_CHAPTERS, ids=lambda p: p.name)
def test_every_notebook_checks_its_parameters_right_after_them(page):
    import nbformat

    nb = nbformat.read(page.path, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    after = nb.cells[index + 1]
    assert after.cell_type == "code" and "PARAMETERS.check(globals())" in after.source
