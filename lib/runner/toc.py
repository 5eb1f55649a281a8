"""Read the book's `_toc.yml`: which pages exist, and which of them are notebooks to execute."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from lib.runner.errors import RunnerError


@dataclass(frozen=True)
class Page:
    """One `_toc.yml` entry: `file` as written there (no suffix), resolved to a path."""

    name: str          # the file's stem: what --chapter and --set use
    file: str          # as in _toc.yml, e.g. "book/gallery"
    path: Path         # the source file, e.g. <root>/book/gallery.ipynb

    @property
    def is_notebook(self) -> bool:
        return self.path.suffix == ".ipynb"


def find_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder at or above `start` that holds `_toc.yml` and `_config.yml`."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder
    raise RunnerError(f"no _toc.yml and _config.yml found at or above {here}; run from the repository or pass --root")


def _files(node) -> list[str]:
    """Every `file:` entry of a jb-book toc node, depth first, in reading order."""
    found: list[str] = []
    if isinstance(node, dict):
        if "file" in node:
            found.append(str(node["file"]))
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                found.extend(_files(child))
    elif isinstance(node, list):
        for child in node:
            found.extend(_files(child))
    return found


def read_toc(root: Path) -> list[Page]:
    """All pages of the book, root first, each resolved to an existing .ipynb or .md file."""
    toc_path = root / "_toc.yml"
    try:
        toc = yaml.safe_load(toc_path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RunnerError(f"cannot read {toc_path}: {err}") from err
    if not isinstance(toc, dict) or "root" not in toc:
        raise RunnerError(f"{toc_path} must be a jb-book table of contents with a 'root' entry")
    pages, seen = [], {}
    for file in [str(toc["root"]), *_files({k: v for k, v in toc.items() if k != "root"})]:
        stem = file[:-len(Path(file).suffix)] if Path(file).suffix in (".ipynb", ".md") else file
        candidates = [root / f"{stem}.ipynb", root / f"{stem}.md"]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise RunnerError(f"_toc.yml lists {file!r} but neither {stem}.ipynb nor {stem}.md exists")
        name = Path(stem).name
        if name in seen:
            raise RunnerError(f"two _toc.yml entries share the name {name!r} ({seen[name]} and {stem})")
        seen[name] = stem
        pages.append(Page(name=name, file=stem, path=path))
    return pages


def filter_toc(toc: dict, keep: set[str]) -> dict:
    """A copy of a jb-book toc without the entries whose `file` is not in `keep` (the root always stays)."""
    def prune(node):
        if isinstance(node, list):
            kept = [prune(child) for child in node]
            return [k for k in kept if k is not None]
        if isinstance(node, dict):
            if "file" in node and node["file"] not in keep:
                return None
            out = dict(node)
            for key in ("parts", "chapters", "sections"):
                if key in out:
                    out[key] = prune(out[key])
                    if not out[key]:
                        del out[key]
            if "file" not in out and not any(k in out for k in ("parts", "chapters", "sections")):
                return None
            return out
        return node

    out = {k: prune(v) if k != "root" else v for k, v in toc.items()}
    return {k: v for k, v in out.items() if v is not None}
