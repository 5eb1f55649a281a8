"""Seeding, device choice, Monte-Carlo moments, glue helpers and plotting helpers."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import animation  # noqa: E402

import lib
from lib import activations
from lib.moments import monte_carlo_moments, value_and_derivative
from lib.plotting import animation_html, grid, offline_player
from lib.report import mean_std, plain, pm


def test_lib_imports_lazily_and_rejects_unknown_names():
    assert lib.activations is activations
    assert callable(lib.device) and callable(lib.seed_everything)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lib.nope  # noqa: B018 (the attribute access itself is what is tested)


def test_device_defaults_and_override(monkeypatch):
    monkeypatch.delenv("LIB_DEVICE", raising=False)
    assert lib.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("LIB_DEVICE", "cpu")
    assert lib.device() == torch.device("cpu")


def test_same_seed_same_numbers_everywhere():
    def draw():
        lib.seed_everything(123)
        return torch.randn(5), np.random.rand(5), __import__("random").random()

    a, b = draw(), draw()
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    lib.seed_everything(124)
    assert not torch.equal(torch.randn(5), a[0])


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "3", True])
def test_seed_must_be_a_non_negative_int(bad):
    with pytest.raises((TypeError, ValueError)):
        lib.seed_everything(bad)


def test_value_and_derivative_matches_finite_differences():
    act = activations.get("gelu").double()
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    y, dy = value_and_derivative(act, x)
    h = 1e-6
    fd = (act(x + h) - act(x - h)) / (2 * h)
    torch.testing.assert_close(dy, fd, atol=1e-8, rtol=1e-8)
    torch.testing.assert_close(y, act(x))


def test_monte_carlo_moments_are_seeded_and_unbiased():
    relu = activations.get("relu")
    a, b = monte_carlo_moments(relu, 50_000, seed=3), monte_carlo_moments(relu, 50_000, seed=3)
    assert a == b
    assert monte_carlo_moments(relu, 50_000, seed=4) != a
    assert abs(a.forward - 0.5) < 5 * a.forward_se and abs(a.backward - 0.5) < 5 * a.backward_se
    with pytest.raises(ValueError):
        monte_carlo_moments(relu, 1)


def test_plain_and_seed_summaries():
    assert plain(np.float64(1.5)) == 1.5 and type(plain(np.float64(1.5))) is float
    assert plain(torch.tensor(2)) == 2 and type(plain(torch.tensor(2))) is int
    assert plain(np.array(3.0)) == 3.0 and plain("x") == "x"
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([4.0]) == (4.0, 0.0)
    assert pm([1.0, 2.0, 3.0], ".1f") == "2.0 ± 1.0"
    with pytest.raises(ValueError):
        mean_std([])


def test_grid_hides_unused_axes():
    fig, axes = grid(5, 3)
    assert len(axes) == 5
    assert sum(ax.get_visible() for ax in fig.axes) == 5
    plt.close(fig)


def test_animation_html_is_offline_and_closes_its_figure():
    fig, ax = plt.subplots()
    (line,) = ax.plot([], [])
    anim = animation.FuncAnimation(fig, lambda i: line.set_data([0, i], [0, i]), frames=3)
    before = len(plt.get_fignums())
    html = animation_html(anim).data
    assert len(plt.get_fignums()) == before - 1
    assert "http" not in html.split("<script")[0]           # no external stylesheet before the player
    assert "font-awesome" not in html and 'class="fa ' not in html
    assert html.count("data:image/png;base64") == 3          # every frame embedded


def test_offline_player_replaces_every_icon_of_matplotlibs_template():
    from matplotlib._animation_data import DISPLAY_TEMPLATE, JS_INCLUDE, STYLE_INCLUDE

    page = offline_player(JS_INCLUDE + STYLE_INCLUDE + DISPLAY_TEMPLATE)
    assert "maxcdn" not in page and 'class="fa' not in page


def test_book_extension_drops_repeated_scripts_only():
    from sphinx.builders.html._assets import _JavaScript

    from lib.book_extension import drop_duplicate_scripts

    scripts = [_JavaScript("_static/a.js"), _JavaScript(None, body="const X = 1"),
               _JavaScript("", body="const X = 1"), _JavaScript("", body="const Y = 2"), _JavaScript("_static/a.js")]
    context = {"script_files": scripts}
    drop_duplicate_scripts(None, "page", "page.html", context, None)
    assert [(s.filename or "", s.attributes.get("body")) for s in context["script_files"]] == [
        ("_static/a.js", None), ("", "const X = 1"), ("", "const Y = 2")]
    assert context["script_files"] is scripts                 # edited in place: Sphinx keeps this list
