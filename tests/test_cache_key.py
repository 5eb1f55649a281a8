"""A chapter's cache key covers the `lib` code it can import, and nothing else: editing the runner or the
Sphinx extension re-executes no chapter; editing the training loop re-executes the chapters that train."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lib.provenance import notebook_imports
from lib.runner.execute import code_hash
from lib.runner.toc import read_toc

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [p for p in read_toc(ROOT) if p.is_notebook]


@pytest.fixture(scope="module")
def copy_of_lib(tmp_path_factory) -> Path:
    """A private copy of the `lib` package to edit (the checkout is never touched)."""
    folder = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "lib", folder / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def hashes(folder: Path) -> dict[str, str]:
    return {page.name: code_hash(page, [str(folder)]) for page in CHAPTERS}


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_copy_hashes_like_the_checkout(copy_of_lib):
    assert hashes(copy_of_lib) == {page.name: code_hash(page) for page in CHAPTERS}


def test_a_comment_in_the_runner_or_the_sphinx_extension_changes_no_chapter(copy_of_lib):
    before = hashes(copy_of_lib)
    append(copy_of_lib / "lib" / "runner" / "cli.py", "\n# a comment\n")
    append(copy_of_lib / "lib" / "book_extension.py", "\n# a comment\n")
    assert hashes(copy_of_lib) == before


def test_the_training_loop_is_in_every_training_chapter_and_a_chapter_module_only_in_its_own(copy_of_lib):
    before = hashes(copy_of_lib)
    append(copy_of_lib / "lib" / "train.py", "\n# a comment\n")
    after = hashes(copy_of_lib)
    changed = {name for name in before if before[name] != after[name]}
    assert {"snake_extrapolation", "swarm_width", "sqrt_family", "ortho_activations"} <= changed
    append(copy_of_lib / "lib" / "chapters" / "gallery.py", "\n# a comment\n")
    again = hashes(copy_of_lib)
    assert {name for name in after if after[name] != again[name]} == {"gallery"}


def test_notebook_imports_are_read_from_the_code_cells():
    gallery = next(p for p in CHAPTERS if p.name == "gallery")
    assert {"lib.chapters.gallery", "lib.report"} <= set(notebook_imports(gallery.path))
