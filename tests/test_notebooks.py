"""Every chapter notebook is stored clean, declares typed parameters papermill can see, and fits its profiles."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import papermill
import pytest

from lib.runner.params import CONTAINERS, SCALARS, _split_generic, available_profiles, load_profile, resolve
from lib.runner.toc import read_toc

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]


def test_there_are_chapters_and_all_are_in_the_toc():
    listed = {p.path for p in read_toc(ROOT) if p.is_notebook}
    assert NOTEBOOKS, "no chapter notebooks found"
    assert set(NOTEBOOKS) == listed, "every notebook under book/ must be a chapter in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_with_python3_kernel(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} has outputs"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"
        assert "injected-parameters" not in cell.metadata.get("tags", []), f"{path.name}: stale papermill cell"
    assert "papermill" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_then_one_typed_parameters_cell_seen_whole_by_papermill(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assigned = {}
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.AnnAssign), f"{path.name}: parameter line {ast.unparse(node)!r} has no type hint"
        assigned[node.target.id] = ast.unparse(node.annotation)
    seen = papermill.inspect_notebook(str(path))
    # papermill silently drops parameters it cannot parse (e.g. `x: int | None = None`)
    assert set(seen) == set(assigned), \
        f"{path.name}: papermill sees {sorted(seen)}, the cell assigns {sorted(assigned)}"
    for name, hint in assigned.items():
        base, _ = _split_generic(hint)
        assert base in SCALARS or base in CONTAINERS, f"{path.name}: {name}: {hint} is not a type the runner checks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_sys_path_tricks_and_no_hidden_relative_paths(path):
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert "sys.path" not in source
    assert "os.chdir" not in source


@pytest.mark.parametrize("profile", available_profiles(ROOT))
def test_every_profile_override_is_valid(profile):
    pages = {p.name: p for p in read_toc(ROOT)}
    resolve(pages, load_profile(ROOT, profile), {})  # raises on any unknown chapter, name or type


def test_quick_profile_covers_every_chapter_with_a_cost():
    quick = load_profile(ROOT, "quick")
    for page in read_toc(ROOT):
        if page.is_notebook:
            assert page.name in quick, f"chapter {page.name!r} has no quick-profile values"
