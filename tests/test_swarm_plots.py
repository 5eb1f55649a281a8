"""Hive pictures: the grid's layout, the offline animation, the mp4 only where ffmpeg exists."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from lib import swarm, swarm_plots  # noqa: E402

X = torch.linspace(-5, 5, 21)


@pytest.fixture(scope="module")
def hive():
    static = {"x": X, "y": torch.sin(X), "hidden": 1, "momentum": 0.9, "lr": 0.01, "num_epochs": 6}
    return swarm.hive_trainer(swarm.default_train,
                              swarm.make_sweep_paramsets(static, width=[1, 3], activation=[nn.ReLU, "tanh", "snake"]),
                              num_bees=4, seed=10)


def test_hive_plot_grid_has_columns_facx_rows_facy_truth_and_a_line_per_bee(hive):
    fig = swarm_plots.hive_plot(hive, "width", "activation", epoch=5)
    axes = np.array(fig.axes).reshape(3, 2)
    assert [ax.get_title() for ax in axes[0]] == ["width = 1", "width = 3"]
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["activation = ReLU", "activation = Tanh", "activation = Snake"]
    ax = axes[1, 1]  # tanh, width 3
    truth, *bees = ax.get_lines()
    assert truth.get_color() == "silver" and len(bees) == 4
    np.testing.assert_allclose(bees[2].get_ydata(), hive[4]["ypred"][2, 5])
    plt.close(fig)


def test_hive_plot_rejects_unknown_factors_and_epochs(hive):
    with pytest.raises(KeyError, match="widht"):
        swarm_plots.hive_plot(hive, "widht", "activation")
    with pytest.raises(IndexError, match="epoch"):
        swarm_plots.hive_plot(hive, "width", "activation", epoch=6)
    with pytest.raises(ValueError, match="share"):
        swarm_plots.hive_plot(hive, "width", "lr")


def test_frame_epochs_spread_and_keep_both_ends():
    np.testing.assert_array_equal(swarm_plots.frame_epochs(150, 4), [0, 50, 99, 149])
    np.testing.assert_array_equal(swarm_plots.frame_epochs(3, 10), [0, 1, 2])
    with pytest.raises(ValueError):
        swarm_plots.frame_epochs(10, 0)


def test_hive_animate_is_offline_html_and_mp4_needs_ffmpeg(hive, tmp_path, monkeypatch):
    before = set(plt.get_fignums())
    html = swarm_plots.hive_animate(hive, "width", "activation", frames=3).data
    assert "<script" in html and "cdnjs" not in html and "font-awesome" not in html
    assert html.count("data:image/jpeg;base64") == 3 + 1     # the last epoch first, then the 3 frames
    png = swarm_plots.hive_animate(hive, "width", "activation", frames=3, frame_format="png").data
    assert png.count("data:image/png;base64") == 4 and len(png) > len(html)
    with pytest.raises(ValueError, match="frame_format"):
        swarm_plots.hive_animate(hive, "width", "activation", frame_format="gif")
    assert set(plt.get_fignums()) == before, "the animation's figure must be closed"
    monkeypatch.setattr(swarm_plots, "ffmpeg_available", lambda: False)
    with pytest.warns(UserWarning, match="ffmpeg"):
        swarm_plots.hive_animate(hive[:2], "width", "activation", frames=2, mp4=str(tmp_path / "a.mp4"))
    assert not (tmp_path / "a.mp4").exists()


def test_the_animation_opens_on_the_last_epoch_and_replays_from_the_first(hive):
    np.testing.assert_array_equal(swarm_plots.animation_epochs(6, 3), [5, 0, 2, 5])
    np.testing.assert_array_equal(swarm_plots.animation_epochs(6, 3, open_on_last=False), [0, 2, 5])
    html = swarm_plots.hive_animate(hive, "width", "activation", frames=3).data
    frames = re.findall(r'frames\[(\d+)\] = "data:image/jpeg;base64,([^"]+)"', html)
    assert [int(i) for i, _ in frames] == [0, 1, 2, 3]
    assert frames[0][1] == frames[3][1] != frames[1][1], "first frame = the last epoch, then epoch 0"


def test_the_frame_title_is_inside_the_figure_and_above_the_panels(hive):
    fig, anim = swarm_plots.hive_animation(hive, "width", "activation", frames=3)
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    figure = fig.bbox
    assert figure.x0 <= title.x0 and title.x1 <= figure.x1 and figure.y0 <= title.y0 and title.y1 <= figure.y1
    panel_tops = max(ax.get_tightbbox(renderer).y1 for ax in fig.axes if ax.get_visible())
    assert title.y0 >= panel_tops - 1, "the title overlaps the panels' own titles"
    assert fig._suptitle.get_text() == "epoch 5"
    anim.to_jshtml()            # render it (an animation dropped unrendered warns)
    plt.close(fig)


def test_heat_maps_of_one_figure_share_one_colour_scale():
    a, b = np.array([[1.0, 2.0], [3.0, np.nan]]), np.array([[10.0, np.inf], [20.0, 2.0]])
    norm = swarm_plots.shared_norm(a, b)
    assert (norm.vmin, norm.vmax) == (1.0, 20.0)                   # non-finite values ignored
    assert (swarm_plots.shared_norm(a, vmin=0, vmax=50).vmin, swarm_plots.shared_norm(a, vmin=0, vmax=50).vmax) == (
        0, 50)
    fig, (left, right) = plt.subplots(1, 2)
    im_a = swarm_plots.heat_map(left, a, ["x", "y"], ["p", "q"], norm=norm)
    im_b = swarm_plots.heat_map(right, b, ["x", "y"], ["p", "q"], norm=norm)
    assert im_a.norm is im_b.norm
    # the value 2 has one colour in both panels (top right of a, bottom right of b)
    np.testing.assert_array_equal(im_a.cmap(im_a.norm(a[0, 1])), im_b.cmap(im_b.norm(b[1, 1])))
    # without a shared norm each panel would stretch its own range: 2 would differ
    own = swarm_plots.heat_map(right, b, ["x", "y"], ["p", "q"])
    assert own.norm(2.0) != pytest.approx(norm(2.0))
    bar = fig.colorbar(im_a, ax=[left, right])
    assert bar.norm is norm
    plt.close(fig)
