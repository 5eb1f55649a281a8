"""Finished sweep runs on disk: one file per run, named by a content hash, written atomically, checked on read.

A file is ``MAGIC``, one JSON header line (the payload's SHA-256 and length, the key, what produced
it) and the pickled result. A file whose header, length or hash does not match (a write cut short
by a power cut, a disk error, an edit) is removed and reported as missing, so the run is computed
again: a damaged result is never read. Writes go to a temporary file in the same folder, are
fsync'ed and then renamed over the final name (``os.replace`` is atomic), so a reader sees either
no file or a whole one, even when the writer is killed half way.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lib.cache import cache_dir

ENV_RUNS = "ACTIVATION_BOOK_RUNS"
MAGIC = b"activation-book-run 1\n"
SUFFIX = ".run"


def store_dir() -> Path:
    """``$ACTIVATION_BOOK_RUNS`` if set (the book runner sets ``<build-dir>/runs``), else ``cache_dir("runs")``."""
    if os.environ.get(ENV_RUNS):
        return Path(os.environ[ENV_RUNS]).expanduser()
    return cache_dir("runs")


def _as_json_types(value: Any) -> Any:
    """`value` with tuples turned into lists, as a JSON round trip gives it back."""
    if isinstance(value, (list, tuple)):
        return [_as_json_types(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json_types(v) for k, v in value.items()}
    return value


def canonical_json(config: Any, what: str = "config") -> str:
    """The one JSON text of `config` (sorted keys, no spaces) that its run key is made from.

    Raises TypeError when `config` is not a dict of JSON values (str keys; str, int, float, bool,
    None, lists/tuples and dicts of them; no NaN or infinity) that comes back equal from JSON.
    """
    if not isinstance(config, dict):
        raise TypeError(f"{what} must be a dict, got {type(config).__name__} {config!r}")
    try:
        text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} {config!r} is not JSON-able ({err}); allowed: str keys and str, int, float "
                        "(finite), bool, None, lists and dicts of them") from None
    if json.loads(text) != _as_json_types(config):
        raise TypeError(f"{what} {config!r} does not come back equal from JSON (keys must be str); "
                        f"it reads back as {json.loads(text)!r}")
    return text


def run_key(fn_name: str, config_json: str, source: str) -> str:
    """SHA-256 of (the function's module.qualname, the canonical config JSON, the source hash of its code)."""
    text = json.dumps({"fn": fn_name, "config": config_json, "source": source}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class RunStore:
    """Results of finished runs in `folder`, one file per key: ``<folder>/<fn name>/<key>.run``."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def path(self, fn_name: str, key: str) -> Path:
        return self.folder / fn_name / f"{key}{SUFFIX}"

    def load(self, fn_name: str, key: str) -> tuple[str, Any]:
        """("hit", value), ("missing", None), or ("discarded", None) for a damaged file (now removed)."""
        path = self.path(fn_name, key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return "missing", None
        try:
            return "hit", self._decode(data, key)
        except Exception:  # a damaged file of any kind (bad header, bad hash, unpicklable): compute again
            path.unlink(missing_ok=True)
            return "discarded", None

    @staticmethod
    def _decode(data: bytes, key: str) -> Any:
        if not data.startswith(MAGIC):
            raise ValueError("no header")
        header_line, sep, payload = data[len(MAGIC):].partition(b"\n")
        if not sep:
            raise ValueError("truncated header")
        header = json.loads(header_line)
        if header.get("key") != key or header.get("length") != len(payload):
            raise ValueError("wrong key or length")
        if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            raise ValueError("wrong checksum")
        return pickle.loads(payload)

    def save(self, fn_name: str, key: str, value: Any, **about: Any) -> Path:
        """Write `value` under `key` atomically; `about` (grid, config, ...) goes into the header for readers."""
        return self.save_payload(fn_name, key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), **about)

    def save_payload(self, fn_name: str, key: str, payload: bytes, **about: Any) -> Path:
        """Write an already pickled value (as a worker sends it) under `key` atomically."""
        header = {"key": key, "fn": fn_name, "length": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
                  "written": datetime.now(timezone.utc).isoformat(), **about}
        final = self.path(fn_name, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{key[:16]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC)
                out.write(json.dumps(header, sort_keys=True, default=repr).encode() + b"\n")
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
            folder = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        return final
