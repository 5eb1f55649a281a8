"""Build the staged book with Jupyter Book (execution off, warnings as errors) and swap it into place."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from lib.runner.errors import RunnerError


def jupyter_book_command() -> list[str]:
    """The `jupyter-book` of this Python environment (beside sys.executable), else the one on PATH."""
    beside = Path(sys.executable).parent / "jupyter-book"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise RunnerError("jupyter-book is not installed in this environment; run `make book` or "
                          "`pip install -e .` first", exit_code=2)
    return [found]


def build_html(stage_dir: Path, strict: bool = True, quiet: bool = True) -> Path:
    """Run `jupyter-book build` on the stage; returns the built html folder.

    `strict` makes warnings errors (the whole book); previews of a few chapters are
    built leniently, since links to the chapters left out cannot resolve.
    """
    command = [*jupyter_book_command(), "build", str(stage_dir), "--builder", "html", "--keep-going"]
    if strict:
        command.append("--warningiserror")
    if quiet:
        command.append("--quiet")
    result = subprocess.run(command, capture_output=True, text=True)
    html = stage_dir / "_build" / "html"
    if result.returncode != 0 or not (html / "index.html").is_file():
        log = (result.stdout + result.stderr).strip().splitlines()
        problems = [line for line in log if "WARNING" in line or "ERROR" in line or "Error" in line]
        shown = "\n  ".join((problems or log)[-25:])
        raise RunnerError(f"jupyter-book build failed (exit {result.returncode}); "
                          f"the previous HTML is untouched:\n  {shown}", exit_code=1)
    return html


def swap_into_place(built: Path, target: Path) -> None:
    """Replace `target` by `built` with two renames, so that `target` is never a half-written book."""
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(target.name + ".incoming")
    previous = target.with_name(target.name + ".previous")
    for leftover in (incoming, previous):
        if leftover.exists():
            shutil.rmtree(leftover)
    shutil.move(str(built), incoming)  # may cross file systems; target is untouched meanwhile
    if target.exists():
        target.rename(previous)
    incoming.rename(target)
    if previous.exists():
        shutil.rmtree(previous)
