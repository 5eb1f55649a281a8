"""The closing chapter "Findings at a glance" (lib/chapters/findings.py, book/findings.ipynb) and the runner's
part in it: it runs after every other chapter, is re-executed exactly when a claim record changed, and links
each claim to the section that tests it."""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from lib import claims
from lib.chapters import findings
from lib.runner.claim_readers import readers_last, records_key
from lib.runner.execute import ChapterRun
from lib.runner.page_cells import take_parameters_off_the_page
from lib.runner.report_page import report_markdown
from lib.runner.toc import read_toc
from lib.stats import compare
from tests.test_runner_params import write_notebook

ROOT = Path(__file__).resolve().parents[1]


def claim_set(chapter: str, margin: float = 0.5, section: str = "The effect of $a$") -> claims.ClaimSet:
    records = claims.ClaimSet(chapter, profile="quick")
    records.add(id=f"tiny.{chapter}.bigger", source="snake", wording="a is bigger than b", section=section,
                setting="a test", seeds=[0, 1, 2],
                verdict=compare([3.0, 3.1, 2.9], [0.0, 0.1, -0.1], claim="a>b", margin=margin, names=("a", "b")))
    return records


def write_records(folder: Path, chapter: str, **kwargs) -> Path:
    return claims.write(chapter, claim_set(chapter, **kwargs).records(), folder)


def markdown_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


# ---------------------------------------------------------------- the chapter module

def test_records_are_read_in_book_order_without_the_chapters_own_file(tmp_path):
    write_records(tmp_path, "zeta")
    write_records(tmp_path, "alpha")
    (tmp_path / "findings.json").write_text("not even JSON")          # its own file is never read
    records = findings.load_records(tmp_path, order=["zeta", "alpha"])
    assert [r["chapter"] for r in records] == ["zeta", "alpha"]
    assert [r["chapter"] for r in findings.load_records(tmp_path)] == ["alpha", "zeta"]
    assert findings.load_records(tmp_path / "missing") == [] and findings.load_records(None) == []


def test_the_claims_folder_comes_from_the_parameter_then_the_runner_then_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv(findings.CLAIMS_VARIABLE, raising=False)
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "book").mkdir()
    monkeypatch.chdir(tmp_path / "book")                       # where a notebook run by hand runs
    assert findings.claims_folder() == tmp_path.resolve() / "_build" / "claims"
    monkeypatch.setenv(findings.CLAIMS_VARIABLE, "/somewhere/claims")
    assert findings.claims_folder() == Path("/somewhere/claims")
    assert findings.claims_folder("/given") == Path("/given")


def test_the_book_order_is_the_toc_order():
    names = findings.book_order(ROOT)
    assert names == [p.name for p in read_toc(ROOT)]
    assert names.index("findings") > max(names.index(p.name) for p in read_toc(ROOT)
                                         if p.is_notebook and p.name != "findings")


def test_heading_slugs_follow_myst_rules(tmp_path):
    nb = markdown_notebook(tmp_path / "c.ipynb", "# Chapter", "## The effect of $a$\n\ntext\n\n## Results",
                           "## Results\n\n##### Too deep", "### Width `w` and **depth**")
    assert findings.heading_slugs(nb) == {"chapter": "chapter", "the effect of a": "the-effect-of-",
                                          "results": "results", "width w and depth": "width-w-and-depth"}
    assert findings.section_target("c", "The effect of \\(a\\)", tmp_path) == "c.ipynb#the-effect-of-"
    assert findings.section_target("c", "No such section", tmp_path) == "c.ipynb"
    assert findings.section_target("absent", "Results", tmp_path) == "absent.ipynb"


def test_repeated_titles_get_numbered_slugs(tmp_path):
    nb = markdown_notebook(tmp_path / "c.ipynb", "## Results", "## Results", "## Other")
    from markdown_it.tree import SyntaxTreeNode
    from myst_parser.mdit_to_docutils.base import compute_unique_slug

    assert findings.heading_slugs(nb)["results"] == "results"       # the first one is the link target
    tree = SyntaxTreeNode(findings._markdown_parser().parse("## Results"))
    assert compute_unique_slug(tree.children[0], {"results": 1}) == "results-1"


def test_seeds_in_words():
    assert findings.seeds_text([0, 1, 2, 3, 4]) == "5 seeds (0–4)"
    assert findings.seeds_text([7, 0, 9]) == "3 seeds (7, 0, 9)"
    assert findings.seeds_text([3]) == "1 seed (3)"
    assert findings.seeds_text(list(range(0, 20, 2))) == "10 seeds (0, 2, 4, 6, 8, 10, …)"
    assert findings.seeds_text([]) == "no seeds"


def test_tables_say_outcome_effect_setting_and_link(tmp_path):
    markdown_notebook(tmp_path / "alpha.ipynb", "# Alpha", "## The effect of $a$")
    records = claim_set("alpha").records() + claim_set("beta", margin=50.0).records()
    text = findings.source_markdown(records, "snake", tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| “")]
    assert len(rows) == 2
    assert "| confirmed |" in rows[0] and "| contradicted |" in rows[1]
    assert "a − b = 3" in rows[0] and "95 % CI" in rows[0] and "margin 0.5" in rows[0]
    assert "a test; 3 seeds (0–2); profile quick" in rows[0]
    assert "[The effect of $a$](alpha.ipynb#the-effect-of-)" in rows[0]
    assert "(beta.ipynb)" in rows[1]                          # no notebook to find the section in
    assert "No chapter of this build recorded a claim" in findings.source_markdown(records, "ortho", tmp_path)
    assert text.startswith("2 claims of this source")


def test_overview_counts_and_csv_rows():
    records = claim_set("alpha").records() + claim_set("beta", margin=50.0).records()
    overview = findings.overview_markdown(records, Path("x"))
    assert "2 claims in 2 chapters: 1 confirmed, 1 contradicted, 0 inconclusive" in overview
    assert "| Ziyin et al. 2020, experiments | 1 | 1 | 0 | 2 |" in overview
    assert "No claim records were found (looked in `/nowhere`)" in findings.overview_markdown([], Path("/nowhere"))
    rows = findings.csv_rows(records)
    assert [r["id"] for r in rows] == ["tiny.alpha.bigger", "tiny.beta.bigger"]
    assert rows[0]["outcome"] == "confirmed" and rows[0]["seeds"] == "0 1 2" and rows[0]["n"] == "3 3"
    assert rows[0]["low"] < rows[0]["effect"] < rows[0]["high"] and rows[0]["margin"] == 0.5


def test_the_parameters_are_checked():
    findings.PARAMETERS.check({"claims_dir": ""})
    with pytest.raises(ValueError, match="claims_dir"):
        findings.PARAMETERS.check({"claims_dir": 3})


# ---------------------------------------------------------------- the runner's part

def test_claim_readers_run_last_and_their_key_follows_the_records(tmp_path):
    assert readers_last(["findings", "gallery", "snake_decay"]) == ["gallery", "snake_decay", "findings"]
    assert records_key("gallery", tmp_path) == ""                      # not a reader
    empty = records_key("findings", tmp_path / "missing")
    path = write_records(tmp_path, "alpha")
    first = records_key("findings", tmp_path)
    assert first != empty
    (tmp_path / "findings.json").write_text("{}")                      # its own file does not count
    assert records_key("findings", tmp_path) == first
    write_records(tmp_path, "alpha", margin=5.0)
    assert records_key("findings", tmp_path) != first
    path.unlink()
    assert records_key("findings", tmp_path) == empty


def test_parameter_cells_are_taken_off_the_page(tmp_path):
    path = write_notebook(tmp_path / "c.ipynb", "n: int = 3")
    nb = nbformat.read(path, as_version=4)
    injected = nbformat.v4.new_code_cell("# Parameters\nn = 4")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(2, injected)
    nbformat.write(nb, path)
    take_parameters_off_the_page(path)
    take_parameters_off_the_page(path)                                  # twice changes nothing more
    tags = [c.metadata.get("tags", []) for c in nbformat.read(path, as_version=4).cells]
    assert tags == [[], ["parameters", "remove-cell"], ["injected-parameters", "remove-cell"], []]


def test_the_report_page_lists_each_chapter_and_every_parameter(tmp_path):
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/alpha\n"
                                       "  - file: book/beta\n")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "intro.md").write_text("# intro\n")
    write_notebook(tmp_path / "book" / "alpha.ipynb", "n: int = 3  # a count\nlr: float = 0.1")
    write_notebook(tmp_path / "book" / "beta.ipynb", "label: str = 'b'")
    pages = {p.name: p for p in read_toc(tmp_path)}
    runs = [ChapterRun("alpha", "executed", 12.34, {"n": 2}, "2026-11-30T10:00:00+00:00", "abcdef0123456789", 2,
                       runs_computed=7, runs_reused=5),
            ChapterRun("beta", "reused", 1.0, {}, "2026-11-29T09:00:00+00:00", "fedcba9876543210", 0)]
    text = report_markdown(pages, runs, "quick", preview=False)
    rows = [line for line in text.splitlines() if line.startswith("| {doc}")]
    assert rows[0] == ("| {doc}`alpha </book/alpha>` | executed | quick | 12.3 | 2026-11-30 10:00 | `abcdef0123` "
                       "| 7 / 5 | 2 |")
    assert rows[1] == ("| {doc}`beta </book/beta>` | reused | quick | 1.0 | 2026-11-29 09:00 | `fedcba9876` "
                       "| 0 / 0 | 0 |")
    assert "1 of 2 chapters were executed now (12.3 s)" in text
    assert "| `n` | `2` | profile or --set | a count |" in text
    assert "| `lr` | `0.1` | notebook default |  |" in text and "| `label` | `'b'` | notebook default |" in text
    assert "preview" not in text and "preview" in report_markdown(pages, runs, "quick", preview=True)


# ---------------------------------------------------------------- end to end, on a throwaway book

ALPHA_BODY = """
from lib.claims import ClaimSet
from lib.stats import compare

claims = ClaimSet("alpha")
claims.add(id="tiny.alpha.bigger", source="snake", wording="a is bigger than b", section="The effect of $a$",
           setting="a test", seeds=[0, 1, 2],
           verdict=compare([3.0, 3.1, 2.9], [0.0, 0.1, -0.1], claim="a>b", margin=margin, names=("a", "b")))
claims.publish()
print("label", label)
"""


def run(book: Path, *args: str, build_dir: Path | None = None) -> subprocess.CompletedProcess:
    extra = ["--build-dir", str(build_dir)] if build_dir else []
    return subprocess.run([sys.executable, "-m", "lib", "build", "--root", str(book), "--no-progress", *extra,
                           *args], capture_output=True, text=True)


def executed_in_order(result: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    rows = [line.split() for line in result.stdout.splitlines()]
    return [(r[0], r[1]) for r in rows if len(r) >= 3 and r[1] in ("executed", "reused")]


@pytest.fixture
def book(tmp_path):
    for item in ("_config.yml", "book/references.bib", "book/references.md", "book/images/favicon.png",
                 "book/findings.ipynb"):
        (tmp_path / item).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / item, tmp_path / item)
    (tmp_path / "_toc.yml").write_text(textwrap.dedent("""
        format: jb-book
        root: book/intro
        chapters:
          - file: book/findings
          - file: book/alpha
          - file: book/references
    """))
    (tmp_path / "book" / "intro.md").write_text("# Tiny book\n")
    alpha = write_notebook(tmp_path / "book" / "alpha.ipynb", "margin: float = 0.5\nlabel: str = 'x'", ALPHA_BODY)
    nb = nbformat.read(alpha, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("## The effect of $a$\n\nWhere the claim is tested."))
    nbformat.write(nb, alpha)
    return tmp_path


@pytest.mark.slow
def test_findings_run_last_link_the_section_and_follow_the_records(book, tmp_path):
    first = run(book)
    assert first.returncode == 0, first.stderr
    assert executed_in_order(first) == [("alpha", "executed"), ("findings", "executed")]
    html = book / "_build" / "html" / "book"
    page = (html / "findings.html").read_text()
    assert "a is bigger than b" in page and "confirmed" in page
    link = re.search(r'href="alpha\.html#([^"]+)"', page)
    assert link, "no link to the section"
    assert f'id="{link.group(1)}"' in (html / "alpha.html").read_text()       # the section's own anchor
    csv_link = re.search(r'href="([^"]*claims\.csv)"', page)
    with (html / csv_link.group(1)).resolve().open() as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == ["tiny.alpha.bigger"]

    same_records = run(book, "--set", "alpha.label='y'")        # alpha reruns, its records are the same
    assert executed_in_order(same_records) == [("alpha", "executed"), ("findings", "reused")]

    new_records = run(book, "--set", "alpha.margin=50.0")       # a margin the difference does not clear
    assert executed_in_order(new_records) == [("alpha", "executed"), ("findings", "executed")]
    assert "contradicted" in (html / "findings.html").read_text()

    preview = run(book, "--chapter", "findings", build_dir=tmp_path / "fresh")
    assert preview.returncode == 0, preview.stderr
    text = (tmp_path / "fresh" / "chapters" / "html" / "book" / "findings.html").read_text()
    assert "No claim records were found" in text
