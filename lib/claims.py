"""Claim records: what a source claims, where the book tests it, and the verdict (:mod:`lib.stats`) it got.

A chapter collects its claims in a :class:`ClaimSet` and ends with them::

    claims = ClaimSet(chapter="snake_extrapolation")
    claims.add(id="snake.extrapolation.snake_vs_relu", source="snake",
               wording="Snake extrapolates sin(x) better than ReLU", section="Extrapolating a sine",
               setting="test MSE beyond the training range, last-3-epoch mean",
               verdict=compare(snake_mse, relu_mse, claim="a<b", margin=0.05, names=("snake", "relu")),
               seeds=seeds)
    claims.publish()                        # in a cell tagged remove-cell: one hidden output for the runner
    Markdown(claims.conclusions())          # the chapter's verdicts in words

`publish` displays the records under the MIME type ``application/vnd.activation-book.claims+json``;
:func:`extract` reads them back from the executed notebook, and :func:`write` stores them as
``<directory>/<chapter>.json`` (atomically) for the runner. Each record is JSON (see :meth:`Claim.to_dict`).
"""
from __future__ import annotations

import json
import operator
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from lib.stats import Verdict, format_number, json_safe

MIME_TYPE = "application/vnd.activation-book.claims+json"
PROFILE_VARIABLE = "ACTIVATION_BOOK_PROFILE"
FORMAT_VERSION = 1
ID_PATTERN = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")
CHAPTER_PATTERN = re.compile(r"[A-Za-z0-9_\-]+")


class Source(NamedTuple):
    citation: str     # how the prose names it
    bibkey: str       # its entry in book/references.bib


SOURCES = {
    "snake": Source("Ziyin et al. 2020, experiments", "ziyin2020snake"),
    "swarm": Source("Morrison 2020, the bayesnets swarm posts", "morrison2020swarm"),
    "sqrt": Source("Fontana 2021, SQRT report", "fontana2021sqrt"),
    "ortho": Source("Khalfaoui-Hassani & Kesselheim 2025", "khalfaoui2025learnable"),
}


def current_profile() -> str:
    """The profile the runner executes this chapter in (environment variable ACTIVATION_BOOK_PROFILE), else
    "custom" (a chapter run by hand, with whatever parameters it was given)."""
    return os.environ.get(PROFILE_VARIABLE) or "custom"


def _details(details: Mapping[str, Any] | None, claim_id: str) -> dict[str, Any]:
    safe = json_safe(dict(details or {}))
    try:
        json.dumps(safe, allow_nan=False)
    except (TypeError, ValueError) as error:
        message = f"claim {claim_id!r}: details must be JSON data (numbers, strings, lists, dicts): {error}"
        raise ValueError(message) from None
    return safe


@dataclass(frozen=True)
class Claim:
    """One claim of a source, tested in one chapter section, with its verdict.

    `id` is stable and dotted ("snake.extrapolation.snake_vs_relu"); `source` a key of SOURCES; `wording` the
    source's own words (or a faithful paraphrase); `setting` says in words what was measured; `seeds` the seeds
    the verdict's numbers came from; `details` any further JSON data (the per-seed values, the parameters).
    """

    id: str
    source: str
    wording: str
    chapter: str
    section: str
    setting: str
    profile: str
    verdict: Verdict
    seeds: tuple[int, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.id, str) or not ID_PATTERN.fullmatch(self.id):
            raise ValueError(f"id={self.id!r} must be dotted lowercase words, e.g. 'snake.extrapolation.snake_vs_relu'")
        if self.source not in SOURCES:
            raise ValueError(f"source={self.source!r} is not one of {sorted(SOURCES)}")
        for name in ("wording", "chapter", "section", "setting", "profile"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"claim {self.id!r}: {name} must be a non-empty string")
        if not isinstance(self.verdict, Verdict):
            raise TypeError(f"claim {self.id!r}: verdict must be a lib.stats.Verdict, got {type(self.verdict)}")
        try:
            if any(isinstance(s, bool) for s in self.seeds):
                raise TypeError
            seeds = tuple(operator.index(s) for s in self.seeds)      # ints and NumPy integers, not floats
        except TypeError:
            raise ValueError(f"claim {self.id!r}: seeds must be whole numbers, got {self.seeds!r}") from None
        object.__setattr__(self, "seeds", seeds)
        object.__setattr__(self, "details", _details(self.details, self.id))

    def to_dict(self) -> dict[str, Any]:
        """The record as strict JSON data; the verdict as :meth:`lib.stats.Verdict.to_dict` writes it."""
        return {"id": self.id, "source": self.source, "wording": self.wording, "chapter": self.chapter,
                "section": self.section, "setting": self.setting, "profile": self.profile,
                "verdict": self.verdict.to_dict(), "seeds": list(self.seeds), "details": self.details}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Claim:
        values = dict(record)
        values["verdict"] = Verdict.from_dict(values["verdict"])
        values["seeds"] = tuple(values.get("seeds", ()))
        return cls(**values)


def _as_claims(records: Iterable[Claim | Mapping[str, Any]]) -> list[Claim]:
    return [r if isinstance(r, Claim) else Claim.from_dict(r) for r in records]


def _cell(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def markdown_table(records: Iterable[Claim | Mapping[str, Any]]) -> str:
    """A markdown table of claims (Claim objects or their records): claim, source wording, outcome, effect with
    interval, n and margin."""
    lines = ["| Claim | Source says | Verdict | Effect | n | Margin |", "|---|---|---|---|---|---|"]
    for claim in _as_claims(records):
        v = claim.verdict
        n = f"{v.n[0]} trials" if v.test == "Wilson" else " and ".join(map(str, v.n))
        if sum(v.n_dropped):
            n += f" ({sum(v.n_dropped)} dropped)"
        margin = ("±" if v.claim == "a≈b" else "") + format_number(v.margin, v.digits)
        margin += f" {v.units}" if v.units and v.margin else ""
        lines.append("| " + " | ".join(_cell(text) for text in (v.relation, claim.wording, v.outcome, v.interval, n,
                                                                    margin)) + " |")
    return "\n".join(lines)


def conclusions(records: Iterable[Claim | Mapping[str, Any]]) -> str:
    """The claims' verdicts as a markdown list of sentences, one per claim."""
    items = []
    for claim in _as_claims(records):
        items.append(f"- “{claim.wording}” ({SOURCES[claim.source].citation}) — **{claim.verdict.outcome}** "
                     f"({claim.setting}; profile {claim.profile}): {claim.verdict.explanation}.")
    return "\n".join(items)


class ClaimSet:
    """The claims of one chapter, in the order they were added; ids are unique."""

    def __init__(self, chapter: str, profile: str | None = None):
        if not isinstance(chapter, str) or not CHAPTER_PATTERN.fullmatch(chapter):
            raise ValueError(f"chapter={chapter!r} must be a notebook stem such as 'snake_extrapolation'")
        self.chapter = chapter
        self.profile = profile if profile is not None else current_profile()
        self._claims: dict[str, Claim] = {}

    def add(self, *, id: str, source: str, wording: str, section: str, setting: str, verdict: Verdict,
            seeds: Iterable[int] = (), details: Mapping[str, Any] | None = None) -> Claim:
        """Record one claim with its verdict and return it; an id already in this set is an error."""
        if id in self._claims:
            raise ValueError(f"claim id {id!r} is already in chapter {self.chapter!r}: ids must be unique")
        claim = Claim(id=id, source=source, wording=wording, chapter=self.chapter, section=section, setting=setting,
                      profile=self.profile, verdict=verdict, seeds=tuple(seeds), details=dict(details or {}))
        self._claims[id] = claim
        return claim

    def __iter__(self) -> Iterator[Claim]:
        return iter(self._claims.values())

    def __len__(self) -> int:
        return len(self._claims)

    def __getitem__(self, claim_id: str) -> Claim:
        return self._claims[claim_id]

    def records(self) -> list[dict[str, Any]]:
        return [claim.to_dict() for claim in self]

    def publish(self) -> None:
        """Display the records as one output the runner reads back (tag the cell remove-cell to hide it)."""
        from IPython.display import display

        payload = {"version": FORMAT_VERSION, "chapter": self.chapter, "claims": self.records()}
        display({MIME_TYPE: payload, "text/plain": f"{len(self)} claim records of {self.chapter}"}, raw=True)

    def markdown_table(self) -> str:
        return markdown_table(self)

    def conclusions(self) -> str:
        return conclusions(self)


def extract(notebook: Any) -> list[dict[str, Any]]:
    """The claim records an executed notebook (a path or an nbformat node) published, in order."""
    import nbformat

    if isinstance(notebook, (str, os.PathLike)):
        notebook = nbformat.read(os.fspath(notebook), as_version=4)
    records: list[dict[str, Any]] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue
            payload = output.get("data", {}).get(MIME_TYPE)
            if payload is None:
                continue
            if isinstance(payload, str):              # some writers store JSON outputs as text
                payload = json.loads(payload)
            if not isinstance(payload, Mapping) or not isinstance(payload.get("claims"), list):
                raise TypeError(f"a {MIME_TYPE} output must be an object with a 'claims' list")
            records.extend(json.loads(json.dumps(payload["claims"])))    # plain dicts, not notebook nodes
    ids = [r.get("id") for r in records]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"claim ids published more than once: {duplicates}")
    return records


def write(chapter: str, records: list[Mapping[str, Any]], directory: str | os.PathLike) -> Path:
    """Store a chapter's records as <directory>/<chapter>.json: a temporary file, then os.replace (atomic)."""
    if not isinstance(chapter, str) or not CHAPTER_PATTERN.fullmatch(chapter):
        raise ValueError(f"chapter={chapter!r} must be a notebook stem such as 'snake_extrapolation'")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": FORMAT_VERSION, "chapter": chapter, "claims": json_safe(list(records))},
                      indent=1, ensure_ascii=False, allow_nan=False)
    target = directory / f"{chapter}.json"
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{chapter}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records :func:`write` stored."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return payload["claims"]
