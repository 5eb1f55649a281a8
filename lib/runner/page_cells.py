"""What an executed chapter shows of its own machinery: the parameters cell and the cell papermill injects
are taken off the page (the note "How this page was computed" lists the parameters, once)."""
from __future__ import annotations

from pathlib import Path

import nbformat

OFF_THE_PAGE = ("parameters", "injected-parameters")   # cells tagged so are tagged remove-cell as well
REMOVE = "remove-cell"


def take_parameters_off_the_page(path: Path) -> None:
    """Tag the parameter cells of the notebook at `path` remove-cell (in place; other cells are untouched).

    Applied to the staged copy of every chapter, executed now or reused from the cache, so that cached
    notebooks executed before this rule existed get it too."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        tags = list(cell.metadata.get("tags", []))
        if set(OFF_THE_PAGE) & set(tags) and REMOVE not in tags:
            cell.metadata["tags"] = [*tags, REMOVE]
            changed = True
    if changed:
        nbformat.write(nb, path)
