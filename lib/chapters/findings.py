"""Code of the closing chapter "Findings at a glance" (book/findings.ipynb).

It reads the claim records every other chapter published (:mod:`lib.claims`; the runner stores them as
``<claims folder>/<chapter>.json``) and lists each claim of the four sources with this book's verdict, grouped
by source, with a link to the section of the chapter that tests it. It computes nothing itself.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat

from lib import claims as claim_records
from lib.parameters import Parameters, Rule
from lib.stats import OUTCOMES, Verdict

READS_CLAIMS = True        # the runner executes this chapter after all others and re-executes it when a record changed
CLAIMS_VARIABLE = "ACTIVATION_BOOK_CLAIMS"      # the folder of the records, set by the runner
HEADING_DEPTH = 4          # headings down to #### get link targets (myst_heading_anchors in _config.yml)
OUTCOME_COLOURS = {"confirmed": "#2e7d32", "contradicted": "#c62828", "inconclusive": "#9e9e9e"}


class FolderText(Rule):
    """A folder path as a string, or "" for the default."""

    allowed = 'a folder path as a string, or "" for the default'

    def check(self, value: Any) -> None:
        if not isinstance(value, str) or "\0" in value:
            raise ValueError(self.allowed)


PARAMETERS = Parameters("findings", claims_dir=FolderText())


def grids(p: Mapping[str, Any]) -> list:
    """No trainings: the chapter only reads the other chapters' records."""
    return []


def repository_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above `start` (default: the working directory) holding `_toc.yml` and
    `_config.yml`, or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder
    return None


def claims_folder(claims_dir: str = "") -> Path | None:
    """Where the records are: `claims_dir` if given, else $ACTIVATION_BOOK_CLAIMS (the runner sets it), else
    ``_build/claims`` of the repository the working directory is in (a notebook run by hand), else None."""
    if claims_dir:
        return Path(claims_dir)
    if os.environ.get(CLAIMS_VARIABLE):
        return Path(os.environ[CLAIMS_VARIABLE])
    root = repository_root()
    return root / "_build" / "claims" if root is not None else None


def book_order(root: Path | None) -> list[str]:
    """The chapters' names in the order of the book's `_toc.yml` (empty when there is none)."""
    import yaml

    if root is None or not (root / "_toc.yml").is_file():
        return []
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("file", "root") and isinstance(value, str):
                    found.append(Path(value).name.removesuffix(".ipynb").removesuffix(".md"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(yaml.safe_load((root / "_toc.yml").read_text()))
    return found


def load_records(folder: Path | None, order: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every claim record in `folder` (none when it is None or missing), this chapter's own file excepted,
    chapters in `order` first (the book's order), then the rest by name; each chapter's records as published."""
    if folder is None or not folder.is_dir():
        return []
    files = [p for p in folder.glob("*.json") if p.stem != PARAMETERS.chapter]
    rank = {name: i for i, name in enumerate(order)}
    files.sort(key=lambda p: (rank.get(p.stem, len(rank)), p.stem))
    records = []
    for path in files:
        records.extend(claim_records.read(path))
    return records


def by_source(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The records grouped by source, in the order of lib.claims.SOURCES (every source present, maybe empty)."""
    grouped: dict[str, list[Mapping[str, Any]]] = {source: [] for source in claim_records.SOURCES}
    for record in records:
        grouped.setdefault(record["source"], []).append(record)
    return grouped


def outcome_counts(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """{source: {outcome: count}} for every source and outcome (zeros included)."""
    return {source: {o: sum(r["verdict"]["outcome"] == o for r in group) for o in OUTCOMES}
            for source, group in by_source(records).items()}


# ---------------------------------------------------------------- links to the sections

def _markdown_parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    return create_md_parser(MdParserConfig(enable_extensions={"dollarmath", "amsmath", "colon_fence"}),
                            RendererHTML)


def _plain(title: str) -> str:
    """A heading as words, for matching: no math delimiters, markup or case, spaces folded."""
    text = re.sub(r"\\[()\[\]]|[$`*_]", "", title)
    return " ".join(text.split()).casefold()


def heading_slugs(notebook: Path, depth: int = HEADING_DEPTH) -> dict[str, str]:
    """{heading (as words): its link target} for the Markdown headings down to `depth` of a notebook, computed
    as MyST computes them (myst_heading_anchors), in document order so that repeated titles get -1, -2."""
    from markdown_it.tree import SyntaxTreeNode
    from myst_parser.mdit_to_docutils.base import compute_unique_slug

    parser, slugs, found = _markdown_parser(), {}, {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        for node in SyntaxTreeNode(parser.parse(cell.source)).walk():
            if node.type != "heading" or int(node.tag[1:]) > depth:
                continue
            slug = compute_unique_slug(node, slugs)
            slugs[slug] = True
            title = node.children[0].content if node.children else ""
            found.setdefault(_plain(title), slug)
    return found


def section_target(chapter: str, section: str, book_dir: Path) -> str:
    """The link target of a claim's section: "<chapter>.ipynb#<slug>", or the chapter alone when its notebook
    has no heading of that title."""
    notebook = book_dir / f"{chapter}.ipynb"
    if not notebook.is_file():
        return f"{chapter}.ipynb"
    slug = heading_slugs(notebook).get(_plain(section))
    return f"{chapter}.ipynb#{slug}" if slug else f"{chapter}.ipynb"


# ---------------------------------------------------------------- words and tables

def seeds_text(seeds: Sequence[int]) -> str:
    """"5 seeds (0–4)", "3 seeds (0, 7, 9)", "1 seed (3)", "no seeds"."""
    seeds = list(seeds)
    if not seeds:
        return "no seeds"
    count = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
    ordered = sorted(seeds)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{count} ({ordered[0]}–{ordered[-1]})"
    shown = ", ".join(map(str, seeds[:6])) + (", …" if len(seeds) > 6 else "")
    return f"{count} ({shown})"


def _cell(text: Any) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def effect_text(verdict: Verdict) -> str:
    """"snake − relu = −0.12 (95 % CI −0.2 to −0.05); margin 0.05"."""
    margin = ("±" if verdict.claim == "a≈b" else "") + f"{verdict.margin:.{verdict.digits}g}"
    if verdict.units and verdict.margin:
        margin += f" {verdict.units}"
    return f"{verdict.difference} = {verdict.interval}; margin {margin}"


def source_table(records: Sequence[Mapping[str, Any]], book_dir: Path) -> str:
    """One source's claims as a MyST table: the claim in the source's words and as tested, the outcome, the
    effect with its interval and margin, the setting, seeds and profile, and a link to the section."""
    lines = ["| Claim | Outcome | Effect (interval; margin) | Setting | Tested in |", "|---|---|---|---|---|"]
    for record in records:
        verdict = Verdict.from_dict(record["verdict"])
        claim = f"“{record['wording']}” (tested as {verdict.relation})"
        setting = f"{record['setting']}; {seeds_text(record.get('seeds', []))}; profile {record['profile']}"
        link = f"[{record['section']}]({section_target(record['chapter'], record['section'], book_dir)})"
        lines.append("| " + " | ".join(_cell(t) for t in (claim, verdict.outcome, effect_text(verdict), setting, link))
                     + " |")
    return "\n".join(lines) + "\n"


def source_markdown(records: Iterable[Mapping[str, Any]], source: str, book_dir: Path) -> str:
    """The section of one source: its claims' table, or a sentence saying no chapter recorded one."""
    group = by_source(records).get(source, [])
    if not group:
        return "No chapter of this build recorded a claim of this source.\n"
    return (f"{len(group)} claim{'s' if len(group) != 1 else ''} of this source, as the chapters recorded "
            f"{'them' if len(group) != 1 else 'it'}:\n\n" + source_table(group, book_dir))


def no_records_text(folder: Path | None) -> str:
    where = f"`{folder}`" if folder is not None else "no claims folder (not inside the repository)"
    return ("No claim records were found (looked in " + where + "). The chapters write them when the whole "
            "book is built (`make book` or `python -m lib build`); a preview of single chapters "
            "(`--chapter`) or a notebook run by hand before any build has none to show.\n")


def overview_markdown(records: Sequence[Mapping[str, Any]], folder: Path | None) -> str:
    """The opening summary: how many claims, chapters and outcomes, and one table of outcomes per source."""
    if not records:
        return no_records_text(folder)
    counts = outcome_counts(records)
    total = {o: sum(c[o] for c in counts.values()) for o in OUTCOMES}
    chapters = list(dict.fromkeys(r["chapter"] for r in records))
    profiles = sorted({r["profile"] for r in records})
    words = ", ".join(f"{total[o]} {o}" for o in OUTCOMES)
    lines = [f"The chapters recorded {len(records)} claims in {len(chapters)} chapters: {words}. "
             f"Profile{'s' if len(profiles) != 1 else ''} of these records: {', '.join(profiles)}.", "",
             "| Source | " + " | ".join(o.capitalize() for o in OUTCOMES) + " | All |",
             "|---|" + "---:|" * (len(OUTCOMES) + 1)]
    for source, row in counts.items():
        if sum(row.values()):
            lines.append(f"| {claim_records.SOURCES[source].citation} | "
                         + " | ".join(str(row[o]) for o in OUTCOMES) + f" | {sum(row.values())} |")
    return "\n".join(lines) + "\n"


def csv_rows(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim for the CSV download: the record's fields and the verdict's numbers, flat."""
    rows = []
    for record in records:
        v = record["verdict"]
        verdict = Verdict.from_dict(v)
        rows.append({
            "id": record["id"], "source": record["source"],
            "citation": claim_records.SOURCES[record["source"]].citation,
            "chapter": record["chapter"], "section": record["section"], "wording": record["wording"],
            "tested_as": verdict.relation, "outcome": v["outcome"], "effect": v["effect"], "low": v["low"],
            "high": v["high"], "level": v["level"], "margin": v["margin"], "units": v.get("units", ""),
            "test": v["test"], "n": " ".join(map(str, v["n"])), "seeds_needed": v.get("seeds_needed"),
            "setting": record["setting"], "seeds": " ".join(map(str, record.get("seeds", []))),
            "profile": record["profile"], "verdict": verdict.prose,
        })
    return rows


def plot_outcomes(records: Sequence[Mapping[str, Any]]):
    """Horizontal bars, one per source with claims: how many were confirmed, contradicted, inconclusive."""
    import matplotlib.pyplot as plt

    counts = {s: c for s, c in outcome_counts(records).items() if sum(c.values())}
    names = [claim_records.SOURCES[s].citation for s in counts]
    fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.55 * len(counts)))
    left = [0] * len(counts)
    for outcome in OUTCOMES:
        values = [c[outcome] for c in counts.values()]
        ax.barh(names, values, left=left, color=OUTCOME_COLOURS[outcome], label=outcome, height=0.6)
        for i, (start, value) in enumerate(zip(left, values)):
            if value:
                ax.text(start + value / 2, i, str(value), ha="center", va="center", color="white", fontsize=10)
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set_xlabel("claims")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, frameon=False, fontsize=9)
    fig.tight_layout()
    return fig
