"""The one folder where the book caches what it computes or fetches: data sets, fitted
initialisations, finished sweep runs.

``$ACTIVATION_BOOK_CACHE`` if set, else ``$XDG_CACHE_HOME/activation-book``, else the platform's
user cache (``~/.cache/activation-book`` on Linux, ``~/Library/Caches/activation-book`` on macOS,
``%LOCALAPPDATA%\\activation-book`` on Windows). Nothing is ever written next to the installed package.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "ACTIVATION_BOOK_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache folder, or a sub-folder of it (``cache_dir("ortho-fit")``); not created here."""
    if os.environ.get(ENV):
        base = Path(os.environ[ENV]).expanduser()
    else:
        if os.environ.get("XDG_CACHE_HOME"):
            root = Path(os.environ["XDG_CACHE_HOME"]).expanduser()
        elif sys.platform == "darwin":
            root = Path.home() / "Library" / "Caches"
        elif sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
            root = Path(os.environ["LOCALAPPDATA"])
        else:
            root = Path.home() / ".cache"
        base = root / "activation-book"
    return base.joinpath(*parts)
