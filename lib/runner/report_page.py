"""The execution report: a page of the book, written by the runner into the staged book on every build.

The book keeps a placeholder (``book/execution_report.md``, listed in ``_toc.yml``); the runner replaces
the staged copy with the report of the build at hand, so the page always tells how the chapters that
are on the other pages were computed: per chapter its profile, parameters, duration, date, code hash,
and the sweep runs computed now or reused from the run store.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from lib.runner.params import declared_parameters
from lib.runner.toc import Page

REPORT_PAGE = "execution_report"      # its name in _toc.yml (book/execution_report.md)


def _cell(text: object) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def _count(value) -> str:
    return "–" if value is None else str(value)


def _parameter_rows(page: Page, overrides: dict) -> list[str]:
    rows = []
    for name, declared in declared_parameters(page).items():
        if name in overrides:
            value, source = repr(overrides[name]), "profile or --set"
        else:
            value, source = declared.default, "notebook default"
        rows.append(f"| `{name}` | `{_cell(value)}` | {source} | {_cell(declared.help)} |")
    return rows


def report_markdown(pages: dict[str, Page], runs: Sequence, profile: str, preview: bool,
                    now: datetime | None = None) -> str:
    """The page's MyST source for `runs` (ChapterRun records, in execution order)."""
    now = now or datetime.now(timezone.utc)
    executed = [r for r in runs if r.status == "executed"]
    lines = [
        "# Execution report",
        "",
        f"Written by the book runner (`python -m lib build --profile {profile}`) on "
        f"{now.strftime('%Y-%m-%d %H:%M')} UTC, for the pages of this build. "
        f"{len(executed)} of {len(runs)} chapters were executed now "
        f"({sum(r.seconds for r in executed):.1f} s); the others were reused from the runner's cache, "
        "which keeps an executed chapter for as long as its notebook, parameters, profile and the `lib` "
        "code it imports are unchanged.",
        "",
    ]
    if preview:
        lines += ["This is a preview of a few chapters (`--chapter`), not the whole book.", ""]
    lines += [
        "Durations are the chapters' execution times (of the cached run, for a reused chapter); "
        "“executed” is when that run finished. Sweep runs are the trainings of a chapter's grids: "
        "computed in this build, or reused from the run store (– where the runner did not count them).",
        "",
        "| Chapter | This build | Profile | Seconds | Executed (UTC) | `lib` code | Sweep runs computed / reused "
        "| Claims |",
        "|---|---|---|---:|---|---|---:|---:|",
    ]
    for run in runs:
        page = pages[run.name]
        sweeps = f"{_count(getattr(run, 'runs_computed', None))} / {_count(getattr(run, 'runs_reused', None))}"
        lines.append(" | ".join([
            f"| {{doc}}`{run.name} </{page.file}>`", run.status, profile, f"{run.seconds:.1f}",
            run.finished[:16].replace("T", " ") or "–", f"`{run.code_hash[:10]}`", sweeps,
            f"{getattr(run, 'claims', 0)} |",
        ]))
    lines += ["", "## Parameters", "",
              "Every parameter of every chapter, with the value it ran with. A chapter reruns alone with "
              "`python -m lib build --chapter NAME --set NAME.PARAMETER=VALUE`.", ""]
    for run in runs:
        page = pages[run.name]
        lines += [f"### {run.name}", "",
                  "| Parameter | Value | From | What it is |", "|---|---|---|---|",
                  *_parameter_rows(page, run.parameters), ""]
    return "\n".join(lines) + "\n"


def write_report_page(stage_dir: Path, root: Path, pages: dict[str, Page], runs: Sequence, profile: str,
                      preview: bool) -> Path | None:
    """Replace the staged placeholder page by this build's report; None when the book has no such page."""
    page = pages.get(REPORT_PAGE)
    if page is None or page.is_notebook:
        return None
    target = stage_dir / page.path.relative_to(root)
    target.write_text(report_markdown(pages, runs, profile, preview))
    return target
