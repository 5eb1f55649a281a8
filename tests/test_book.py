"""The whole book, built in the quick profile: every page exists and carries its figures."""
from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest

from lib.runner.toc import read_toc

pytestmark = pytest.mark.slow


def image_outputs(nb) -> int:
    """Images a reader should see: image outputs of cells whose output is not removed."""
    count = 0
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type != "code" or {"remove-output", "remove-cell"} & set(tags):
            continue
        for out in cell.get("outputs", []):
            count += any(k.startswith("image/") for k in out.get("data", {}))
    return count


def test_every_toc_entry_has_a_page_with_its_figures(built_book, root):
    html = built_book / "html"
    assert (html / "index.html").is_file()
    for page in read_toc(root):
        target = html / f"{page.file}.html"
        assert target.is_file(), f"no page for {page.file}"
        text = target.read_text()
        if page.is_notebook:
            executed = nbformat.read(built_book / "executed" / f"{page.name}.ipynb", as_version=4)
            expected = image_outputs(executed)
            shown = len(re.findall(r"<img [^>]*src=\"[^\"]*_images/", text))
            assert expected > 0, f"{page.name}: a chapter without figures"
            assert shown >= expected, f"{page.name}: {shown} images on the page, {expected} in the notebook"
            assert "How this page was computed" in text


def test_every_chapter_ran_with_the_quick_profile_and_left_no_errors(built_book, root):
    for page in read_toc(root):
        if not page.is_notebook:
            continue
        nb = nbformat.read(built_book / "executed" / f"{page.name}.ipynb", as_version=4)
        assert nb.metadata.papermill.parameters, f"{page.name}: quick parameters were not injected"
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", f"{page.name}: an error output"


def test_the_html_folder_is_the_only_book(built_book):
    leftovers = [p.name for p in built_book.iterdir() if p.name.startswith("html.")]
    assert leftovers == []


def test_direct_papermill_from_the_repository_root(root, tmp_path):
    out = tmp_path / "gallery.ipynb"
    result = subprocess.run(
        [sys.executable, "-m", "papermill", "book/gallery.ipynb", str(out), "-k", "python3",
         "-p", "mc_samples", "5000", "-p", "sweep_frames", "3", "-p", "grid_points", "101"],
        cwd=root, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata.papermill.parameters == {"mc_samples": 5000, "sweep_frames": 3, "grid_points": 101}
    assert image_outputs(nb) >= 3
