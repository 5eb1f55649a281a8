"""The gallery chapter's code: curves, tables, moments and the explorer."""
from __future__ import annotations

import base64
import math
import re
import shutil

import matplotlib
import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm as stats_norm

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.text import Text  # noqa: E402

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


# ----------------------------------------------------------------------------- gains that are infinite

def test_an_infinite_backward_gain_is_known_where_the_slope_is_not_square_integrable():
    assert gallery.backward_gain_infinite("sqrt") and gallery.backward_gain_infinite("tsqrt")       # z = 1/2
    assert gallery.backward_gain_infinite("tsqrt", z=0.3) and not gallery.backward_gain_infinite("tsqrt", z=0.75)
    assert not any(gallery.backward_gain_infinite(n) for n in ("relu", "gelu", "snake", "tsqrt_tanh"))


@pytest.mark.parametrize("z, diverges", [(0.5, True), (0.4, True), (0.75, False), (1.0, False)])
def test_the_rule_agrees_with_the_integral(z, diverges):
    """E[f'(x)^2] = 2 ∫_0^∞ z² x^(2z-2) φ(x) dx, cut at δ: it keeps growing as δ -> 0 exactly when the rule says ∞."""
    def integrand(x):
        return z * z * x ** (2 * z - 2) * stats_norm.pdf(x)

    def cut(delta):
        # on [delta, 1] in u = ln x, where the integrand x^(2z-1) phi(x) du is smooth; then [1, inf) as it is
        near, _ = integrate.quad(lambda u: integrand(np.exp(u)) * np.exp(u), np.log(delta), 0.0, limit=200)
        far, _ = integrate.quad(integrand, 1.0, np.inf)
        return 2 * (near + far)

    growth = cut(1e-10) - cut(1e-5)
    assert (growth > 0.5) is diverges
    assert gallery.backward_gain_infinite("tsqrt", z=z) is diverges


def test_infinite_gains_show_as_infinite_in_the_table():
    rows = {r["name"]: r for r in gallery.moment_rows(["relu", "sqrt", "tsqrt"], samples=5000, seed=0)}
    assert rows["sqrt"]["backward_infinite"] and math.isinf(rows["sqrt"]["backward_exact"])
    assert not rows["relu"]["backward_infinite"]
    line = next(line for line in gallery.moments_table(list(rows.values())).splitlines() if line.startswith("| SQRT"))
    assert "∞" in line and "capped" in line


# ----------------------------------------------------------------------------- the gains figure

def label_boxes(ax):
    """The labels of an axes with the boxes of their text (an annotation's own extent includes its leader line)."""
    renderer = ax.figure.canvas.get_renderer()
    return [(t.get_text(), Text.get_window_extent(t, renderer)) for t in ax.texts if t.get_text()]


def test_the_gains_figure_has_legible_labels_one_per_function_and_no_bar_for_infinity():
    rows = gallery.moment_rows(activations.names(), samples=20_000, seed=0)
    fig = gallery.plot_moments(rows)
    fig.canvas.draw()
    texts = [t for ax in fig.axes for t, _ in label_boxes(ax)]
    assert "SQRT = TSQRT: $E[f'^2] = \\infty$, off the scale" in texts
    assert "Snake = Snake (a, b)" in texts and "Snake" not in texts and "GELU = TGELU" in texts
    labelled = {name for t in texts for name in t.split(":")[0].split(" = ")}
    assert labelled == {activations.spec(n).label for n in activations.names()}, "every activation is labelled once"
    for ax in fig.axes:
        boxes = [b for _, b in label_boxes(ax)]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), "two labels overlap"
    full = fig.axes[0]
    finite_groups = [g for g in gallery.coincident_groups(rows) if not g[0]["backward_infinite"]]
    assert len(full.containers) == len(finite_groups), "an error bar for every finite point, none for infinity"
    plt.close(fig)


def test_coincident_activations_are_grouped_and_distinct_ones_are_not():
    rows = gallery.moment_rows(["gelu", "tgelu", "relu", "sqrt", "tsqrt"], samples=5000, seed=0)
    groups = [[r["name"] for r in g] for g in gallery.coincident_groups(rows)]
    assert groups == [["gelu", "tgelu"], ["relu"], ["sqrt", "tsqrt"]]


# ----------------------------------------------------------------------------- the explorer without a kernel

def decode(block: str) -> np.ndarray:
    q = np.frombuffer(base64.b64decode(block), dtype="<i2").astype(float)
    return np.where(q == gallery.EXPLORER_GAP, np.nan, q / gallery.EXPLORER_SCALE)


def test_slider_values_span_the_live_range_and_contain_the_default():
    values = gallery.slider_values(1.0)
    assert values[0] == 0.01 and values[-1] == 10.0 and 1.0 in values and values == sorted(values)
    assert gallery.slider_values(5) == list(range(1, 11))
    assert 0.0 in gallery.slider_values(0.0) and gallery.slider_values(0.0)[0] == -3.0


def test_explorer_data_holds_the_curves_of_every_value():
    data = gallery.explorer_data(["snake", "relu", "tgelu"], points=41)
    x = np.linspace(*data["x"][:2], data["x"][2])
    snake, relu, tgelu = data["acts"]
    assert relu["params"] == [] and [p["name"] for p in tgelu["params"]] == ["z", "w"]
    (a,) = snake["params"]
    blocks = decode(a["curves"]).reshape(len(a["values"]), 2, 41)
    for i in (0, a["default"], len(a["values"]) - 1):
        y, dy = gallery.curves("snake", x, a=a["values"][i])
        expected = np.stack([y, dy])
        shown = np.abs(expected) < 7.99
        np.testing.assert_allclose(blocks[i][shown], expected[shown], atol=1 / gallery.EXPLORER_SCALE)
        assert np.isnan(blocks[i][~shown]).all()              # beyond the coded range: a gap, not a wrong value
    assert a["values"][a["default"]] == 1.0


def test_the_static_explorer_is_self_contained():
    html = gallery.static_explorer(["snake", "relu"]).data
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html), "nothing is fetched"
    assert "cdn" not in html.lower() and "require(" not in html
    assert html == gallery.static_explorer(["snake", "relu"]).data, "deterministic (same id, same data)"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def explorer_page(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    path.write_text("<!doctype html><html><body>" + gallery.static_explorer(["relu", "snake", "tgelu"]).data
                    + "</body></html>", encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                   else (problems.append(f"request left the page: {route.request.url}"), route.abort()))
        page.goto(path.as_uri())
        yield page, problems
        browser.close()


def drawn(page, selector: str) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) data values of a drawn path, read back from its pixels (the plot's own transform, inverted)."""
    d = page.get_attribute(selector, "d")
    pixels = np.array([[float(v) for v in pair.split()] for pair in re.split(r"[ML]", d) if pair.strip()])
    x = -5 + (pixels[:, 0] - 50) / 570 * 10
    y = gallery.EXPLORER_Y[0] + (260 - pixels[:, 1]) / 250 * (gallery.EXPLORER_Y[1] - gallery.EXPLORER_Y[0])
    return x, y


def test_moving_a_slider_in_a_real_browser_draws_that_parameters_curve(explorer_page):
    page, problems = explorer_page
    assert page.eval_on_selector(".ae-activation", "s => s.options[s.selectedIndex].textContent") == "Snake"
    values = gallery.slider_values(1.0)
    x, y = drawn(page, ".ae-f")
    np.testing.assert_allclose(y, gallery.curves("snake", x)[0], atol=2e-3)     # opens on the default a = 1
    page.eval_on_selector(".ae-slider", "s => { s.value = 3; s.dispatchEvent(new Event('input')); }")
    assert page.inner_text(".ae-value").strip() == f"{values[3]:.3g}"
    x, y = drawn(page, ".ae-f")
    expected = gallery.curves("snake", x, a=values[3])[0]
    inside = (expected > gallery.EXPLORER_Y[0]) & (expected < gallery.EXPLORER_Y[1])
    np.testing.assert_allclose(y[inside], expected[inside], atol=2e-3)
    x, dy = drawn(page, ".ae-df")
    np.testing.assert_allclose(dy, gallery.curves("snake", x, a=values[3])[1], atol=2e-3)
    assert problems == []


def test_one_parameter_moves_at_a_time_and_an_activation_without_one_says_so(explorer_page):
    page, problems = explorer_page
    page.select_option(".ae-activation", label="TGELU")
    z, w = page.query_selector_all(".ae-slider")
    z.evaluate("s => { s.value = 0; s.dispatchEvent(new Event('input')); }")
    w.evaluate("s => { s.value = 0; s.dispatchEvent(new Event('input')); }")
    tgelu = gallery.explorer_data(["tgelu"])["acts"][0]
    assert int(z.evaluate("s => s.value")) == tgelu["params"][0]["default"], "moving w puts z back to its default"
    x, y = drawn(page, ".ae-f")
    expected = gallery.curves("tgelu", x, w=tgelu["params"][1]["values"][0])[0]
    inside = (expected > gallery.EXPLORER_Y[0]) & (expected < gallery.EXPLORER_Y[1])
    np.testing.assert_allclose(y[inside], expected[inside], atol=2e-3)
    page.select_option(".ae-activation", label="ReLU")
    assert page.inner_text(".ae-sliders") == "no numeric parameter"
    assert problems == []
