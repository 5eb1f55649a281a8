"""Fused autograd Functions for the trainable SQRT-family activations (`lib.activations.sqrt_family`).

Why hand-written: autograd through a four-op formula keeps every intermediate alive and
allocates a fresh input-sized tensor per op. On the CPU a fresh 8 MB tensor costs about
2,000 page faults (as much as the arithmetic), and the parameter gradients become extra
graph nodes. Each Function here

- saves only its input and its (small) parameters, and recomputes what it needs;
- computes the forward with torch's own fused kernel where one applies exactly
  (`F.leaky_relu`, `aten.elu`, `aten._prelu_kernel`, `F.hardswish`, `aten.gelu_`),
  the input gradient with the matching fused backward kernel (`aten.*_backward`),
  and the parameter gradients as one reduction each (`torch.dot` for a per-layer scalar,
  a product summed over the batch for per-element parameters);
- writes in place into its own temporaries, so that at most two input-sized buffers live at once.

Outside torch.func transforms a per-layer parameter is passed to the fused kernels as a
Python number (`_number`) and temporaries are overwritten; under vmap/grad (the ensembles
train members with `torch.func.vmap`) the same formulas run out of place on tensors,
which `generate_vmap_rule` batches. On the CPU (contiguous float input, parameters constant
along the batch dimension) the Functions other than SignedPower run the same ops by slices of
whole rows instead (`lib.activations.chunks.Rows`, the `_*_rows` functions; LeakyReLU's forward
is one torch kernel already): no input-sized temporary (each would cost page faults), the same
values bit for bit, the parameter sums reassociated (added per slice in float64), and
TanhExpPower's backward takes s from ln|x| (see there).

Where a value differs from the formula in `sqrt_family` by float rounding (≤ a few ulp of
the operands), the Function's docstring says so; `tests/test_kernels.py` bounds it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lib.activations import chunks, native

aten = torch.ops.aten

SLOPE_FLOOR = 1e-6          # δ: |x| below it gets the slope of |x| = δ in the signed power
EXP_CLAMP = 20.0            # tanh(e^20) == 1 in float64: inputs above it change no value
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# --- helpers ---------------------------------------------------------------------------------------

def _transformed() -> bool:
    """True under torch.func transforms (vmap, grad): no out-of-place-only tricks, no .item()."""
    return torch._C._are_functorch_transforms_active()


def _number(p: Tensor) -> float | None:
    """`p` as a Python float when it is one CPU scalar outside transforms (for kernels that take
    scalar arguments), else None. Never synchronises an accelerator."""
    if p.dim() == 0 and p.device.type == "cpu" and not _transformed():
        return p.item()
    return None


def _fits(t: Tensor, *others) -> bool:
    """Whether an in-place op on the temporary `t` with `others` is safe: outside transforms, and
    broadcasting the others leaves t's shape (a generated vmap rule may hand in a parameter with a
    batch dimension the input lacks)."""
    if _transformed():
        return False
    shape = t.shape
    return all(not isinstance(o, Tensor) or torch.broadcast_shapes(shape, o.shape) == shape for o in others)


def _prelu(x: Tensor, w: Tensor) -> Tensor:
    """x if x > 0 else w·x: torch's PReLU kernel (whose batching rule resizes an output under
    vmap when only w is batched, so the transforms get the same formula as a where)."""
    return torch.where(x > 0, x, w * x) if _transformed() else aten._prelu_kernel(x, w)


def _total(t: Tensor, shape: torch.Size) -> Tensor:
    return t.sum() if len(shape) == 0 else t.sum_to_size(shape)


def _inner(temp: Tensor, other: Tensor, shape: torch.Size) -> Tensor:
    """sum(temp * other) reduced to a parameter's broadcast `shape`. `temp` is a temporary of
    the caller's, overwritten outside transforms. A scalar's reduction of two contiguous
    tensors is one `torch.dot` (no product tensor)."""
    if not _fits(temp, other):
        return _total(temp * other, shape)
    if len(shape) == 0 and temp.shape == other.shape and temp.is_contiguous() and other.is_contiguous():
        return torch.dot(temp.view(-1), other.view(-1))
    return _total(temp.mul_(other), shape)


def _mul(t: Tensor, other) -> Tensor:
    """t * other, in place outside transforms (t must be a temporary of full size)."""
    return t.mul_(other) if _fits(t, other) else t * other


def _add(t: Tensor, other) -> Tensor:
    return t.add_(other) if _fits(t, other) else t + other


def _signed_power_value(x: Tensor, z: Tensor) -> Tensor:
    """sign(x)·|x|^z as copysign(|x|^z, x): the same values (0 keeps the sign of x)."""
    a = x.abs()
    power = a.pow_(z) if _fits(a, z) else torch.pow(a, z)
    return power.copysign_(x) if _fits(power, x) else torch.copysign(power, x)


def _log_abs(x: Tensor) -> Tensor:
    """ln|x| (-inf at 0), in a fresh buffer."""
    return x.abs().log_()


def _power_slope_from_log(log_abs: Tensor, z: Tensor) -> Tensor:
    """z·max(|x|, δ)^(z-1) where z < 1, z·|x|^(z-1) elsewhere (the capped slope of the signed
    power), as z·exp((z-1)·max(ln|x|, ln δ)); overwrites `log_abs` outside transforms.

    exp of a float32 product instead of pow: ≤ 1e-6 relative for 1e-7 <= |x| <= 1e7 (the
    error is |(z-1)·ln|x||·2^-24). The one nan, 0·(-inf) at x = 0 and z = 1, is 0^0 = 1.
    """
    log_floor = torch.log((z < 1).to(log_abs.dtype) * SLOPE_FLOOR)     # ln δ where capped, else -inf
    if _transformed():
        slope = torch.exp(torch.maximum(log_abs, log_floor) * (z - 1))
        return torch.nan_to_num(slope, nan=1.0, posinf=math.inf) * z
    capped = torch.maximum(log_abs, log_floor, out=log_abs) if _fits(log_abs, log_floor) else \
        torch.maximum(log_abs, log_floor)
    return _mul(_mul(capped, z - 1).exp_().nan_to_num_(nan=1.0, posinf=math.inf), z)


def _times_log(value: Tensor, log_abs: Tensor) -> Tensor:
    """value·ln|x| with the limit 0 at x = 0 (0·(-inf)); overwrites `value` outside transforms.
    (A nan input also gives 0 here, as the where-guard before this Function did.)"""
    if _transformed():
        return torch.nan_to_num(value * log_abs, nan=0.0, posinf=math.inf, neginf=-math.inf)
    return value.mul_(log_abs).nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)


# --- signed power: TSQRT, SQRT ----------------------------------------------------------------------

class SignedPower(torch.autograd.Function):
    """sign(x)·|x|^z, exact values, slope capped below |x| = δ and d/dz = 0 at x = 0.

    Forward: |x|, pow, copysign in one buffer (the values are pow's). Backward: ln|x| once;
    the capped slope z·max(|x|, δ)^(z-1) and d/dz = sign(x)|x|^z ln|x| from it by exp
    (see `_power_slope_from_log` for the bound: gradients only, ≤ 1e-6 relative).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, z: Tensor) -> Tensor:
        if native.applies(x, z):
            return native.forward("signed_power", x, z)
        return _signed_power_value(x, z)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, z = ctx.saved_tensors
        if native.applies(x, z):
            grad_x, sums, layout = native.backward("signed_power", grad, x, z, need_x=ctx.needs_input_grad[0],
                                                   need_params=ctx.needs_input_grad[1])
            return grad_x, (layout.reduce(sums[0], z) if ctx.needs_input_grad[1] else None)
        log_abs = _log_abs(x)
        grad_x = grad_z = None
        if ctx.needs_input_grad[1]:
            # d/dz = sign(x)|x|^z ln|x|; |x|^z as exp(z ln|x|) (same bound as the slope's)
            power = torch.copysign(torch.exp(log_abs * z), x) if _transformed() else \
                torch.mul(log_abs, z).exp_().copysign_(x)
            grad_z = _inner(_times_log(power, log_abs), grad, z.shape)
            del power
        if ctx.needs_input_grad[0]:
            grad_x = _mul(_power_slope_from_log(log_abs, z), grad)
        return grad_x, grad_z


class TanhExpPower(torch.autograd.Function):
    """x·tanh(e^{min(s, 20)}), s = sign(x)|x|^k (TSQRT_tanh), with SignedPower's guards on s.

    The same ops as the module's formula in the forward (exact values). With T = tanh(E),
    E = e^{min(s, 20)} and Q = x·E·(1 - T²): df/dx = T + Q·ds/dx and df/dk = Q·ds/dk. Above
    s = 20 the clamp stops the gradient and 1 - T² is exactly 0 as well, so no mask is needed.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, k: Tensor) -> Tensor:
        if native.applies(x, k):
            return native.forward("tanh_exp_power", x, k)
        if chunks.rows_apply(x, k):
            return _tanh_exp_power_rows(x, k)
        s = _signed_power_value(x, k)
        if _transformed():
            return x * torch.tanh(torch.exp(s.clamp(max=EXP_CLAMP)))
        return _mul(s.clamp_(max=EXP_CLAMP).exp_().tanh_(), x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, k = ctx.saved_tensors
        need_x, need_k = ctx.needs_input_grad
        if native.applies(x, k):
            grad_x, sums, layout = native.backward("tanh_exp_power", grad, x, k, need_x=need_x, need_params=need_k)
            return grad_x, (layout.reduce(sums[0], k) if need_k else None)
        if chunks.rows_apply(x, k):
            return _tanh_exp_power_rows_backward(grad, x, k, ctx.needs_input_grad)
        transformed = _transformed()
        # s by pow (exact, it feeds e^s); ln|x| once for ds/dk = s·ln|x| and the capped slope
        s = _signed_power_value(x, k)
        log_abs = _log_abs(x)
        ds_dk = _times_log(s.clone(), log_abs) if need_k else None       # s is overwritten next
        exp_s = torch.exp(s.clamp(max=EXP_CLAMP)) if transformed else s.clamp_(max=EXP_CLAMP).exp_()
        tanh = torch.tanh(exp_s)
        # Q = x·E·(1 - T²), written over E
        q = aten.tanh_backward(exp_s, tanh) if transformed else \
            aten.tanh_backward.grad_input(exp_s, tanh, grad_input=exp_s)
        q = _mul(q, x)
        grad_x = grad_k = None
        if need_k:
            grad_k = _inner(_mul(ds_dk, q), grad, k.shape)
            del ds_dk
        if need_x:
            grad_x = _mul(_add(_mul(_power_slope_from_log(log_abs, k), q), tanh), grad)
        return grad_x, grad_k


def _exponent_row(rows: chunks.Rows, k: Tensor) -> Tensor:
    """The exponent for pow: the 0-d tensor itself for one value (pow of a tensor exponent, as the
    generic code; pow with a float exponent takes other kernels for 0.5, 2, ... with other rounding)."""
    return k if k.dim() == 0 else rows._row(k)


def _tanh_exp_power_rows(x: Tensor, k: Tensor) -> Tensor:
    """`TanhExpPower.forward` on the CPU by slices (`lib.activations.chunks.Rows`): the same ops and values."""
    rows = chunks.Rows(x, k)
    exponent = _exponent_row(rows, k)
    out = torch.empty_like(x)
    for xs, o in rows.split(x, out):
        torch.abs(xs, out=o).pow_(exponent).copysign_(xs).clamp_(max=EXP_CLAMP).exp_().tanh_().mul_(xs)
    return out


def _tanh_exp_power_rows_backward(grad, x, k, needs):
    """`TanhExpPower.backward` by slices: the same formulas, the sum added per slice, s from ln|x|."""
    need_x, need_k = needs
    rows = chunks.Rows(x, k)
    exponent = _exponent_row(rows, k)
    k_minus_one = exponent - 1
    log_floor = torch.log((exponent < 1).to(x.dtype) * SLOPE_FLOOR)       # ln δ where the slope is capped
    s_buffer, log_buffer, tanh_buffer = rows.buffer(x.dtype), rows.buffer(x.dtype), rows.buffer(x.dtype)
    ds_buffer = rows.buffer(x.dtype) if need_k else None
    grad_x = torch.empty_like(x) if need_x else None
    parts = []
    for xs, g, o in rows.split(x, grad, grad_x if need_x else x):
        n = len(xs)
        log_abs = torch.abs(xs, out=log_buffer[:n]).log_()
        # s = sign(x)|x|^k as exp(k ln|x|): ln|x| is needed anyway, so one exp replaces a pow (twice the
        # cost); within 1e-6 relative of pow's s for 1e-7 <= |x| <= 1e7, as in SignedPower's backward
        s = torch.mul(log_abs, exponent, out=s_buffer[:n]).exp_().copysign_(xs)
        if need_k:
            ds_dk = torch.mul(s, log_abs, out=ds_buffer[:n]).nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)
        exp_s = s.clamp_(max=EXP_CLAMP).exp_()
        tanh = torch.tanh(exp_s, out=tanh_buffer[:n])
        q = aten.tanh_backward.grad_input(exp_s, tanh, grad_input=exp_s).mul_(xs)   # Q = x·E·(1 - T²)
        if need_k:
            parts.append(rows.inner(0, ds_dk.mul_(q), g))
        if need_x:
            # the capped slope k·max(|x|, δ)^(k-1) from ln|x| (as _power_slope_from_log), times Q, plus T
            slope = torch.maximum(log_abs, log_floor, out=log_abs).mul_(k_minus_one).exp_()
            slope.nan_to_num_(nan=1.0, posinf=math.inf).mul_(exponent)
            torch.mul(slope.mul_(q).add_(tanh), g, out=o)
    return grad_x, (rows.gradient(parts, k) if need_k else None)


# --- piecewise-linear: TLeakyReLU -----------------------------------------------------------------

class LeakyReLUFunction(torch.autograd.Function):
    """x if x > 0 else z·x (any real z, one or one per element): exact values and gradients.

    Forward: `F.leaky_relu` for one scalar (outside transforms), else torch's PReLU kernel.
    Backward: dz = Σ_{x<=0} g·x; dx = g or z·g, by `leaky_relu_backward` for a scalar, else
    from g split at x > 0 by `threshold_backward` (torch's ReLU backward) and recombined.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, z: Tensor) -> Tensor:
        if native.applies(x, z):
            return native.forward("leaky", x, z)
        slope = _number(z)
        return F.leaky_relu(x, slope) if slope is not None else _prelu(x, z)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, z = ctx.saved_tensors
        need_x, need_z = ctx.needs_input_grad
        if native.applies(x, z):
            grad_x, sums, layout = native.backward("leaky", grad, x, z, need_x=need_x, need_params=need_z)
            return grad_x, (layout.reduce(sums[0], z) if need_z else None)
        if chunks.rows_apply(x, z):
            return _leaky_relu_rows_backward(grad, x, z, ctx.needs_input_grad)
        slope = _number(z)
        if slope is not None:
            grad_z = _inner(x.clamp(max=0), grad, z.shape) if need_z else None
            grad_x = aten.leaky_relu_backward(grad, x, slope, False) if need_x else None
            return grad_x, grad_z
        positive = aten.threshold_backward(grad, x, 0)        # g where x > 0, else 0
        negative = grad - positive                            # g where x <= 0, else 0 (exact)
        if _transformed():
            grad_x = torch.addcmul(positive, negative, z)
            grad_z = _total(negative * x, z.shape)
        else:
            # g + 0·z, or 0 + g·z: exact
            grad_x = positive.addcmul_(negative, z) if _fits(positive, negative, z) else \
                torch.addcmul(positive, negative, z)
            grad_z = _total(_mul(negative, x), z.shape) if need_z else None
        return (grad_x if need_x else None), (grad_z if need_z else None)


def _leaky_relu_rows_backward(grad, x, z, needs):
    """`LeakyReLUFunction.backward` by slices (`lib.activations.chunks.Rows`): dx = g where x > 0,
    else z·g, and dz = sum g·min(x, 0); for one z by torch's `leaky_relu_backward` and a dot
    product, else as the generic code does (g split at x > 0 by `threshold_backward`; torch's
    PReLU backward kernel is not vectorised, ten times slower). The same values; the sums reassociated."""
    need_x, need_z = needs
    rows = chunks.Rows(x, z)
    (slope,) = rows.params
    one_value = isinstance(slope, float)
    grad_x = torch.empty_like(x) if need_x else None
    negative = rows.buffer(x.dtype) if need_z or not one_value else None
    positive = rows.buffer(x.dtype) if not one_value else None
    parts = []
    for xs, g, o in rows.split(x, grad, grad_x if need_x else x):
        n = len(xs)
        if one_value:
            if need_z:
                parts.append(rows.inner(0, torch.clamp(xs, max=0, out=negative[:n]), g))
            if need_x:
                aten.leaky_relu_backward.grad_input(g, xs, slope, False, grad_input=o)
        else:
            pos = aten.threshold_backward.grad_input(g, xs, 0, grad_input=positive[:n])   # g where x > 0, else 0
            neg = torch.sub(g, pos, out=negative[:n])                                      # g where x <= 0 (exact)
            if need_x:
                torch.addcmul(pos, neg, slope, out=o)                                      # g + 0·z, or 0 + g·z
            if need_z:
                parts.append(rows.inner(0, neg, xs))
    return grad_x, (rows.gradient(parts, z) if need_z else None)


# --- THardswish -----------------------------------------------------------------------------------

class HardswishFunction(torch.autograd.Function):
    """x·clamp(x + z, 0, 2z)/(2z) computed as (z/3)·hardswish(3x/z) with torch's fused kernels.

    Float rounding differs from the literal formula by a few ulp of x (and of z near x = -z,
    where f is 0); which side of a kink x = ±z an input within an ulp of it falls on may differ.
    df/dx = hardswish'(u), u = 3x/z; df/dz = -u²/18 on |u| < 3, else 0.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, z: Tensor) -> Tensor:
        if native.applies(x, z):
            return native.forward("hardswish", x, 3.0 / z, z / 3.0)
        if chunks.rows_apply(x, z):
            return _hardswish_rows(x, z)
        u = x * (3.0 / z)
        return _mul(F.hardswish(u, inplace=True), z / 3.0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, z = ctx.saved_tensors
        need_x, need_z = ctx.needs_input_grad
        if native.applies(x, z):
            grad_x, sums, layout = native.backward("hardswish", grad, x, 3.0 / z, need_x=need_x, need_params=need_z)
            return grad_x, (layout.reduce(sums[0], z) * (-1.0 / 18.0) if need_z else None)
        if chunks.rows_apply(x, z):
            return _hardswish_rows_backward(grad, x, z, ctx.needs_input_grad)
        u = x * (3.0 / z)
        grad_z = grad_x = None
        if need_z:
            # g on |u| < 3, else 0 (hardsigmoid_backward would give g/6, but with a float32 1/6)
            window = aten.hardtanh_backward(grad, u, -3.0, 3.0)
            grad_z = _inner(_mul(window, u), u, z.shape) * (-1.0 / 18.0)
            del window
        if need_x:
            grad_x = aten.hardswish_backward(grad, u)
        return grad_x, grad_z


def _hardswish_rows(x: Tensor, z: Tensor) -> Tensor:
    """`HardswishFunction.forward` by slices (`lib.activations.chunks.Rows`), the same ops and values."""
    rows = chunks.Rows(x, 3.0 / z, z / 3.0)
    scale, back = rows.params
    out = torch.empty_like(x)
    for xs, o in rows.split(x, out):
        F.hardswish(torch.mul(xs, scale, out=o), inplace=True).mul_(back)
    return out


def _hardswish_rows_backward(grad, x, z, needs):
    """`HardswishFunction.backward` by slices: the same formulas, the sums added per slice."""
    need_x, need_z = needs
    rows = chunks.Rows(x, 3.0 / z)
    (scale,) = rows.params
    u_buffer = rows.buffer(x.dtype)
    window_buffer = rows.buffer(x.dtype) if need_z else None
    grad_x = torch.empty_like(x) if need_x else None
    parts = []
    for xs, g, o in rows.split(x, grad, grad_x if need_x else x):
        u = torch.mul(xs, scale, out=u_buffer[:len(xs)])
        if need_z:
            window = aten.hardtanh_backward.grad_input(g, u, -3.0, 3.0, grad_input=window_buffer[:len(xs)])
            parts.append(rows.inner(0, window.mul_(u), u))
        if need_x:
            aten.hardswish_backward.out(g, u, out=o)
    return grad_x, (rows.gradient(parts, z) * (-1.0 / 18.0) if need_z else None)


# --- TGELU ----------------------------------------------------------------------------------------

class GELUFunction(torch.autograd.Function):
    """z·x·(1 + erf(x/w)) computed as √2·z·w·gelu(u), u = √2·x/w, with torch's fused GELU.

    Float rounding differs from the literal formula by a few ulp. With φ the normal density:
    df/dx = 2z·gelu'(u); df/dz = √2·w·gelu(u); df/dw = -√2·z·u²·φ(u). Σ g·gelu(u) is taken as
    Σ u·(g·gelu'(u)) - Σ g·u²φ(u) (gelu' = Φ + uφ), reusing the input gradient's kernel.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, z: Tensor, w: Tensor) -> Tensor:
        if native.applies(x, z, w):
            return native.forward("gelu", x, math.sqrt(2.0) / w, math.sqrt(2.0) * z * w)
        if chunks.rows_apply(x, z, w):
            return _gelu_rows(x, z, w)
        u = x * (math.sqrt(2.0) / w)
        if _transformed():
            return F.gelu(u) * (math.sqrt(2.0) * z * w)
        return _mul(aten.gelu_(u), math.sqrt(2.0) * z * w)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, z, w = ctx.saved_tensors
        need_x, need_z, need_w = ctx.needs_input_grad
        if native.applies(x, z, w):
            grad_x, sums, layout = native.backward("gelu", grad, x, math.sqrt(2.0) / w, 2.0 * z, need_x=need_x,
                                                   need_params=need_z or need_w)
            grad_z = grad_w = None
            if need_z or need_w:
                density = layout.reduce(sums[0], z) * INV_SQRT_2PI                # Σ g·u²φ(u)
                if need_z:
                    grad_z = (layout.reduce(sums[1], z) - density) * (math.sqrt(2.0) * w)
                if need_w:
                    grad_w = density * (-math.sqrt(2.0) * z)
            return grad_x, grad_z, grad_w
        if chunks.rows_apply(x, z, w):
            return _gelu_rows_backward(grad, x, z, w, ctx.needs_input_grad)
        u = x * (math.sqrt(2.0) / w)
        shape = z.shape
        density = None
        if need_z or need_w:
            # u²·e^{-u²/2} in one buffer
            t = u * -0.5
            t = torch.exp(t * u) * u * u if _transformed() else t.mul_(u).exp_().mul_(u).mul_(u)
            density = _inner(t, grad, shape) * INV_SQRT_2PI             # Σ g·u²φ(u)
            del t
        slope = aten.gelu_backward(grad, u)                              # g·gelu'(u)
        grad_x = grad_z = grad_w = None
        if need_z:
            grad_z = (_inner(u, slope, shape) - density) * (math.sqrt(2.0) * w)
        if need_w:
            grad_w = density * (-math.sqrt(2.0) * z)
        if need_x:
            grad_x = _mul(slope, 2.0 * z)
        return grad_x, grad_z, grad_w


def _gelu_rows(x: Tensor, z: Tensor, w: Tensor) -> Tensor:
    """`GELUFunction.forward` by slices (`lib.activations.chunks.Rows`), the same ops and values."""
    rows = chunks.Rows(x, math.sqrt(2.0) / w, math.sqrt(2.0) * z * w)
    scale, back = rows.params
    out = torch.empty_like(x)
    for xs, o in rows.split(x, out):
        aten.gelu_(torch.mul(xs, scale, out=o)).mul_(back)
    return out


def _gelu_rows_backward(grad, x, z, w, needs):
    """`GELUFunction.backward` by slices: the same formulas, the sums added per slice."""
    need_x, need_z, need_w = needs
    rows = chunks.Rows(x, math.sqrt(2.0) / w, 2.0 * z)
    scale, double_z = rows.params
    u_buffer, t_buffer = rows.buffer(x.dtype), rows.buffer(x.dtype) if need_z or need_w else None
    slope_buffer = rows.buffer(x.dtype) if not need_x else None
    grad_x = torch.empty_like(x) if need_x else None
    densities, products = [], []
    for xs, g, o in rows.split(x, grad, grad_x if need_x else x):
        n = len(xs)
        u = torch.mul(xs, scale, out=u_buffer[:n])
        if need_z or need_w:
            t = torch.mul(u, -0.5, out=t_buffer[:n]).mul_(u).exp_().mul_(u).mul_(u)    # u²·e^{-u²/2}
            densities.append(rows.inner(0, t, g))                                   # Σ g·u²e^{-u²/2}
        slope = aten.gelu_backward.grad_input(g, u, grad_input=o if need_x else slope_buffer[:n])   # g·gelu'(u)
        if need_z:
            products.append(rows.inner(0, u, slope))                               # Σ u·g·gelu'(u)
        if need_x:
            slope.mul_(double_z)
    grad_z = grad_w = None
    if need_z or need_w:
        density = rows.gradient(densities, z) * INV_SQRT_2PI                        # Σ g·u²φ(u)
        if need_z:
            grad_z = (rows.gradient(products, z) - density) * (math.sqrt(2.0) * w)
        if need_w:
            grad_w = density * (-math.sqrt(2.0) * z)
    return grad_x, grad_z, grad_w


# --- TSELU ----------------------------------------------------------------------------------------

class SELUFunction(torch.autograd.Function):
    """z·x for x >= 0, z·w·(e^x - 1) otherwise (any real z, w): exact values.

    Forward: torch's ELU kernel (`aten.elu`, expm1 inside) for one scalar w, else ELU(x) then
    PReLU with slope w (ELU(x) <= 0 exactly where x <= 0), times z. Backward: dx by torch's
    `elu_backward` (so at exactly x = 0 it takes the left slope z·w, as torch's SELU does);
    dz = Σ g·max(x, 0) + w·Σ g·expm1(min(x, 0)) and dw = z·Σ g·expm1(min(x, 0)).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, z: Tensor, w: Tensor) -> Tensor:
        if native.applies(x, z, w):
            return native.forward("selu", x, z, w)
        if chunks.rows_apply(x, z, w):
            return _selu_rows(x, z, w)
        alpha = _number(w)
        inner = aten.elu(x, alpha, 1.0, 1.0) if alpha is not None else _prelu(aten.elu(x), w)
        return _mul(inner, z)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, z, w = ctx.saved_tensors
        need_x, need_z, need_w = ctx.needs_input_grad
        if native.applies(x, z, w):
            grad_x, sums, layout = native.backward("selu", grad, x, z, w, need_x=need_x, need_params=need_z or need_w)
            grad_z = grad_w = None
            if need_z or need_w:
                negative_sum = layout.reduce(sums[1], z)                            # Σ g·expm1(min(x, 0))
                if need_z:
                    grad_z = layout.reduce(sums[0], z) + w * negative_sum
                if need_w:
                    grad_w = z * negative_sum
            return grad_x, grad_z, grad_w
        if chunks.rows_apply(x, z, w):
            return _selu_rows_backward(grad, x, z, w, ctx.needs_input_grad)
        grad_x = grad_z = grad_w = None
        if need_z or need_w:
            negative = x.clamp(max=0)
            negative = torch.expm1(negative) if _transformed() else negative.expm1_()
            negative_sum = _inner(negative, grad, z.shape)               # Σ g·expm1(min(x, 0))
            del negative
            if need_z:
                grad_z = _inner(x.clamp(min=0), grad, z.shape) + w * negative_sum
            if need_w:
                grad_w = z * negative_sum
        if need_x:
            scale, alpha = _number(z), _number(w)
            if scale is not None and alpha is not None:
                grad_x = aten.elu_backward(grad, alpha, scale, 1.0, False, x)
            else:
                # 1 for x > 0, -e^x for x <= 0 (ELU's backward with alpha = -1), then PReLU with
                # slope -w turns the second branch into w·e^x
                one = torch.ones((), dtype=x.dtype, device=x.device).expand_as(x)
                slope = _prelu(aten.elu_backward(one, -1.0, 1.0, 1.0, False, x), -w)
                grad_x = _mul(_mul(slope, grad), z)
        return grad_x, grad_z, grad_w


def _selu_rows(x: Tensor, z: Tensor, w: Tensor) -> Tensor:
    """`SELUFunction.forward` by slices (`lib.activations.chunks.Rows`), the same ops and values."""
    rows = chunks.Rows(x, z, w)
    scale, alpha = rows.params
    out = torch.empty_like(x)
    for xs, o in rows.split(x, out):
        if isinstance(alpha, float):
            aten.elu.out(xs, alpha, 1.0, 1.0, out=o).mul_(scale)
        else:   # ELU(x), then w·ELU(x) where it is <= 0 (PReLU's kernel; no out= variant)
            torch.mul(aten._prelu_kernel(aten.elu.out(xs, out=o), alpha), scale, out=o)
    return out


def _selu_rows_backward(grad, x, z, w, needs):
    """`SELUFunction.backward` by slices: the same formulas, the sums added per slice."""
    need_x, need_z, need_w = needs
    rows = chunks.Rows(x, z, w)
    scale, alpha = rows.params
    one_value = isinstance(scale, float) and isinstance(alpha, float)
    temp = rows.buffer(x.dtype) if need_z or need_w else None
    grad_x = torch.empty_like(x) if need_x else None
    negative_parts, positive_parts = [], []
    for xs, g, o in rows.split(x, grad, grad_x if need_x else x):
        n = len(xs)
        if need_z or need_w:
            negative_parts.append(rows.inner(0, torch.clamp(xs, max=0, out=temp[:n]).expm1_(), g))
            if need_z:
                positive_parts.append(rows.inner(0, torch.clamp(xs, min=0, out=temp[:n]), g))
        if need_x:
            if one_value:
                aten.elu_backward.grad_input(g, alpha, scale, 1.0, False, xs, grad_input=o)
            else:   # 1 for x > 0, -e^x for x <= 0, then PReLU with slope -w: w·e^x; times g·z
                one = torch.ones((), dtype=x.dtype).expand_as(xs)
                slope = aten.elu_backward.grad_input(one, -1.0, 1.0, 1.0, False, xs, grad_input=o)
                torch.mul(aten._prelu_kernel(slope, -alpha), g, out=o).mul_(scale)
    grad_z = grad_w = None
    if need_z or need_w:
        negative_sum = rows.gradient(negative_parts, z)                    # Σ g·expm1(min(x, 0))
        if need_z:
            grad_z = rows.gradient(positive_parts, z) + w * negative_sum
        if need_w:
            grad_w = z * negative_sum
    return grad_x, grad_z, grad_w


# --- TSwish ---------------------------------------------------------------------------------------

class SwishFunction(torch.autograd.Function):
    """x·σ(βx) (any real β): exact values (the module's ops). Backward: dx = g·silu'(βx) by torch's
    `silu_backward` (a few ulp from autograd's sum of two terms); dβ = Σ g·x²·σ'(βx)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, beta: Tensor) -> Tensor:
        if native.applies(x, beta):
            return native.forward("swish", x, beta)
        if chunks.rows_apply(x, beta):
            return _swish_rows(x, beta)
        t = x * beta
        if _transformed():
            return x * torch.sigmoid(t)
        return t.sigmoid_().mul_(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, beta = ctx.saved_tensors
        need_x, need_beta = ctx.needs_input_grad
        if native.applies(x, beta):
            grad_x, sums, layout = native.backward("swish", grad, x, beta, need_x=need_x, need_params=need_beta)
            return grad_x, (layout.reduce(sums[0], beta) if need_beta else None)
        if chunks.rows_apply(x, beta):
            return _swish_rows_backward(grad, x, beta, ctx.needs_input_grad)
        t = x * beta
        grad_x = grad_beta = None
        if need_beta:
            s = torch.sigmoid(t)
            # g·σ(1-σ), written over σ
            s = aten.sigmoid_backward.grad_input(grad, s, grad_input=s) if _fits(s, grad) else \
                aten.sigmoid_backward(grad, s)
            grad_beta = _inner(_mul(s, x), x, beta.shape)
            del s
        if need_x:
            grad_x = aten.silu_backward.grad_input(grad, t, grad_input=t) if _fits(t, grad) else \
                aten.silu_backward(grad, t)
        return grad_x, grad_beta


def _swish_rows(x: Tensor, beta: Tensor) -> Tensor:
    """`SwishFunction.forward` by slices (`lib.activations.chunks.Rows`), the same ops and values."""
    rows = chunks.Rows(x, beta)
    (b,) = rows.params
    out = torch.empty_like(x)
    for xs, o in rows.split(x, out):
        torch.mul(xs, b, out=o).sigmoid_().mul_(xs)
    return out


def _swish_rows_backward(grad, x, beta, needs):
    """`SwishFunction.backward` by slices: the same formulas, the sums added per slice."""
    need_x, need_beta = needs
    rows = chunks.Rows(x, beta)
    (b,) = rows.params
    t_buffer = rows.buffer(x.dtype)
    s_buffer = rows.buffer(x.dtype) if need_beta else None
    grad_x = torch.empty_like(x) if need_x else None
    parts = []
    for xs, g, o in rows.split(x, grad, grad_x if need_x else x):
        n = len(xs)
        t = torch.mul(xs, b, out=t_buffer[:n])
        if need_beta:
            s = torch.sigmoid(t, out=s_buffer[:n])
            s = aten.sigmoid_backward.grad_input(g, s, grad_input=s)             # g·σ(1-σ)
            parts.append(rows.inner(0, s.mul_(xs), xs))
        if need_x:
            aten.silu_backward.grad_input(g, t, grad_input=o)
    return grad_x, (rows.gradient(parts, beta) if need_beta else None)
