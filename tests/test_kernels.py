"""The fused Functions of lib.activations.kernels against the literal formulas they replace.

Values and gradients (input and every parameter, one per layer and one per element) are
compared in float64 with autograd through the plain torch expression of each formula; float32
values within a few ulp; what autograd saves for backward is counted; vmap over stacked
parameters (the ensembles' path, where the Functions run out of place) equals separate modules.
"""
from __future__ import annotations

import contextlib

import pytest
import torch

from lib import activations
from lib.activations import sqrt_family as sf
from lib.activations.base import saved_storages


def _signed_power(x, z):
    return torch.sign(x) * torch.abs(x) ** z


# The formulas as the modules wrote them before the fused Functions (torch ops, autograd).
LITERAL = {
    "tsqrt": lambda x, p: _signed_power(x, p["z"]),
    "thardswish": lambda x, p: x * torch.clamp(x + p["z"], min=torch.zeros_like(p["z"]), max=2 * p["z"]) / (2 * p["z"]),
    "tleaky_relu": lambda x, p: torch.where(x > 0, x, p["z"] * x),
    "tgelu": lambda x, p: p["z"] * x * (1 + torch.erf(x / p["w"])),
    "tselu": lambda x, p: p["z"] * torch.where(x >= 0, x, p["w"] * torch.expm1(x.clamp(max=0))),
    "tswish": lambda x, p: x * torch.sigmoid(torch.log(p["z"]) * x),
    "tsqrt_tanh": lambda x, p: x * torch.tanh(torch.exp(_signed_power(x, p["k"]).clamp(max=sf.EXP_CLAMP))),
}
PARAMS = {"tsqrt": {"z": 0.7}, "thardswish": {"z": 1.5}, "tleaky_relu": {"z": -0.3}, "tgelu": {"z": 0.3, "w": 0.8},
          "tselu": {"z": 0.9, "w": 2.5}, "tswish": {"z": 2.0}, "tsqrt_tanh": {"k": 0.6}}
FEATURES = (3, 4)


def build(name, granularity, dtype=torch.float64, seed=0):
    """A learnable activation whose per-element parameters differ (raw values perturbed)."""
    act = activations.get(name, learnable=True, granularity=granularity, num_features=FEATURES, **PARAMS[name])
    act = act.to(dtype)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        for p in act.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator, dtype=dtype))
    return act


def inputs(name, dtype=torch.float64, seed=1):
    """Inputs of both signs on a wide range, kept off the kinks (x = 0, x = ±z) by 1e-3."""
    x = torch.randn(64, *FEATURES, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 2.5
    x = torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x)
    return x


def literal(name, act, x):
    return LITERAL[name](x, {n: act.value(n, x) for n in PARAMS[name]})


def off_kinks(name, act, x):
    if name == "thardswish":
        z = act.value("z", x).detach()
        return ((x - z).abs() > 1e-3) & ((x + z).abs() > 1e-3)
    return torch.ones_like(x, dtype=torch.bool)


@pytest.mark.parametrize("name", list(LITERAL))
@pytest.mark.parametrize("granularity", ["layer", "element"])
def test_values_and_gradients_equal_autograd_through_the_literal_formula(name, granularity):
    act = build(name, granularity)
    x = inputs(name)
    keep = off_kinks(name, act, x)
    weight = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=x.dtype) * keep
    params = list(act.parameters())

    def grads(f):
        xr = x.clone().requires_grad_(True)
        y = f(xr)
        return (y, *torch.autograd.grad((y * weight).sum(), (xr, *params)))

    fused, reference = grads(act), grads(lambda xr: literal(name, act, xr))
    torch.testing.assert_close(fused[0][keep], reference[0][keep], rtol=1e-12, atol=1e-12)
    for got, want in zip(fused[1:], reference[1:], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", list(LITERAL))
def test_float32_values_within_a_few_ulp_of_the_float64_formula(name):
    act = build(name, "element", dtype=torch.float32)
    x = inputs(name, dtype=torch.float32)
    got = act(x).double()
    want = literal(name, act.double(), x.double())
    # a few ulp of the operands: the fused forms reassociate products (hardswish, gelu)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6 * x.double().abs().clamp(min=1).max().item())


@pytest.mark.parametrize("name", list(LITERAL))
@pytest.mark.parametrize("granularity", ["layer", "element"])
def test_float64_gradcheck_of_input_and_parameters(name, granularity):
    act = build(name, granularity)
    x = inputs(name)[:4].requires_grad_(True)
    names = [n for n, _ in act.named_parameters()]

    def f(x, *values):
        return torch.func.functional_call(act, dict(zip(names, values, strict=True)), (x,))

    values = [p.detach().clone().requires_grad_(True) for p in act.parameters()]
    assert torch.autograd.gradcheck(f, (x, *values), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", list(LITERAL))
@pytest.mark.parametrize("granularity", ["layer", "element"])
def test_backward_saves_only_the_input_and_the_parameters(name, granularity):
    act = build(name, granularity, dtype=torch.float32)
    x = inputs(name, dtype=torch.float32).requires_grad_(True)
    saved = saved_storages(act, x)
    parameter_bytes = sum(p.numel() * p.element_size() for p in act.parameters())
    assert x.untyped_storage().data_ptr() in saved
    # the input, plus each parameter's mapped value (raw -> value) and its broadcast view at most
    assert sum(saved.values()) <= x.untyped_storage().nbytes() + 3 * parameter_bytes


@pytest.mark.parametrize("name", list(LITERAL))
@pytest.mark.parametrize("granularity", ["layer", "element"])
def test_vmap_over_stacked_parameters_equals_separate_modules(name, granularity):
    """The ensemble path: vmap over members' parameters (and inputs), values and parameter gradients."""
    members = [build(name, granularity, seed=s) for s in (3, 4)]
    names = [n for n, _ in members[0].named_parameters()]
    stacked = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in members]) for n in names}
    x = torch.stack([inputs(name, seed=s)[:8] for s in (5, 6)])

    def loss(params, xi):
        return (torch.func.functional_call(members[0], params, (xi,)) ** 2).sum()

    for in_dims, xs in (((0, 0), x), ((0, None), x[0])):
        values = torch.func.vmap(loss, in_dims=in_dims)(stacked, xs)
        grads = torch.func.vmap(torch.func.grad(loss), in_dims=in_dims)(stacked, xs)
        for i, m in enumerate(members):
            m.zero_grad()
            single = (m(xs[i] if in_dims[1] == 0 else xs) ** 2).sum()
            single.backward()
            torch.testing.assert_close(values[i], single.detach())
            for n, p in m.named_parameters():
                torch.testing.assert_close(grads[n][i], p.grad)


@pytest.mark.parametrize("z", [0.3, 1.0, 1.6])
def test_signed_power_float32_gradients_within_1e6_of_float64(z):
    """The slope and d/dz come from exp(·ln|x|) rather than pow: ≤ 1e-6 relative on 1e-3 <= |x| <= 1e3."""
    x64 = torch.cat([torch.logspace(-3, 3, 301, dtype=torch.float64), -torch.logspace(-3, 3, 301, dtype=torch.float64)])
    grads = {}
    for dtype in (torch.float32, torch.float64):
        x = x64.to(dtype).requires_grad_(True)
        zt = torch.tensor(z, dtype=dtype, requires_grad=True)
        weight = torch.linspace(-1, 1, x.numel(), dtype=dtype)
        grads[dtype] = torch.autograd.grad((sf.signed_power(x, zt) * weight).sum(), (x, zt))
    x32 = x64.float().double()
    gx64 = z * x32.abs() ** (z - 1) * torch.linspace(-1, 1, x64.numel(), dtype=torch.float32).double()
    torch.testing.assert_close(grads[torch.float32][0].double(), gx64, rtol=1e-6, atol=0)
    torch.testing.assert_close(grads[torch.float32][1].double(), grads[torch.float64][1], rtol=1e-5, atol=0)


def test_selu_input_gradient_at_zero_takes_the_left_slope_as_torch_does():
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    act = activations.get("tselu", learnable=True).double()
    act(x).sum().backward()
    reference = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.selu(reference).sum().backward()
    torch.testing.assert_close(x.grad, reference.grad, rtol=1e-6, atol=0)


def test_scalar_fast_path_and_tensor_path_agree():
    """One scalar parameter takes the Python-number kernels; the same value as a (1,)-shaped
    per-element tensor takes the tensor kernels: both give the same values and gradients."""
    x = torch.randn(50, 1, dtype=torch.float64) * 3
    for name in ("tleaky_relu", "tselu"):
        results = []
        for granularity in ("layer", "element"):
            act = activations.get(name, learnable=True, granularity=granularity, num_features=1,
                                  **PARAMS[name]).double()
            xr = x.clone().requires_grad_(True)
            y = act(xr)
            grads = torch.autograd.grad((y * torch.cos(x)).sum(), (xr, *act.parameters()))
            results.append((y, grads[0], [g.reshape(()) for g in grads[1:]]))
        (y1, gx1, gp1), (y2, gx2, gp2) = results
        torch.testing.assert_close(y1, y2)
        torch.testing.assert_close(gx1, gx2)
        for a, b in zip(gp1, gp2, strict=True):
            torch.testing.assert_close(a, b)



# --- Snake ------------------------------------------------------------------------------------------

SNAKE_FEATURES = {"layer": None, "channel": 3}


def snake(granularity, seed=0, a=0.8):
    act = activations.get("snake", a=a, learnable=True, num_features=SNAKE_FEATURES[granularity]).double()
    with torch.no_grad():
        act.a.add_(0.3 * torch.randn(act.a.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return act


@pytest.mark.parametrize("granularity", list(SNAKE_FEATURES))
def test_snake_values_and_gradients_equal_autograd_through_its_formula(granularity):
    act = snake(granularity)
    x = torch.randn(40, 3, dtype=torch.float64) * 3
    weight = torch.randn(40, 3, dtype=torch.float64)

    def grads(f):
        xr = x.clone().requires_grad_(True)
        y = f(xr)
        return (y, *torch.autograd.grad((y * weight).sum(), (xr, act.a)))

    a = act.a if granularity == "layer" else act.a.reshape(1, 3)
    fused, reference = grads(act), grads(lambda xr: xr + torch.sin(a * xr) ** 2 / a)
    for got, want in zip(fused, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    x32 = x.float().requires_grad_(True)
    gradcheck_input = (x[:5].clone().requires_grad_(True), act.a.detach().clone().requires_grad_(True))
    assert torch.autograd.gradcheck(lambda xi, ai: torch.func.functional_call(act, {"a": ai}, (xi,)), gradcheck_input)
    assert torch.isfinite(activations.get("snake", a=0.8)(x32)).all()


@pytest.mark.parametrize("granularity", list(SNAKE_FEATURES))
def test_snake_vmap_over_stacked_frequencies_equals_separate_modules(granularity):
    members = [snake(granularity, seed=s) for s in (1, 2)]
    stacked = {"a": torch.stack([m.a.detach() for m in members])}
    x = torch.randn(2, 10, 3, dtype=torch.float64)

    def loss(params, xi):
        return (torch.func.functional_call(members[0], params, (xi,)) ** 2).sum()

    grads = torch.func.vmap(torch.func.grad(loss))(stacked, x)
    for i, m in enumerate(members):
        (m(x[i]) ** 2).sum().backward()
        torch.testing.assert_close(grads["a"][i], m.a.grad)


@pytest.mark.parametrize("learnable", [False, True])
def test_snake_saves_only_its_input_and_frequency(learnable):
    act = activations.get("snake", a=2.0, learnable=learnable, num_features=8)
    x = torch.randn(64, 8, requires_grad=True)
    saved = saved_storages(act, x)
    assert x.untyped_storage().data_ptr() in saved
    assert sum(saved.values()) <= x.untyped_storage().nbytes() + 8 * 4


# --- the CPU fast paths by slices (lib.activations.chunks.Rows) against the generic code ------------

@pytest.fixture
def small_slices(monkeypatch):
    """Slices of 64 elements (16 rows of 12 when the parameters are per element), one thread, the C
    kernels off (they take these calls first; `tests/test_native.py` compares them): the inputs
    below cross several slices and end on a short one."""
    from lib.activations import chunks, native
    monkeypatch.setattr(chunks, "ROW_CHUNK", 64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with native.disabled():
        yield
    torch.set_num_threads(threads)


def run_both(act, x, grad):
    """(output, input gradient, parameter gradients) by the fast path and by the generic code."""
    from lib.activations import chunks
    results = []
    for context in (contextlib.nullcontext, chunks.disabled):
        xr = x.clone().requires_grad_(x.requires_grad)
        with context():
            y = act(xr)
            wanted = [t for t in (xr, *act.parameters()) if t.requires_grad]
            grads = torch.autograd.grad(y.sum() if grad is None else (y * grad).sum(), wanted)
        results.append((y.detach(), grads))
    return results


FAST_MEMBERS = ["thardswish", "tleaky_relu", "tgelu", "tselu", "tswish", "tsqrt_tanh"]


@pytest.mark.parametrize("name", FAST_MEMBERS + ["snake"])
@pytest.mark.parametrize("granularity", ["layer", "element", "channel"])
def test_fast_path_equals_the_generic_code(name, granularity, small_slices):
    """Same values bit for bit (the same ops), gradients within float64 rounding, for an explicit and an
    expanded output gradient, for the input's and the parameters' gradients together and apart."""
    features = {"layer": None, "element": FEATURES, "channel": FEATURES[0]}[granularity]
    params = {"a": 0.8} if name == "snake" else PARAMS[name]
    act = activations.get(name, learnable=True, granularity=granularity, num_features=features, **params).double()
    with torch.no_grad():
        for p in act.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(7), dtype=p.dtype))
    x = inputs(name)[:57]                     # 684 elements: 11 slices of 64 and a short one, or 4 of 16 rows
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(8), dtype=x.dtype)
    for g in (None, grad):
        for needs_x, needs_params in ((True, True), (True, False), (False, True)):
            x.requires_grad_(needs_x)
            for p in act.parameters():
                p.requires_grad_(needs_params)
            (y_fast, g_fast), (y_generic, g_generic) = run_both(act, x, g)
            assert torch.equal(y_fast, y_generic)
            for a, b in zip(g_fast, g_generic, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    x.requires_grad_(False)


@pytest.mark.parametrize("name", FAST_MEMBERS + ["snake"])
def test_fast_path_gradcheck_across_slices(name, small_slices):
    params = {"a": 0.8} if name == "snake" else PARAMS[name]
    act = activations.get(name, learnable=True, granularity="element", num_features=FEATURES, **params).double()
    x = inputs(name)[:20].requires_grad_(True)            # 2 slices of 16 rows, the second short
    names = [n for n, _ in act.named_parameters()]

    def f(x, *values):
        return torch.func.functional_call(act, dict(zip(names, values, strict=True)), (x,))

    values = [p.detach().clone().requires_grad_(True) for p in act.parameters()]
    assert torch.autograd.gradcheck(f, (x, *values), eps=1e-6, atol=1e-5)


def test_rows_applies_only_where_parameters_do_not_vary_along_the_first_dimension():
    from lib.activations import chunks
    x = torch.randn(4, 3)
    assert chunks.rows_apply(x, torch.tensor(1.0)) and chunks.rows_apply(x, torch.ones(3))
    assert chunks.rows_apply(x, torch.ones(1, 3))
    assert not chunks.rows_apply(x, torch.ones(4, 3))            # varies along the batch: the generic code
    assert not chunks.rows_apply(torch.randn(3), torch.ones(3))
    assert not chunks.rows_apply(x.t(), torch.tensor(1.0))       # not contiguous
    with chunks.disabled():
        assert not chunks.rows_apply(x, torch.tensor(1.0))
    assert chunks.rows_apply(x, torch.tensor(1.0))
