"""Chapters that read the other chapters' claim records (the closing "Findings at a glance").

A chapter module says so with ``READS_CLAIMS = True``. Such a chapter executes after every other one,
and its cache key covers the records it will read, so it is re-executed whenever any chapter's records
changed (and reused only when none did).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from lib.runner.checks import chapter_module


def reads_claims(name: str) -> bool:
    """Whether chapter `name`'s module declares READS_CLAIMS (a notebook without a module does not)."""
    module = chapter_module(name)
    return bool(getattr(module, "READS_CLAIMS", False))


def readers_last(selected: list[str]) -> list[str]:
    """`selected` in its order, except that the chapters reading claim records come after all others."""
    readers = [name for name in selected if reads_claims(name)]
    return [name for name in selected if name not in readers] + readers


def records_key(name: str, claims_dir: Path) -> str:
    """For a chapter reading claims: a SHA-256 over every other chapter's records file in `claims_dir`
    (names and bytes, in name order; an empty folder has a key too). For any other chapter: ""."""
    if not reads_claims(name):
        return ""
    digest = hashlib.sha256(b"claim records\0")
    files = sorted(claims_dir.glob("*.json")) if claims_dir.is_dir() else []
    for path in files:
        if path.stem == name:
            continue
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
