"""The built book in headless Chromium: pages load cleanly and the gallery is screenshotted.

Needs Debian's `chromium` (installed by `make system-deps` / `.ci/run`) and the `playwright`
Python package (driving that browser; no browser download). Skipped with a reason otherwise.
"""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from lib.runner.toc import read_toc

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(built_book):
    handler = functools.partial(QuietHandler, directory=str(built_book / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium; `make system-deps` does it)")
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def visit(browser, url: str, local: str, screenshot: Path | None = None):
    """Load `url`; return console errors raised by local files and failed loads of local resources."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, failed = [], []
    page.on("console", lambda m: errors.append(f"{m.text} ({m.location.get('url')})")
            if m.type == "error" and str(m.location.get("url", "")).startswith(local)
            and "Failed to load resource" not in m.text else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}") if r.url.startswith(local) else None)
    page.on("response", lambda r: failed.append(f"{r.url}: HTTP {r.status}")
            if r.url.startswith(local) and r.status >= 400 else None)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return errors, failed


def test_every_page_loads_without_local_errors(browser, site, root):
    problems = {}
    for page in read_toc(root):
        errors, failed = visit(browser, f"{site}/{page.file}.html", site)
        if errors or failed:
            problems[page.file] = errors + failed
    errors, failed = visit(browser, f"{site}/index.html", site)
    if errors or failed:
        problems["index"] = errors + failed
    assert problems == {}


def test_gallery_screenshot(browser, site, root):
    shot = root / "_build" / "screenshots" / "gallery.png"
    errors, failed = visit(browser, f"{site}/book/gallery.html", site, screenshot=shot)
    assert not errors and not failed
    assert shot.stat().st_size > 50_000                       # a real, tall page, not a blank one
