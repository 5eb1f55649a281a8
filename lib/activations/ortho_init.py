"""Initial coefficients of the learnable-basis activations (Hermite, Fourier, Tropical, TropicalRational).

Three schemes (Khalfaoui-Hassani & Kesselheim 2025, and the reference library torchortho):

``"variance_preserving"`` (the default; torchortho 0.1.2's scheme)
    Hermite(n), basis He_k/k!: a_k = 1/sqrt(e) for k >= 1, a_0 = sqrt(1 - 1/n!)/sqrt(e), so that
    E[F^2] = E[F'^2] = e^-1 sum_{j<n} 1/j! under N(0, 1) (0.9197 for n = 3).
    Fourier(n): A_k = 1/sqrt(I0(2)), phi_k = pi/4, omega_k = k, b = A sqrt(1 - 1/(n!)^2).
    Tropical(n): c_k = 1, i.e. F = sqrt(2) ReLU(x) + sqrt(2)/n.
    TropicalRational(n) (the reference draws its four vectors from N(0, 1); this is our choice):
    F = sqrt(2) ReLU(x) at init (forward and backward gains exactly 1), written as N - D with D a
    convex piecewise-linear function with a breakpoint at 0 and N = D + sqrt(2) ReLU, so that
    every piece is active somewhere and no two pieces tie (see `_convex_with_kink_at_zero`).
``"orthonormal"`` (Hermite only; torchortho 0.1.1's scheme)
    basis He_k/sqrt(k!) (orthonormal under N(0, 1)), a_k = (sqrt 6/pi) k^(-3/2),
    a_0 = (sqrt 6/pi) sqrt(pi^2/6 - zeta(3)).
``"variance_preserving_sqrt2"`` (Fourier only)
    the amplitudes of ``"variance_preserving"`` times sqrt(2): the scheme with the factor 1/2 of
    E[cos^2] accounted for, which gives E[F^2] = E[F'^2] = 1 under a uniform phase x ~ U[-pi, pi]
    (the chapter "Learnable orthogonal activations" measures both under N(0, 1) as well).
``"fit"``
    a deterministic least-squares fit to a registered activation (``fit_target``, e.g. "gelu") on
    values *and* derivatives, weighted by the N(0, 1) density: linear least squares for Hermite
    and Fourier (exact), a fixed-length Adam run from a convex-envelope start for the tropical
    ones. Results are cached as JSON in the user's cache directory only (see `cache_dir`), under a
    key made of everything the result depends on (family, degree, target and its parameters, the
    fitting settings, this module's fit version, torch and NumPy versions).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lib.activations import registry  # a sibling module: the registry is loaded first
from lib.cache import cache_dir
from lib.moments import value_and_derivative
from lib.seeding import torch_threads

SCHEMES = {
    "hermite": ("variance_preserving", "orthonormal", "fit"),
    "fourier": ("variance_preserving", "variance_preserving_sqrt2", "fit"),
    "tropical": ("variance_preserving", "fit"),
    "tropical_rational": ("variance_preserving", "fit"),
}
MAX_DEGREE = 64
ZETA3 = 1.2020569031595942853997            # Apery's constant, zeta(3)
# Bump when a fit's algorithm or settings change, so that old cache entries are not reused.
FIT_VERSION = 1
FIT_SETTINGS = {
    "grid": [-6.0, 6.0, 2401],              # points x_j, weighted by the N(0, 1) density
    "derivative_weight": 1.0,               # loss = E[(F - g)^2] + w E[(F' - g')^2]
    "adam_steps": 1500,                     # tropical families only
    "adam_lr": 0.02,
    "start_range": 3.0,                     # tropical starts: tangent points / envelope on [-r, r]
}


def bessel_i0_2() -> float:
    """I0(2) = sum_k 1/(k!)^2, the normaliser of the Fourier scheme (2.2795853...)."""
    return math.fsum(1.0 / math.factorial(k) ** 2 for k in range(40))


def check_degree(degree: Any, family: str) -> int:
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not 1 <= degree <= MAX_DEGREE:
        raise ValueError(f"{family} needs an integer degree in [1, {MAX_DEGREE}], got {degree!r}")
    return int(degree)


def check_scheme(init: Any, family: str) -> str:
    if init not in SCHEMES[family]:
        raise ValueError(f"unknown init {init!r} for {family}; choose from {', '.join(SCHEMES[family])}")
    return init


# --- Hermite ------------------------------------------------------------------------------------

def hermite_basis_scale(degree: int, init: str) -> np.ndarray:
    """s_k of the basis s_k He_k: 1/k! (0.1.2, also used by the fit) or 1/sqrt(k!) (0.1.1, orthonormal)."""
    factorials = np.array([float(math.factorial(k)) for k in range(degree + 1)])
    return 1.0 / np.sqrt(factorials) if init == "orthonormal" else 1.0 / factorials


def hermite_init(degree: int, init: str = "variance_preserving", fit_target: str = "gelu") -> dict[str, np.ndarray]:
    """{"coefficients": a (n+1,), "basis_scale": s (n+1,)} with F = sum_k a_k s_k He_k."""
    degree, init = check_degree(degree, "Hermite"), check_scheme(init, "hermite")
    scale = hermite_basis_scale(degree, init)
    if init == "variance_preserving":
        a = np.full(degree + 1, math.exp(-0.5))
        a[0] = math.sqrt(1.0 - 1.0 / math.factorial(degree)) * math.exp(-0.5)
    elif init == "orthonormal":
        c = math.sqrt(6.0) / math.pi
        a = np.empty(degree + 1)
        a[0] = c * math.sqrt(math.pi**2 / 6.0 - ZETA3)
        a[1:] = c * np.arange(1, degree + 1, dtype=float) ** -1.5
    else:
        a = np.asarray(fit("hermite", degree, fit_target)["coefficients"])
    return {"coefficients": a, "basis_scale": scale}


# --- Fourier ------------------------------------------------------------------------------------

def fourier_init(degree: int, init: str = "variance_preserving", fit_target: str = "gelu") -> dict[str, np.ndarray]:
    """{"amplitudes", "phases", "frequencies"} (n,) and {"bias"} () of b + sum A_k cos(w_k x - phi_k)/k!."""
    degree, init = check_degree(degree, "Fourier"), check_scheme(init, "fourier")
    if init == "fit":
        return {k: np.asarray(v) for k, v in fit("fourier", degree, fit_target).items()}
    amplitude = 1.0 / math.sqrt(bessel_i0_2())
    bias = amplitude * math.sqrt(1.0 - 1.0 / math.factorial(degree) ** 2)
    if init == "variance_preserving_sqrt2":
        amplitude *= math.sqrt(2.0)
    return {"amplitudes": np.full(degree, amplitude), "phases": np.full(degree, math.pi / 4),
            "frequencies": np.arange(1, degree + 1, dtype=float), "bias": np.asarray(bias)}


# --- Tropical -----------------------------------------------------------------------------------

def tropical_scale(degree: int) -> float:
    return math.sqrt(2.0) / degree


def tropical_init(degree: int, init: str = "variance_preserving", fit_target: str = "gelu") -> dict[str, np.ndarray]:
    """{"coefficients": c (n+1,)} of F = (sqrt 2/n) max_k (c_k + k x)."""
    degree, init = check_degree(degree, "Tropical"), check_scheme(init, "tropical")
    if init == "fit":
        return {"coefficients": np.asarray(fit("tropical", degree, fit_target)["coefficients"])}
    return {"coefficients": np.ones(degree + 1)}


def tropical_rational_init(degree: int, init: str = "variance_preserving",
                           fit_target: str = "gelu") -> dict[str, np.ndarray]:
    """Slopes and intercepts (n+1,) of F = max_k (p_k x + alpha_k) - max_k (q_k x + beta_k)."""
    degree, init = check_degree(degree, "TropicalRational"), check_scheme(init, "tropical_rational")
    if init == "fit":
        return {k: np.asarray(v) for k, v in fit("tropical_rational", degree, fit_target).items()}
    slopes, intercepts = _convex_with_kink_at_zero(degree)
    numerator_slopes = slopes.copy()
    numerator_slopes[(degree + 1) // 2:] += math.sqrt(2.0)            # the pieces right of 0 gain sqrt 2
    return {"numerator_slopes": numerator_slopes, "numerator_intercepts": intercepts.copy(),
            "denominator_slopes": slopes, "denominator_intercepts": intercepts}


def _convex_with_kink_at_zero(degree: int, spacing: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Slopes q_k = (sqrt 2/n)(k - m) and intercepts of a convex D = max_k (q_k x + beta_k), k = 0..n,
    m = ceil(n/2), whose n breakpoints sit at spacing * (j - m), j = 1..n (one of them at 0), D(0) = 0.

    D + sqrt(2) ReLU is then again convex with n + 1 pieces, so the numerator can hold it exactly:
    every piece of both maxima is active somewhere (all get gradients) and no two tie off the
    breakpoints (unlike all-equal pieces, whose ties make the maximum non-differentiable everywhere).
    """
    m = (degree + 1) // 2
    slopes = tropical_scale(degree) * (np.arange(degree + 1) - m)
    breakpoints = spacing * (np.arange(1, degree + 1) - m)
    intercepts = np.zeros(degree + 1)
    for k in range(1, degree + 1):          # lines k-1 and k meet at breakpoint k
        intercepts[k] = intercepts[k - 1] - (slopes[k] - slopes[k - 1]) * breakpoints[k - 1]
    return slopes, intercepts - intercepts[m]


INITIALISERS = {"hermite": hermite_init, "fourier": fourier_init, "tropical": tropical_init,
                "tropical_rational": tropical_rational_init}


# --- Fitting to a target activation -------------------------------------------------------------

def fit_key(family: str, degree: int, target: str) -> dict[str, Any]:
    """Everything a fit depends on; its hash names the cache file."""
    spec = registry.spec(target)                        # unknown target: KeyError with suggestions
    target_params = {k: v for k, v in spec.params.items()}
    return {"fit_version": FIT_VERSION, "family": family, "degree": int(degree), "target": spec.name,
            "target_class": f"{spec.cls.__module__}.{spec.cls.__qualname__}",
            "target_params": json.loads(json.dumps(target_params, default=repr)),
            "settings": FIT_SETTINGS, "torch": torch.__version__, "numpy": np.__version__}


def fit_cache_path(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir("ortho-fit") / f"{key['family']}-{key['degree']}-{key['target']}-{digest}.json"


def fit(family: str, degree: int, target: str = "gelu", *, use_cache: bool = True) -> dict[str, list]:
    """Coefficients of `family` (as in `INITIALISERS`) fitted to the registered activation `target`.

    Deterministic: least squares (Hermite, Fourier) or a fixed Adam run in float64 on a grid small
    enough for single-threaded kernels (tropical). Cached in `lib.cache.cache_dir("ortho-fit")`.
    """
    if family not in INITIALISERS:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(INITIALISERS)}")
    degree = check_degree(degree, family)
    key = fit_key(family, degree, target)
    path = fit_cache_path(key)
    if use_cache and path.is_file():
        try:
            record = json.loads(path.read_text())
            if record.get("key") == key and all(np.isfinite(np.asarray(v, dtype=float)).all()
                                                for v in record["coefficients"].values()):
                return record["coefficients"]
        except (OSError, ValueError, KeyError, TypeError):
            pass                                          # unreadable or stale: recompute below
    with torch_threads(1):        # a tiny problem: one thread is faster, and its reductions run in one order
        fitted = _FITTERS[family](degree, target)
    result = {k: np.asarray(v, dtype=float).tolist() for k, v in fitted.items()}
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"key": key, "coefficients": result}, indent=1))
            os.replace(temporary, path)                   # atomic: readers never see half a file
        except OSError as err:
            warnings.warn(f"could not cache the {family} fit in {path.parent}: {err}", stacklevel=2)
    return result


def _target_on_grid(target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid x, N(0,1) weights (summing to 1), target values g and derivatives g' (float64)."""
    lo, hi, points = FIT_SETTINGS["grid"]
    x = torch.linspace(lo, hi, int(points), dtype=torch.float64)
    g, dg = value_and_derivative(registry.get(target).double(), x)
    w = torch.exp(-x**2 / 2)
    w = w / w.sum()
    return x.numpy(), w.numpy(), g.numpy(), dg.numpy()


def _weighted_lstsq(values: np.ndarray, derivatives: np.ndarray, x_weights: np.ndarray,
                    g: np.ndarray, dg: np.ndarray) -> np.ndarray:
    """argmin_c sum_j w_j [(V c - g)_j^2 + lambda (D c - g')_j^2]."""
    root = np.sqrt(x_weights)[:, None]
    lam = math.sqrt(FIT_SETTINGS["derivative_weight"])
    system = np.vstack([root * values, lam * root * derivatives])
    rhs = np.concatenate([root[:, 0] * g, lam * root[:, 0] * dg])
    solution, *_ = np.linalg.lstsq(system, rhs, rcond=None)
    return solution


def _fit_hermite(degree: int, target: str) -> dict[str, np.ndarray]:
    x, w, g, dg = _target_on_grid(target)
    he = np.polynomial.hermite_e.hermevander(x, degree)                  # He_0..He_n
    k = np.arange(degree + 1)
    dhe = np.zeros_like(he)
    dhe[:, 1:] = k[1:] * he[:, :-1]                                       # He_k' = k He_{k-1}
    scale = hermite_basis_scale(degree, "fit")
    coefficients = _weighted_lstsq(he * scale, dhe * scale, w, g, dg)
    return {"coefficients": coefficients}


def _fit_fourier(degree: int, target: str) -> dict[str, np.ndarray]:
    """Frequencies stay at k; A_k cos(kx - phi_k)/k! = u_k cos kx + v_k sin kx is linear in (u, v)."""
    x, w, g, dg = _target_on_grid(target)
    k = np.arange(1, degree + 1)
    kx = x[:, None] * k
    values = np.hstack([np.ones((len(x), 1)), np.cos(kx), np.sin(kx)])
    derivatives = np.hstack([np.zeros((len(x), 1)), -k * np.sin(kx), k * np.cos(kx)])
    solution = _weighted_lstsq(values, derivatives, w, g, dg)
    u, v = solution[1:degree + 1], solution[degree + 1:]
    factorials = np.array([float(math.factorial(i)) for i in k])
    return {"amplitudes": factorials * np.hypot(u, v), "phases": np.arctan2(v, u),
            "frequencies": k.astype(float), "bias": np.asarray(solution[0])}


def _envelope(x: torch.Tensor, slopes: torch.Tensor, intercepts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """max_k (slopes_k x + intercepts_k) and its derivative (the winning slope), plain autograd
    (the fit's objective, not the fast path)."""
    lines = slopes[:, None] * x + intercepts[:, None]
    value, index = lines.max(dim=0)
    return value, slopes[index]


class _Objective(nn.Module):
    """``x -> (F(x), F'(x))`` of a piecewise-linear function with the given (some trainable) tensors."""

    def __init__(self, function, values: dict[str, torch.Tensor]):
        super().__init__()
        self.function, self.values = function, values

    def forward(self, x: torch.Tensor):
        return self.function(x, self.values)


def _adam_refine(params: dict[str, torch.Tensor], function, target: str) -> dict[str, np.ndarray]:
    """Fixed-length Adam on the values+derivatives loss; returns the best iterate (deterministic).

    For a piecewise-linear F the derivative error does not depend on the intercepts (almost
    everywhere), so it steers only learnable slopes; the full loss picks the best iterate.
    """
    from lib.train import train  # the book's training loop sits above lib.activations; needed only for "fit"

    x, w, g, dg = (torch.as_tensor(a) for a in _target_on_grid(target))
    lam = FIT_SETTINGS["derivative_weight"]
    steps = FIT_SETTINGS["adam_steps"]
    optimiser = torch.optim.Adam([p for p in params.values() if p.requires_grad], lr=FIT_SETTINGS["adam_lr"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    best: dict = {"loss": math.inf, "values": None}

    def keep_best(step, model, loss):           # the loss of the iterate about to be updated
        if loss.item() < best["loss"]:
            best["loss"], best["values"] = loss.item(), {k: v.detach().clone() for k, v in params.items()}

    def objective(out, target_rows):            # target_rows: (g, g', density weight) per grid point
        (f, df), weight = out, target_rows[:, 2]
        return (weight * (f - target_rows[:, 0]) ** 2).sum() + lam * (weight * (df - target_rows[:, 1]) ** 2).sum()

    train(_Objective(function, params), (x, torch.stack([g, dg, w], dim=1)), epochs=steps + 1, optimizer=optimiser,
          scheduler=schedule, loss=objective, before_step=keep_best, progress=False, device="cpu")
    return {k: v.numpy() for k, v in best["values"].items()}


def _fit_tropical(degree: int, target: str) -> dict[str, np.ndarray]:
    """Start: the discrete Legendre transform on [-r, r] (lines touching the target from below)."""
    x, _, g, _ = _target_on_grid(target)
    r = FIT_SETTINGS["start_range"]
    inside = np.abs(x) <= r
    scale = tropical_scale(degree)
    slopes = scale * np.arange(degree + 1)
    start = np.array([np.min(g[inside] - s * x[inside]) for s in slopes]) / scale
    params = {"coefficients": torch.tensor(start, requires_grad=True),
              "powers": torch.arange(degree + 1, dtype=torch.float64)}
    fitted = _adam_refine(params, lambda xr, p: _envelope(xr, scale * p["powers"], scale * p["coefficients"]),
                          target)
    return {"coefficients": fitted["coefficients"]}


def _fit_tropical_rational(degree: int, target: str) -> dict[str, np.ndarray]:
    """Start: a difference of convex tangent envelopes, g = (g + rho x^2/2) - rho x^2/2, with rho
    the target's largest negative curvature, touched at n+1 points spread over [-r, r]."""
    x, _, g, dg = _target_on_grid(target)
    r = FIT_SETTINGS["start_range"]
    inside = np.abs(x) <= r + 1.0
    curvature = np.gradient(dg, x)[inside]
    rho = max(0.0, -float(curvature.min())) + 0.05
    t = np.linspace(-r, r, degree + 1)
    gt, dgt = np.interp(t, x, g), np.interp(t, x, dg)
    p = dgt + rho * t
    params = {"numerator_slopes": p, "numerator_intercepts": gt + rho * t**2 / 2 - p * t,
              "denominator_slopes": rho * t, "denominator_intercepts": -rho * t**2 / 2}
    params = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}

    def function(xr, p):
        f_num, df_num = _envelope(xr, p["numerator_slopes"], p["numerator_intercepts"])
        f_den, df_den = _envelope(xr, p["denominator_slopes"], p["denominator_intercepts"])
        return f_num - f_den, df_num - df_den

    return _adam_refine(params, function, target)


_FITTERS = {"hermite": _fit_hermite, "fourier": _fit_fourier, "tropical": _fit_tropical,
            "tropical_rational": _fit_tropical_rational}
