"""The swarm chapters' runs, readings and verdicts: each reading against a direct computation, each verdict against
data built to make its claim true or false, every grid checked and dry-run at the paper profile's scale."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lib import stats, swarm, sweep
from lib.chapters import swarm_lr_momentum as lrm
from lib.chapters import swarm_width as sw
from lib.parameters import ParameterError
from lib.runner.checks import profile_values as runner_profile_values

ROOT = Path(__file__).resolve().parents[1]


def profile_values(chapter: str, profile: str) -> dict:
    """The notebook's defaults with a profile's overrides: the parameters `grids(p)` gets in that profile."""
    return runner_profile_values(ROOT, chapter, profile)


# ----------------------------------------------------------------------------- swarm_width: runs

def small_width_config(**changes):
    config = {"target": "sine", "width": 3, "activation": "tanh", "bees": 5, "epochs": 8, "seed": 10,
              "keep_bees": 2, "regions": True}
    return {**config, **changes}


def test_a_width_run_reports_relative_losses_and_region_errors_of_its_own_predictions():
    config = small_width_config()
    out = sw.train_swarm(config)
    x, y = sw.target_data("sine")
    variance = float(np.var(y.numpy().astype(float)))
    reference = swarm.hive_trainer(swarm.default_train, [{"x": x, "y": y, "hidden": 1, "width": 3, "activation": "tanh",
                                                          "num_epochs": 8, "lr": 0.01, "momentum": 0.9}],
                                   num_bees=5, seed=10)[0]
    np.testing.assert_allclose(out["loss"], reference["loss"] / variance, rtol=1e-6)
    assert out["ypred"].shape == (2, 8, 61) and out["ypred"].dtype == np.float32
    err = (reference["ypred"] - y.numpy()) ** 2 / variance
    inner = np.abs(x.numpy()) <= np.pi / 2
    np.testing.assert_allclose(out["central"], err[:, :, inner].mean(axis=2), rtol=1e-6)
    np.testing.assert_allclose(out["arches"], err[:, :, ~inner].mean(axis=2), rtol=1e-6)
    # the loss is the mean of the two regions' errors, weighted by their points
    np.testing.assert_allclose(out["loss"], (inner.sum() * out["central"] + (~inner).sum() * out["arches"]) / 61,
                               rtol=1e-5)


def test_the_posts_bees_are_the_first_bees_of_a_larger_swarm():
    small = sw.train_swarm(small_width_config(bees=3, keep_bees=3))
    large = sw.train_swarm(small_width_config(bees=7, keep_bees=3))
    np.testing.assert_allclose(large["loss"][:3], small["loss"], rtol=1e-5)
    np.testing.assert_allclose(large["ypred"], small["ypred"], rtol=1e-5, atol=1e-6)


def test_targets_and_their_variances():
    for name, target in sw.TARGETS.items():
        x, y = sw.target_data(name)
        assert len(x) == 61 and x[0] == target.low and x[-1] == target.high
        assert sw.target_variance(name) == pytest.approx(float(np.var(target.fn(x.double()).numpy())), rel=1e-6)
    assert sw.describe_target("bump") == "the bump, exp(−x²/2) on [−5, 5]"
    assert not sw.TARGETS["bump"].periodic and sw.TARGETS["sine"].periodic
    with pytest.raises(ValueError, match="unknown target"):
        sw.target_data("square")


@pytest.mark.parametrize("change, message", [
    ({"target": "square"}, "target"), ({"activation": "nope"}, "activation"), ({"bees": 0}, "bees"),
    ({"keep_bees": 9}, "keep_bees"), ({"target": "bump", "regions": True}, "sine only"), ({"lr": 0.1}, "unknown"),
])
def test_a_width_run_that_cannot_work_fails_its_check(change, message):
    with pytest.raises(ValueError, match=message):
        sw.check_swarm(small_width_config(**change))


def test_width_parameters_refuse_impossible_combinations():
    p = profile_values("swarm_width", "quick")
    sw.PARAMETERS.check(p)
    for change, message in [({"many_bees": 5}, "many_bees"), ({"last_epochs": 10}, "last_epochs"),
                            ({"long_epochs": 10}, "long_epochs"), ({"control": "sine"}, "control")]:
        with pytest.raises(ParameterError, match=message):
            sw.PARAMETERS.check({**p, **change})


def test_width_grids_cover_both_targets_every_width_and_activation():
    p = profile_values("swarm_width", "full")
    hive, long = sw.grids(p)
    assert len(hive.configs) == 2 * len(p["widths"]) * 5 and len(long.configs) == 3
    assert {c["target"] for c in hive.configs} == {"sine", p["control"]}
    assert all(c["regions"] == (c["target"] == "sine") for c in hive.configs)
    assert {c["epochs"] for c in long.configs} == {p["long_epochs"]} and {c["width"] for c in long.configs} == {10}


# ----------------------------------------------------------------------------- swarm_width: readings and verdicts

def synthetic_swarm(target, width, activation, loss, central=None, arches=None, keep=2):
    loss = np.asarray(loss, dtype=float)
    s = {"target": target, "width": width, "activation": activation, "epochs": loss.shape[1], "keep_bees": keep,
         "loss": loss, "diverged_at": np.where(np.isnan(loss).any(axis=1), np.argmax(np.isnan(loss), axis=1), -1)}
    if central is not None:
        s.update(central=np.asarray(central, dtype=float), arches=np.asarray(arches, dtype=float))
    return s


def flat(values, epochs=20):
    """Curves that sit at the given values from the start (one per bee)."""
    return np.repeat(np.asarray(values, dtype=float)[:, None], epochs, axis=1)


def test_early_and_final_readings_average_their_windows():
    central = np.arange(40.0).reshape(2, 20)
    s = synthetic_swarm("sine", 3, "tanh", central, central, 2 * central)
    np.testing.assert_allclose(sw.centre_early(s, early=9, last=4), [7.5, 27.5])      # epochs 6-9
    np.testing.assert_allclose(sw.arches_final(s, last=5), [2 * 17, 2 * 37])         # epochs 15-19


def test_flattening_is_the_stated_criterion_and_fails_for_a_diverged_bee():
    loss = np.vstack([np.full(20, 0.3), np.geomspace(1, 1e-3, 20), np.r_[np.full(10, 0.3), np.full(10, np.nan)]])
    s = synthetic_swarm("sine", 3, "tanh", loss)
    np.testing.assert_array_equal(sw.flattened(s, last=5, margin=0.01), [True, False, False])
    assert sw.flattening_text(5, 0.01) == "the last 5 evaluations improve on the best before them by less than 0.001 " \
                                          "(relative MSE)"


def hive_where(tanh_centre, other_centre, tanhshrink_arches, tanh_arches, n=30, seed=0):
    """Sine swarms at widths 1, 3, 10 with the given central and arch errors (plus noise)."""
    rng = np.random.default_rng(seed)
    swarms = []
    for w in (1, 3, 10):
        for a in sw.POST:
            centre = tanh_centre if a == "tanh" else other_centre
            arches = tanhshrink_arches if a == "tanhshrink" else tanh_arches
            c = flat(centre + 0.01 * rng.standard_normal(n))
            r = flat(arches + 0.01 * rng.standard_normal(n))
            swarms.append(synthetic_swarm("sine", w, a, (c + r) / 2, c, r))
    return swarms


def test_the_posts_observations_follow_the_data():
    yes = sw.post_observations(hive_where(0.2, 0.6, 0.05, 0.3), [1, 3, 10], early=10, last=5, margin=0.01, seed=1)
    assert yes["tanh_centre"].outcome == "confirmed" and yes["arches"].outcome == "confirmed"
    assert len(yes["tanh_centre_cases"]) == 4 and yes["wide"] == [3, 10]          # widths above one, two others
    no = sw.post_observations(hive_where(0.6, 0.2, 0.3, 0.05), [1, 3, 10], early=10, last=5, margin=0.01, seed=1)
    assert no["tanh_centre"].outcome == "contradicted" and no["arches"].outcome == "contradicted"
    assert yes["table"].count("\n") == 2 + 3


def test_almost_all_is_decided_on_the_wilson_interval_of_the_pooled_share():
    rng = np.random.default_rng(4)
    swarms = []
    for a, k in zip(sw.POST, (95, 90, 100)):                  # 285 of 300 bees fit
        final = np.r_[np.full(k, 0.05), np.full(100 - k, 0.5)] + 0.001 * rng.random(100)
        swarms.append(synthetic_swarm("sine", 10, a, flat(final)))
    swarms.append(synthetic_swarm("sine", 10, "snake", flat(np.full(100, 0.5))))   # not one of the post's
    v = sw.almost_all(swarms, 10, last=5, decent_fit=0.1, share=0.9)
    expected = stats.proportion(285, 300, claim="a>b", reference=0.9)
    assert (v.outcome, v.low, v.high, v.n) == (expected.outcome, expected.low, expected.high, (300,))
    assert v.outcome == "confirmed"                            # 95 %, Wilson lower bound 91.9 % > 90 %
    assert sw.almost_all(swarms, 10, last=5, decent_fit=0.1, share=0.95).outcome == "inconclusive"
    assert sw.fits(swarms[:1], 5, 0.1) == (95, 100)


def test_a_diverged_bee_is_no_decent_fit():
    loss = flat([0.01, 0.01, 0.01])
    loss[2, 12:] = np.nan
    assert sw.fits([synthetic_swarm("sine", 10, "relu", loss)], 5, 0.1) == (2, 3)


def test_not_worse_is_non_inferiority_by_the_margin():
    rng = np.random.default_rng(2)
    b = 0.3 + 0.001 * rng.standard_normal(50)
    same = 0.3 + 0.001 * rng.standard_normal(50)
    assert sw.not_worse(same, b, 0.01, ("a", "b"), seed=0).outcome == "confirmed"
    assert sw.not_worse(same + 0.02, b, 0.01, ("a", "b"), seed=0).outcome == "contradicted"
    v = sw.not_worse(same, b, 0.01, ("Snake", "ReLU"), seed=0)
    assert v.relation == "Snake < (ReLU + 0.01)" and v.high < 0


def periodic_hive(sine_snake, control_snake, post=0.3, n=40):
    rng = np.random.default_rng(7)
    swarms = []
    for target, snake in (("sine", sine_snake), ("bump", control_snake)):
        for w in (1, 3, 10):
            for a in (*sw.POST, *sw.PERIODIC):
                value = snake if a == "snake" else post
                swarms.append(synthetic_swarm(target, w, a, flat(value + 0.002 * rng.standard_normal(n))))
    return swarms


def test_the_periodic_verdicts_and_their_control():
    v = sw.periodic_verdicts(periodic_hive(0.01, 0.3), [1, 3, 10], "bump", last=5, margin=0.01, seed=0)
    assert v["sine"].outcome == "confirmed"                  # Snake wins on the sine ...
    assert v["control_best"].outcome == "contradicted"       # ... and not on the bump: the win is about periodicity
    assert v["control_relu"].outcome == "confirmed"          # not worse than ReLU there
    assert len(v["sine_cases"]) == 2 * 3 and len(v["control_relu_cases"]) == 2
    assert "comes with the target being periodic" in sw.periodic_context(v, "bump")
    v = sw.periodic_verdicts(periodic_hive(0.01, 0.01), [1, 3, 10], "bump", last=5, margin=0.01, seed=0)
    assert v["control_best"].outcome == "confirmed"          # it wins everywhere: not a periodic advantage
    assert "not specific to periodic targets" in sw.periodic_context(v, "bump")
    v = sw.periodic_verdicts(periodic_hive(0.3, 0.3), [1, 3, 10], "bump", last=5, margin=0.01, seed=0)
    assert v["sine"].outcome != "confirmed" and "not established" in sw.periodic_context(v, "bump")


def test_fit_share_curve_counts_trailing_means():
    loss = np.array([[1.0, 0.5, 0.05, 0.05, 0.05], [1.0, 1.0, 1.0, 0.05, 0.05]])
    epochs, counts, n = sw.fit_share_curve([synthetic_swarm("sine", 10, "relu", loss)], last=2, decent_fit=0.1)
    np.testing.assert_array_equal(epochs, [1, 2, 3, 4])
    np.testing.assert_array_equal(counts, [0, 0, 1, 2]) and n == 2


def test_bee_rows_one_per_bee_with_the_readings():
    swarms = hive_where(0.2, 0.6, 0.05, 0.3, n=4)
    rows = sw.bee_rows(swarms, last=5, decent_fit=0.1, margin=0.01, early=10)
    assert len(rows) == 9 * 4
    assert rows[0]["post_bee"] and not rows[3]["post_bee"]
    assert rows[1]["central_relative_error_to_epoch_10"] == pytest.approx(sw.centre_early(swarms[0], 10, 5)[1])
    assert {"final_relative_loss", "decent_fit", "flattened", "arches_relative_error_final"} <= rows[0].keys()


# ----------------------------------------------------------------------------- swarm_lr_momentum

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
    np.testing.assert_allclose(lrm.kinks_near_per_bee(np.array([[t[0], 0.0], [9.0, 9.0]])), [0.5, np.nan])


def test_a_cell_run_records_relative_losses_and_kinks_at_both_ends():
    out = lrm.train_cell({"momentum": 0.9, "lr": 0.01, "bees": 4, "epochs": 6, "seed": 10, "keep_bees": 2})
    x, y = lrm._data()[:2]
    reference = swarm.hive_trainer(swarm.default_train, [{"x": x, "y": y, "hidden": 1, "width": 10,
                                                          "activation": "relu", "num_epochs": 6, "lr": 0.01,
                                                          "momentum": 0.9}], num_bees=4, seed=10,
                                   fields="loss,kinks")[0]
    np.testing.assert_allclose(out["loss"], reference["loss"] / np.var(np.sin(x.numpy().astype(float))), rtol=1e-5)
    np.testing.assert_array_equal(out["kinks_start"], reference["kinks"][:, 0])
    np.testing.assert_array_equal(out["kinks_end"], reference["kinks"][:, -1])
    assert out["ypred"].shape == (2, 6, 61)
    with pytest.raises(ValueError, match="momentum"):
        lrm.check_cell({"momentum": 1.0, "lr": 0.01, "bees": 4, "epochs": 6, "seed": 10, "keep_bees": 2})
    with pytest.raises(ValueError, match="keep_bees"):
        lrm.check_cell({"momentum": 0.9, "lr": 0.01, "bees": 4, "epochs": 6, "seed": 10, "keep_bees": 5})


def test_the_three_sweeps_share_their_common_cells():
    p = profile_values("swarm_lr_momentum", "full")
    (grid,) = lrm.grids(p)
    assert len(grid.configs) == 16                            # (0.9, 0.002) and (0.9, 0.01) are in two sweeps
    assert {(c["momentum"], c["lr"]) for c in grid.configs} == {
        (m, lr) for momenta, lrs in lrm.LR_MOMENTUM_SWEEPS.values() for m in momenta for lr in lrs}
    with pytest.raises(ParameterError, match="many_bees"):
        lrm.PARAMETERS.check({**p, "many_bees": 2})


def cell(loss, kinks_end=None):
    loss = np.asarray(loss, dtype=float)
    bees = len(loss)
    kinks = np.zeros((bees, lrm.WIDTH)) if kinks_end is None else kinks_end
    return {"loss": loss, "diverged_at": np.full(bees, -1), "n_diverged": 0, "keep_bees": 2,
            "kinks_start": np.zeros((bees, lrm.WIDTH)), "kinks_end": kinks}


def cells_where(good_final, other_final, low_high_bouncy, high_bouncy, settles_99, n=40, epochs=50, seed=0):
    """Every cell of the sweeps with losses built to make each claim hold or fail."""
    rng = np.random.default_rng(seed)
    out = {}
    for momenta, lrs in lrm.LR_MOMENTUM_SWEEPS.values():
        for m in momenta:
            for lr in lrs:
                final = good_final if (m, lr) in lrm.GOOD else other_final
                loss = np.linspace(1.0, final, epochs)[None] * (1 + 0.01 * rng.random((n, 1)))
                if (m < 0.5 and lr == 0.05 and low_high_bouncy) or (m == 0.99 and high_bouncy):
                    loss = loss * (1 + 0.5 * (np.arange(epochs) % 2))           # rises every other epoch
                if m == 0.99 and not settles_99:
                    loss = np.maximum(loss, 0.5)
                out[m, lr] = cell(loss)
    return out


def verdicts(cells_):
    return lrm.lr_momentum_verdicts(cells_, last=5, threshold=0.1, margin=0.01, travel_margin=0.05, never=0.1, seed=0)


def test_the_lr_momentum_verdicts_follow_the_data():
    v = verdicts(cells_where(0.02, 0.3, low_high_bouncy=True, high_bouncy=True, settles_99=False))
    assert [v[k].outcome for k in ("good", "unstable", "never", "bouncing")] == ["confirmed"] * 4
    assert len(v["good_cases"]) == 8 and len(v["unstable_cases"]) == 3 and len(v["never_cases"]) == 2
    v = verdicts(cells_where(0.3, 0.02, low_high_bouncy=False, high_bouncy=False, settles_99=True))
    assert [v[k].outcome for k in ("good", "unstable", "never", "bouncing")] == ["contradicted"] * 4


def test_cell_table_and_bee_rows():
    cells_ = cells_where(0.02, 0.3, True, True, False, n=6, epochs=20)
    table = lrm.cell_table(cells_, last=5, threshold=0.1, seed=0)
    assert table.count("\n") == 2 + len(cells_)
    rows = lrm.bee_rows(cells_, last=5, threshold=0.1, radius=0.5)
    assert len(rows) == 6 * len(cells_) and rows[0]["post_bee"] and not rows[2]["post_bee"]
    row = next(r for r in rows if (r["momentum"], r["lr"], r["bee"]) == (0.9, 0.01, 1))
    assert row["first_epoch_at_fit"] == lrm.epochs_to_fit(cells_[0.9, 0.01], 0.1)[1] < np.inf
    assert np.isinf(lrm.epochs_to_fit(cell(np.ones((2, 5))), 0.1)).all()


def test_kinks_gather_only_when_they_do():
    rng = np.random.default_rng(1)
    at_points = lrm.TURNING_POINTS[rng.integers(0, 4, (30, lrm.WIDTH))] + 0.05 * rng.standard_normal((30, 10))
    v, values = lrm.kink_verdict(cell(np.ones((30, 5)), at_points), radius=0.5, margin=0.05)
    assert v.outcome == "confirmed" and values["near_end"] == pytest.approx(100)
    assert values["kink_units"] == 300 and values["kink_bees"] == 30
    spread = rng.uniform(-5, 5, (30, lrm.WIDTH))
    v, values = lrm.kink_verdict(cell(np.ones((30, 5)), spread), radius=0.5, margin=0.05)
    assert v.outcome != "confirmed" and values["near_chance"] == pytest.approx(100 * lrm.chance_near())


# ----------------------------------------------------------------------------- both: the paper profile's grids

@pytest.mark.parametrize("module, chapter", [(sw, "swarm_width"), (lrm, "swarm_lr_momentum")])
def test_every_grid_of_the_paper_profile_checks_and_runs_one_step(module, chapter):
    p = profile_values(chapter, "paper")
    module.PARAMETERS.check(p)
    for grid in module.grids(p):
        assert isinstance(grid, sweep.Grid)
        result = sweep.dry_run(grid)
        assert result["loss"].shape[0] == grid.configs[0]["bees"] and result["loss"].shape[1] >= 1
