"""The trainable SQRT family of Fontana (2021): SQRT, TSQRT, TSQRT_tanh and trainable
versions of Hardswish, LeakyReLU, GELU, SELU and Swish, plus TanhExp (Liu & Di 2020).

Every trainable activation takes ``learnable``, ``granularity`` (``"layer"``, ``"channel"`` or
``"element"``: one value per unit, the original report's choice, as its parameter counts imply),
``num_features`` and ``feature_dim``, as every activation with parameters does (`lib.activations.base`).

Safe parametrisations (why a learnable parameter never produces NaN)
--------------------------------------------------------------------
An optimiser may push a parameter anywhere. Each constrained parameter is therefore
stored *unconstrained* (``raw_<name>``) and mapped into its domain; the module's
attribute ``<name>`` (e.g. ``act.z``) is the mapped value, and `parameter_values()`
returns all of them (what the chapter plots as trajectories):

- exponents (TSQRT's ``z``, TSQRT_tanh's ``k``): ``z = 2·sigmoid(raw)`` in (0, 2);
  z = 1 is ``raw = 0`` exactly;
- widths (THardswish's ``z``, TGELU's ``w``): ``softplus(raw) + min`` with a small
  positive floor (1e-2 and 1e-3), so nothing divides by zero;
- TSwish's base ``z`` is parametrised by ``beta = ln z`` (any real): z <= 1 is then
  a legal, finite function (beta = 0 is x/2, beta < 0 a mirrored Swish);
- TLeakyReLU's slope and TGELU/TSELU's scales are unconstrained reals.

The signed power sign(x)·|x|^z has an infinite slope at 0 for z < 1. Its values are
exact, but its derivative in x is taken as ``z·max(|x|, δ)^(z-1)`` with δ = 1e-6 (the
slope at |x| = δ, at most 5·10^2 for z = 1/2), and its derivative in z,
``sign(x)|x|^z ln|x|``, is given its limit 0 at x = 0. Exponentials that would
overflow (e^x in SELU's and TanhExp's unused branches) are evaluated on clamped inputs,
where the clamp does not change any float64 value.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lib.activations.base import add_parameter, broadcast_to_input, parameter_shape
from lib.activations.kernels import (  # noqa: F401 (re-exported)
    EXP_CLAMP,
    SLOPE_FLOOR,
    GELUFunction,
    HardswishFunction,
    LeakyReLUFunction,
    SELUFunction,
    SignedPower,
    SwishFunction,
    TanhExpPower,
)
from lib.activations.registry import register

SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


# --- maps from an unconstrained raw parameter to its domain, and back ------------------------------

def _exponent(raw: Tensor) -> Tensor:
    return 2.0 * torch.sigmoid(raw)


def _exponent_raw(value: float) -> float:
    if not 0.0 < value < 2.0:
        raise ValueError(f"exponent must lie in (0, 2), got {value!r}")
    return math.log(value / (2.0 - value))


def _positive(raw: Tensor, floor: float) -> Tensor:
    return F.softplus(raw) + floor


def _positive_raw(value: float, floor: float) -> float:
    if not value > floor:
        raise ValueError(f"value must exceed {floor:g}, got {value!r}")
    v = value - floor
    return v + math.log(-math.expm1(-v))     # softplus⁻¹(v), stable for large v


def _check_real(name: str, value) -> float:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def signed_power(x: Tensor, z: Tensor | float) -> Tensor:
    """sign(x)·|x|^z with the guarded derivatives of :class:`SignedPower`."""
    z = torch.as_tensor(z, dtype=x.dtype, device=x.device)
    return SignedPower.apply(x, z)


class TrainableActivation(nn.Module):
    """Shared plumbing: parameters stored raw, mapped by `_maps`, broadcast by granularity."""

    _maps: dict = {}        # name -> (raw -> value, value -> raw)

    def __init__(self, values: dict[str, float], learnable: bool, granularity: str,
                 num_features, feature_dim: int):
        super().__init__()
        self.granularity, shape = parameter_shape(granularity, num_features, feature_dim)
        self.feature_dim = feature_dim
        for name, value in values.items():
            inverse = self._maps.get(name, (None, None))[1]
            raw = inverse(value) if inverse else value
            add_parameter(self, f"raw_{name}", raw, shape=shape, learnable=learnable)

    def __getattr__(self, name: str):
        if name in type(self)._maps or f"raw_{name}" in self.__dict__.get("_parameters", {}) \
                or f"raw_{name}" in self.__dict__.get("_buffers", {}):
            raw = super().__getattr__(f"raw_{name}")
            forward_map = type(self)._maps.get(name, (None, None))[0]
            return forward_map(raw) if forward_map else raw
        return super().__getattr__(name)

    def value(self, name: str, x: Tensor) -> Tensor:
        """Parameter `name` mapped into its domain and shaped to broadcast against `x`."""
        return broadcast_to_input(getattr(self, name), x, self.feature_dim).to(x.dtype)

    def parameter_values(self) -> dict[str, Tensor]:
        """Every parameter in its own domain (detached): what trajectories record."""
        names = [n[len("raw_"):] for n, _ in self.named_parameters(recurse=False)] or \
            [n[len("raw_"):] for n, _ in self.named_buffers(recurse=False)]
        return {n: getattr(self, n).detach().clone() for n in names}

    def extra_repr(self) -> str:
        kind = "learnable" if any(True for _ in self.parameters()) else "fixed"
        parts = []
        for name, value in self.parameter_values().items():
            parts.append(f"{name}={value.item():.4g}" if value.dim() == 0 else f"{name}: shape={tuple(value.shape)}")
        return ", ".join(parts) + f" ({kind}, {self.granularity})"


# --- parameter-free members ----------------------------------------------------------------------

@register("sqrt", label="SQRT", formula=r"\operatorname{sign}(x)\sqrt{|x|}", family="sqrt")
class SQRT(nn.Module):
    r"""SQRT (Yang, Chen & Liang 2018): :math:`f(x) = \operatorname{sign}(x)\sqrt{|x|}`.

    The slope :math:`1/(2\sqrt{|x|})` is infinite at 0; it is capped at its value at
    |x| = 1e-6 (500), values stay exact (see :class:`SignedPower`).
    """

    def forward(self, x: Tensor) -> Tensor:
        return signed_power(x, 0.5)


@register("tanhexp", label="TanhExp", formula=r"x \tanh(e^{x})", family="sqrt")
class TanhExp(nn.Module):
    r"""TanhExp (Liu & Di 2020): :math:`f(x) = x\tanh(e^{x})`.

    The report prints "x + tanh(eˣ)", a typo. e^x is taken of min(x, 20): tanh(e^20) is 1
    in float64, so no value changes, and the backward never forms inf·0.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.tanh(torch.exp(x.clamp(max=EXP_CLAMP)))


# --- trainable members ---------------------------------------------------------------------------

@register("tsqrt", label="TSQRT", formula=r"\operatorname{sign}(x)\,|x|^{z}", family="sqrt",
          recovers={"SQRT": {"z": 0.5}, "identity": {"z": 1.0}})
class TSQRT(TrainableActivation):
    r"""Trainable SQRT: :math:`f(x) = \operatorname{sign}(x)\,|x|^{z}`.

    z = 1/2 is SQRT, z = 1 the identity. z = 2·sigmoid(raw_z) lies in (0, 2); the slope
    at 0 is capped as in :class:`SignedPower`.
    """

    _maps = {"z": (_exponent, _exponent_raw)}

    def __init__(self, z: float = 0.5, learnable: bool = False, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        z = _check_real("TSQRT's z", z)
        if not 0 < z < 2:
            raise ValueError(f"TSQRT needs 0 < z < 2, got z={z!r}")
        super().__init__({"z": z}, learnable, granularity, num_features, feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        return signed_power(x, self.value("z", x))


@register("thardswish", label="THardswish",
          formula=r"0 \text{ if } x \le -z;\ x \text{ if } x \ge z;\ \frac{x(x+z)}{2z} \text{ otherwise}",
          family="sqrt", recovers={"Hardswish": {"z": 3.0}})
class THardswish(TrainableActivation):
    r"""Trainable Hardswish: 0 for :math:`x \le -z`, x for :math:`x \ge z`,
    :math:`x(x+z)/(2z)` in between.

    z = 3 is Hardswish (Howard et al. 2019); z -> 0 tends to ReLU. z = softplus(raw) + 0.01,
    and f is computed as x·clamp(x + z, 0, 2z)/(2z), so no branch overflows.
    """

    _maps = {"z": (lambda r: _positive(r, 1e-2), lambda v: _positive_raw(v, 1e-2))}

    def __init__(self, z: float = 3.0, learnable: bool = False, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        z = _check_real("THardswish's z", z)
        if not z > 1e-2:
            raise ValueError(f"THardswish needs z > 0.01, got z={z!r}")
        super().__init__({"z": z}, learnable, granularity, num_features, feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        # x·clamp(x + z, 0, 2z)/(2z): 0 below -z, x above z and x(x+z)/(2z) between, no branch
        # that could overflow; evaluated as (z/3)·hardswish(3x/z) (see HardswishFunction)
        return HardswishFunction.apply(x, self.value("z", x))


@register("tleaky_relu", label="TLeakyReLU", formula=r"x \text{ if } x > 0 \text{ else } z\,x",
          family="sqrt", recovers={"LeakyReLU": {"z": 0.01}, "ReLU": {"z": 0.0}, "identity": {"z": 1.0}},
          aliases=("tleakyrelu",))
class TLeakyReLU(TrainableActivation):
    r"""Trainable LeakyReLU: :math:`f(x) = x` for x > 0, :math:`z x` otherwise (z any real).

    z = 0.01 is LeakyReLU's default, z = 0 ReLU, z = 1 the identity.
    """

    def __init__(self, z: float = 0.01, learnable: bool = False, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        z = _check_real("TLeakyReLU's z", z)
        super().__init__({"z": z}, learnable, granularity, num_features, feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        return LeakyReLUFunction.apply(x, self.value("z", x))


@register("tgelu", label="TGELU", formula=r"z\,x\left(1 + \operatorname{erf}(x / w)\right)", family="sqrt",
          recovers={"GELU": {"z": 0.5, "w": math.sqrt(2.0)}})
class TGELU(TrainableActivation):
    r"""Trainable GELU: :math:`f(x) = z\,x\,(1 + \operatorname{erf}(x/w))`.

    z = 1/2, w = √2 is GELU (Hendrycks & Gimpel 2016); w -> 0 tends to 2z·ReLU. z is any
    real; w = softplus(raw) + 0.001 > 0.
    """

    _maps = {"w": (lambda r: _positive(r, 1e-3), lambda v: _positive_raw(v, 1e-3))}

    def __init__(self, z: float = 0.5, w: float = math.sqrt(2.0), learnable: bool = False,
                 granularity: str | None = None, num_features: int | tuple[int, ...] | None = None,
                 feature_dim: int = 1):
        z, w = _check_real("TGELU's z", z), _check_real("TGELU's w", w)
        if not w > 1e-3:
            raise ValueError(f"TGELU needs w > 0.001, got w={w!r}")
        super().__init__({"z": z, "w": w}, learnable, granularity, num_features, feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        return GELUFunction.apply(x, self.value("z", x), self.value("w", x))


@register("tselu", label="TSELU", formula=r"z\,x \text{ if } x \ge 0 \text{ else } z\,w\,(e^{x} - 1)",
          family="sqrt", recovers={"SELU": {"z": SELU_SCALE, "w": SELU_ALPHA}})
class TSELU(TrainableActivation):
    r"""Trainable SELU: :math:`f(x) = z x` for x >= 0, :math:`z w (e^x - 1)` otherwise.

    z ≈ 1.0507, w ≈ 1.6733 is SELU (Klambauer et al. 2017); z = 1, w = 1 is ELU. Both any
    real; e^x - 1 is computed as expm1(min(x, 0)), so the unused branch never overflows.
    """

    def __init__(self, z: float = SELU_SCALE, w: float = SELU_ALPHA, learnable: bool = False,
                 granularity: str | None = None, num_features: int | tuple[int, ...] | None = None,
                 feature_dim: int = 1):
        z, w = _check_real("TSELU's z", z), _check_real("TSELU's w", w)
        super().__init__({"z": z, "w": w}, learnable, granularity, num_features, feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        # z·where(x >= 0, x, w·expm1(min(x, 0))), fused (see SELUFunction)
        return SELUFunction.apply(x, self.value("z", x), self.value("w", x))


@register("tswish", label="TSwish", formula=r"\frac{x}{1 + z^{-x}} = x\,\sigma(x \ln z)", family="sqrt",
          recovers={"Swish": {"z": math.e}})
class TSwish(TrainableActivation):
    r"""Trainable Swish: :math:`f(x) = x / (1 + z^{-x}) = x\,\sigma(\beta x)`, :math:`\beta = \ln z`.

    z = e is Swish/SiLU (Ramachandran et al. 2017). The parameter stored is β = ln z (any
    real), so z = e^β > 0 always; z = 1 (β = 0) is x/2 and z < 1 a mirrored Swish.
    """

    _maps = {"z": (torch.exp, lambda v: math.log(v))}

    def __init__(self, z: float = math.e, learnable: bool = False, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        z = _check_real("TSwish's z", z)
        if not z > 0:
            raise ValueError(f"TSwish needs z > 0 (it is parametrised by ln z), got z={z!r}")
        super().__init__({"z": z}, learnable, granularity, num_features, feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        beta = broadcast_to_input(self.raw_z, x, self.feature_dim).to(x.dtype)
        return SwishFunction.apply(x, beta)       # x·sigmoid(beta·x)


@register("tsqrt_tanh", label="TSQRT_tanh",
          formula=r"x \tanh\!\left(e^{\operatorname{sign}(x)|x|^{k}}\right)", family="sqrt",
          recovers={"TanhExp": {"k": 1.0}})
class TSQRTTanh(TrainableActivation):
    r"""TSQRT_tanh (Fontana 2021): :math:`f(x) = x\tanh(e^{x^k})` for x > 0 and
    :math:`x\tanh(e^{-(-x)^k})` otherwise, i.e. :math:`x\tanh(e^{s(x)})` with
    :math:`s = \operatorname{sign}(x)|x|^k` (TSQRT's signed power).

    k = 1 is TanhExp; k = 1/2 puts SQRT inside. k = 2·sigmoid(raw_k) lies in (0, 2);
    s is clamped at 20 before the exponential (tanh(e^20) = 1 in float64).
    """

    _maps = {"k": (_exponent, _exponent_raw)}

    def __init__(self, k: float = 1.0, learnable: bool = False, granularity: str | None = None,
                 num_features: int | tuple[int, ...] | None = None, feature_dim: int = 1):
        k = _check_real("TSQRT_tanh's k", k)
        if not 0 < k < 2:
            raise ValueError(f"TSQRT_tanh needs 0 < k < 2, got k={k!r}")
        super().__init__({"k": k}, learnable, granularity, num_features, feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        # x·tanh(exp(min(signed_power(x, k), 20))), fused (see TanhExpPower)
        return TanhExpPower.apply(x, self.value("k", x))


TRAINABLE = {"tsqrt": "SQRT", "thardswish": "Hardswish", "tleaky_relu": "LeakyReLU", "tgelu": "GELU",
             "tselu": "SELU", "tswish": "Swish", "tsqrt_tanh": "TanhExp"}
"""Each trainable activation and the classical function it equals at its defaults (frozen)."""
