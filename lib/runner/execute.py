"""Stage the book, execute its notebook chapters with papermill, and cache the results.

A chapter is re-executed only when its notebook, its parameters, the profile or the `lib` code it
can import changed (a content hash over the import closure of its chapter module and of the notebook's
own imports: editing the runner or the Sphinx extension re-executes nothing); `fresh=True` ignores
the cache.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat

from lib import cbuild
from lib.runner.errors import RunnerError
from lib.runner.params import declared_parameters
from lib.runner.toc import Page

KERNEL = "python3"
STAGED_ITEMS = ("book", "_config.yml", "_toc.yml")
IGNORED = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__", "profiles")


DOWNLOADS = "downloads"            # chapters write their CSV files to <notebook folder>/downloads/<chapter>/
QUICK_BANNER = ("```{warning}\nQuick profile: small settings to test the build; its verdicts mean nothing. "
                "Build with `make book` (the full profile) for results.\n```")


@dataclass
class ChapterRun:
    """What happened to one chapter in this build."""

    name: str
    status: str                    # "executed", "reused" or "failed"
    seconds: float                 # execution time (of the cached run when reused)
    parameters: dict[str, Any] = field(default_factory=dict)   # the overrides passed to papermill
    finished: str = ""             # when the chapter was executed (UTC, ISO 8601)
    code_hash: str = ""            # of the lib code it can import
    claims: int = 0                # claim records it published
    runs_computed: int = 0         # sweep runs (lib.sweep) computed while it executed
    runs_reused: int = 0           # sweep runs it found stored


def code_hash(page: Page, search: list[str] | None = None) -> str:
    """SHA-256 over the `lib` code a chapter can import: its chapter module (if any) and the notebook's imports.

    `search`: where to find `lib` (default: where `import` finds it)."""
    from lib.provenance import import_closure, module_file, notebook_imports, source_hash

    try:
        start = set(notebook_imports(page.path, path=search))
    except SyntaxError:     # executing it will report the error; meanwhile every source of lib counts
        package = module_file("lib", search).parent
        return source_hash(sorted(".".join(f.relative_to(package.parent).with_suffix("").parts).removesuffix(
            ".__init__") for f in package.rglob("*.py")), path=search)
    if module_file(f"lib.chapters.{page.name}", search) is not None:
        start.add(f"lib.chapters.{page.name}")
    if not start:
        return hashlib.sha256(b"").hexdigest()
    return source_hash(import_closure(sorted(start), path=search), path=search)


def cache_key(page: Page, parameters: dict[str, Any], profile: str, lib_hash: str, extra: str = "") -> str:
    """`extra`: anything else the chapter's result depends on (e.g. the claim records a closing chapter reads)."""
    digest = hashlib.sha256()
    digest.update(page.path.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True, default=repr).encode())
    digest.update(profile.encode())
    digest.update(lib_hash.encode())
    digest.update(KERNEL.encode())
    digest.update(cbuild.kernels_tag().encode())       # the C kernels round differently from the torch code
    if extra:
        digest.update(extra.encode())
    return digest.hexdigest()


def stage(root: Path, stage_dir: Path) -> None:
    """A fresh copy of the book's sources in `stage_dir` (the sources are never executed in place)."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    for item in STAGED_ITEMS:
        source = root / item
        if source.is_dir():
            shutil.copytree(source, stage_dir / item, ignore=IGNORED)
        elif source.is_file():
            shutil.copy2(source, stage_dir / item)


def _run_info_cell(page: Page, record: dict) -> nbformat.NotebookNode:
    """A collapsed note at the top of the page: how and with which parameters it was executed."""
    declared = declared_parameters(page)
    overrides = record["parameters"]
    lines = []
    for name, d in declared.items():
        value = repr(overrides[name]) if name in overrides else d.default
        mark = " (override)" if name in overrides else ""
        lines.append(f"- `{name} = {value}`{mark}")
    rerun = " ".join(f"--set {page.name}.{k}={v!r}" for k, v in overrides.items())
    text = "\n".join([
        "```{admonition} How this page was computed",
        ":class: dropdown note",
        f"Executed with profile **{record['profile']}** in {record['seconds']:.1f} s on "
        f"{record['finished'][:19].replace('T', ' ')} UTC (`lib` sources {record['lib_hash'][:10]}).",
        "Parameters:",
        "",
        *lines,
        "",
        f"Rerun: `python -m lib build --profile {record['profile']} --chapter {page.name}"
        + (f" {rerun}" if rerun else "") + "`",
        "```",
    ])
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["run-info"]
    return cell


def _insert_run_info(nb: nbformat.NotebookNode, cell: nbformat.NotebookNode, profile: str) -> None:
    """Put the run-info note (and, in the quick profile, a banner) right after the title cell."""
    nb.cells = [c for c in nb.cells if not {"run-info", "profile-banner"} & set(c.metadata.get("tags", []))]
    first_md = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first_md + 1, cell)
    if profile == "quick":
        banner = nbformat.v4.new_markdown_cell(QUICK_BANNER)
        banner.metadata["tags"] = ["profile-banner"]
        nb.cells.insert(first_md + 1, banner)


def _take_claims(nb: nbformat.NotebookNode) -> list[dict]:
    """The claim records an executed chapter published, removed from its outputs (the page never shows them)."""
    from lib import claims

    records = claims.extract(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if claims.MIME_TYPE not in o.get("data", {})]
    return records


def _publish(page: Page, records: list[dict], claims_dir: Path | None) -> int:
    """Write a chapter's claim records to `claims_dir`/<chapter>.json (none: no file); returns how many."""
    from lib import claims

    if claims_dir is not None:
        target = claims_dir / f"{page.name}.json"
        if records:
            claims.write(page.name, records, claims_dir)
        elif target.exists():
            target.unlink()
    return len(records)


def _keep_downloads(staged: Path, cache_dir: Path, name: str, restore: bool) -> None:
    """Files a chapter wrote for readers to download, kept beside its cached notebook (and put back on reuse)."""
    produced, kept = staged.parent / DOWNLOADS / name, cache_dir / f"{name}.downloads"
    source, target = (kept, produced) if restore else (produced, kept)
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target)


def _failure_message(page: Page, err: Exception, saved: Path) -> str:
    cell = getattr(err, "cell_index", None)
    source = (getattr(err, "source", "") or "").strip().splitlines()
    first = source[0] if source else ""
    ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
    where = f"cell {cell} (`{first[:80]}`)" if cell is not None else "before any cell ran"
    return (f"chapter {page.name!r} failed in {where}: {ename}: {evalue}\n"
            f"  the partly executed notebook is at {saved}")


def execute_chapter(page: Page, parameters: dict[str, Any], profile: str,
                    stage_dir: Path, cache_dir: Path, root: Path, fresh: bool, progress: bool,
                    claims_dir: Path | None = None, extra_key: str = "",
                    before_execute: Callable[[], None] | None = None) -> ChapterRun:
    """Execute one notebook chapter in the stage (or reuse its cached result) and put the result there.

    Its claim records go to `claims_dir`/<chapter>.json; the files it wrote under
    ``downloads/<chapter>/`` are kept with the cached notebook. `extra_key` joins the cache key.
    `before_execute` is called just before the kernel starts (not when the cached result is reused).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from lib.runner.page_cells import take_parameters_off_the_page

    lib_hash = code_hash(page)
    staged = stage_dir / page.path.relative_to(root)
    key = cache_key(page, parameters, profile, lib_hash, extra_key)
    cached_nb, cached_meta = cache_dir / f"{page.name}.ipynb", cache_dir / f"{page.name}.json"
    if not fresh and cached_nb.is_file() and cached_meta.is_file():
        record = json.loads(cached_meta.read_text())
        if record.get("key") == key:
            shutil.copy2(cached_nb, staged)
            take_parameters_off_the_page(staged)
            _keep_downloads(staged, cache_dir, page.name, restore=True)
            return ChapterRun(page.name, "reused", record["seconds"], parameters, record["finished"], lib_hash,
                              _publish(page, record.get("claims", []), claims_dir))

    cache_dir.mkdir(parents=True, exist_ok=True)
    if before_execute is not None:
        before_execute()
    running = cache_dir / f"{page.name}.running.ipynb"
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(staged), str(running), parameters=parameters, kernel_name=KERNEL,
            cwd=str(staged.parent), progress_bar=progress, log_output=False,
        )
    except PapermillExecutionError as err:
        failed = cache_dir / f"{page.name}.failed.ipynb"
        if running.exists():
            running.replace(failed)
        raise RunnerError(_failure_message(page, err, failed), exit_code=1) from None
    except Exception as err:  # kernel died, kernel missing, ...
        raise RunnerError(f"chapter {page.name!r} could not be executed: {type(err).__name__}: {err}",
                          exit_code=1) from None
    seconds = time.perf_counter() - start
    record = {"key": key, "chapter": page.name, "profile": profile, "parameters": parameters,
              "seconds": seconds, "lib_hash": lib_hash,
              "finished": datetime.now(timezone.utc).isoformat()}
    nb = nbformat.read(running, as_version=4)
    record["claims"] = _take_claims(nb)
    # Saved widget state makes the page fetch the widget manager from a CDN; widgets need
    # a live kernel anyway, so chapters show them only in live notebooks.
    nb.metadata.pop("widgets", None)
    _insert_run_info(nb, _run_info_cell(page, record), profile)
    nbformat.write(nb, running)
    running.replace(cached_nb)
    cached_meta.write_text(json.dumps(record, indent=2, default=repr))
    shutil.copy2(cached_nb, staged)
    take_parameters_off_the_page(staged)
    _keep_downloads(staged, cache_dir, page.name, restore=False)
    return ChapterRun(page.name, "executed", seconds, parameters, record["finished"], lib_hash,
                      _publish(page, record["claims"], claims_dir))
