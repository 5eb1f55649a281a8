"""The swarm metrics the verdicts read: robust final losses, intervals for tables, and claims over several cases."""
from __future__ import annotations

import numpy as np
import pytest

from lib import stats, swarm


def test_final_loss_is_the_mean_of_the_last_records_and_nan_for_a_diverged_bee():
    loss = np.array([[4.0, 3.0, 2.0, 1.0, 0.5],
                     [1.0, 2.0, 1.0, 2.0, 1.0],
                     [1.0, 0.5, 0.4, np.nan, np.nan]])          # diverged at epoch 3: records blanked from there
    np.testing.assert_allclose(swarm.final_loss(loss, 3), [(2.0 + 1.0 + 0.5) / 3, 4 / 3, np.nan])
    np.testing.assert_allclose(swarm.final_loss({"loss": loss}, 1), [0.5, 1.0, np.nan])
    np.testing.assert_allclose(swarm.final_loss(loss[:2], 50), loss[:2].mean(axis=1))  # fewer records than asked
    with pytest.raises(ValueError, match="last"):
        swarm.final_loss(loss, 0)
    with pytest.raises(ValueError, match="bee, epoch"):
        swarm.final_loss(loss[0], 2)


def test_median_interval_and_texts_are_the_verdicts_own_intervals():
    values = np.random.default_rng(3).lognormal(size=40)
    median, low, high = swarm.median_interval(values, seed=5)
    v = stats.compare_medians(values, 0.0, claim="a>b", margin=0.0, seed=5)
    assert (median, low, high) == (np.median(values), v.low, v.high) and low < median < high
    assert swarm.median_text(values, seed=5) == (f"{stats.format_number(median)} [{stats.format_number(low)}, "
                                                 f"{stats.format_number(high)}]")
    assert np.isnan(swarm.median_interval([1.0, np.nan])[1])       # one finite value: no interval
    low, high = stats.wilson_interval(27, 30)
    assert swarm.share_text(27, 30) == f"90 % [{100 * low:.0f}, {100 * high:.0f}]"


def _verdict(outcome: str, low: float, high: float, claim: str = "a<b") -> stats.Verdict:
    return stats.Verdict(claim=claim, outcome=outcome, effect=(low + high) / 2, low=low, high=high, level=0.95,
                         margin=0.0, n=(5, 5), n_dropped=(0, 0), test="Welch t", df=8.0, estimate_a=0.0,
                         estimate_b=0.0, seeds_needed=None)


def test_weakest_confirms_only_when_every_case_does_and_names_the_binding_case():
    strong, weak = _verdict("confirmed", -3, -2), _verdict("confirmed", -2, -0.5)
    assert swarm.weakest([strong, weak]) is weak                   # all confirmed: the one closest to failing
    unsure = _verdict("inconclusive", -1, 0.5)
    assert swarm.weakest([strong, unsure, weak]) is unsure
    against = _verdict("contradicted", 0.2, 1.0)
    assert swarm.weakest([strong, unsure, against]) is against
    wider = _verdict("inconclusive", -1, 2.0)
    assert swarm.weakest([unsure, wider]) is wider
    above = [_verdict("confirmed", 0.5, 1.0, "a>b"), _verdict("confirmed", 0.1, 3.0, "a>b")]
    assert swarm.weakest(above) is above[1]                        # "a>b": the lowest lower bound binds
    with pytest.raises(ValueError, match="no verdicts"):
        swarm.weakest([])
    with pytest.raises(ValueError, match="direction"):
        swarm.weakest([strong, above[0]])


def test_weakest_keeps_the_false_confirmation_rate_when_one_case_is_false():
    """An intersection-union test needs no correction: with one true and one false case (no difference), the claim
    is confirmed at most about (1 - level) / 2 of the time (seeded simulation, 2000 repetitions)."""
    rng = np.random.default_rng(12)
    reps, n, confirmed = 2000, 10, 0
    for _ in range(reps):
        true_case = stats.compare(rng.normal(-3, 1, n), rng.normal(0, 1, n), claim="a<b", margin=0.0)
        false_case = stats.compare(rng.normal(0, 1, n), rng.normal(0, 1, n), claim="a<b", margin=0.0)
        confirmed += swarm.weakest([true_case, false_case]).outcome == "confirmed"
    rate, error = confirmed / reps, np.sqrt(0.025 * 0.975 / reps)
    assert rate <= 0.025 + 3 * error
    # and a claim true in both cases is still confirmed most of the time
    both = [swarm.weakest([stats.compare(rng.normal(-3, 1, n), rng.normal(0, 1, n), claim="a<b", margin=0.0)
                           for _ in range(2)]).outcome for _ in range(200)]
    assert both.count("confirmed") / 200 > 0.9


def test_verdict_rows_hold_one_row_per_case():
    cases = [stats.compare([1.0, 2, 3], [4.0, 5, 6], claim="a<b", margin=0.5, names=("x", "y")),
             stats.proportion(9, 10, claim="a>b", reference=0.5)]
    rows = swarm.verdict_rows(cases, "demo")
    assert [r["case"] for r in rows] == ["x < y", "a > 0.5"]
    assert rows[0]["n"] == "3 and 3" and rows[1]["n"] == "10" and rows[0]["low"] == cases[0].low
    assert {r["claim"] for r in rows} == {"demo"}
