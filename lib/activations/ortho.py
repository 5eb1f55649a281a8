"""Learnable-basis activations: Hermite, Fourier, Tropical and TropicalRational.

Khalfaoui-Hassani & Kesselheim, "Learnable polynomial, trigonometric, and tropical
activations" (2025); reference library torchortho 0.1.2 (GPL-3.0, compared against only).
Each activation has one coefficient vector per layer (as in the paper) or, with
``granularity="channel"`` (or ``"element"``), one per channel (or unit) — an option the paper lacks.

The three series are evaluated by hand-written autograd Functions that save only the input
and the (few) coefficients, and recompute what they need in the backward pass: the memory
kept for backward is one copy of the input, whatever the degree. With one coefficient vector
per layer, on the CPU and outside torch.func transforms, Fourier and the tropical maxima run
by cache-sized slices (`lib.activations.chunks`; Fourier's backward takes sine and cosine from
one tangent, the maxima's backward their envelope's breakpoints); elsewhere (per-channel
coefficients, vmap, other devices) the generic tensor code runs. Initial coefficients come
from `lib.activations.ortho_init` (variance-preserving by default; see there for every scheme).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from lib.activations import chunks, native, ortho_init
from lib.activations.base import add_parameter, broadcast_to_input, parameter_shape
from lib.activations.registry import register

DISTRIBUTIONS = ("normal", "uniform")   # x ~ N(0, 1), or x ~ U[-pi, pi] (the Fourier scheme's assumption)


# --- shared helpers -------------------------------------------------------------------------------

def _inner(grad: Tensor, t: Tensor, shape: torch.Size) -> Tensor:
    """sum(grad * t) reduced to a coefficient's broadcast `shape`: one pass, no temporary when
    the coefficient is shared (a dot product), else a product summed down to the channels."""
    if len(shape) == 0:
        return torch.dot(grad.reshape(-1), t.reshape(-1))
    return (grad * t).sum_to_size(shape)


def _total(grad: Tensor, shape: torch.Size) -> Tensor:
    return grad.sum() if len(shape) == 0 else grad.sum_to_size(shape)


def _terms(p: Tensor, x: Tensor, feature_dim: int) -> Tensor:
    """A coefficient tensor of shape (*features, K) as (K, *view): term k's coefficients, viewed
    to broadcast against `x` (a scalar per term when the coefficients are shared)."""
    if p.dim() == 1:
        return p
    view = broadcast_to_input(p[..., 0], x, feature_dim).shape
    return p.movedim(-1, 0).reshape((p.shape[-1], *view))


def _init_tensor(value, features: tuple[int, ...]) -> Tensor:
    """A float64 NumPy init value (K,) or () expanded to (*features, K) or (*features,)."""
    tensor = torch.as_tensor(np.asarray(value, dtype=float), dtype=torch.get_default_dtype())
    return tensor.expand(features + tuple(tensor.shape)).clone()


def _check_common(init, fit_target, learnable) -> None:
    if not isinstance(learnable, bool):
        raise ValueError(f"learnable must be True or False, got {learnable!r}")
    if init == "fit" and not isinstance(fit_target, str):
        raise ValueError(f"fit_target must be the name of a registered activation, got {fit_target!r}")


def _rows(*tensors: Tensor) -> list[np.ndarray]:
    """Coefficients as float64 arrays of shape (channels, K) (one row when shared)."""
    return [t.detach().cpu().double().reshape(-1, t.shape[-1]).numpy() for t in tensors]


def _per_channel(values: list[float], features: tuple[int, ...]):
    return values[0] if not features else np.asarray(values).reshape(features)


def _per_channel_pairs(pairs: list[tuple[float, float]], features: tuple[int, ...]):
    """(E[F^2], E[F'^2]) pairs, one per coefficient row, as two per-channel values."""
    return _per_channel([f for f, _ in pairs], features), _per_channel([b for _, b in pairs], features)


class BasisActivation(nn.Module):
    """What the basis activations share: argument checks, the initial coefficient tensors
    (named in COEFFICIENTS, one vector per layer or per feature), and their repr."""

    COEFFICIENTS: tuple[str, ...] = ("coefficients",)
    REPR_LABEL = "coefficients"

    def _set_up(self, make_init, degree: int, init: str, fit_target: str, learnable: bool, granularity: str | None,
                num_features: int | tuple[int, ...] | None, feature_dim: int) -> dict:
        """Check the arguments, attach the coefficients of `make_init(degree, init, fit_target)`;
        returns that init's values (some carry constants besides the coefficients)."""
        _check_common(init, fit_target, learnable)
        values = make_init(degree, init, fit_target)
        self.granularity, features = parameter_shape(granularity, num_features, feature_dim)
        self.degree, self.init, self.feature_dim = int(degree), init, feature_dim
        for name in self.COEFFICIENTS:
            tensor = _init_tensor(values[name], features)
            add_parameter(self, name, tensor, shape=tuple(tensor.shape), learnable=learnable)
        return values

    def extra_repr(self) -> str:
        first = getattr(self, self.COEFFICIENTS[0])
        kind = "learnable" if isinstance(first, nn.Parameter) else "fixed"
        return f"degree={self.degree}, init={self.init!r}, {self.REPR_LABEL}={tuple(first.shape)} ({kind})"


def _check_distribution(distribution: str) -> None:
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {distribution!r}; choose from {', '.join(DISTRIBUTIONS)}")


# --- Hermite --------------------------------------------------------------------------------------

class HermiteSeries(torch.autograd.Function):
    """sum_k e_k He_k(x) by the three-term recurrence He_{k+1} = x He_k - k He_{k-1}.

    `e` has shape (K, *view). Saves only x and e; the backward pass recomputes He_k and uses
    He_k' = k He_{k-1}, so it is exact everywhere, x = 0 included. No Python branch on values:
    works under torch.func transforms (vmap).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, e: Tensor) -> Tensor:
        out = torch.addcmul(e[0], e[1], x)
        prev, cur = None, x
        for k in range(1, e.shape[0] - 1):
            nxt = x * cur
            nxt = nxt.sub_(1.0) if prev is None else nxt.sub_(prev, alpha=k)   # He_{k+1}
            out.addcmul_(e[k + 1], nxt)
            prev, cur = cur, nxt
        return out

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, e = ctx.saved_tensors
        grad = grad.contiguous()    # once: an expanded gradient (from .sum()) would be copied per reshape
        need_x, need_e = ctx.needs_input_grad
        n_terms, shape = e.shape[0], e.shape[1:]
        grads_e = [_total(grad, shape), _inner(grad, x, shape)] if need_e else None
        # d = F'(x) = sum_{k>=1} k e_k He_{k-1}
        derivative = torch.addcmul(e[1], e[2], x, value=2.0) if n_terms > 2 else e[1]
        prev, cur = None, x
        for k in range(1, n_terms - 1):
            nxt = x * cur
            nxt = nxt.sub_(1.0) if prev is None else nxt.sub_(prev, alpha=k)   # He_{k+1}
            if need_e:
                grads_e.append(_inner(grad, nxt, shape))
            if need_x and k + 2 < n_terms:
                derivative.addcmul_(e[k + 2], nxt, value=float(k + 2))
            prev, cur = cur, nxt
        grad_x = grad * derivative if need_x else None
        grad_e = torch.stack(grads_e).to(e.dtype) if need_e else None
        return grad_x, grad_e


# The registry's closed-form gains at initialisation come from the class itself (the name is
# looked up when called, after the class exists).
@register("hermite", label="Hermite", family="basis",
          second_moments=lambda **p: Hermite(**p).second_moments("normal"),
          formula=r"\sum_{k=0}^{n} a_k \, \frac{\mathrm{He}_k(x)}{k!}")
class Hermite(BasisActivation):
    r"""Hermite: :math:`F(x) = \sum_{k=0}^{n} a_k s_k \mathrm{He}_k(x)`, probabilists' Hermite polynomials.

    :math:`s_k = 1/k!` (torchortho 0.1.2; with :math:`P_k = \mathrm{He}_k/k!`, :math:`P_k' = P_{k-1}`),
    or :math:`s_k = 1/\sqrt{k!}` (the orthonormal basis of 0.1.1) with ``init="orthonormal"``.
    Since :math:`E[\mathrm{He}_j \mathrm{He}_k] = k!\,\delta_{jk}` under N(0, 1),
    :math:`E[F^2] = \sum_k (a_k s_k)^2 k!` and :math:`E[F'^2] = \sum_{k \ge 1} (a_k s_k)^2 k\,k!`.

    Args:
        degree: n >= 1 (the paper uses 3).
        init: ``"variance_preserving"`` (default), ``"orthonormal"`` or ``"fit"`` (see `lib.activations.ortho_init`).
        fit_target: the registered activation that ``init="fit"`` fits (values and derivatives).
        learnable: train the coefficients (else they are fixed buffers).
        granularity, num_features, feature_dim: one coefficient vector for the layer (the paper), per
            channel or per element (`lib.activations.base`).

    The coefficients may take any finite value: a polynomial is defined everywhere.
    """

    family = "hermite"

    def __init__(self, degree: int = 3, init: str = "variance_preserving", fit_target: str = "gelu",
                 learnable: bool = True, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        super().__init__()
        values = self._set_up(ortho_init.hermite_init, degree, init, fit_target, learnable, granularity, num_features,
                              feature_dim)
        self.basis_scale_values = tuple(float(v) for v in values["basis_scale"])   # exact constants

    @property
    def basis_scale(self) -> Tensor:
        """s_k, made in the coefficients' dtype from float64 constants (a float32 buffer
        converted by .double() would carry float32 rounding of 1/k!)."""
        return torch.tensor(self.basis_scale_values, dtype=self.coefficients.dtype, device=self.coefficients.device)

    def effective_coefficients(self) -> Tensor:
        """e_k = a_k s_k, the coefficients of He_k."""
        return self.coefficients * self.basis_scale

    def forward(self, x: Tensor) -> Tensor:
        e = self.effective_coefficients().to(x.dtype)
        return HermiteSeries.apply(x, _terms(e, x, self.feature_dim))

    def second_moments(self, distribution: str = "normal"):
        """Exact E[F^2], E[F'^2] for x ~ N(0, 1) or U[-pi, pi] (per channel if coefficients are)."""
        _check_distribution(distribution)
        (rows,) = _rows(self.effective_coefficients())
        factorial = np.array([float(math.factorial(k)) for k in range(rows.shape[1])])
        k = np.arange(rows.shape[1])
        forward, backward = [], []
        for e in rows:
            if distribution == "normal":
                forward.append(float(np.sum(e**2 * factorial)))
                backward.append(float(np.sum(e**2 * k * factorial)))
            else:   # integrate the power-series polynomial exactly over [-pi, pi]
                p = np.polynomial.HermiteE(e).convert(kind=np.polynomial.Polynomial)
                mean = lambda q: (q.integ()(math.pi) - q.integ()(-math.pi)) / (2 * math.pi)  # noqa: E731
                forward.append(float(mean(p**2)))
                backward.append(float(mean(p.deriv() ** 2)))
        features = tuple(self.coefficients.shape[:-1])
        return _per_channel(forward, features), _per_channel(backward, features)


# --- Fourier --------------------------------------------------------------------------------------

class FourierSeries(torch.autograd.Function):
    """b + sum_k c_k cos(w_k x - phi_k) with c, phi, w of shape (K, *view) and b of shape view.

    Saves only x and the coefficients; the backward pass recomputes each angle once and takes
    its sine (and cosine, for dF/dc). No Python branch on values (vmap-safe).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, amplitude: Tensor, phase: Tensor, frequency: Tensor, bias: Tensor) -> Tensor:
        if native.applies_shared(x, amplitude, phase, frequency, bias):
            return native.fourier_forward(x, amplitude, phase, frequency, bias)
        if chunks.applies(x, amplitude, phase, frequency, bias):
            return _fourier_chunked(x, amplitude, phase, frequency, bias)
        out = angle = None
        for k in range(amplitude.shape[0]):
            angle = _angle(x, frequency[k], phase[k], angle).cos_()
            out = torch.addcmul(bias, amplitude[k], angle) if out is None else out.addcmul_(amplitude[k], angle)
        return out

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, amplitude, phase, frequency, bias = ctx.saved_tensors
        if native.applies_shared(x, amplitude, phase, frequency, bias):
            return _fourier_native_backward(grad, x, amplitude, phase, frequency, bias, ctx.needs_input_grad)
        if chunks.applies(x, amplitude, phase, frequency, bias):
            return _fourier_chunked_backward(grad, x, amplitude, phase, frequency, bias, ctx.needs_input_grad)
        grad = grad.contiguous()    # once: an expanded gradient (from .sum()) would be copied per reshape
        need_x, need_a, need_p, need_w, need_b = ctx.needs_input_grad
        shape = amplitude.shape[1:]
        grad_times_x = grad * x if need_w else None
        slope = None                                     # sum_k c_k w_k sin(w_k x - phi_k) = -F'(x)
        angle = sine = None                              # two buffers, reused for every k
        g_a, g_p, g_w = [], [], []
        for k in range(amplitude.shape[0]):
            angle = _angle(x, frequency[k], phase[k], angle)
            sine = torch.sin(angle) if sine is None else sine.copy_(angle).sin_()
            if need_p:
                g_p.append(amplitude[k] * _inner(grad, sine, shape))
            if need_w:
                g_w.append(-amplitude[k] * _inner(grad_times_x, sine, shape))
            if need_x:
                weight = amplitude[k] * frequency[k]
                slope = sine * weight if slope is None else slope.addcmul_(weight, sine)
            if need_a:
                g_a.append(_inner(grad, angle.cos_(), shape))
        grad_x = slope.mul_(grad).neg_() if need_x else None
        stack = lambda g, like: torch.stack(g).to(like.dtype) if g else None  # noqa: E731
        grad_b = _total(grad, shape).to(bias.dtype) if need_b else None
        return grad_x, stack(g_a, amplitude), stack(g_p, phase), stack(g_w, frequency), grad_b


def _fourier_native_backward(grad, x, amplitude, phase, frequency, bias, needs):
    """`FourierSeries.backward` by the C kernel (`lib.activations.native`): one sine and one cosine per
    term and element, the coefficient sums added in float64 as it goes."""
    need_x, need_a, need_p, need_w, need_b = needs
    grad_x, sums = native.fourier_backward(grad, x, amplitude, phase, frequency, need_x, need_a or need_p or need_w)
    dtype = amplitude.dtype
    grad_a = sums[0].to(dtype) if need_a else None                        # sum g cos
    grad_p = amplitude * sums[1].to(dtype) if need_p else None            # c_k sum g sin
    grad_w = -amplitude * sums[2].to(dtype) if need_w else None           # -c_k sum g x sin
    grad_b = grad.sum(dtype=torch.float64).to(bias.dtype) if need_b else None
    return grad_x, grad_a, grad_p, grad_w, grad_b


def _fourier_chunked(x: Tensor, amplitude: Tensor, phase: Tensor, frequency: Tensor, bias: Tensor) -> Tensor:
    """`FourierSeries.forward` for shared coefficients on the CPU, slice by slice (`lib.activations.chunks`):
    all K angles of a slice in one (K, n) buffer, one cosine pass over it. The same values as the
    generic code, bit for bit: where that adds a product of two scalars and a tensor (torch's
    unvectorised loop, one fused multiply-add per element), this calls `torch.add(..., alpha=)`,
    whose vectorised loop rounds the same fused multiply-add, five times faster."""
    n_terms = amplitude.shape[0]
    x_flat = x.view(-1)
    out = torch.empty_like(x_flat)
    plan = chunks.Slices(x_flat.numel())
    angles = plan.buffer(n_terms, dtype=x.dtype)
    frequency_column, phase_column, first_shift = frequency[:, None], phase[:, None], phase[0].neg()
    first_frequency, first_amplitude = frequency[0].item(), amplitude[0].item()
    later = amplitude[1:].unbind(0)
    for xs, result in plan.split(x_flat, out):
        n = xs.numel()
        theta, (first, *rest) = angles.view(n), angles.rows(n)
        torch.mul(frequency_column, xs, out=theta).sub_(phase_column)           # w_k x - phi_k, as _angle ...
        torch.add(first_shift, xs, alpha=first_frequency, out=first)            # ... and its first, fused
        theta.cos_()
        torch.add(bias, first, alpha=first_amplitude, out=result)
        for a, row in zip(later, rest):
            result.addcmul_(a, row)
    return out.view(x.shape)


def _fourier_chunked_backward(grad, x, amplitude, phase, frequency, bias, needs):
    """`FourierSeries.backward` for shared coefficients on the CPU, slice by slice.

    One transcendental pass per term instead of a sine and a cosine: with t = tan(theta/2),
    sin(theta)/2 = t/(1 + t^2) and cos(theta)/2 = 1/2 - t sin(theta)/2 (within a few ulp of sin
    and cos; near cos = 0 the difference is exact by Sterbenz's lemma). The coefficient sums are
    matrix-vector products over the (2K, n) buffer [sin/2; cos/2], one row of partial sums per
    slice, added in float64; the input gradient is g * (-sum_k c_k w_k sin(theta_k)). Against the
    generic code the gradients differ by float rounding only (about 1e-6 relative in float32 at
    2M elements, either side of a float64 reference).
    """
    need_x, need_a, need_p, need_w, need_b = needs
    n_terms = amplitude.shape[0]
    x_flat, grad_flat = x.view(-1), chunks.flat(grad)
    plan = chunks.Slices(x_flat.numel())
    halves = plan.buffer(2 * n_terms, dtype=x.dtype)                  # rows [sin/2; cos/2] of a slice
    grad_times_x = plan.buffer(dtype=x.dtype) if need_w else None
    slope = plan.buffer(dtype=x.dtype) if need_x else None
    grad_copy = plan.buffer(dtype=x.dtype) if grad_flat.stride(0) != 1 else None   # an expanded gradient
    grad_x = torch.empty_like(x_flat) if need_x else None
    rows = 2 * n_terms if need_a else n_terms                         # g . sin/2 (and g . cos/2) per slice
    sums = torch.empty((plan.count, rows), dtype=x.dtype) if need_a or need_p else None
    sums_x = torch.empty((plan.count, n_terms), dtype=x.dtype) if need_w else None   # (g x) . sin/2 per slice
    half_frequency, half_phase = (frequency / 2)[:, None], (phase / 2)[:, None]
    weight = (amplitude * frequency).mul_(-2.0)                       # -2 c_k w_k: the slope is weight . sin/2
    one, half = torch.ones((), dtype=x.dtype), torch.full((), 0.5, dtype=x.dtype)
    outputs = grad_x.split(plan.size) if need_x else None
    for i, (xs, g) in enumerate(plan.split(x_flat, grad_flat)):
        n = xs.numel()
        if grad_copy is not None:
            g = grad_copy.view(n).copy_(g)
        both = halves.view(n)
        half_sine, half_cosine = both[:n_terms], both[n_terms:]
        t = torch.mul(half_frequency, xs, out=half_cosine).sub_(half_phase).tan_()   # tan(theta/2), exactly halved
        torch.div(t, torch.addcmul(one, t, t, out=half_sine), out=half_sine)        # t/(1 + t^2) = sin/2
        if need_a:
            torch.addcmul(half, t, half_sine, value=-1.0, out=half_cosine)           # 1/2 - t sin/2 = cos/2
        if sums is not None:
            torch.mv(both if need_a else half_sine, g, out=sums[i])
        if need_w:
            torch.mv(half_sine, torch.mul(g, xs, out=grad_times_x.view(n)), out=sums_x[i])
        if need_x:
            torch.mul(torch.mv(half_sine.T, weight, out=slope.view(n)), g, out=outputs[i])
    dtype = amplitude.dtype
    if sums is not None:
        sums = sums.sum(0, dtype=torch.float64).mul_(2.0)             # sum g sin (, sum g cos)
    grad_p = amplitude * sums[:n_terms].to(dtype) if need_p else None
    grad_a = sums[n_terms:].to(dtype) if need_a else None
    grad_w = amplitude * sums_x.sum(0, dtype=torch.float64).mul_(-2.0).to(dtype) if need_w else None
    grad_b = grad.sum(dtype=torch.float64).to(bias.dtype) if need_b else None
    return (grad_x.view(x.shape) if need_x else None), grad_a, grad_p, grad_w, grad_b


def _angle(x: Tensor, frequency: Tensor, phase: Tensor, buffer: Tensor | None) -> Tensor:
    """w x - phi, written into `buffer` when one is given: a fresh 8 MB tensor costs page faults
    on every call, which at these sizes is as much as the arithmetic."""
    if buffer is None:
        return torch.addcmul(phase.neg(), frequency, x)
    return buffer.copy_(x).mul_(frequency).sub_(phase)


def _cos_mean(omega: np.ndarray, distribution: str) -> np.ndarray:
    """E[cos(omega x)] for x ~ N(0, 1) (exp(-omega^2/2)) or U[-pi, pi] (sin(pi omega)/(pi omega))."""
    return np.exp(-omega**2 / 2) if distribution == "normal" else np.sinc(omega)


def fourier_moments(amplitude: np.ndarray, phase: np.ndarray, frequency: np.ndarray, bias: float,
                    distribution: str = "normal") -> tuple[float, float]:
    """Exact E[F^2] and E[F'^2] of F = b + sum_k c_k cos(w_k x - phi_k) (c_k already divided by k!).

    With E[cos(wx - phi)] = cos(phi) m(w) for a symmetric x, and cos a cos b = (cos(a-b) + cos(a+b))/2,
    sin a sin b = (cos(a-b) - cos(a+b))/2.
    """
    c, p, w = (np.asarray(v, dtype=float) for v in (amplitude, phase, frequency))
    diff = np.cos(p[:, None] - p[None, :]) * _cos_mean(w[:, None] - w[None, :], distribution)
    summ = np.cos(p[:, None] + p[None, :]) * _cos_mean(w[:, None] + w[None, :], distribution)
    cc = c[:, None] * c[None, :]
    forward = bias**2 + 2 * bias * np.sum(c * np.cos(p) * _cos_mean(w, distribution)) + np.sum(cc * (diff + summ)) / 2
    backward = np.sum(cc * w[:, None] * w[None, :] * (diff - summ)) / 2
    return float(forward), float(backward)


@register("fourier", label="Fourier", family="basis",
          second_moments=lambda **p: Fourier(**p).second_moments("normal"),
          formula=r"b + \sum_{k=1}^{n} A_k \, \frac{\cos(\omega_k x - \varphi_k)}{k!}")
class Fourier(BasisActivation):
    r"""Fourier: :math:`F(x) = b + \sum_{k=1}^{n} A_k \cos(\omega_k x - \varphi_k)/k!`, A, phi, omega, b learnable.

    Args:
        degree: n >= 1 (the paper uses 5).
        init: ``"variance_preserving"`` (default, torchortho 0.1.2), ``"variance_preserving_sqrt2"``
            (amplitudes times sqrt 2) or ``"fit"`` (see `lib.activations.ortho_init`).
        fit_target, learnable, granularity, num_features, feature_dim: as for :class:`Hermite`.

    Bounded for any finite coefficients; the frequencies may cross zero or turn negative.
    """

    family = "fourier"
    COEFFICIENTS = ("amplitudes", "phases", "frequencies", "bias")
    REPR_LABEL = "amplitudes"

    def __init__(self, degree: int = 5, init: str = "variance_preserving", fit_target: str = "gelu",
                 learnable: bool = True, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        super().__init__()
        self._set_up(ortho_init.fourier_init, degree, init, fit_target, learnable, granularity, num_features,
                     feature_dim)
        inverse = [1.0 / math.factorial(k) for k in range(1, self.degree + 1)]
        self.inverse_factorial_values = tuple(inverse)

    @property
    def inverse_factorial(self) -> Tensor:
        """1/k!, k = 1..n, in the amplitudes' dtype from float64 constants."""
        return torch.tensor(self.inverse_factorial_values, dtype=self.amplitudes.dtype, device=self.amplitudes.device)

    def forward(self, x: Tensor) -> Tensor:
        fd, dtype = self.feature_dim, x.dtype
        amplitude = (self.amplitudes * self.inverse_factorial).to(dtype)
        return FourierSeries.apply(x, _terms(amplitude, x, fd), _terms(self.phases.to(dtype), x, fd),
                                   _terms(self.frequencies.to(dtype), x, fd),
                                   broadcast_to_input(self.bias.to(dtype), x, fd))

    def second_moments(self, distribution: str = "normal"):
        """Exact E[F^2], E[F'^2] for x ~ N(0, 1) or U[-pi, pi] (per channel if coefficients are)."""
        _check_distribution(distribution)
        amplitude, phase, frequency = _rows(self.amplitudes * self.inverse_factorial, self.phases, self.frequencies)
        bias = self.bias.detach().cpu().double().reshape(-1).numpy()
        pairs = [fourier_moments(a, p, w, b, distribution) for a, p, w, b in zip(amplitude, phase, frequency, bias)]
        features = tuple(self.amplitudes.shape[:-1])
        return _per_channel_pairs(pairs, features)


# --- Tropical -------------------------------------------------------------------------------------

class MaxAffine(torch.autograd.Function):
    """max_k (s_k x + c_k), slopes and intercepts of shape (K, *view); ties go to the lowest k
    (as torch.max). Saves only x and the coefficients; the backward pass recomputes the
    maximising piece of each element. vmap-safe."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, slopes: Tensor, intercepts: Tensor) -> Tensor:
        if chunks.applies(x, slopes, intercepts):
            return _max_affine_chunked(x, slopes, intercepts)
        best = torch.addcmul(intercepts[0], slopes[0], x)
        for k in range(1, slopes.shape[0]):
            best = torch.maximum(best, torch.addcmul(intercepts[k], slopes[k], x))
        return best

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, slopes, intercepts = ctx.saved_tensors
        if chunks.applies(x, slopes, intercepts):
            envelope = upper_envelope(slopes.tolist(), intercepts.tolist())
            if envelope is not None:
                return _max_affine_envelope_backward(grad, x, slopes, intercepts, envelope, ctx.needs_input_grad)
        grad = grad.contiguous()    # once: an expanded gradient (from .sum()) would be copied per reshape
        need_x, need_s, need_c = ctx.needs_input_grad
        shape = slopes.shape[1:]
        if slopes.dim() == 1:
            return _max_affine_shared_backward(grad, x, slopes, intercepts, ctx.needs_input_grad)
        best = torch.addcmul(intercepts[0], slopes[0], x)
        index = torch.zeros(best.shape, dtype=torch.uint8, device=x.device)
        for k in range(1, slopes.shape[0]):
            line = torch.addcmul(intercepts[k], slopes[k], x)
            better = line > best                        # strict: the first maximiser keeps a tie
            best = torch.where(better, line, best)
            index = torch.where(better, k, index)
        grad_x = grad_s = grad_c = None
        if need_x:
            grad_x = grad * _terms_gather(slopes, index)
        if need_s or need_c:
            grad_times_x = grad * x if need_s else None
            g_s, g_c = [], []
            for k in range(slopes.shape[0]):
                chosen = (index == k).to(grad.dtype)
                if need_c:
                    g_c.append(_inner(grad, chosen, shape))
                if need_s:
                    g_s.append(_inner(grad_times_x, chosen, shape))
            grad_s = torch.stack(g_s).to(slopes.dtype) if need_s else None
            grad_c = torch.stack(g_c).to(intercepts.dtype) if need_c else None
        return grad_x, grad_s, grad_c


def upper_envelope(slopes: list[float], intercepts: list[float]) -> tuple[list[int], list[float]] | None:
    """The pieces of max_k (s_k x + c_k) that win on an interval, left to right, and the breakpoints
    between them (exact crossings, in float64), for strictly increasing finite slopes and finite
    intercepts; None otherwise.

    With increasing slopes the maximiser moves to higher k as x grows, so piece k wins exactly on
    (b_k, b_{k+1}]; at a breakpoint both neighbours tie and the lower k (the left one) wins, as
    in torch.max. A piece whose interval is empty or a point (three lines through one point) is
    left out: a tie there goes to the lowest k through it, the left neighbour.
    """
    values = slopes + intercepts
    if not all(math.isfinite(v) for v in values) or any(b <= a for a, b in zip(slopes, slopes[1:])):
        return None

    def crossing(i: int, j: int) -> float:
        return (intercepts[i] - intercepts[j]) / (slopes[j] - slopes[i])

    pieces: list[int] = []
    for k in range(len(slopes)):
        while len(pieces) >= 2 and crossing(pieces[-2], k) <= crossing(pieces[-2], pieces[-1]):
            pieces.pop()                                 # line k overtakes its left neighbour first
        pieces.append(k)
    breakpoints: list[float] = []
    for i, j in zip(pieces, pieces[1:]):                 # increasing in exact arithmetic; keep it so
        breakpoints.append(max(crossing(i, j), breakpoints[-1]) if breakpoints else crossing(i, j))
    return pieces, breakpoints


def _thresholds(breakpoints: list[float], dtype: torch.dtype) -> list[float]:
    """Breakpoints as values of `dtype`, rounded down: for x of that dtype, x > t_rounded iff x > t."""
    exact = torch.tensor(breakpoints, dtype=torch.float64)
    rounded = exact.to(dtype)
    rounded = torch.where(rounded.double() > exact, torch.nextafter(rounded, rounded.new_tensor(-math.inf)), rounded)
    return rounded.tolist()


def _max_affine_chunked(x: Tensor, slopes: Tensor, intercepts: Tensor) -> Tensor:
    """`MaxAffine.forward` for one coefficient vector on the CPU, slice by slice (`lib.activations.chunks`):
    the running maximum of the K lines. The same values as the generic code, bit for bit (its
    addcmul of two scalars and a tensor rounds one fused multiply-add, as `torch.add(..., alpha=)` does)."""
    x_flat = x.view(-1)
    out = torch.empty_like(x_flat)
    plan = chunks.Slices(x_flat.numel())
    line = plan.buffer(dtype=x.dtype)
    pieces = list(zip(intercepts.unbind(0), slopes.tolist()))
    (c0, s0), rest = pieces[0], pieces[1:]
    for xs, best in plan.split(x_flat, out):
        current = line.view(xs.numel())
        torch.add(c0, xs, alpha=s0, out=best)
        for c, s in rest:
            torch.maximum(best, torch.add(c, xs, alpha=s, out=current), out=best)
    return out.view(x.shape)


def _max_affine_envelope_backward(grad, x, slopes, intercepts, envelope, needs):
    """`MaxAffine.backward` for one coefficient vector with increasing slopes, slice by slice: the
    winning piece of x follows from the breakpoints b_1 < ... < b_M of the upper envelope
    (`upper_envelope`), so no index is built. With A_m = sum g [x > b_m] (A_0 = sum g,
    A_{M+1} = 0), piece m of the envelope gets dc = A_m - A_{m+1} (and ds the same sums of g x);
    dx = g (s_first + sum_m (s_m - s_{m-1}) [x > b_m]). Pieces off the envelope get 0, as in the
    generic code. Against that code: the same pieces except within float rounding of a breakpoint
    (there it compares rounded lines, here x with the exact crossing), and dx within a few ulp
    (a sum of slope steps)."""
    need_x, need_s, need_c = needs
    pieces, breakpoints = envelope
    steps = [slopes[j] - slopes[i] for i, j in zip(pieces, pieces[1:])]
    thresholds = _thresholds(breakpoints, x.dtype)
    n_breaks = len(thresholds)
    x_flat, grad_flat = x.view(-1), chunks.flat(grad)
    plan = chunks.Slices(x_flat.numel())
    above = plan.buffer(max(n_breaks, 1), dtype=x.dtype)            # g [x > b_m], one row per breakpoint
    grad_copy = plan.buffer(dtype=x.dtype) if grad_flat.stride(0) != 1 else None
    grad_x = torch.empty_like(x_flat) if need_x else None
    sums = torch.zeros((plan.count, n_breaks), dtype=x.dtype) if need_c and n_breaks else None
    sums_x = torch.zeros((plan.count, n_breaks + 1), dtype=x.dtype) if need_s else None   # [g . x, (g [x > b_m]) . x]
    step = torch.stack(steps).to(x.dtype) if steps else None
    first_slope = slopes[pieces[0]].item()
    outputs = grad_x.split(plan.size) if need_x else None
    for i, (xs, g) in enumerate(plan.split(x_flat, grad_flat)):
        n = xs.numel()
        if grad_copy is not None:
            g = grad_copy.view(n).copy_(g)
        rows, masked = above.rows(n), above.view(n)
        for row, threshold in zip(rows, thresholds):
            torch.ops.aten.threshold_backward.grad_input(g, xs, threshold, grad_input=row)
        if sums is not None:
            torch.sum(masked, 1, out=sums[i])
        if sums_x is not None:
            torch.dot(g, xs, out=sums_x[i, 0])
            if n_breaks:
                torch.mv(masked, xs, out=sums_x[i, 1:])
        if need_x:
            if n_breaks:
                torch.mv(masked.T, step, out=outputs[i])
                if first_slope != 0.0:
                    outputs[i].add_(g, alpha=first_slope)
            else:
                torch.mul(g, first_slope, out=outputs[i])

    def per_piece(cumulative: Tensor, like: Tensor) -> Tensor:
        """A_m - A_{m+1} for the envelope's pieces (A given for m = 0..M), 0 for the others."""
        result = torch.zeros(like.shape, dtype=torch.float64)
        result[pieces] = cumulative - torch.cat([cumulative[1:], cumulative.new_zeros(1)])
        return result.to(like.dtype)

    grad_c = grad_s = None
    if need_c:
        total = grad.sum(dtype=torch.float64).reshape(1)
        grad_c = per_piece(torch.cat([total, sums.sum(0, dtype=torch.float64)]) if n_breaks else total, intercepts)
    if need_s:
        grad_s = per_piece(sums_x.sum(0, dtype=torch.float64), slopes)
    return (grad_x.view(x.shape) if need_x else None), grad_s, grad_c


def _max_affine_shared_backward(grad, x, slopes, intercepts, needs):
    """Backward of `MaxAffine` for one coefficient vector: the winning piece of every element by a
    running maximum (first maximiser on ties), the input gradient by a gather, the coefficient
    gradients by two scatter-adds (one pass each)."""
    need_x, need_s, need_c = needs
    flat_x = x.reshape(-1)
    best = torch.addcmul(intercepts[0], slopes[0], flat_x)
    index = torch.zeros(best.shape, dtype=torch.int64, device=x.device)
    for k in range(1, slopes.shape[0]):      # a running max: ~10x faster than argmax over a (K, N) stack
        line = torch.addcmul(intercepts[k], slopes[k], flat_x)
        better = line > best                 # strict: the first maximiser keeps a tie
        index = torch.where(better, k, index)
        best = torch.maximum(best, line)
    flat = grad.reshape(-1)
    grad_x = grad_s = grad_c = None
    if need_x:
        grad_x = slopes.take(index).reshape(x.shape).mul_(grad)
    if need_c:
        grad_c = torch.zeros_like(intercepts).scatter_add_(0, index, flat.to(intercepts.dtype))
    if need_s:
        grad_s = torch.zeros_like(slopes).scatter_add_(0, index, (flat * flat_x).to(slopes.dtype))
    return grad_x, grad_s, grad_c


def _terms_gather(values: Tensor, index: Tensor) -> Tensor:
    """values[index] elementwise, for values of shape (K, *view) broadcasting against index."""
    out = values[0].expand(index.shape)
    for k in range(1, values.shape[0]):
        out = torch.where(index == k, values[k], out)
    return out


def _normal_cdf(t: float) -> float:
    return 0.5 * math.erfc(-t / math.sqrt(2.0))


def _normal_pdf(t: float) -> float:
    return math.exp(-t * t / 2) / math.sqrt(2 * math.pi) if math.isfinite(t) else 0.0


def _envelope_index(slopes: np.ndarray, intercepts: np.ndarray, x: float) -> int:
    return int(np.argmax(slopes * x + intercepts))


def _crossings(slopes: np.ndarray, intercepts: np.ndarray) -> list[float]:
    ds = slopes[:, None] - slopes[None, :]
    dc = intercepts[None, :] - intercepts[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = dc / ds
    return [float(v) for v in t[np.isfinite(t)]]


def piecewise_linear_moments(numerator: tuple[np.ndarray, np.ndarray],
                             denominator: tuple[np.ndarray, np.ndarray] | None = None,
                             distribution: str = "normal") -> tuple[float, float]:
    """Exact E[F^2], E[F'^2] of F = max_k(p_k x + a_k) [- max_k(q_k x + b_k)] (slopes, intercepts).

    Splits the line at every crossing of two pieces; on each interval F = beta x + alpha, and
    int (alpha + beta x)^2 dmu has a closed form for N(0, 1) (Phi, phi) and U[-pi, pi].
    """
    _check_distribution(distribution)
    parts = [numerator] + ([denominator] if denominator is not None else [])
    cuts = sorted(set(c for s, a in parts for c in _crossings(np.asarray(s, float), np.asarray(a, float))))
    edges = [-math.inf, *cuts, math.inf]
    forward = backward = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        if distribution == "uniform":
            lo, hi = max(lo, -math.pi), min(hi, math.pi)
            if hi <= lo:
                continue
        probe = (lo + hi) / 2 if math.isfinite(lo) and math.isfinite(hi) else (
            hi - 1.0 if math.isfinite(hi) else lo + 1.0 if math.isfinite(lo) else 0.0)
        beta = alpha = 0.0
        for sign, (s, a) in zip((1.0, -1.0), parts):
            s, a = np.asarray(s, float), np.asarray(a, float)
            k = _envelope_index(s, a, probe)
            beta, alpha = beta + sign * s[k], alpha + sign * a[k]
        if distribution == "normal":
            mass = _normal_cdf(hi) - _normal_cdf(lo)
            first = _normal_pdf(lo) - _normal_pdf(hi)                              # int x dPhi
            tail = lambda t: t * _normal_pdf(t) if math.isfinite(t) else 0.0      # noqa: E731
            second = mass - (tail(hi) - tail(lo))                                  # int x^2 dPhi
        else:
            mass = (hi - lo) / (2 * math.pi)
            first = (hi**2 - lo**2) / (4 * math.pi)
            second = (hi**3 - lo**3) / (6 * math.pi)
        forward += alpha**2 * mass + 2 * alpha * beta * first + beta**2 * second
        backward += beta**2 * mass
    return float(forward), float(backward)


@register("tropical", label="Tropical", family="basis",
          second_moments=lambda **p: Tropical(**p).second_moments("normal"),
          formula=r"\frac{\sqrt{2}}{n} \max_{0 \le k \le n} (c_k + k x)")
class Tropical(BasisActivation):
    r"""Tropical polynomial: :math:`F(x) = \frac{\sqrt 2}{n} \max_{0 \le k \le n} (c_k + k x)`, c learnable.

    A max-plus polynomial: convex, piecewise linear, slopes fixed at :math:`\sqrt2 k/n`. At the
    default init (c = 1) it is :math:`\sqrt2\,\mathrm{ReLU}(x) + \sqrt2/n`: backward gain exactly 1.
    With all c_k equal, the pieces 0 < k < n never win the max, so their c_k get no gradient until
    c_0 or c_n moves enough to expose them (the chapter counts the pieces in use after training).

    Args: as for :class:`Hermite` (``init``: ``"variance_preserving"`` or ``"fit"``; the paper uses n = 5).
    """

    family = "tropical"

    def __init__(self, degree: int = 5, init: str = "variance_preserving", fit_target: str = "gelu",
                 learnable: bool = True, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        super().__init__()
        self._set_up(ortho_init.tropical_init, degree, init, fit_target, learnable, granularity, num_features,
                     feature_dim)
        self.scale = ortho_init.tropical_scale(self.degree)
        self.register_buffer("powers", torch.arange(self.degree + 1, dtype=torch.get_default_dtype()))

    def slopes_and_intercepts(self) -> tuple[Tensor, Tensor]:
        slopes = (self.scale * self.powers).expand_as(self.coefficients)
        return slopes, self.scale * self.coefficients

    def forward(self, x: Tensor) -> Tensor:
        slopes, intercepts = (t.to(x.dtype) for t in self.slopes_and_intercepts())
        fd = self.feature_dim
        return MaxAffine.apply(x, _terms(slopes, x, fd), _terms(intercepts, x, fd))

    def second_moments(self, distribution: str = "normal"):
        """Exact E[F^2], E[F'^2] for x ~ N(0, 1) or U[-pi, pi] (per channel if coefficients are)."""
        slopes, intercepts = _rows(*self.slopes_and_intercepts())
        pairs = [piecewise_linear_moments((s, c), None, distribution) for s, c in zip(slopes, intercepts)]
        features = tuple(self.coefficients.shape[:-1])
        return _per_channel_pairs(pairs, features)


@register("tropical_rational", label="Tropical rational", family="basis",
          second_moments=lambda **p: TropicalRational(**p).second_moments("normal"),
          formula=r"\max_{k} (p_k x + \alpha_k) - \max_{k} (q_k x + \beta_k)")
class TropicalRational(BasisActivation):
    r"""Tropical rational function: :math:`F(x) = \max_k (p_k x + \alpha_k) - \max_k (q_k x + \beta_k)`, k = 0..n.

    A difference of two convex piecewise-linear functions, so any continuous piecewise-linear
    function with enough pieces; all four vectors are learnable. The default init makes
    F = sqrt(2) ReLU(x) (forward and backward gains exactly 1); see `lib.activations.ortho_init`.

    Args: as for :class:`Hermite` (``init``: ``"variance_preserving"`` or ``"fit"``).
    """

    family = "tropical_rational"
    COEFFICIENTS = ("numerator_slopes", "numerator_intercepts", "denominator_slopes", "denominator_intercepts")
    REPR_LABEL = "pieces"

    def __init__(self, degree: int = 5, init: str = "variance_preserving", fit_target: str = "gelu",
                 learnable: bool = True, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        super().__init__()
        self._set_up(ortho_init.tropical_rational_init, degree, init, fit_target, learnable, granularity, num_features,
                     feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        p, a, q, b = (_terms(getattr(self, n).to(x.dtype), x, self.feature_dim) for n in self.COEFFICIENTS)
        return MaxAffine.apply(x, p, a) - MaxAffine.apply(x, q, b)

    def second_moments(self, distribution: str = "normal"):
        """Exact E[F^2], E[F'^2] for x ~ N(0, 1) or U[-pi, pi] (per channel if coefficients are)."""
        p, a, q, b = _rows(*(getattr(self, n) for n in self.COEFFICIENTS))
        pairs = [piecewise_linear_moments((pi, ai), (qi, bi), distribution) for pi, ai, qi, bi in zip(p, a, q, b)]
        features = tuple(self.numerator_slopes.shape[:-1])
        return _per_channel_pairs(pairs, features)

