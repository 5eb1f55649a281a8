"""The built book in headless Chromium, offline, as a reader opens it from disk.

Every HTML page of the quick build is opened from ``file://`` with the network disabled: no request may leave
``file://``, every formula must be typeset by the book's own MathJax (SVG output, no fonts fetched; none left
as raw TeX, the page's table of contents included), and the page must log no console error. Screenshots of
three pages, one per kind of chapter, are saved under ``_build/screenshots/``.

Needs Debian's `chromium` (installed by `make system-deps` / `.ci/run`) and the `playwright` Python package
(driving that browser; no browser download). Skipped with a reason otherwise.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the background-networking flags Chromium tries to reach Google's hosts at every start.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
NOT_PAGES = ("_static", "_sources", "_images", "_downloads")
SCREENSHOTS = {"gallery": "book/gallery.html",                 # registry, figures and an animation
               "snake_extrapolation": "book/snake_extrapolation.html",   # a Snake experiment chapter
               "sqrt_family": "book/sqrt_family.html"}                   # an image-training chapter
MATH_IN_SOURCE = re.compile(r'class="math notranslate nohighlight"')

# Runs in the page once MathJax has finished: formulas typeset, TeX left over outside code, fonts requested.
INSPECT = """() => {
  const skip = "pre, code, script, style, textarea, mjx-container";
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest(skip)) continue;
    if (/\\\\\\(|\\\\\\[/.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
  }
  const toc = document.querySelector(".bd-toc, #pst-page-toc-nav, .page-toc");
  return {
    raw: raw,
    typeset: document.querySelectorAll("mjx-container").length,
    svg: document.querySelectorAll('mjx-container[jax="SVG"] > svg').length,
    tex_errors: document.querySelectorAll('mjx-container [data-mml-node="merror"]').length,
    toc_typeset: toc ? toc.querySelectorAll("mjx-container").length : 0,
    toc_math: toc ? toc.querySelectorAll(".math").length : 0,
  };
}"""


@dataclass
class Visit:
    errors: list[str] = field(default_factory=list)      # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)    # every URL the page asked for
    failed: list[str] = field(default_factory=list)      # requests that failed
    math: dict = field(default_factory=dict)             # what INSPECT found


def book_pages(html: Path) -> list[Path]:
    """Every HTML page of the built book (the theme's and Sphinx's own pages included)."""
    return sorted(p for p in html.rglob("*.html") if not set(p.relative_to(html).parts) & set(NOT_PAGES))


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium; `make system-deps` does it)")
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def offline(browser):
    """A browser context with the network off; any request that is not for a local file is aborted."""
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    context.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
    yield context
    context.close()


def visit(context, path: Path, screenshot: Path | None = None) -> Visit:
    """Open `path` from disk, wait until MathJax has typeset the page, and report what happened."""
    result = Visit()
    page = context.new_page()
    page.on("console", lambda m: result.errors.append(f"{m.text} ({m.location.get('url')})")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: result.errors.append(f"uncaught: {e}"))
    page.on("request", lambda r: result.requests.append(r.url))
    page.on("requestfailed", lambda r: result.failed.append(f"{r.url}: {r.failure}"))
    page.goto(path.as_uri(), wait_until="load")
    try:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=30_000)
        page.evaluate("() => MathJax.startup.promise")
    except Exception as err:      # playwright's TimeoutError: MathJax never started
        result.errors.append(f"MathJax did not start: {type(err).__name__}")
    else:
        result.math = page.evaluate(INSPECT)
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return result


def problems_of(path: Path, seen: Visit) -> list[str]:
    found = [*seen.errors, *(f"failed: {f}" for f in seen.failed)]
    found += [f"left file://: {url}" for url in seen.requests if not url.startswith(LOCAL_SCHEMES)]
    found += [f"font requested: {url}" for url in seen.requests if re.search(r"mathjax.*\.(woff2?|otf|ttf)$", url)]
    if seen.math:
        expected = len(MATH_IN_SOURCE.findall(path.read_text(errors="replace")))
        if seen.math["typeset"] < expected:
            found.append(f"{seen.math['typeset']} formulas typeset, {expected} in the page")
        if seen.math["svg"] < seen.math["typeset"]:
            found.append(f"only {seen.math['svg']} of {seen.math['typeset']} formulas are SVG")
        if seen.math["toc_typeset"] < seen.math["toc_math"]:
            found.append(f"table of contents: {seen.math['toc_typeset']} of {seen.math['toc_math']} formulas typeset")
        found += [f"TeX error in {seen.math['tex_errors']} formula(s)"] if seen.math["tex_errors"] else []
        found += [f"raw TeX: {text!r}" for text in seen.math["raw"]]
    return found


def test_every_page_reads_offline_with_formulas_typeset(offline, built_book):
    html = built_book / "html"
    pages = book_pages(html)
    assert html / "index.html" in pages and len(pages) >= 10
    problems, typeset = {}, 0
    for path in pages:
        seen = visit(offline, path)
        typeset += seen.math.get("typeset", 0)
        found = problems_of(path, seen)
        if found:
            problems[str(path.relative_to(html))] = found
    assert problems == {}
    assert typeset > 20                                   # the book has formulas, and they were typeset


def test_the_glued_numbers_are_not_bold_and_code_wraps(offline, built_book):
    page = offline.new_page()
    page.goto((built_book / "html" / "book" / "gallery.html").as_uri(), wait_until="load")
    weights = page.evaluate("""() => [...document.querySelectorAll("span.pasted-text")]
        .filter(s => !s.closest("strong, b, th, h1, h2, h3, h4, h5, h6"))
        .map(s => Number(getComputedStyle(s).fontWeight))""")
    wrapping = page.evaluate("""() => [...document.querySelectorAll("div.cell_input pre, div.cell_output pre")]
        .map(p => getComputedStyle(p).whiteSpace)""")
    page.close()
    assert weights and max(weights) <= 400, weights
    assert wrapping and set(wrapping) == {"pre-wrap"}, set(wrapping)


def test_screenshots_of_three_kinds_of_chapter(offline, built_book, root):
    for name, file in SCREENSHOTS.items():
        shot = root / "_build" / "screenshots" / f"{name}.png"
        seen = visit(offline, built_book / "html" / file, screenshot=shot)
        assert problems_of(built_book / "html" / file, seen) == []
        assert seen.math["typeset"] > 0, f"{file}: no formula typeset"
        assert shot.stat().st_size > 50_000                       # a real, tall page, not a blank one
