"""Character-level text for small language models, with no download.

The corpus is the documentation that ships inside Python itself: `pydoc_data.topics.topics`,
the help texts of the language reference (about 465k characters of English prose and code,
under the Python Software Foundation licence). The same Python gives the same text.

>>> from lib.data.text import load_chars
>>> data = load_chars(validation=0.1)
>>> x, y = data.batch("train", batch_size=8, block_size=64, generator=torch.Generator().manual_seed(0))
>>> x.shape, y.shape
(torch.Size([8, 64]), torch.Size([8, 64]))
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import Tensor

SOURCES = ("pydoc_topics",)


def corpus_text(source: str = "pydoc_topics") -> str:
    """The raw text: every topic of `pydoc_data.topics` in sorted key order, separated by blank lines."""
    if source not in SOURCES:
        raise ValueError(f"unknown text source {source!r}; choose from {', '.join(SOURCES)}")
    try:
        from pydoc_data.topics import topics
    except ImportError as err:      # some distributions strip it (e.g. Debian's python3-minimal)
        raise RuntimeError("pydoc_data.topics is missing from this Python; install the full standard "
                           "library (e.g. Debian's libpython3-stdlib / python3-doc) to get the corpus") from err
    return "\n\n".join(topics[key].strip() for key in sorted(topics))


@dataclass(frozen=True)
class CharData:
    """A text encoded as int64 character ids, split into a training head and a validation tail."""

    vocabulary: tuple[str, ...]
    train: Tensor
    validation: Tensor
    digest: str                      # sha256 of the text (the same Python gives the same corpus)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def encode(self, text: str) -> Tensor:
        index = {c: i for i, c in enumerate(self.vocabulary)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {unknown[:10]!r}")
        return torch.tensor([index[c] for c in text], dtype=torch.int64)

    def decode(self, ids: Tensor) -> str:
        return "".join(self.vocabulary[int(i)] for i in ids.reshape(-1))

    def split(self, name: str) -> Tensor:
        if name not in ("train", "validation"):
            raise ValueError(f"unknown split {name!r}; choose train or validation")
        return self.train if name == "train" else self.validation

    def batch(self, split: str, batch_size: int, block_size: int,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """`batch_size` random windows: inputs (B, T) and next-character targets (B, T)."""
        ids = self.split(split)
        check_sizes(batch_size, block_size, len(ids))
        starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
        offsets = torch.arange(block_size)
        return ids[starts[:, None] + offsets], ids[starts[:, None] + offsets + 1]

    def windows(self, split: str, block_size: int, limit: int | None = None) -> tuple[Tensor, Tensor]:
        """Consecutive non-overlapping windows (deterministic; for evaluation), at most `limit` of them."""
        ids = self.split(split)
        check_sizes(1, block_size, len(ids))
        count = (len(ids) - 1) // block_size
        if limit is not None:
            count = min(count, int(limit))
        x = ids[:count * block_size].reshape(count, block_size)
        y = ids[1:count * block_size + 1].reshape(count, block_size)
        return x, y


def check_sizes(batch_size: int, block_size: int, length: int) -> None:
    for name, value in (("batch_size", batch_size), ("block_size", block_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if block_size + 1 > length:
        raise ValueError(f"block_size {block_size} needs at least {block_size + 1} characters; the split has {length}")


def load_chars(source: str = "pydoc_topics", *, validation: float = 0.1, limit: int | None = None) -> CharData:
    """The corpus as character ids; the last `validation` fraction is held out (a contiguous tail,
    so no window of the validation text was seen in training). `limit` keeps the first characters only.
    The vocabulary is every character of the whole text, sorted."""
    if not isinstance(validation, float) or not 0.0 < validation < 1.0:
        raise ValueError(f"validation must be a fraction in (0, 1), got {validation!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 100):
        raise ValueError(f"limit must be an int >= 100 or None, got {limit!r}")
    text = corpus_text(source)
    if limit is not None:
        text = text[:limit]
    vocabulary = tuple(sorted(set(text)))
    index = {c: i for i, c in enumerate(vocabulary)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.int64)
    cut = int(round(len(ids) * (1.0 - validation)))
    return CharData(vocabulary=vocabulary, train=ids[:cut], validation=ids[cut:],
                    digest=hashlib.sha256(text.encode()).hexdigest())
