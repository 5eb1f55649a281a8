"""The swarm chapters' measurements: upward travel, kinks near the turning points, verdicts that follow the numbers."""
from __future__ import annotations

import numpy as np
import pytest

from lib import swarm
from lib.chapters import swarm_lr_momentum as lrm
from lib.chapters import swarm_width as sw
from lib.data.signals import sine_data


def test_upward_travel_sums_the_rises_relative_to_the_start():
    loss = np.array([[2.0, 1.0, 1.6, 0.8, 1.0], [1.0, 0.5, 0.4, 0.3, 0.2], [1.0, np.nan, np.nan, np.nan, np.nan]])
    np.testing.assert_allclose(lrm.upward_travel(loss), [(0.6 + 0.2) / 2.0, 0.0, np.nan])
    np.testing.assert_allclose(lrm.upward_travel(loss[:2], start=2), [0.2 / 1.6, 0.0])


def test_kinks_near_turning_points_and_the_uniform_chance():
    t = lrm.TURNING_POINTS
    kinks = np.array([t[0] + 0.1, t[1] - 0.4, 0.0, 3.0, 7.0, np.inf])  # 7 and inf are outside the data
    assert lrm.kinks_near(kinks) == pytest.approx(2 / 4)
    # intervals of half-width 0.5 around ±pi/2 lie inside [-5, 5]; those around ±3pi/2 are cut at ±5
    expected = (2 * 1.0 + 2 * (5 - (3 * np.pi / 2 - 0.5))) / 10
    assert lrm.chance_near() == pytest.approx(expected, abs=1e-4)
    assert np.isnan(lrm.kinks_near(np.array([9.0])))


def test_region_loss_splits_the_error_at_the_central_slope():
    x, y = sine_data(5)
    ypred = np.zeros((1, 2, 5))
    r = {"x": x.numpy(), "y": y.numpy(), "ypred": ypred}
    inner = np.abs(x.numpy()) <= np.pi / 2
    assert sw.region_loss(r, 1, inner=True)[0] == pytest.approx(np.mean(y.numpy()[inner] ** 2))
    assert sw.region_loss(r, 1, inner=False)[0] == pytest.approx(np.mean(y.numpy()[~inner] ** 2))
    with pytest.raises(ValueError):
        sine_data(1)


@pytest.fixture(scope="module")
def lr_cells():
    cells = {}
    for momenta, lrs in lrm.LR_MOMENTUM_SWEEPS.values():
        for r in lrm.lr_momentum_hive(momenta, lrs, num_bees=3, num_epochs=30, fields="loss"):
            cells[r["momentum"], r["lr"]] = r
    return cells


def test_lr_momentum_verdicts_follow_their_numbers(lr_cells):
    v = lrm.lr_momentum_claims(lr_cells, threshold=0.3, num_epochs=30)
    assert v["verdict_good"] == sw.verdict(v["good_final"] < v["others_final"])
    assert 0 <= v["n_low_more"] <= v["n_low"] == 3
    assert v["tail_epoch"] == 24
    never = v["settled_99_0_01"] == 0 and v["settled_99_0_002"] == 0
    assert v["verdict_never"] == sw.verdict(never)
    best = min(lr_cells, key=lambda k: np.nanmedian(swarm.final_loss(lr_cells[k])))
    assert v["best_cell"] == f"momentum {best[0]:g}, lr {best[1]:g}"


def test_width_summaries_and_find(lr_cells):
    hive = sw.width_activation_hive([1, 3], ["relu", "tanh", "tanhshrink", "snake"], num_bees=3, num_epochs=6)
    table, v = sw.post_observations(hive, [1, 3], ["relu", "tanh", "tanhshrink"], early=2)
    assert table.count("\n") == 2 + 2 and v["n_wide"] == 1 and v["wmax"] == 3
    table, v = sw.final_loss_summary(hive, [1, 3], ["relu", "tanh", "tanhshrink"], ["snake"], threshold=10.0)
    assert v["post_wide_share"] == 100 and v["verdict_almost_all"] == "confirmed"  # every loss is below 10
    with pytest.raises(KeyError, match="0 swarms"):
        swarm.find(hive, width=7)


def test_kink_summary_counts_units():
    kinks = np.zeros((4, 3, 5))
    kinks[:, -1] = np.pi / 2
    v = lrm.kink_summary(kinks)
    assert v["kink_units"] == 20 and v["near_start"] == 0 and v["near_end"] == 100
    assert v["verdict_gather"] == "confirmed"
