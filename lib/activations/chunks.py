"""Cache-sized chunks: the CPU fast paths of the hand-written autograd Functions.

A chain of element-wise ops on a whole input-sized tensor reads and writes all of it once per op
(8 MB at (4096, 512) float32, from L3 cache or memory), and every fresh input-sized temporary costs
page faults (about 2,000 for 8 MB; on the CPU that is as much as the arithmetic). Run on slices of
`CHUNK` elements instead, a chain keeps its temporaries in a few buffers of a few hundred KB to a
few MB, allocated once per call and reused for every slice, and each op finds its operands in the
core's L2 or L3 cache. Only the result (and, in the backward pass, the input gradient) is input-sized.
Each op on a slice costs a few microseconds of dispatch, so the slices are as long as the caches allow.

The fast paths need a contiguous input on the CPU and no torch.func transform (under vmap/grad the
Functions run their generic tensor code, which `generate_vmap_rule` batches); `applies` and
`rows_apply` check that, and `disabled()` turns the fast paths off (to compare them with the generic code).
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import Tensor

CHUNK = 65536    # elements per slice at one thread (Fourier: 32K, 64K and 96K measured, 64K fastest by ~5%)
ROW_CHUNK = 131072   # the same for `Rows` (one-row buffers): ops there are cheap, so fewer, longer slices
THREADED = 16    # with more threads, a slice has THREADED x threads x that many elements
ALIGN = 64       # slices start at multiples of 64 elements, as torch's vectorised loops split a whole tensor:
                 # an op's scalar tail loop (other rounding for erf, exp, ...) then meets the same elements


def slice_length(per_thread: int) -> int:
    """Elements per slice: `per_thread` at one torch thread. With more, each op is a parallel region
    that waits for its slowest thread, so far fewer, longer slices: on a machine shared with other
    jobs a region can wait a scheduler tick for a descheduled thread, and the time grows with the
    number of regions (at 2 threads on the 2-core machine under load, 8 slices took twice as long
    as 1); the slices still bound the temporaries of a large input."""
    threads = torch.get_num_threads()
    return per_thread if threads == 1 else per_thread * THREADED * threads


class Switch:
    """A module-wide on/off flag (`on`), and `off()`: a block in which it is off (to compare a fast
    path with the code it replaces; the backward pass belongs inside the block too)."""

    def __init__(self) -> None:
        self.on = True

    @contextlib.contextmanager
    def off(self) -> Iterator[None]:
        previous, self.on = self.on, False
        try:
            yield
        finally:
            self.on = previous


_switch = Switch()


def disabled() -> contextlib.AbstractContextManager[None]:
    """Run the Functions' generic code instead of their fast paths inside the block (to compare the
    two: the tests and the benchmarks). Put the backward pass inside the block too."""
    return _switch.off()


def _aligned(n: int) -> int:
    return max(ALIGN, n // ALIGN * ALIGN)


def _plain_cpu(x: Tensor) -> bool:
    return (_switch.on and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.is_contiguous()
            and not torch._C._are_functorch_transforms_active())


def applies(x: Tensor, *coefficients: Tensor) -> bool:
    """Whether the chunked CPU path applies: `x` contiguous float32 or float64 on the CPU, outside
    torch.func transforms, and every coefficient tensor shared by all elements (at most one
    dimension, the terms)."""
    return _plain_cpu(x) and all(c.dim() <= 1 for c in coefficients)


class Slices:
    """How one call cuts its flat tensors of `total` elements: `size` elements a slice
    (`slice_length(CHUNK)`, fewer for a short input), `count` slices."""

    def __init__(self, total: int):
        self.size = max(1, min(total, _aligned(slice_length(CHUNK))))
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


# --- element-wise Functions with parameters (lib.activations.kernels, lib.activations.snake) --------

def rows_apply(x: Tensor, *params: Tensor) -> bool:
    """Whether `Rows` applies: `x` contiguous float32 or float64 on the CPU, outside torch.func
    transforms, and every parameter one value or constant along x's first dimension (the batch),
    as after `lib.activations.base.broadcast_to_input` with a feature dimension other than 0."""
    if not _plain_cpu(x):
        return False
    return all(p.dim() == 0 or (x.dim() >= 2 and (p.dim() < x.dim() or p.shape[0] == 1)) for p in params)


class Rows:
    """The slices of an element-wise Function's fast path.

    When every parameter is one value, x is one flat vector cut into slices of `slice_length(ROW_CHUNK)`
    elements, and the parameters are Python floats (for torch's kernels that take scalar arguments).
    Otherwise x is (rows, row) with `row` the elements past its first dimension, cut into slices of
    whole rows; a parameter of one value is a float, any other a (row,) tensor (expanded once).
    Parameter gradients are reduced per slice (`inner`, `total`) and added up in float64 (`gradient`).
    """

    def __init__(self, x: Tensor, *params: Tensor):
        self.shape = x.shape
        self.flat = all(p.dim() == 0 for p in params)
        budget = slice_length(ROW_CHUNK)
        if self.flat:
            self.form: tuple[int, ...] = (x.numel(),)
            self.size = max(1, min(_aligned(budget), x.numel()))
        else:
            row = max(x[0].numel(), 1) if x.shape[0] else 1
            self.form = (x.shape[0], row)
            unit = ALIGN // math.gcd(row, ALIGN)            # rows per slice: a multiple of unit aligns them
            self.size = max(1, min(max(unit, budget // row // unit * unit), x.shape[0]))
        self.params = [p.item() if p.dim() == 0 else self._row(p) for p in params]

    def _row(self, p: Tensor) -> Tensor:
        inner_shape = self.shape[1:]
        q = p.reshape(p.shape[1:]) if p.dim() == len(self.shape) else p
        return q.expand(inner_shape).contiguous().view(-1)

    def view(self, t: Tensor) -> Tensor:
        """`t` (of x's shape; contiguous or expanded) in this plan's form."""
        return t.reshape(self.form)

    def split(self, *tensors: Tensor) -> Iterator[tuple[Tensor, ...]]:
        """Tensors of x's shape, slice by slice, side by side (an expanded gradient stays a view)."""
        return zip(*(self.view(t).split(self.size) for t in tensors))

    def buffer(self, dtype: torch.dtype) -> Tensor:
        """A scratch tensor of one slice (take `[:len(slice)]` for the last one)."""
        return torch.empty((self.size, *self.form[1:]), dtype=dtype)

    def inner(self, index: int, temp: Tensor, other: Tensor) -> Tensor:
        """The slice's part of sum(temp * other) for parameter `index`: for one value a dot product
        (of contiguous operands: with an expanded gradient torch.dot is six times slower than a
        product and a sum), else a sum over the slice's rows (overwriting the scratch `temp`)."""
        if not isinstance(self.params[index], float):
            return temp.mul_(other).sum(0)
        if temp.is_contiguous() and other.is_contiguous():
            return torch.dot(temp.view(-1), other.view(-1))
        return temp.mul_(other).sum()

    def gradient(self, parts: list[Tensor], like: Tensor) -> Tensor:
        """The slices' parts added in float64, shaped (and summed) to the parameter `like`."""
        result = torch.stack(parts).sum(0, dtype=torch.float64)
        if like.dim() == 0:
            return result.reshape(()).to(like.dtype)
        result = result.view(self.shape[1:])
        if like.dim() == len(self.shape):
            result = result.unsqueeze(0)
        return result.sum_to_size(like.shape).to(like.dtype)
