"""Hermite, Fourier, Tropical and TropicalRational activations and their initialisations (the bases paper)."""
from __future__ import annotations

import contextlib
import inspect
import json
import math

import numpy as np
import pytest
import torch

from lib import activations
from lib.activations import ortho_init
from lib.activations.base import saved_storages
from lib.activations.ortho import (
    Fourier,
    Hermite,
    Tropical,
    TropicalRational,
    fourier_moments,
    piecewise_linear_moments,
)

# Probabilists' Hermite polynomials written out, independent of any recurrence.
HERMITE_EXPLICIT = [
    lambda x: np.ones_like(x),
    lambda x: x,
    lambda x: x**2 - 1,
    lambda x: x**3 - 3 * x,
    lambda x: x**4 - 6 * x**2 + 3,
    lambda x: x**5 - 10 * x**3 + 15 * x,
]
FAMILIES = {"hermite": Hermite, "fourier": Fourier, "tropical": Tropical, "tropical_rational": TropicalRational}


def randomise(module: torch.nn.Module, seed: int = 0, scale: float = 0.5) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return module


def grid(points: int = 801) -> torch.Tensor:
    x = torch.cat([torch.linspace(-4, 4, points, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)])
    return x


# --- values against closed forms -------------------------------------------------------------------

@pytest.mark.parametrize("degree", [1, 2, 3, 5])
@pytest.mark.parametrize("init", ["variance_preserving", "orthonormal"])
def test_hermite_matches_explicit_polynomials(degree, init):
    act = randomise(Hermite(degree=degree, init=init).double(), seed=degree)
    a = act.coefficients.detach().numpy()
    scale = [1 / math.factorial(k) if init == "variance_preserving" else 1 / math.sqrt(math.factorial(k))
             for k in range(degree + 1)]
    x = grid()
    expected = sum(a[k] * scale[k] * HERMITE_EXPLICIT[k](x.numpy()) for k in range(degree + 1))
    np.testing.assert_allclose(act(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_hermite_derivative_is_exact_at_zero():
    """F'(0) = a_1 - a_3/2 for degree 3 (the reference library torchortho returns 0 there)."""
    act = randomise(Hermite(degree=3).double(), seed=3)
    a = act.coefficients.detach()
    x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    act(x).sum().backward()
    torch.testing.assert_close(x.grad, (a[1] - a[3] / 2).expand(5), rtol=1e-14, atol=1e-14)


def test_fourier_matches_its_formula():
    act = randomise(Fourier(degree=5).double(), seed=1)
    A, phi, w, b = (getattr(act, n).detach().numpy() for n in ("amplitudes", "phases", "frequencies", "bias"))
    x = grid().numpy()
    expected = b + sum(A[k] * np.cos(w[k] * x - phi[k]) / math.factorial(k + 1) for k in range(5))
    np.testing.assert_allclose(act(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_tropical_matches_its_formula_and_init():
    x = grid()
    init = Tropical(degree=5).double()
    torch.testing.assert_close(init(x), math.sqrt(2) * torch.relu(x) + math.sqrt(2) / 5, rtol=1e-7, atol=1e-7)
    act = randomise(Tropical(degree=5).double(), seed=2)
    c = act.coefficients.detach().numpy()
    expected = math.sqrt(2) / 5 * np.max([c[k] + k * x.numpy() for k in range(6)], axis=0)
    np.testing.assert_allclose(act(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("degree", [1, 2, 3, 5])
def test_tropical_rational_matches_its_formula_and_init(degree):
    x = grid()
    init = TropicalRational(degree=degree).double()
    torch.testing.assert_close(init(x), math.sqrt(2) * torch.relu(x), rtol=1e-6, atol=1e-6)
    act = randomise(TropicalRational(degree=degree).double(), seed=degree)
    p, a, q, b = (getattr(act, n).detach().numpy() for n in TropicalRational.COEFFICIENTS)
    xn = x.numpy()[:, None]
    expected = np.max(p * xn + a, axis=1) - np.max(q * xn + b, axis=1)
    np.testing.assert_allclose(act(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_per_channel_coefficients_act_channel_by_channel(name):
    cls = FAMILIES[name]
    per_channel = randomise(cls(num_features=3).double(), seed=4)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    y = per_channel(x)
    for c in range(3):
        single = cls().double()
        with torch.no_grad():
            for p, q in zip(single.parameters(), per_channel.parameters()):
                p.copy_(q[c])
        torch.testing.assert_close(y[:, c], single(x[:, c]), rtol=1e-12, atol=1e-12)
    sequence = cls(num_features=3, feature_dim=-1)
    assert sequence(torch.randn(2, 7, 3)).shape == (2, 7, 3)
    with pytest.raises(ValueError, match="does not fit"):
        cls(num_features=4)(torch.randn(2, 3))


# --- gradients ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("num_features", [None, 3])
def test_gradcheck_including_zero_and_coefficients(name, num_features):
    act = randomise(FAMILIES[name](num_features=num_features).double(), seed=5, scale=0.3)
    generator = torch.Generator().manual_seed(6)
    x = torch.randn(4, 3, dtype=torch.float64, generator=generator) * 2
    x[0, :] = 0.0                                           # exact zeros: the reference's Hermite fails here
    x.requires_grad_(True)
    names = [n for n, _ in act.named_parameters()]

    def f(x, *values):
        return torch.func.functional_call(act, dict(zip(names, values)), (x,))

    inputs = (x, *[p.detach().clone().requires_grad_(True) for p in act.parameters()])
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6)
    # second derivatives through the hand-written backward are not provided; first order is exact
    assert torch.isfinite(f(*inputs)).all()


def test_fixed_coefficients_are_buffers_and_get_no_gradient():
    act = Hermite(degree=3, learnable=False)
    assert not list(act.parameters()) and "coefficients" in dict(act.named_buffers())
    x = torch.randn(10, requires_grad=True)
    act(x).sum().backward()
    assert x.grad is not None


# --- second moments at initialisation ---------------------------------------------------------------

def monte_carlo(act: torch.nn.Module, samples: int = 2_000_000, seed: int = 0, uniform: bool = False):
    generator = torch.Generator().manual_seed(seed)
    x = (torch.rand(samples, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi if uniform else \
        torch.randn(samples, generator=generator, dtype=torch.float64)
    x.requires_grad_(True)
    y = act.double()(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return (y.detach() ** 2).mean().item(), (dy**2).mean().item()


def test_hermite3_variance_preserving_gains_are_0_9197():
    closed = math.exp(-1) * (1 + 1 + 0.5)                    # e^-1 sum_{j<3} 1/j!
    assert closed == pytest.approx(0.9197, abs=5e-5)
    act = Hermite(degree=3)
    assert act.second_moments("normal") == pytest.approx((closed, closed), rel=1e-6)
    assert monte_carlo(act) == pytest.approx((closed, closed), rel=1e-2)


@pytest.mark.parametrize("degree", [1, 2, 4, 6])
def test_hermite_variance_preserving_gains_for_any_degree(degree):
    closed = math.exp(-1) * sum(1 / math.factorial(j) for j in range(degree))
    assert Hermite(degree=degree).second_moments() == pytest.approx((closed, closed), rel=1e-6)


def test_hermite_orthonormal_init_coefficients():
    c = math.sqrt(6) / math.pi
    a = Hermite(degree=4, init="orthonormal").coefficients.detach().double().numpy()
    expected = [c * math.sqrt(math.pi**2 / 6 - 1.2020569031595942)] + [c * k**-1.5 for k in range(1, 5)]
    np.testing.assert_allclose(a, expected, rtol=1e-6)
    forward, backward = Hermite(degree=4, init="orthonormal").second_moments()
    # orthonormal basis: E[F^2] = sum a_k^2 -> 1 as the degree grows (zeta(3) + pi^2/6 - zeta(3))
    assert forward == pytest.approx(sum(v**2 for v in expected), rel=1e-6)
    assert monte_carlo(Hermite(degree=4, init="orthonormal")) == pytest.approx((forward, backward), rel=2e-2)


def test_tropical_backward_gain_is_one():
    act = Tropical(degree=5)
    forward, backward = act.second_moments()
    assert backward == pytest.approx(1.0, abs=1e-6)               # slopes stored in float32
    # sqrt(2) ReLU(x) + sqrt(2)/n: E[F^2] = 1 + 2 (sqrt 2/n) sqrt 2 phi(0) + 2/n^2
    expected = 1 + 2 * (2 / 5) / math.sqrt(2 * math.pi) + 2 / 25
    assert forward == pytest.approx(expected, rel=1e-6)
    assert monte_carlo(act) == pytest.approx((expected, 1.0), rel=1e-2)
    assert monte_carlo(TropicalRational(degree=5)) == pytest.approx((1.0, 1.0), rel=1e-2)


@pytest.mark.parametrize("uniform", [False, True])
def test_fourier5_gains_match_the_measured_values_measured_for_the_paper(uniform):
    """Fourier init: E[F^2] = 0.720, E[F'^2] = 0.500 under U[-pi, pi]; 1.307 / 0.965 under N(0, 1)."""
    act = Fourier(degree=5)
    closed = act.second_moments("uniform" if uniform else "normal")
    expected = (0.720, 0.500) if uniform else (1.307, 0.965)
    assert closed == pytest.approx(expected, abs=2e-3)
    assert monte_carlo(act, uniform=uniform) == pytest.approx(closed, rel=1e-2)


def test_piecewise_linear_moments_against_quadrature_for_random_pieces():
    rng = np.random.default_rng(0)
    p, a, q, b = rng.normal(size=(4, 4))
    x = np.linspace(-12, 12, 1_200_001)
    f = np.max(p[:, None] * x + a[:, None], axis=0) - np.max(q[:, None] * x + b[:, None], axis=0)
    df = np.gradient(f, x)
    density = np.exp(-x**2 / 2) / math.sqrt(2 * math.pi)
    quad = (np.trapezoid(f**2 * density, x), np.trapezoid(df**2 * density, x))
    assert piecewise_linear_moments((p, a), (q, b)) == pytest.approx(quad, rel=1e-3)


def test_fourier_moments_against_quadrature_for_random_coefficients():
    rng = np.random.default_rng(1)
    c, phase, w = rng.normal(size=3), rng.uniform(-3, 3, 3), rng.uniform(0.2, 3, 3)
    x = np.linspace(-math.pi, math.pi, 400_001)
    f = 0.3 + np.sum(c[:, None] * np.cos(w[:, None] * x - phase[:, None]), axis=0)
    df = -np.sum(c[:, None] * w[:, None] * np.sin(w[:, None] * x - phase[:, None]), axis=0)
    quad = (np.trapezoid(f**2, x) / (2 * math.pi), np.trapezoid(df**2, x) / (2 * math.pi))
    assert fourier_moments(c, phase, w, 0.3, "uniform") == pytest.approx(quad, rel=1e-6)


# --- fit to a target, and its cache ---------------------------------------------------------------

@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIVATION_BOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("name", ["hermite", "fourier"])
def test_fit_to_gelu_is_close_deterministic_and_cached_in_the_user_cache(name, cache):
    act = FAMILIES[name](degree=3 if name == "hermite" else 5, init="fit", fit_target="gelu").double()
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    error = (act(x) - torch.nn.functional.gelu(x)).abs().max()
    default = (FAMILIES[name](degree=act.degree).double()(x) - torch.nn.functional.gelu(x)).abs().max()
    assert error < 0.15 and error < default / 3
    files = list((cache / "ortho-fit").glob("*.json"))
    assert len(files) == 1
    record = json.loads(files[0].read_text())
    assert record["key"]["target"] == "gelu" and record["key"]["family"] == name
    again = ortho_init.fit(name, act.degree, "gelu", use_cache=False)
    assert again == record["coefficients"]                         # deterministic, bit for bit
    ortho_init.fit(name, act.degree, "silu")                        # another target: another key
    assert len(list((cache / "ortho-fit").glob("*.json"))) == 2


def test_fit_of_tropical_families_improves_on_the_default(cache):
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    for cls in (Tropical, TropicalRational):
        default = (cls(degree=3).double()(x) - torch.nn.functional.gelu(x)).abs().mean()
        fitted = (cls(degree=3, init="fit").double()(x) - torch.nn.functional.gelu(x)).abs().mean()
        assert fitted < default / 2


def test_a_corrupt_cache_entry_is_recomputed(cache):
    first = ortho_init.fit("hermite", 2, "gelu")
    (path,) = (cache / "ortho-fit").glob("*.json")
    path.write_text("{not json")
    assert ortho_init.fit("hermite", 2, "gelu") == first


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(FAMILIES))
def test_bad_arguments_raise_clear_errors(name):
    cls = FAMILIES[name]
    for degree in (0, -1, 2.5, True, 65):
        with pytest.raises(ValueError, match="integer degree"):
            cls(degree=degree)
    with pytest.raises(ValueError, match="unknown init"):
        cls(init="xavier")
    with pytest.raises(ValueError, match="learnable"):
        cls(learnable="yes")
    with pytest.raises(ValueError, match="fit_target"):
        cls(init="fit", fit_target=None)
    with pytest.raises(ValueError, match="unknown distribution"):
        cls().second_moments("cauchy")


def test_scheme_that_does_not_apply_is_rejected():
    with pytest.raises(ValueError, match="unknown init 'orthonormal' for fourier"):
        Fourier(init="orthonormal")
    with pytest.raises(KeyError, match="unknown activation"):
        Hermite(init="fit", fit_target="not_an_activation")


def test_registry_entries():
    assert set(activations.names("basis")) == set(FAMILIES)
    for name in FAMILIES:
        assert isinstance(activations.get(name), FAMILIES[name])
    assert activations.spec("hermite").closed_form_moments(degree=3) == pytest.approx((0.91970, 0.91970), abs=1e-5)


# --- the reference library, where installed ---------------------------------------------------------

REFERENCE_CLASSES = {"hermite": ("HermiteActivation", 3), "fourier": ("FourierActivation", 5),
                     "tropical": ("TropicalActivation", 5)}


@pytest.mark.parametrize("name", list(REFERENCE_CLASSES))
def test_agrees_with_torchortho_away_from_zero(name):
    torchortho = pytest.importorskip("torchortho")
    cls, degree = REFERENCE_CLASSES[name]
    build = getattr(torchortho, cls)
    # never let the reference read its own fit cache (keyed by degree only in torchortho)
    reference = build(degree, load_cached=False) if "load_cached" in inspect.signature(build).parameters \
        else build(degree)
    ours = activations.get(name, degree=degree)
    if name in ("hermite", "tropical"):                 # same coefficient vector: compare off the init too
        with torch.no_grad():
            values = torch.randn(degree + 1, generator=torch.Generator().manual_seed(7))
            reference.coefficients.copy_(values)
            ours.coefficients.copy_(values)
    x = torch.linspace(-4, 4, 4001)
    x = x[x.abs() > 1e-3]
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_vmap_over_stacked_coefficients_equals_separate_modules(name):
    """The ensemble trains members as one vmap program: the hand-written Functions must batch."""
    members = [randomise(FAMILIES[name]().double(), seed=s, scale=0.3) for s in (1, 2)]
    names = [n for n, _ in members[0].named_parameters()]
    stacked = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in members]) for n in names}
    x = torch.randn(2, 6, 3, dtype=torch.float64)

    def loss(params, xi):
        return (torch.func.functional_call(members[0], params, (xi,)) ** 2).sum()

    values = torch.func.vmap(loss)(stacked, x)
    grads = torch.func.vmap(torch.func.grad(loss))(stacked, x)
    for i, m in enumerate(members):
        m.zero_grad()
        single = (m(x[i]) ** 2).sum()
        single.backward()
        torch.testing.assert_close(values[i], single.detach())
        for n, p in m.named_parameters():
            torch.testing.assert_close(grads[n][i], p.grad)


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("num_features", [None, 8])
def test_backward_keeps_only_the_input_and_the_coefficients(name, num_features):
    """Memory for backward: the storages autograd saves are the input's and a few coefficients."""
    act = FAMILIES[name](num_features=num_features)
    x = torch.randn(64, 8, 4, requires_grad=True)
    saved = saved_storages(act, x)
    input_bytes = x.untyped_storage().nbytes()
    assert x.untyped_storage().data_ptr() in saved
    assert sum(saved.values()) - input_bytes <= 4 * 8 * 8 * 7 * 4     # coefficients only, never x-sized


# --- the CPU fast paths (lib.activations.chunks) against the generic code ---------------------------

def forward_backward(act: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor | None, generic: bool):
    """Output, input gradient and coefficient gradients of one pass; the backward of `.sum()` when
    `grad` is None (an expanded gradient)."""
    from lib.activations import chunks
    x = x.detach().clone().requires_grad_(True)
    act.zero_grad()
    with chunks.disabled() if generic else contextlib.nullcontext():
        y = act(x)
        (y.sum() if grad is None else (y * grad).sum()).backward()
    return [y.detach(), x.grad] + [p.grad.clone() for p in act.parameters()]


@pytest.fixture
def small_slices(monkeypatch):
    """Slices of 64 elements (one thread), so that the inputs below cross several slices and end on a short
    one; Fourier's C kernel off (it takes these calls first; `tests/test_native.py` compares it)."""
    from lib.activations import chunks, native
    monkeypatch.setattr(chunks, "CHUNK", 64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with native.disabled():
        yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("coefficients", ["init", "random"])
@pytest.mark.parametrize("shape", [(), (5,), (4, 77)])
def test_fast_path_equals_the_generic_code(name, coefficients, shape, small_slices):
    """Same values bit for bit, same gradients within float64 rounding; zeros in x (the init's tie)."""
    act = FAMILIES[name]().double()
    if coefficients == "random":
        randomise(act, seed=8, scale=0.3)
    generator = torch.Generator().manual_seed(9)
    x = torch.randn(shape, dtype=torch.float64, generator=generator) * 2
    if x.dim():
        x.view(-1)[::3] = 0.0
    for grad in (None, torch.randn(shape, dtype=torch.float64, generator=generator)):
        fast = forward_backward(act, x, grad, generic=False)
        generic = forward_backward(act, x, grad, generic=True)
        assert torch.equal(fast[0], generic[0])
        for a, b in zip(fast[1:], generic[1:]):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["fourier", "tropical", "tropical_rational"])
def test_fast_path_gradcheck_across_slices(name, small_slices):
    act = randomise(FAMILIES[name]().double(), seed=10, scale=0.3)
    x = (torch.randn(10, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(11)) * 2).requires_grad_(True)
    names = [n for n, _ in act.named_parameters()]

    def f(x, *values):
        return torch.func.functional_call(act, dict(zip(names, values)), (x,))

    inputs = (x, *[p.detach().clone().requires_grad_(True) for p in act.parameters()])
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6)


def test_fast_paths_in_float32_match_a_float64_reference():
    """The fast paths' gradients (other sums, tan(theta/2) for sine and cosine) are as accurate as the
    generic code's at 100,000 elements: within 1e-5 of the largest float64 value."""
    x = torch.randn(100_003, generator=torch.Generator().manual_seed(12)) * 2
    grad = torch.randn(100_003, generator=torch.Generator().manual_seed(13))
    for name in ("fourier", "tropical", "tropical_rational"):
        reference = randomise(FAMILIES[name]().double(), seed=14, scale=0.3)
        act = FAMILIES[name]()
        act.load_state_dict({k: v.float() for k, v in reference.state_dict().items()})
        truth = forward_backward(reference, x.double(), grad.double(), generic=True)
        for got, want in zip(forward_backward(act, x, grad, generic=False), truth):
            assert (got.double() - want).abs().max() <= 1e-5 * want.abs().max()


def test_upper_envelope_against_a_fine_grid():
    from lib.activations.ortho import upper_envelope
    rng = np.random.default_rng(15)
    for _ in range(20):
        slopes = np.sort(rng.normal(size=6))
        intercepts = rng.normal(size=6)
        pieces, breakpoints = upper_envelope(slopes.tolist(), intercepts.tolist())
        grid_x = np.linspace(-60, 60, 400_001)
        winners = np.argmax(slopes[:, None] * grid_x + intercepts[:, None], axis=0)
        assert pieces == sorted(set(winners.tolist()))
        assert breakpoints == sorted(breakpoints) and len(breakpoints) == len(pieces) - 1
        for (i, j), b in zip(zip(pieces, pieces[1:]), breakpoints):
            assert slopes[i] * b + intercepts[i] == pytest.approx(slopes[j] * b + intercepts[j], abs=1e-9)


def test_upper_envelope_special_cases():
    from lib.activations.ortho import upper_envelope
    # the Tropical init: all c equal, every line through (0, c): only the outer pieces win, kink at 0
    assert upper_envelope([0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]) == ([0, 3], [0.0])
    # three lines through (1, 1): the middle one wins only at that point and is left out
    assert upper_envelope([0.0, 1.0, 2.0], [1.0, 0.0, -1.0]) == ([0, 2], [1.0])
    assert upper_envelope([0.0, 1.0], [0.0, 0.0]) == ([0, 1], [0.0])
    assert upper_envelope([1.0, 0.0], [0.0, 0.0]) is None                 # slopes not increasing
    assert upper_envelope([0.0, 0.0], [0.0, 1.0]) is None
    assert upper_envelope([0.0, 1.0], [math.nan, 0.0]) is None


def test_tropical_ties_at_a_breakpoint_go_to_the_lower_piece():
    """At the init every line passes through x = 0: torch.max gives the tie to piece 0 (slope 0)."""
    act = Tropical(degree=5)
    x = torch.zeros(3, requires_grad=True)
    act(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros(3))
    expected = torch.zeros(6)
    expected[0] = 3 * math.sqrt(2) / 5
    torch.testing.assert_close(act.coefficients.grad, expected)
