"""The whole book, built in the quick profile: every page exists and carries its figures."""
from __future__ import annotations

import csv
import json
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
            if page.name != "findings" or list((built_book / "claims").glob("*.json")):
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


PAGE_LIMIT = 5_000_000      # bytes: a page a reader's browser opens without a wait (the chapter contract)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_every_page_is_at_most_5_mb(built_book):
    html = built_book / "html"
    sizes = {str(p.relative_to(html)): p.stat().st_size for p in html.rglob("*.html")
             if "_static" not in p.relative_to(html).parts}
    print("\n".join(f"{size / 1e6:7.2f} MB  {name}" for name, size in sorted(sizes.items(), key=lambda x: -x[1])))
    assert {name: size for name, size in sizes.items() if size > PAGE_LIMIT} == {}


def test_parameters_are_shown_once_in_the_note_not_as_code(built_book, root):
    for page in read_toc(root):
        if not page.is_notebook:
            continue
        executed = nbformat.read(built_book / "executed" / f"{page.name}.ipynb", as_version=4)
        tags = [set(c.metadata.get("tags", [])) for c in executed.cells]
        assert any("injected-parameters" in t for t in tags), f"{page.name}: papermill injected nothing"
        html = (built_book / "html" / f"{page.file}.html").read_text()
        assert "tag_parameters" not in html and "tag_injected-parameters" not in html, \
            f"{page.name}: a parameters cell is on the page"
        text = text_of(html)
        assert "# Parameters" not in text
        note = text[text.index("How this page was computed"):]
        for name in executed.metadata.papermill.parameters:
            assert f"{name} = " in note, f"{page.name}: {name} is not in the note"


def test_the_execution_report_lists_every_chapter_of_this_build(built_book, root):
    report = json.loads((built_book / "report.json").read_text())
    page = (built_book / "html" / "book" / "execution_report.html").read_text()
    text = text_of(page)
    assert "Written by the book runner" in text and "--profile quick" in text
    for run in report["chapters"]:
        assert f'href="{run["name"]}.html"' in page, f"no link to {run['name']}"
        assert run["code_hash"][:10] in text and f"{run['seconds']:.1f}" in text
        assert re.search(rf"\b{run['status']}\b", text)
    intro = (built_book / "html" / "book" / "intro.html").read_text()
    assert 'href="execution_report.html"' in intro and 'href="findings.html"' in intro


def test_findings_list_every_recorded_claim_or_say_there_are_none(built_book):
    page = text_of((built_book / "html" / "book" / "findings.html").read_text())
    records = [r for path in sorted((built_book / "claims").glob("*.json"))
               for r in json.loads(path.read_text())["claims"]]
    if not records:
        assert "No claim records were found" in page
        return
    assert page.count("(tested as ") == len(records)
    csv_file = next((built_book / "html" / "_downloads").rglob("claims.csv"))
    with csv_file.open() as handle:
        assert sorted(row["id"] for row in csv.DictReader(handle)) == sorted(r["id"] for r in records)
