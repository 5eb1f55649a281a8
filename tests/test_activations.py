"""The activation registry and every registered activation."""
from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib import activations
from lib.activations.snake import DecoupledSnake, Snake, decoupled_snake_moments, snake_moments, snake_variance

# Independent references for every classical function a registration claims to recover.
# A new `recovers` target must be added here, or test_recovering_values fails.
REFERENCES = {
    "ReLU": torch.relu,
    "identity": lambda x: x,
    "x + sin²x": lambda x: x + torch.sin(x) ** 2,
    "Snake (a = 30)": lambda x: x + torch.sin(30 * x) ** 2 / 30,
    "GELU": F.gelu,
    "SELU": F.selu,
    "Hardswish": F.hardswish,
    "LeakyReLU": lambda x: F.leaky_relu(x, 0.01),
    "SiLU": F.silu,
    "Swish": F.silu,
    "SQRT": lambda x: torch.sign(x) * torch.sqrt(torch.abs(x)),
    "TanhExp": lambda x: x * torch.tanh(torch.exp(x)),
}


def learnable_variants(name):
    """The default module, and a learnable one where the class offers `learnable`."""
    spec = activations.spec(name)
    variants = [("default", spec.build())]
    if "learnable" in spec.arguments:
        variants.append(("learnable", spec.build(learnable=True)))
    return variants


def test_registry_lists_the_foundation_activations():
    expected = {"relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "tanhshrink", "sigmoid", "sin",
                "x_plus_sin", "snake"}
    assert expected <= set(activations.names())
    assert activations.spec("Swish") is activations.spec("silu")          # alias, case-insensitive
    assert activations.spec("LeakyReLU").name == "leaky_relu"
    assert set(activations.names("periodic")) >= {"sin", "x_plus_sin", "snake"}


def test_get_builds_modules_with_parameters():
    act = activations.get("leaky_relu", negative_slope=0.2)
    assert isinstance(act, nn.LeakyReLU) and act.negative_slope == 0.2
    snake = activations.get("snake", a=3.0, learnable=True, num_features=7)
    assert isinstance(snake.a, nn.Parameter) and snake.a.shape == (7,)
    assert torch.all(snake.a == 3.0)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError, match="Did you mean snake"):
        activations.get("snak")


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(TypeError, match=r"no parameter\(s\) b; valid: a, learnable"):
        activations.get("snake", b=2.0)


def test_duplicate_registration_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        activations.register("relu", formula="x", family="classical")(nn.ReLU)


def test_params_exclude_structural_arguments():
    assert activations.spec("snake").params == {"a": 1.0}
    assert "inplace" not in activations.spec("relu").params


@pytest.mark.parametrize("name", activations.names())
def test_finite_forward_and_backward_on_a_wide_range(name):
    x = torch.cat([torch.linspace(-1e4, 1e4, 20001), torch.tensor([0.0, -0.0, 1e-30, -1e-30])])
    for _, act in learnable_variants(name):
        xr = x.clone().requires_grad_(True)
        y = act(xr)
        y.sum().backward()
        assert torch.isfinite(y).all(), f"{name}: non-finite output"
        assert torch.isfinite(xr.grad).all(), f"{name}: non-finite input gradient"
        for p in act.parameters():
            assert torch.isfinite(p.grad).all(), f"{name}: non-finite parameter gradient"


@pytest.mark.parametrize("name", activations.names())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_and_dtype_preserved(name, dtype):
    x = torch.randn(3, 4, 5, dtype=dtype)
    act = activations.get(name).to(dtype)
    y = act(x)
    assert y.shape == x.shape and y.dtype == dtype


@pytest.mark.parametrize("name", activations.names())
def test_float64_gradcheck(name):
    torch.manual_seed(0)
    x = (torch.randn(12, dtype=torch.float64) * 2).requires_grad_(True)
    for kind, act in learnable_variants(name):
        act = act.double()
        names = [n for n, _ in act.named_parameters()]

        def f(x, *values, act=act, names=names):
            return torch.func.functional_call(act, dict(zip(names, values)), (x,))

        inputs = (x, *[p.detach().clone().requires_grad_(True) for p in act.parameters()])
        assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5), f"{name} ({kind})"


@pytest.mark.parametrize("name", activations.names())
def test_recovering_values(name):
    spec = activations.spec(name)
    x = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    for target, values in spec.recovers.items():
        assert target in REFERENCES, f"{name}: no independent reference for {target!r}; add one to REFERENCES"
        reference = REFERENCES[target]
        act = spec.build(**values).double()
        torch.testing.assert_close(act(x), reference(x), atol=1e-6, rtol=1e-6, msg=f"{name} at {values} != {target}")


# --- Snake ------------------------------------------------------------------------------------

@pytest.mark.parametrize("a", [0.05, 0.5, 1.0, 7.0, 30.0])
def test_snake_matches_its_closed_form_and_derivative(a):
    x = torch.linspace(-20, 20, 4001, dtype=torch.float64, requires_grad=True)
    snake = Snake(a=a).double()
    a = snake.a.item()  # a is stored in the default dtype (float32): compare at the stored value
    y = snake(x)
    torch.testing.assert_close(y, x + torch.sin(a * x) ** 2 / a, atol=1e-12, rtol=1e-12)
    (dy,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(dy, 1 + torch.sin(2 * a * x), atol=1e-10, rtol=1e-10)
    assert dy.min() >= -1e-12 and dy.max() <= 2 + 1e-12   # monotone, f' in [0, 2]


def test_snake_is_periodic_around_the_identity():
    a = 2.5
    x = torch.linspace(-3, 3, 101, dtype=torch.float64)
    f = Snake(a=a).double()
    torch.testing.assert_close(f(x + math.pi / a) - (x + math.pi / a), f(x) - x, atol=1e-12, rtol=0)


@pytest.mark.parametrize("a", [0.0, -1.0, float("nan"), float("inf")])
def test_snake_rejects_a_outside_its_domain(a):
    with pytest.raises(ValueError, match="a > 0"):
        Snake(a=a)


def test_snake_per_feature_and_per_channel():
    snake = Snake(a=1.0, num_features=3)
    snake.a.copy_(torch.tensor([0.5, 1.0, 2.0]))
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    expected = torch.stack([Snake(a=a).double()(x[:, i]) for i, a in enumerate([0.5, 1.0, 2.0])], dim=1)
    torch.testing.assert_close(snake.double()(x), expected)
    seq = Snake(a=2.0, num_features=3, feature_dim=-1)
    assert seq(torch.randn(2, 7, 3)).shape == (2, 7, 3)
    with pytest.raises(ValueError, match="does not fit"):
        Snake(num_features=4)(torch.randn(2, 3))


def test_learnable_snake_stays_finite_when_a_crosses_zero():
    snake = Snake(a=0.01, learnable=True, num_features=4).double()
    with torch.no_grad():
        snake.a.copy_(torch.tensor([0.0, -1e-12, -0.7, 1e-30], dtype=torch.float64))
    x = torch.linspace(-50, 50, 1001, dtype=torch.float64, requires_grad=True).unsqueeze(1).expand(-1, 4)
    y = snake(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(snake.a.grad).all()
    torch.testing.assert_close(y[:, 0], x[:, 0])                         # a = 0: the identity (the limit)
    torch.testing.assert_close(y[:, 2], x[:, 2] - torch.sin(0.7 * x[:, 2]) ** 2 / 0.7)  # odd extension
    # d/da [sin^2(ax)/a] at a = 0 is x^2 (sin^2(ax)/a = a x^2 + O(a^3))
    torch.testing.assert_close(snake.a.grad[0], (x[:, 0] ** 2).sum(), rtol=1e-9, atol=0)


@pytest.mark.parametrize("start", [1e-3, 0.3])
def test_learnable_snake_stays_finite_after_a_gradient_step_pushes_a_to_or_below_zero(start):
    """A real optimiser step (SGD, lr chosen so that the step lands on 0 and then below it)."""
    torch.manual_seed(0)
    x = torch.randn(256, 3)
    snake = Snake(a=start, learnable=True, num_features=3)
    loss = snake(x).sum()
    loss.backward()
    grad = snake.a.grad.clone()
    assert (grad != 0).all()
    # step exactly onto a = 0 for feature 0, overshoot to -start for feature 1, a tiny step for 2
    lr = torch.tensor([start, 2 * start, 0.0]) / grad
    with torch.no_grad():
        snake.a -= lr * grad
    assert snake.a[0].item() == pytest.approx(0.0, abs=1e-7) and snake.a[1].item() < 0
    snake.a.grad = None
    optimizer = torch.optim.SGD(snake.parameters(), lr=0.1)
    for _ in range(3):                                    # keep training from there
        optimizer.zero_grad()
        y = snake(x)
        y.square().mean().backward()
        assert torch.isfinite(y).all() and torch.isfinite(snake.a.grad).all()
        optimizer.step()
    assert torch.isfinite(snake.a).all()


# --- Snake with decoupled constants ------------------------------------------------------------

@pytest.mark.parametrize("a, b", [(0.5, 2.0), (1.0, 1.0), (7.0, 0.3), (30.0, 30.0)])
def test_decoupled_snake_matches_its_formula_and_derivative(a, b):
    x = torch.linspace(-20, 20, 4001, dtype=torch.float64, requires_grad=True)
    act = DecoupledSnake(a=a, b=b).double()
    a, b = act.a.item(), act.b.item()            # compare at the stored (float32-rounded) values
    y = act(x)
    torch.testing.assert_close(y, x + torch.sin(a * x) ** 2 / b, atol=1e-12, rtol=1e-12)
    (dy,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(dy, 1 + (a / b) * torch.sin(2 * a * x), atol=1e-10, rtol=1e-10)


def test_decoupled_snake_with_b_equal_to_a_is_snake():
    x = torch.linspace(-10, 10, 1001, dtype=torch.float64)
    for a in [0.25, 1.0, 5.0]:
        torch.testing.assert_close(DecoupledSnake(a=a, b=a).double()(x), Snake(a=a).double()(x), atol=1e-7, rtol=0)


def test_decoupled_snake_is_registered_with_fixed_or_learnable_constants():
    act = activations.get("snake_ab", a=2.0, b=3.0)
    assert not list(act.parameters()) and act.a.item() == 2.0 and act.b.item() == pytest.approx(3.0)
    act = activations.get("decoupled_snake", a=2.0, b=4.0, learnable=True, num_features=5)
    assert {n for n, _ in act.named_parameters()} == {"a", "inv_b"}
    assert act.a.shape == act.inv_b.shape == (5,) and torch.allclose(act.inv_b, torch.full((5,), 0.25))
    assert activations.spec("snake_ab").params == {"a": 1.0, "b": 1.0}


@pytest.mark.parametrize("bad", [{"a": 0.0}, {"b": 0.0}, {"a": -1.0}, {"b": -2.0}, {"b": float("inf")},
                                 {"a": float("nan")}, {"b": True}])
def test_decoupled_snake_rejects_constants_outside_their_domain(bad):
    with pytest.raises(ValueError, match="finite (a|b) > 0"):
        DecoupledSnake(**bad)


def test_learnable_decoupled_snake_stays_finite_at_zero_and_negative_constants():
    act = DecoupledSnake(a=1.0, b=1.0, learnable=True, num_features=4).double()
    with torch.no_grad():
        act.a.copy_(torch.tensor([0.0, -0.5, 1e-30, 2.0], dtype=torch.float64))
        act.inv_b.copy_(torch.tensor([1.0, 2.0, -3.0, 0.0], dtype=torch.float64))
    x = torch.linspace(-1e4, 1e4, 2001, dtype=torch.float64).unsqueeze(1).expand(-1, 4).requires_grad_(True)
    y = act(x)
    y.square().mean().backward()
    assert torch.isfinite(y).all() and torch.isfinite(act.a.grad).all() and torch.isfinite(act.inv_b.grad).all()
    torch.testing.assert_close(y[:, 0], x[:, 0])                 # a = 0: identity
    torch.testing.assert_close(y[:, 3], x[:, 3])                 # zero amplitude: identity
    torch.testing.assert_close(y[:, 1], x[:, 1] + 2 * torch.sin(0.5 * x[:, 1]) ** 2)  # sin² is even in a


@pytest.mark.parametrize("a, b", [(0.3, 1.0), (1.0, 0.5), (4.0, 2.0)])
def test_decoupled_snake_moments_against_quadrature(a, b):
    x = torch.linspace(-12, 12, 2_000_001, dtype=torch.float64)
    density = torch.exp(-x**2 / 2) / math.sqrt(2 * math.pi)
    f = x + torch.sin(a * x) ** 2 / b
    fp = 1 + (a / b) * torch.sin(2 * a * x)
    expected = (torch.trapezoid(f**2 * density, x).item(), torch.trapezoid(fp**2 * density, x).item())
    assert decoupled_snake_moments(a, b) == pytest.approx(expected, rel=1e-7)
    assert decoupled_snake_moments(a, a) == pytest.approx(snake_moments(a), rel=1e-12)


def test_snake_moments_closed_forms_against_quadrature():
    """Closed forms vs float64 trapezoidal integration against the N(0,1) density."""
    x = torch.linspace(-12, 12, 2_000_001, dtype=torch.float64)
    density = torch.exp(-x**2 / 2) / math.sqrt(2 * math.pi)
    for a in [0.1, 0.5605, 1.0, 3.0, 30.0]:
        f = x + torch.sin(a * x) ** 2 / a
        fp = 1 + torch.sin(2 * a * x)
        ef2 = torch.trapezoid(f**2 * density, x).item()
        efp2 = torch.trapezoid(fp**2 * density, x).item()
        mean = torch.trapezoid(f * density, x).item()
        assert snake_moments(a) == pytest.approx((ef2, efp2), rel=1e-7)
        assert snake_variance(a) == pytest.approx(ef2 - mean**2, rel=1e-7)
    # Ziyin et al. (2020), Snake initialisation: the variance peaks at 1.2036 near a = 0.5605.
    a_grid = torch.linspace(0.4, 0.7, 30001, dtype=torch.float64)
    var = torch.tensor([snake_variance(a.item()) for a in a_grid])
    assert var.max().item() == pytest.approx(1.2036, abs=5e-5)
    assert a_grid[var.argmax()].item() == pytest.approx(0.5605, abs=1e-3)


@pytest.mark.parametrize("name", [n for n in activations.names() if activations.spec(n).second_moments])
def test_closed_form_moments_against_quadrature(name):
    """Every registered closed form vs float64 trapezoidal integration of the module itself
    (its derivative by autograd) against the N(0,1) density; the grid contains 0, where kinks sit."""
    spec = activations.spec(name)
    act = spec.build().double()
    x = torch.linspace(-12, 12, 2_400_001, dtype=torch.float64, requires_grad=True)
    y = act(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    density = torch.exp(-x.detach() ** 2 / 2) / math.sqrt(2 * math.pi)
    quad = (torch.trapezoid(y.detach() ** 2 * density, x.detach()).item(),
            torch.trapezoid(dy ** 2 * density, x.detach()).item())
    # A kink at 0 costs the trapezoid rule O(dx) ~ 1e-5 relative; a wrong formula is off by far more.
    assert spec.closed_form_moments() == pytest.approx(quad, rel=5e-5), name


def test_activation_parameters_collects_only_activation_parameters():
    model = nn.Sequential(nn.Linear(2, 3), Snake(learnable=True, num_features=3), nn.Linear(3, 1))
    found = activations.activation_parameters(model)
    assert len(found) == 1 and found[0] is model[1].a
    assert activations.is_activation(model[1]) and not activations.is_activation(model[0])


def test_every_spec_has_formula_label_and_inspectable_signature():
    for spec in activations.specs():
        assert spec.formula and spec.label and spec.family
        assert isinstance(spec.signature, inspect.Signature)
