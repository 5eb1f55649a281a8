"""The trainable SQRT family: classical twins, closed forms, gradients, safe edges, granularity."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import erf as scipy_erf

from lib import activations
from lib.activations import sqrt_family as sf

TRAINABLE = list(sf.TRAINABLE)

# torch's own functions (or the literal formula) at the defaults of each activation
TWINS = {
    "sqrt": lambda x: torch.sign(x) * torch.sqrt(torch.abs(x)),
    "tanhexp": lambda x: x * torch.tanh(torch.exp(x)),
    "tsqrt": lambda x: torch.sign(x) * torch.sqrt(torch.abs(x)),
    "thardswish": F.hardswish,
    "tleaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "tgelu": F.gelu,
    "tselu": F.selu,
    "tswish": F.silu,
    "tsqrt_tanh": lambda x: x * torch.tanh(torch.exp(x)),
}

# the report's formulas in NumPy float64, at non-default parameters
CLOSED_FORMS = {
    "tsqrt": ({"z": 0.7}, lambda x: np.sign(x) * np.abs(x) ** 0.7),
    "thardswish": ({"z": 1.5}, lambda x: np.where(x <= -1.5, 0.0, np.where(x >= 1.5, x, x * (x + 1.5) / 3.0))),
    "tleaky_relu": ({"z": -0.3}, lambda x: np.where(x > 0, x, -0.3 * x)),
    "tgelu": ({"z": 0.3, "w": 0.8}, lambda x: 0.3 * x * (1 + scipy_erf(x / 0.8))),
    "tselu": ({"z": 0.9, "w": 2.5}, lambda x: np.where(x >= 0, 0.9 * x, 0.9 * 2.5 * np.expm1(np.minimum(x, 0)))),
    "tswish": ({"z": 2.0}, lambda x: x / (1 + 2.0 ** (-x))),
    "tsqrt_tanh": ({"k": 0.5}, lambda x: np.where(x > 0, x * np.tanh(np.exp(np.abs(x) ** 0.5)),
                                                   x * np.tanh(np.exp(-np.abs(x) ** 0.5)))),
}

# raw (unconstrained) values far out on both sides: the mapped parameters sit at their edges
RAW_EDGES = [-40.0, -8.0, 8.0, 40.0]


def test_every_member_is_registered_in_the_family():
    assert set(activations.names("sqrt")) == set(TWINS)


@pytest.mark.parametrize("name", list(TWINS))
@pytest.mark.parametrize("learnable", [False, True])
def test_defaults_equal_the_classical_twin(name, learnable):
    x = torch.cat([torch.linspace(-8, 8, 4001, dtype=torch.float64),
                   torch.tensor([0.0, 1e-30, -1e-30, 1e-8], dtype=torch.float64)])
    kwargs = {"learnable": learnable} if name in TRAINABLE else {}
    act = activations.get(name, **kwargs).double()
    torch.testing.assert_close(act(x), TWINS[name](x), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_non_default_parameters_match_the_reports_formula(name):
    params, reference = CLOSED_FORMS[name]
    x = np.linspace(-7, 7, 2801)
    act = activations.get(name, **params).double()
    got = act(torch.from_numpy(x)).numpy()
    # parameters are stored in float32 (the default dtype): compare at 1e-6 relative
    np.testing.assert_allclose(got, reference(x), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", TRAINABLE)
def test_parameter_values_report_the_constructor_values(name):
    params = CLOSED_FORMS[name][0]
    act = activations.get(name, learnable=True, **params)
    values = act.parameter_values()
    assert set(values) == set(params)
    for key, value in params.items():
        assert values[key].item() == pytest.approx(value, rel=1e-6)
        assert getattr(act, key).item() == pytest.approx(value, rel=1e-6)
    assert len(list(act.parameters())) == len(params)


@pytest.mark.parametrize("name", TRAINABLE)
@pytest.mark.parametrize("granularity", ["layer", "channel", "element"])
def test_float64_gradcheck_for_every_parameter(name, granularity):
    torch.manual_seed(1)
    params = CLOSED_FORMS[name][0]
    act = activations.get(name, learnable=True, granularity=granularity, num_features=(3, 2), **params).double()
    # perturb the raw parameters so that per-channel/per-element values differ
    with torch.no_grad():
        for p in act.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = (torch.randn(4, 3, 2, dtype=torch.float64) * 2).requires_grad_(True)
    names = [n for n, _ in act.named_parameters()]

    def f(x, *values):
        return torch.func.functional_call(act, dict(zip(names, values)), (x,))

    inputs = (x, *[p.detach().clone().requires_grad_(True) for p in act.parameters()])
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)


def _wide_inputs(dtype):
    return torch.cat([torch.linspace(-1e4, 1e4, 20001, dtype=dtype),
                      torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e-6, -1e-6], dtype=dtype)])


@pytest.mark.parametrize("name", TRAINABLE)
@pytest.mark.parametrize("raw", RAW_EDGES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_at_parameter_edges_on_a_wide_range(name, raw, dtype):
    act = activations.get(name, learnable=True).to(dtype)
    with torch.no_grad():
        for p in act.parameters():
            p.fill_(raw)
    x = _wide_inputs(dtype).requires_grad_(True)
    y = act(x)
    y.sum().backward()
    assert torch.isfinite(y).all(), f"{name} raw={raw}: non-finite output"
    assert torch.isfinite(x.grad).all(), f"{name} raw={raw}: non-finite input gradient"
    for p in act.parameters():
        assert torch.isfinite(p.grad).all(), f"{name} raw={raw}: non-finite parameter gradient"


@pytest.mark.parametrize("name", ["sqrt", "tanhexp"])
def test_parameter_free_members_are_finite_on_a_wide_range(name):
    x = _wide_inputs(torch.float32).requires_grad_(True)
    y = activations.get(name)(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("z", [0.5, 0.05, 1.0, 1.7])
def test_signed_power_derivatives_and_their_guards(z):
    x = torch.tensor([-3.0, -0.2, 0.0, 1e-9, 0.4, 2.5], dtype=torch.float64, requires_grad=True)
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    y = sf.signed_power(x, zt)
    gx, gz = torch.autograd.grad(y.sum(), (x, zt))
    a = x.detach().abs()
    expected_gx = z * torch.where(torch.tensor(z < 1), a.clamp_min(sf.SLOPE_FLOOR), a) ** (z - 1)
    torch.testing.assert_close(gx, expected_gx)
    nz = a > 0
    expected_gz = (torch.sign(x.detach()[nz]) * a[nz] ** z * torch.log(a[nz])).sum()
    torch.testing.assert_close(gz, expected_gz)
    assert y[2].item() == 0.0
    if z < 1:   # the capped slope at 0 is the slope at |x| = δ
        assert gx[2].item() == pytest.approx(z * sf.SLOPE_FLOOR ** (z - 1))


def test_granularities_give_one_parameter_per_layer_channel_or_element():
    assert activations.get("tgelu", learnable=True).raw_z.shape == ()
    assert activations.get("tgelu", learnable=True, granularity="channel", num_features=(5, 4, 4)).raw_w.shape == (5,)
    assert activations.get("tgelu", learnable=True, granularity="channel", num_features=5).raw_w.shape == (5,)
    act = activations.get("tsqrt", learnable=True, granularity="element", num_features=(5, 4, 4))
    assert act.raw_z.shape == (5, 4, 4) and act.z.shape == (5, 4, 4)
    assert act(torch.randn(2, 5, 4, 4)).shape == (2, 5, 4, 4)


@pytest.mark.parametrize("name", TRAINABLE)
def test_per_channel_equals_separate_scalar_activations(name):
    params = CLOSED_FORMS[name][0]
    act = activations.get(name, granularity="channel", num_features=3, **params).double()
    with torch.no_grad():
        for buffer in act.buffers():
            buffer.add_(torch.tensor([-0.2, 0.0, 0.3], dtype=torch.float64))
    x = torch.randn(6, 3, 2, 2, dtype=torch.float64)
    out = act(x)
    for c in range(3):
        single = activations.get(name, **params).double()
        with torch.no_grad():
            for (_, b), (_, full) in zip(single.named_buffers(), act.named_buffers()):
                b.copy_(full[c])
        torch.testing.assert_close(out[:, c], single(x[:, c]))


def test_frozen_parameters_are_buffers_and_learnable_ones_parameters():
    frozen = activations.get("tgelu")
    assert list(frozen.parameters()) == [] and {n for n, _ in frozen.named_buffers()} == {"raw_z", "raw_w"}
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), activations.get("tgelu", learnable=True))
    assert len(activations.activation_parameters(model)) == 2


@pytest.mark.parametrize("name, bad, match", [
    ("tsqrt", {"z": 0.0}, "0 < z < 2"),
    ("tsqrt", {"z": 2.0}, "0 < z < 2"),
    ("tsqrt_tanh", {"k": -1.0}, "0 < k < 2"),
    ("thardswish", {"z": 0.0}, "z > 0.01"),
    ("tgelu", {"w": -1.0}, "w > 0.001"),
    ("tswish", {"z": 0.0}, "z > 0"),
    ("tselu", {"z": float("nan")}, "finite"),
    ("tleaky_relu", {"z": float("inf")}, "finite"),
    ("tsqrt", {"granularity": "unit"}, "granularity must be one of"),
    ("tsqrt", {"granularity": "channel"}, "needs num_features"),
    ("tsqrt", {"granularity": "element", "num_features": (0, 3)}, "positive int"),
])
def test_bad_arguments_raise_clear_errors(name, bad, match):
    with pytest.raises(ValueError, match=match):
        activations.get(name, **bad)


def test_tswish_is_finite_and_meaningful_for_z_at_most_one():
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    torch.testing.assert_close(activations.get("tswish", z=1.0).double()(x), x / 2)
    below = activations.get("tswish", z=0.5).double()(x)
    torch.testing.assert_close(below, x / (1 + 0.5 ** (-x)))


def test_exponents_hit_one_exactly_at_raw_zero():
    act = activations.get("tsqrt", z=1.0)
    assert act.raw_z.item() == 0.0 and act.z.item() == 1.0
    assert math.isclose(activations.get("tsqrt_tanh").k.item(), 1.0)


@pytest.mark.parametrize("name", list(TWINS))
def test_sensible_on_the_gallery_range(name):
    """Finite, not constant, and within a few units on [-4, 4] at the defaults (the gallery plots it)."""
    x = torch.linspace(-4, 4, 401)
    y = activations.get(name)(x)
    assert torch.isfinite(y).all() and y.abs().max() <= 5 and y.std() > 0.1
