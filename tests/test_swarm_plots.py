"""Hive pictures: the grid's layout, the offline animation, the mp4 only where ffmpeg exists."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

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
    assert html.count("data:image/png;base64") == 3
    assert set(plt.get_fignums()) == before, "the animation's figure must be closed"
    monkeypatch.setattr(swarm_plots, "ffmpeg_available", lambda: False)
    with pytest.warns(UserWarning, match="ffmpeg"):
        swarm_plots.hive_animate(hive[:2], "width", "activation", frames=2, mp4=str(tmp_path / "a.mp4"))
    assert not (tmp_path / "a.mp4").exists()
