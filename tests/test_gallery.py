"""The gallery chapter's code: curves, tables, moments and the explorer."""
from __future__ import annotations

import math

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lib import activations
from lib.chapters import gallery


def test_curves_are_the_function_and_its_autograd_derivative():
    x = np.linspace(-3, 3, 301)
    y, dy = gallery.curves("snake", x, a=2.0)
    np.testing.assert_allclose(y, x + np.sin(2 * x) ** 2 / 2, atol=1e-6)
    np.testing.assert_allclose(dy, 1 + np.sin(4 * x), atol=1e-6)


def test_gallery_figure_has_one_panel_per_activation():
    names = activations.names()
    fig = gallery.plot_gallery(names, points=51)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [activations.spec(n).label for n in names]
    assert all(len(ax.get_lines()) == 4 for ax in visible)   # two guides, f and f'
    plt.close(fig)


def test_registry_table_lists_every_activation_with_its_parameters():
    table = gallery.registry_table(activations.names())
    lines = table.splitlines()
    assert len(lines) == 2 + len(activations.names())
    assert all(line.count("|") - line.count(r"\|") == 6 for line in lines)  # five columns, escaped pipes aside
    assert "`a=1`" in table and r"x + \frac{\sin^2(a x)}{a}" in table
    assert "ReLU at `negative_slope=0`" in table


def test_moment_rows_use_closed_forms_where_they_exist():
    rows = {r["name"]: r for r in gallery.moment_rows(["relu", "tanh", "snake"], samples=20_000, seed=0)}
    assert rows["relu"]["forward_exact"] == 0.5 and math.isnan(rows["tanh"]["forward_exact"])
    assert abs(rows["snake"]["backward"] - rows["snake"]["backward_exact"]) < 5 * rows["snake"]["backward_se"]
    table = gallery.moments_table(list(rows.values()))
    assert table.count("\n") == 4 and "—" in table


def test_snake_sweep_animation_is_self_contained():
    html = gallery.snake_sweep_animation([0.5, 1.0, 2.0], points=51).data
    assert html.count("data:image/png;base64") == 3 and "maxcdn" not in html


def test_explorer_rebuilds_sliders_and_redraws():
    box = gallery.explorer(["snake", "relu", "leaky_relu"])
    choose, sliders, out = box.children
    assert [s.description for s in sliders.children] == ["a"]
    sliders.children[0].value = 3.0                               # redraw with a new a
    choose.value = "relu"
    assert sliders.children == ()
    choose.value = "leaky_relu"
    assert [s.description for s in sliders.children] == ["negative_slope"]
    plt.close("all")
