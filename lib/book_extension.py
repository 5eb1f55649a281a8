"""A Sphinx extension for the book (loaded by `_config.yml`, `sphinx.extra_extensions`).

sphinx-thebe 0.3.1 registers its inline configuration script once per
`env-before-read-docs` event, and under Sphinx 7 with myst-nb that event fires
twice: every page then declares `const THEBE_JS_URL` twice, an uncaught
SyntaxError in the browser. This drops repeated scripts from each page.
"""
from __future__ import annotations


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
    app.connect("html-page-context", drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
