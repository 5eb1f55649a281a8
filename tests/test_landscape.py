"""Filter-normalised loss slices (Li et al. 2018, lib.landscape) and what is read from them (lib.slice_measures)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lib import landscape, slice_measures
from lib.models.sqrt_cnn import SqrtCNN
from lib.seeding import torch_threads


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These networks are too small to gain from two threads; a shared machine punishes them."""
    with torch_threads(1):
        yield


def small_cnn():
    torch.manual_seed(0)
    return SqrtCNN("tsqrt_tanh", learnable=True, batch_norm=True, in_channels=1, channels=3, hidden=5).double()


def test_direction_is_filter_normalised_and_skips_biases_bn_and_activations():
    model = small_cnn()
    d = landscape.filter_normalized_direction(model, torch.Generator().manual_seed(0))
    params = dict(model.named_parameters())
    assert set(d) == set(params)
    for name, p in params.items():
        if name.startswith(("act", "bn")) or p.dim() <= 1:
            assert torch.all(d[name] == 0), name
        else:
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))
    # element-wise activation parameters have several dimensions and are still left out
    assert model.act1.raw_k.dim() == 3 and torch.all(d["act1.raw_k"] == 0)


def test_slices_match_a_direct_evaluation_and_restore_the_weights():
    model = small_cnn()
    x, y = torch.randn(20, 1, 16, 16, dtype=torch.float64), torch.randint(0, 10, (20,))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    s = landscape.loss_slices(model, x, y, span=0.5, points_1d=5, points_2d=3, seed=7)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n])
    assert s["loss_1d"].shape == (5,) and s["loss_2d"].shape == (3, 3)
    model.eval()
    with torch.no_grad():
        centre = nn.functional.cross_entropy(model(x), y).item()
        d = landscape.filter_normalized_direction(model, torch.Generator().manual_seed(7))
        for n, p in model.named_parameters():
            p.add_(0.25 * d[n])
        moved = nn.functional.cross_entropy(model(x), y).item()
    assert s["loss_1d"][2] == pytest.approx(centre, rel=1e-12)
    assert s["loss_2d"][1, 1] == pytest.approx(centre, rel=1e-12)
    assert s["loss_1d"][3] == pytest.approx(moved, rel=1e-12)


def test_slices_are_deterministic_given_the_seed():
    model = small_cnn()
    x, y = torch.randn(10, 1, 16, 16, dtype=torch.float64), torch.randint(0, 10, (10,))
    a, b, c = (landscape.loss_slices(model, x, y, points_1d=5, points_2d=3, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a["loss_2d"], b["loss_2d"])
    assert not np.array_equal(a["loss_1d"], c["loss_1d"])


def test_excess_variation_is_zero_for_one_basin_and_counts_bumps():
    t = np.linspace(-1, 1, 101)
    assert slice_measures.excess_variation(t**2) == pytest.approx(0.0, abs=1e-12)
    assert slice_measures.excess_variation(t) == pytest.approx(0.0, abs=1e-12)      # monotone
    assert slice_measures.excess_variation(np.ones(7)) == 0.0
    # a W shape: down 1, up 0.5, down 0.5, up 1 -> TV 3, basin 2 -> excess 0.5
    w = np.array([1.0, 0.0, 0.5, 0.0, 1.0])
    assert slice_measures.excess_variation(w) == pytest.approx(0.5)
    assert slice_measures.excess_variation(np.array([1.0, np.nan, 2.0])) == float("inf")


def test_second_difference_closed_forms():
    t = np.linspace(-1, 1, 21)
    assert slice_measures.second_difference(3 * t + 1) == pytest.approx(0.0, abs=1e-12)        # a straight line
    assert slice_measures.second_difference(np.full(9, 2.0)) == 0.0
    # a parabola centred on n points: |Δ²| = 2 h², depth 1 (a t²: a cancels), h = 2 / (n - 1)
    for n in (5, 21, 41):
        t = np.linspace(-1, 1, n)
        assert slice_measures.second_difference(5 * t**2 + 7) == pytest.approx(2 * (2 / (n - 1)) ** 2)
    # a kink (|t|) on an odd grid: one second difference of 2h, depth 1
    t = np.linspace(-1, 1, 21)
    assert slice_measures.second_difference(np.abs(t)) == pytest.approx(2 * 0.1 / 19)
    assert slice_measures.second_difference(np.array([1.0, np.inf, 2.0])) == float("inf")


def parabola_slices(a=3.0, offset=0.5, span=1.0, n1=21, n2=9):
    alphas, grid = np.linspace(-span, span, n1), np.linspace(-span, span, n2)
    return {"alphas": alphas, "loss_1d": offset + a * alphas**2, "grid": grid,
            "loss_2d": offset + a * (grid[None, :] ** 2 + grid[:, None] ** 2)}


def test_sharpness_is_the_relative_rise_within_the_radius():
    s = parabola_slices()
    # within a quarter of the span (0.25) the highest point is the 2-D corner (0.25, 0.25): 3 * 2 * 0.0625
    assert slice_measures.sharpness(s) == pytest.approx(3 * 2 * 0.25**2 / 1.5)
    assert slice_measures.sharpness(s, radius=0.1) == pytest.approx(3 * 0.1**2 / 1.5)          # only the 1-D grid
    assert slice_measures.sharpness(parabola_slices(a=6.0)) == pytest.approx(2 * slice_measures.sharpness(s))
    with pytest.raises(ValueError, match="α = 0"):
        slice_measures.sharpness({**s, "alphas": np.linspace(-1, 1, 20), "loss_1d": np.ones(20)})


def test_roughness_orders_a_jagged_bowl_above_a_smooth_one():
    smooth = parabola_slices()
    jagged = dict(smooth)
    jagged["loss_1d"] = smooth["loss_1d"] + 0.05 * np.sin(40 * smooth["alphas"])
    jagged["loss_2d"] = smooth["loss_2d"] + np.sin(9 * smooth["grid"])[None, :]  # extra minima along every row
    r_smooth, r_jagged = slice_measures.roughness(smooth), slice_measures.roughness(jagged)
    assert set(r_smooth) == {"second_difference", "sharpness", "excess_1d", "excess_2d"}
    for key in ("second_difference", "excess_1d", "excess_2d"):
        assert r_jagged[key] > r_smooth[key], key
    assert r_smooth["second_difference"] > 0 and r_smooth["excess_2d"] == 0      # never identically zero


def test_slice_panels_share_one_colour_scale_and_one_colour_bar():
    import matplotlib.pyplot as plt
    from matplotlib.contour import QuadContourSet

    slices = {"shallow": parabola_slices(a=1.0), "steep": parabola_slices(a=8.0, offset=0.2)}
    fig = slice_measures.plot_slices(slices)
    contours = [c for ax in fig.axes for c in ax.collections if isinstance(c, QuadContourSet)]
    assert len(contours) == 2
    assert {(c.norm.vmin, c.norm.vmax) for c in contours} == {(contours[0].norm.vmin, contours[0].norm.vmax)}
    np.testing.assert_array_equal(contours[0].levels, contours[1].levels)
    assert contours[0].norm.vmin == pytest.approx(0.2)                     # the lowest loss of any panel
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1
    plt.close(fig)


def test_bad_slice_arguments():
    model = small_cnn()
    x, y = torch.randn(4, 1, 16, 16, dtype=torch.float64), torch.randint(0, 10, (4,))
    with pytest.raises(ValueError, match="span"):
        landscape.loss_slices(model, x, y, span=0.0)
    with pytest.raises(ValueError, match="odd"):
        landscape.loss_slices(model, x, y, points_1d=6)
    with pytest.raises(ValueError, match="1-D curve"):
        slice_measures.excess_variation(np.ones((2, 2)))
    with pytest.raises(ValueError, match="1-D curve"):
        slice_measures.second_difference(np.ones(2))
