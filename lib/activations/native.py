"""The fused C kernels of `native.c`: compiled on first use, loaded with ctypes, called on CPU tensors.

Why: torch runs each element-wise op of an activation as its own pass over the tensor, so a
trainable activation (forward, input gradient, a reduction per parameter) costs several passes
where its classical twin costs two. One C loop per pass, with every intermediate in registers,
brings the trainable members within reach of their twins (`benchmarks/sqrt_family.py`).

Building: the first call compiles `native.c` with the system's C compiler into a cache
(`lib.cbuild`: keyed by source, flags, compiler and CPU). It needs glibc's vector math library
(libmvec, glibc >= 2.35 on x86-64). Where anything of that is missing, or
``ACTIVATION_BOOK_NATIVE=0`` is set, `library()` is None and every Function keeps its torch code
(`status()` says why); nothing else changes.

Values: the kernels evaluate the same formulas in the same order as the torch code, with glibc's
exp/expm1/erf/sin/cos (within 1-4 ulp, as torch's own) instead of torch's: outputs and
gradients agree with the torch code to a few ulp, not bit for bit (`tests/test_native.py`).
Parameter gradients are added per column in float64, per thread in thread order: deterministic
for a given thread count.
"""
from __future__ import annotations

import contextlib
import ctypes
from pathlib import Path

import torch
from torch import Tensor

from lib import cbuild
from lib.activations import chunks

COMPANION_FILES = ("native.c",)      # hashed with this module by lib.provenance (a result cache key)
SOURCE = Path(__file__).with_name(COMPANION_FILES[0])
FLAT_ROW = 1024        # one value per parameter: x read as rows of this many elements
KERNELS = ("leaky", "hardswish", "selu", "swish", "gelu", "signed_power", "tanh_exp_power", "fourier")
ACCUMULATORS = {"leaky": 1, "hardswish": 1, "selu": 2, "swish": 1, "gelu": 2, "signed_power": 1,
                "tanh_exp_power": 1}     # Fourier: 3 per term
SUFFIX = {torch.float32: "f32", torch.float64: "f64"}

_switch = chunks.Switch()


def _declare(lib: ctypes.CDLL) -> None:
    pointer, long, integer = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
    for kernel in KERNELS:
        for direction in ("forward", "backward"):
            for suffix in SUFFIX.values():
                fn = getattr(lib, f"{kernel}_{direction}_{suffix}")
                fn.argtypes = [pointer] * 7 + [long, long, integer, integer, pointer, integer]
                fn.restype = integer


LIBRARY = cbuild.Library(SOURCE, _declare)


def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None (see `status()`); built on the first call."""
    return LIBRARY.get()


def status() -> str:
    """Whether the kernels are in use, and why not."""
    library()
    return LIBRARY.status if _switch.on else f"disabled in this block ({LIBRARY.status})"


def disabled() -> contextlib.AbstractContextManager[None]:
    """Run the torch code (the slices of `lib.activations.chunks`) instead of the C kernels in the
    block: to compare the two. Put the backward pass inside the block too."""
    return _switch.off()


def applies(x: Tensor, *params: Tensor) -> bool:
    """Whether the C kernels take this call: those of `chunks.rows_apply` (contiguous float32 or
    float64 CPU input, no torch.func transform, parameters constant along the batch), the
    parameters of x's dtype, and the library built."""
    return (_switch.on and chunks.rows_apply(x, *params) and all(p.dtype == x.dtype for p in params)
            and library() is not None)


# --- calls ---------------------------------------------------------------------------------------

class Layout:
    """x read as rows of `columns` elements, each parameter as `columns` contiguous values."""

    def __init__(self, x: Tensor, params: tuple[Tensor, ...]):
        self.shape, self.numel = x.shape, x.numel()
        self.flat = all(p.dim() == 0 for p in params)
        if self.flat:
            self.columns = max(1, min(FLAT_ROW, self.numel))
        else:
            self.columns = max(1, x[0].numel()) if x.shape[0] else 1
        self.params = [self._row(p) for p in params]

    def _row(self, p: Tensor) -> Tensor:
        if self.flat:
            return p.reshape(1).expand(self.columns).contiguous()
        q = p.reshape(p.shape[1:]) if p.dim() == len(self.shape) else p
        return q.expand(self.shape[1:]).contiguous().view(-1)

    def reduce(self, sums: Tensor, like: Tensor) -> Tensor:
        """One accumulator's column sums (float64), reduced to the parameter `like`."""
        if like.dim() == 0:
            return sums.sum().to(like.dtype)
        result = sums.view(self.shape[1:])
        if like.dim() == len(self.shape):
            result = result.unsqueeze(0)
        return result.sum_to_size(like.shape).to(like.dtype)


def _gradient_operand(grad: Tensor, like: Tensor) -> tuple[Tensor, bool]:
    """The output gradient as the kernels read it: contiguous, or one value when it is expanded
    from one (the gradient of y.sum(), which a copy would cost a page fault per 4 KB)."""
    if grad.is_contiguous() and grad.dtype == like.dtype:
        return grad, False
    if grad.numel() and all(s == 0 for s in grad.stride()):
        # its first element as a view (reshape(-1) of an expanded tensor would copy all of it)
        return grad[(0,) * grad.dim()].reshape(1).to(like.dtype).contiguous(), True
    return grad.to(like.dtype).contiguous(), False


def _call(kernel: str, direction: str, x: Tensor, grad: Tensor | None, out: Tensor | None,
          layout: Layout, params: list[Tensor], accumulators: int, terms: int = 0) -> Tensor | None:
    fn = getattr(LIBRARY.lib, f"{kernel}_{direction}_{SUFFIX[x.dtype]}")
    g, g_scalar = (None, False) if grad is None else _gradient_operand(grad, x)
    acc = torch.empty(accumulators * layout.columns, dtype=torch.float64) if accumulators else None
    pointers = [p.data_ptr() for p in params] + [None] * (4 - len(params))
    status = fn(x.data_ptr(), None if g is None else g.data_ptr(), None if out is None else out.data_ptr(),
                *pointers, layout.numel, layout.columns, int(g_scalar), terms,
                None if acc is None else acc.data_ptr(), torch.get_num_threads())
    if status != 0:
        raise MemoryError(f"native {kernel} {direction}: out of memory for its per-thread sums")
    return None if acc is None else acc.view(accumulators, layout.columns)


def forward(kernel: str, x: Tensor, *params: Tensor) -> Tensor:
    """y = kernel(x; params), the parameters broadcast against x as `chunks.rows_apply` allows."""
    layout = Layout(x, params)
    out = torch.empty_like(x)
    _call(kernel, "forward", x, None, out, layout, layout.params, 0)
    return out


def backward(kernel: str, grad: Tensor, x: Tensor, *params: Tensor, need_x: bool,
             need_params: bool) -> tuple[Tensor | None, Tensor | None, Layout]:
    """(the input gradient or None, the parameter sums (accumulators, columns) in float64 or None,
    the layout whose `reduce` takes a row of the sums to a parameter's shape)."""
    layout = Layout(x, params)
    grad_x = torch.empty_like(x) if need_x else None
    sums = _call(kernel, "backward", x, grad, grad_x, layout, layout.params,
                 ACCUMULATORS[kernel] if need_params else 0)
    return grad_x, sums, layout


def applies_shared(x: Tensor, *coefficients: Tensor) -> bool:
    """Whether the Fourier kernels take this call: those of `chunks.applies` (coefficients shared by
    every element), of x's dtype, and the library built."""
    return (_switch.on and chunks.applies(x, *coefficients) and all(c.dtype == x.dtype for c in coefficients)
            and library() is not None)


def fourier_forward(x: Tensor, amplitude: Tensor, phase: Tensor, frequency: Tensor, bias: Tensor) -> Tensor:
    """b + sum_k c_k cos(w_k x - phi_k), coefficients shared by every element (K values each)."""
    layout = Layout(x, ())
    out = torch.empty_like(x)
    coefficients = [t.reshape(-1).contiguous() for t in (amplitude, phase, frequency, bias)]
    _call("fourier", "forward", x, None, out, layout, coefficients, 0, amplitude.shape[0])
    return out


def fourier_backward(grad: Tensor, x: Tensor, amplitude: Tensor, phase: Tensor, frequency: Tensor,
                     need_x: bool, need_coefficients: bool) -> tuple[Tensor | None, Tensor | None]:
    """(the input gradient or None, (3, K) float64 sums: Σ g cos θ_k, Σ g sin θ_k, Σ g x sin θ_k)."""
    terms = amplitude.shape[0]
    layout = Layout(x, ())
    grad_x = torch.empty_like(x) if need_x else None
    coefficients = [t.reshape(-1).contiguous() for t in (amplitude, phase, frequency)]
    sums = _call("fourier", "backward", x, grad, grad_x, layout, coefficients,
                 3 * terms if need_coefficients else 0, terms)
    if sums is not None:
        sums = sums.sum(1).view(terms, 3).T
    return grad_x, sums
