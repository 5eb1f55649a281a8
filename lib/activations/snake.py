"""Snake (Ziyin, Hartwig & Ueda, NeurIPS 2020)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lib.activations import chunks
from lib.activations.base import add_parameter, broadcast_to_input, parameter_shape
from lib.activations.registry import register


def snake_moments(a: float) -> tuple[float, float]:
    """E[Snake_a(x)^2] and E[Snake_a'(x)^2] for x ~ N(0, 1).

    sin^4 = (3 - 4 cos 2ax + cos 4ax)/8 and E[cos(tx)] = e^{-t^2/2} give
    E[f^2] = 1 + (3 - 4 e^{-2a^2} + e^{-8a^2}) / (8 a^2); with f' = 1 + sin 2ax,
    E[f'^2] = 1 + (1 - e^{-8a^2}) / 2 (-> 1.5 for large a).
    """
    a2 = a * a
    forward = 1.0 + (3.0 - 4.0 * math.exp(-2.0 * a2) + math.exp(-8.0 * a2)) / (8.0 * a2)
    backward = 1.0 + (1.0 - math.exp(-8.0 * a2)) / 2.0
    return forward, backward


def snake_variance(a: float) -> float:
    """Var[Snake_a(x)], x ~ N(0,1): 1 + (1 + e^{-8a^2} - 2 e^{-4a^2}) / (8 a^2) (Ziyin et al. 2020)."""
    a2 = a * a
    return 1.0 + (1.0 + math.exp(-8.0 * a2) - 2.0 * math.exp(-4.0 * a2)) / (8.0 * a2)


class SnakeFunction(torch.autograd.Function):
    """x + sin^2(a x)/a with a hand-written backward (saves only x and a; one sine for the input
    gradient, two when a is learnable; temporaries overwritten in place outside torch.func transforms).

    Defined for every real a: at a = 0 it is the identity (its limit), and a < 0 gives
    x - sin^2(|a| x)/|a|, so a learnable `a` that an optimiser pushes to or below zero
    stays finite. df/dx = 1 + sin(2ax); df/da = (x sin(2ax) - sin^2(ax)/a)/a, whose
    limit at a = 0 is x^2. Works under torch.func transforms (vmap), hence no Python
    branches on values.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, a: Tensor) -> Tensor:
        if chunks.rows_apply(x, a):
            return _snake_rows(x, a)
        safe = torch.where(a == 0, torch.ones_like(a), a)   # sin(0 * x) = 0, so a = 0 gives x exactly
        s = torch.sin(a * x)
        if torch._C._are_functorch_transforms_active() or s.shape != x.shape:
            return x + s * s / safe
        return s.mul_(s).div_(safe).add_(x)                 # the same ops, in one buffer

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, a = ctx.saved_tensors
        if chunks.rows_apply(x, a):
            return _snake_rows_backward(grad, x, a, ctx.needs_input_grad)
        plain = not torch._C._are_functorch_transforms_active()
        # sin(2ax) = 2 sin(ax) cos(ax) (a few ulp apart): df/dx = 1 + sin(2ax) costs one sine, not two
        double = torch.sin((2 * a) * x)
        grad_x = torch.addcmul(grad, grad, double) if ctx.needs_input_grad[0] else None
        grad_a = None
        if ctx.needs_input_grad[1]:
            safe = torch.where(a == 0, torch.ones_like(a), a)
            s = torch.sin(a * x)
            if plain and double.shape == x.shape == s.shape == grad.shape:
                da = double.mul_(x).sub_(s.mul_(s).div_(safe)).div_(safe)   # (x sin 2ax - sin²(ax)/a)/a
                if bool((a == 0).any()):
                    da = torch.where(a == 0, x * x, da)
                grad_a = _reduce(da.mul_(grad), a.shape)
            else:
                da = torch.where(a == 0, x * x, (x * double - s * s / safe) / safe)
                grad_a = _reduce(grad * da, a.shape)
            grad_a = grad_a.to(a.dtype)
        return grad_x, grad_a


def _snake_rows(x: Tensor, a: Tensor) -> Tensor:
    """`SnakeFunction.forward` on the CPU by slices (`lib.activations.chunks.Rows`): the same ops, the
    same values, with the slice's temporaries in cache and no input-sized temporary."""
    rows = chunks.Rows(x, a, torch.where(a == 0, torch.ones_like(a), a))
    frequency, safe = rows.params
    out = torch.empty_like(x)
    for xs, o in rows.split(x, out):
        s = torch.mul(xs, frequency, out=o).sin_()
        s.mul_(s).div_(safe).add_(xs)
    return out


def _snake_rows_backward(grad, x, a, needs):
    """`SnakeFunction.backward` by slices: the same formulas (one sine for dx, two with da)."""
    need_x, need_a = needs
    rows = chunks.Rows(x, 2 * a, a, torch.where(a == 0, torch.ones_like(a), a))
    double_frequency, frequency, safe = rows.params
    zero = a == 0
    any_zero = need_a and bool(zero.any())
    double_buffer = rows.buffer(x.dtype)
    sine_buffer = rows.buffer(x.dtype) if need_a else None
    zero_row = rows._row(zero) if any_zero and a.dim() else None
    grad_x = torch.empty_like(x) if need_x else None
    parts = []
    for xs, g, o in rows.split(x, grad, grad_x if need_x else x):
        n = len(xs)
        double = torch.mul(xs, double_frequency, out=double_buffer[:n]).sin_()    # sin(2ax) = 2 sin(ax) cos(ax)
        if need_x:
            torch.addcmul(g, g, double, out=o)                                      # g (1 + sin 2ax)
        if need_a:
            s = torch.mul(xs, frequency, out=sine_buffer[:n]).sin_()
            da = double.mul_(xs).sub_(s.mul_(s).div_(safe)).div_(safe)               # (x sin 2ax - sin²(ax)/a)/a
            if any_zero:
                da = torch.where(zero_row if zero_row is not None else zero, xs * xs, da)   # the limit x² at a = 0
            parts.append(rows.inner(0, da, g))
    return grad_x, (rows.gradient(parts, a) if need_a else None)


def _reduce(t: Tensor, shape: torch.Size) -> Tensor:
    return t.sum() if len(shape) == 0 else t.sum_to_size(shape)


@register("snake", label="Snake", formula=r"x + \frac{\sin^2(a x)}{a}", family="periodic",
          recovers={"x + sin²x": {"a": 1.0}},
          second_moments=snake_moments)
class Snake(nn.Module):
    r"""Snake: :math:`f(x) = x + \sin^2(a x)/a`, with :math:`f'(x) = 1 + \sin(2ax) \in [0, 2]`.

    Monotone, asymptotically linear and periodic with period :math:`\pi/a` around
    the identity. Ziyin, Hartwig & Ueda, "Neural networks fail to learn periodic
    functions and how to fix it", NeurIPS 2020.

    Args:
        a: frequency, > 0. ``a -> 0`` tends to the identity; ``a = 1`` is x + sin^2 x.
        learnable, granularity, num_features, feature_dim: one ``a`` for the layer, per channel or per
            element, fixed or trained (`lib.activations.base`).

    A learnable ``a`` may reach 0 or turn negative during training: the value stays
    finite (see :class:`SnakeFunction`), and a < 0 gives x - sin^2(|a|x)/|a|.
    """

    def __init__(self, a: float = 1.0, learnable: bool = False, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        super().__init__()
        if not (isinstance(a, (int, float)) and math.isfinite(a) and a > 0):
            raise ValueError(f"Snake needs a finite a > 0, got a={a!r}")
        self.feature_dim = feature_dim
        self.granularity, shape = parameter_shape(granularity, num_features, feature_dim)
        add_parameter(self, "a", float(a), shape=shape, learnable=learnable)

    def forward(self, x: Tensor) -> Tensor:
        return SnakeFunction.apply(x, broadcast_to_input(self.a, x, self.feature_dim))

    def extra_repr(self) -> str:
        kind = "learnable" if isinstance(self.a, nn.Parameter) else "fixed"
        value = f"{self.a.item():g}" if self.a.dim() == 0 else f"shape={tuple(self.a.shape)}"
        return f"a={value} ({kind})"


def decoupled_snake_moments(a: float, b: float) -> tuple[float, float]:
    """E[f(x)^2] and E[f'(x)^2] of f = x + sin^2(a x)/b for x ~ N(0, 1).

    E[x sin^2(ax)] = 0 (odd), E[sin^4(ax)] = (3 - 4 e^{-2a^2} + e^{-8a^2})/8, and
    f' = 1 + (a/b) sin 2ax with E[sin 2ax] = 0, E[sin^2 2ax] = (1 - e^{-8a^2})/2.
    At b = a these are `snake_moments(a)`.
    """
    a2 = a * a
    forward = 1.0 + (3.0 - 4.0 * math.exp(-2.0 * a2) + math.exp(-8.0 * a2)) / (8.0 * b * b)
    backward = 1.0 + (a2 / (b * b)) * (1.0 - math.exp(-8.0 * a2)) / 2.0
    return forward, backward


@register("snake_ab", label="Snake (a, b)", formula=r"x + \frac{\sin^2(a x)}{b}", family="periodic",
          recovers={"x + sin²x": {"a": 1.0, "b": 1.0}, "Snake (a = 30)": {"a": 30.0, "b": 30.0}},
          second_moments=decoupled_snake_moments, aliases=("decoupled_snake",))
class DecoupledSnake(nn.Module):
    r"""Snake with its two constants decoupled: :math:`f(x) = x + \sin^2(a x)/b`.

    Snake ties the amplitude of the periodic part to its frequency (b = a). Here the
    frequency `a` (period :math:`\pi/a`) and the amplitude :math:`1/b` are separate;
    :math:`f'(x) = 1 + (a/b)\sin(2ax)`, monotone when :math:`a \le b`. ``b = a`` is Snake.

    Args:
        a: frequency, > 0.
        b: inverse amplitude, > 0.
        learnable, granularity, num_features, feature_dim: as for :class:`Snake` (both constants).

    The module stores ``a`` and the amplitude ``inv_b = 1/b`` (``b`` is a read-only
    property): f is then a polynomial in sin(ax) with no division, so any real value
    an optimiser reaches (0 or negative) gives finite values and gradients; a gradient
    step could carry a stored ``b`` through 0 and blow the output up.
    """

    def __init__(self, a: float = 1.0, b: float = 1.0, learnable: bool = False, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        super().__init__()
        for name, value in (("a", a), ("b", b)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and math.isfinite(value) and value > 0):
                raise ValueError(f"Snake (a, b) needs a finite {name} > 0, got {name}={value!r}")
        self.feature_dim = feature_dim
        self.granularity, shape = parameter_shape(granularity, num_features, feature_dim)
        add_parameter(self, "a", float(a), shape=shape, learnable=learnable)
        add_parameter(self, "inv_b", 1.0 / float(b), shape=shape, learnable=learnable)

    @property
    def b(self) -> Tensor:
        """The inverse amplitude 1/inv_b (infinite where the amplitude is 0)."""
        return 1.0 / self.inv_b.detach()

    def forward(self, x: Tensor) -> Tensor:
        a = broadcast_to_input(self.a, x, self.feature_dim)
        inv_b = broadcast_to_input(self.inv_b, x, self.feature_dim)
        s = torch.sin(a * x)
        return x + inv_b * s * s

    def extra_repr(self) -> str:
        kind = "learnable" if isinstance(self.a, nn.Parameter) else "fixed"
        if self.a.dim() == 0:
            return f"a={self.a.item():g}, b={self.b.item():g} ({kind})"
        return f"a, b shape={tuple(self.a.shape)} ({kind})"
