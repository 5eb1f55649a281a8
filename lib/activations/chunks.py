"""Cache-sized chunks: the CPU fast paths of the hand-written autograd Functions.

A chain of element-wise ops on a whole input-sized tensor reads and writes all of it once per op
(8 MB at (4096, 512) float32, from L3 cache or memory), and every fresh input-sized temporary costs
page faults (about 2,000 for 8 MB; on the CPU that is as much as the arithmetic). Run on slices of
`CHUNK` elements instead, a chain keeps its temporaries in a few buffers of a few hundred KB,
allocated once per call and reused for every slice, and each op finds its operands in the core's
L2 cache. Only the result (and, in the backward pass, the input gradient) is input-sized.

The fast paths need a contiguous input on the CPU and no torch.func transform (under vmap/grad the
Functions run their generic tensor code, which `generate_vmap_rule` batches); `applies` checks that.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

CHUNK = 32768    # elements per slice and torch thread: a (5, CHUNK) float32 buffer is 640 KB, within a 1 MB L2


_enabled = True


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the Functions' generic code instead of their fast paths inside the block (to compare the
    two: the tests and the benchmarks). Put the backward pass inside the block too."""
    global _enabled
    previous, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = previous


def applies(x: Tensor, *coefficients: Tensor) -> bool:
    """Whether the chunked CPU path applies: `x` contiguous on the CPU, outside torch.func transforms,
    and every coefficient tensor shared by all elements (at most one dimension, the terms)."""
    return (_enabled and x.device.type == "cpu" and x.is_contiguous()
            and not torch._C._are_functorch_transforms_active() and all(c.dim() <= 1 for c in coefficients))


class Slices:
    """How one call cuts its flat tensors of `total` elements: `size` = CHUNK per torch thread
    elements a slice (fewer for a short input), `count` slices."""

    def __init__(self, total: int):
        self.size = max(1, min(total, CHUNK * torch.get_num_threads()))
        self.count = -(-total // self.size)

    def split(self, *tensors: Tensor) -> Iterator[tuple[Tensor, ...]]:
        """The one-dimensional `tensors` (of one length), slice by slice, side by side."""
        return zip(*(t.split(self.size) for t in tensors))

    def buffer(self, *rows: int, dtype: torch.dtype) -> Buffer:
        return Buffer(torch.empty((*rows, self.size), dtype=dtype))


class Buffer:
    """A scratch tensor of shape (*rows, size), reused for every slice: `view(n)` is its first n
    columns, `rows(n)` their rows (made once for a full slice: a view costs as much as an op on
    a small slice)."""

    def __init__(self, tensor: Tensor):
        self.tensor = tensor
        self._rows = tuple(tensor.unbind(0)) if tensor.dim() > 1 else ()

    def view(self, n: int) -> Tensor:
        return self.tensor if n == self.tensor.shape[-1] else self.tensor[..., :n]

    def rows(self, n: int) -> tuple[Tensor, ...]:
        return self._rows if n == self.tensor.shape[-1] else tuple(self.tensor[..., :n].unbind(0))


def flat(t: Tensor) -> Tensor:
    """`t` as one dimension: a view where its strides allow (an expanded gradient gives stride 0)."""
    return t.reshape(-1)
