"""A Sphinx extension for the book (loaded by `_config.yml`, `sphinx.extra_extensions`).

It makes every page readable offline and as a reader would want it:

- MathJax 3 (SVG output: the glyphs are paths inside the script, no web fonts) comes from the pinned
  Python package ``django-static-mathjax`` (an unmodified copy of MathJax 3.2.2's packaged components)
  and is copied into the built HTML at ``_static/mathjax/``; nothing is fetched from a CDN. It is not
  kept in the book's own ``_static/``, which Jupyter Book 1 would add to every page as scripts.
  It is loaded on every page (the navigation can hold formulas of other pages' titles).
- A small style sheet: glued numbers are not bold (myst-nb makes every ``{glue:text}`` bold) and long
  code lines wrap instead of scrolling sideways.
- sphinx-thebe 0.3.1 registers its inline configuration script once per ``env-before-read-docs``
  event, and under Sphinx 7 with myst-nb that event fires twice: every page then declares
  ``const THEBE_JS_URL`` twice, an uncaught SyntaxError in the browser. Repeated scripts are dropped.
"""
from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

MATHJAX_DISTRIBUTION = "django-static-mathjax"     # pinned in pyproject.toml
MATHJAX_ES5 = "mathjax/static/mathjax/es5"          # inside that distribution: MathJax's packaged components
MATHJAX_TARGET = "mathjax"                          # under the output's _static/
MATHJAX_SCRIPT = "tex-svg.js"                       # TeX input, SVG output, the menu and assistive MathML
# What tex-svg.js may load later: TeX extensions (autoload, \require), the menu's lazy parts and the
# accessibility explorer with its speech rules. Not output/chtml: that renderer needs web fonts.
MATHJAX_PARTS = (MATHJAX_SCRIPT, "input/tex", "ui", "a11y", "sre")

MATHJAX_CONFIG = {
    "tex": {
        "inlineMath": [["\\(", "\\)"]],          # what Sphinx writes for inline math ($...$ in the sources)
        "displayMath": [["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
    },
    "svg": {"fontCache": "global"},               # each glyph once per page, reused by every formula
}

STYLE_SHEET = "activation-book.css"
STYLE = """\
/* Written by lib/book_extension.py. */
/* Glued numbers read as part of the sentence: myst-nb makes every {glue:text} bold. */
span.pasted-text, .bd-article span.pasted-text { font-weight: inherit; }
/* Long code lines wrap instead of scrolling sideways. */
div.cell_input pre, div.cell_output pre, div.highlight pre, .bd-article div.highlight pre {
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}
"""


def mathjax_source() -> Path:
    """The folder of MathJax's packaged components (es5) in the installed pinned package."""
    try:
        distribution = metadata.distribution(MATHJAX_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise RuntimeError(f"the book's MathJax comes from the Python package {MATHJAX_DISTRIBUTION!r}, which is "
                           "not installed: run `make book` (or `pip install -e .`)") from None
    folder = Path(distribution.locate_file(MATHJAX_ES5))
    if not (folder / MATHJAX_SCRIPT).is_file():
        raise RuntimeError(f"{MATHJAX_DISTRIBUTION} {distribution.version} has no {MATHJAX_ES5}/{MATHJAX_SCRIPT}")
    return folder


def copy_mathjax(target: Path) -> None:
    """MathJax's parts the pages use, copied to `target` (e.g. <html>/_static/mathjax)."""
    source = mathjax_source()
    target.mkdir(parents=True, exist_ok=True)
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            shutil.copy2(source / part, target / part)
    licence = source.parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, target / "LICENSE")


def configure_mathjax(app, config) -> None:
    """Point Sphinx at the local copy (mathjax_path is relative to _static/) and configure TeX and SVG."""
    config.mathjax_path = f"{MATHJAX_TARGET}/{MATHJAX_SCRIPT}"
    merged = dict(config.mathjax3_config or {})
    for key, values in MATHJAX_CONFIG.items():
        merged[key] = {**values, **merged.get(key, {})}
    config.mathjax3_config = merged


def write_assets(app) -> None:
    """Copy MathJax and write the style sheet into the output's _static/ before any page is written."""
    if app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    copy_mathjax(static / MATHJAX_TARGET)
    (static / STYLE_SHEET).write_text(STYLE)


def _key(script) -> tuple:
    # an inline script's filename is None or "" depending on when it was registered
    attributes = getattr(script, "attributes", {}) or {}
    return getattr(script, "filename", str(script)) or "", tuple(sorted((k, str(v)) for k, v in attributes.items()))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app):
    app.connect("config-inited", configure_mathjax)
    app.connect("builder-inited", write_assets)
    app.connect("html-page-context", drop_duplicate_scripts)
    app.set_html_assets_policy("always")        # MathJax on every page: titles in the navigation hold formulas
    app.add_css_file(STYLE_SHEET, priority=900)  # after myst-nb's style sheet, which it overrides
    return {"parallel_read_safe": True, "parallel_write_safe": True}
