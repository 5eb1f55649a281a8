"""The verdict protocol (lib.stats): intervals against scipy and closed forms, decisions calibrated by simulation."""
from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest
from scipy import optimize, stats

from lib.stats import (
    OUTCOMES,
    SEEDS_CAP,
    Verdict,
    bonferroni_level,
    compare,
    compare_medians,
    decide,
    format_number,
    proportion,
    wilson_interval,
)


def rate(outcomes, which="confirmed"):
    return sum(o == which for o in outcomes) / len(outcomes)


def mc_bound(p, reps, sigmas=3.0):
    """Nominal rate plus `sigmas` Monte-Carlo standard errors."""
    return p + sigmas * math.sqrt(p * (1 - p) / reps)


def standardised(n, mean, sd, rng):
    """n values whose sample mean and sample standard deviation are exactly `mean` and `sd`."""
    x = rng.normal(size=n)
    return mean + sd * (x - x.mean()) / x.std(ddof=1)


# ---------------------------------------------------------------- intervals against references

@pytest.mark.parametrize("na, nb, level", [(5, 5, 0.95), (3, 8, 0.9), (10, 4, 0.99)])
def test_welch_interval_and_df_equal_scipys(na, nb, level):
    rng = np.random.default_rng(na * 100 + nb)
    a, b = rng.normal(0.3, 1.0, na), rng.normal(0.0, 2.5, nb)
    v = compare(a, b, claim="a<b", margin=0.1, level=level)
    reference = stats.ttest_ind(a, b, equal_var=False)
    ci = reference.confidence_interval(confidence_level=level)
    assert v.test == "Welch t" and v.n == (na, nb)
    assert v.low == pytest.approx(ci.low, rel=1e-12) and v.high == pytest.approx(ci.high, rel=1e-12)
    assert v.df == pytest.approx(reference.df, rel=1e-12)
    assert v.effect == pytest.approx(a.mean() - b.mean())


@pytest.mark.parametrize("n, level", [(3, 0.95), (7, 0.8)])
def test_one_sample_interval_equals_scipys(n, level):
    a = np.random.default_rng(n).normal(1.0, 0.4, n)
    v = compare(a, 0.75, claim="a>b", margin=0.0, level=level)
    ci = stats.ttest_1samp(a, popmean=0.75).confidence_interval(confidence_level=level)
    assert v.test == "one-sample t" and v.n == (n,) and v.df == n - 1 and v.estimate_b == 0.75
    # scipy's interval is of the mean; ours of mean − reference
    assert v.low + 0.75 == pytest.approx(ci.low, rel=1e-12) and v.high + 0.75 == pytest.approx(ci.high, rel=1e-12)


@pytest.mark.parametrize("k, n, low, high", [   # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_wilson_interval_matches_published_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert (float(lo), float(hi)) == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize("k, n, level", [(3, 17, 0.95), (40, 41, 0.9), (12, 30, 0.99)])
def test_wilson_interval_inverts_the_score_test(k, n, level):
    """Independent reference: the p at which |p̂ − p| / √(p(1 − p)/n) equals the normal quantile."""
    z, p_hat = stats.norm.ppf((1 + level) / 2), k / n

    def score(p):
        return abs(p_hat - p) / math.sqrt(p * (1 - p) / n) - z

    expected = (optimize.brentq(score, 1e-12, p_hat), optimize.brentq(score, p_hat, 1 - 1e-12))
    assert tuple(map(float, wilson_interval(k, n, level))) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("p, n", [(0.3, 50), (0.9, 30), (0.05, 100)])
def test_wilson_coverage_is_close_to_nominal(p, n):
    k = np.random.default_rng(7).binomial(n, p, size=20_000)
    lo, hi = wilson_interval(k, n)
    assert 0.93 <= np.mean((lo <= p) & (p <= hi)) <= 0.985


def test_proportion_decides_on_the_shifted_wilson_interval():
    """"Almost all bees fit" as p > 0.9: 50 of 50 is confirmed (Wilson lower bound 0.929), 45 of 50 is not."""
    all_fit = proportion(50, 50, claim="a>b", reference=0.9)
    lo, hi = wilson_interval(50, 50)
    assert all_fit.outcome == "confirmed" and all_fit.test == "Wilson"
    assert all_fit.low == pytest.approx(lo - 0.9) and all_fit.high == pytest.approx(hi - 0.9)
    assert all_fit.effect == pytest.approx(0.1) and all_fit.estimate_a == 1.0
    assert proportion(45, 50, claim="a>b", reference=0.9).outcome == "inconclusive"
    assert proportion(30, 50, claim="a>b", reference=0.9).outcome == "contradicted"
    assert proportion(28, 50, claim="a>b", reference=0.5, margin=0.2).outcome == "contradicted"  # high 0.188
    assert proportion(495, 1000, claim="a~b", reference=0.5, margin=0.05).outcome == "confirmed"


# ---------------------------------------------------------------- the decision rules

@pytest.mark.parametrize("claim, low, high, margin, outcome", [
    ("a<b", -0.3, -0.2, 0.1, "confirmed"), ("a<b", -0.3, -0.1, 0.1, "inconclusive"),
    ("a<b", -0.05, 0.2, 0.1, "contradicted"), ("a<b", -0.1, 0.2, 0.1, "inconclusive"),
    ("a<b", -0.3, -0.01, 0.0, "confirmed"), ("a<b", 0.0, 0.3, 0.0, "inconclusive"),
    ("a>b", 0.2, 0.3, 0.1, "confirmed"), ("a>b", 0.05, 0.3, 0.1, "inconclusive"),
    ("a>b", -0.2, 0.05, 0.1, "contradicted"), ("a>b", 0.01, 0.3, 0.0, "confirmed"),
    ("a≈b", -0.05, 0.05, 0.1, "confirmed"), ("a≈b", -0.1, 0.05, 0.1, "inconclusive"),
    ("a≈b", 0.11, 0.3, 0.1, "contradicted"), ("a≈b", -0.3, -0.11, 0.1, "contradicted"),
    ("a≈b", -0.3, 0.3, 0.1, "inconclusive"), ("a~b", 0.0, 0.0, 0.1, "confirmed"),
])
def test_decision_table(claim, low, high, margin, outcome):
    assert decide(claim, low, high, margin) == outcome


def test_the_ascii_alias_is_stored_canonically():
    rng = np.random.default_rng(0)
    v = compare(rng.normal(size=5), rng.normal(size=5), claim="a~b", margin=1.0)
    assert v.claim == "a≈b" and v.outcome in OUTCOMES


# ---------------------------------------------------------------- calibration by simulation

@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("sd_b", [1.0, 3.0], ids=["equal-var", "unequal-var"])
def test_no_difference_is_falsely_confirmed_at_most_at_the_one_sided_rate(n, sd_b):
    rng, reps, level = np.random.default_rng(100 * n + int(sd_b)), 3000, 0.95
    outcomes = [compare(rng.normal(0, 1, n), rng.normal(0, sd_b, n), claim="a<b", margin=0.0, level=level).outcome
                for _ in range(reps)]
    assert rate(outcomes) <= mc_bound((1 - level) / 2, reps)


def test_no_difference_against_a_reference_and_with_unequal_sizes():
    rng, reps = np.random.default_rng(11), 3000
    one = [compare(rng.normal(2.0, 1, 4), 2.0, claim="a>b", margin=0).outcome for _ in range(reps)]
    unequal = [compare(rng.normal(0, 1, 3), rng.normal(0, 3, 10), claim="a<b", margin=0).outcome for _ in range(reps)]
    assert rate(one) <= mc_bound(0.025, reps) and rate(unequal) <= mc_bound(0.025, reps)


def test_a_difference_of_three_margins_is_usually_confirmed():
    rng, margin = np.random.default_rng(3), 0.5
    outcomes = [compare(rng.normal(-3 * margin, margin, 10), rng.normal(0, margin, 10), claim="a<b",
                        margin=margin).outcome for _ in range(1000)]
    assert rate(outcomes) > 0.8
    assert rate(outcomes, "contradicted") == 0


def test_a_difference_inside_the_margin_contradicts_a_less_than_claim():
    """a is smaller than b, but by far less than the margin that matters: contradicted, not confirmed."""
    rng = np.random.default_rng(4)
    outcomes = [compare(rng.normal(-0.01, 0.05, 10), rng.normal(0, 0.05, 10), claim="a<b", margin=0.5).outcome
                for _ in range(500)]
    assert rate(outcomes, "contradicted") > 0.95


def test_equivalence_is_not_confirmed_when_the_spread_exceeds_the_margin():
    rng = np.random.default_rng(5)
    outcomes = [compare(rng.normal(0, 5, 5), rng.normal(0, 5, 5), claim="a≈b", margin=1.0).outcome
                for _ in range(1000)]
    assert rate(outcomes) == 0


def test_equivalence_is_confirmed_when_noise_is_small_against_the_margin():
    rng = np.random.default_rng(6)
    outcomes = [compare(rng.normal(0, 0.1, 5), rng.normal(0, 0.1, 5), claim="a≈b", margin=1.0).outcome
                for _ in range(1000)]
    assert rate(outcomes) > 0.95


def test_equivalence_at_the_edge_of_the_margin_is_confirmed_at_most_at_the_one_sided_rate():
    rng, reps = np.random.default_rng(8), 3000
    outcomes = [compare(rng.normal(1.0, 0.5, 10), rng.normal(0, 0.5, 10), claim="a≈b", margin=1.0).outcome
                for _ in range(reps)]
    assert rate(outcomes) <= mc_bound(0.025, reps)


@pytest.mark.parametrize("b", ["sample", "number"])
def test_bootstrap_coverage_is_roughly_nominal(b):
    rng, reps, hits = np.random.default_rng(9), 200, 0
    for i in range(reps):
        other = rng.normal(0, 1, 20) if b == "sample" else 0.0
        v = compare_medians(rng.normal(0.5, 1, 20), other, claim="a>b", margin=0, resamples=1000, seed=i)
        hits += v.low <= 0.5 <= v.high
    assert 0.88 <= hits / reps <= 0.99


def test_bootstrap_is_deterministic_given_the_seed():
    rng = np.random.default_rng(10)
    a, b = rng.normal(0, 1, 8), rng.normal(1, 1, 6)
    first = compare_medians(a, b, claim="a<b", margin=0.1, seed=3)
    assert compare_medians(a, b, claim="a<b", margin=0.1, seed=3) == first
    assert compare_medians(a, b, claim="a<b", margin=0.1, seed=4).low != first.low
    assert first.effect == pytest.approx(np.median(a) - np.median(b)) and first.test == "bootstrap median"
    assert first.df is None and first.n == (8, 6)


# ---------------------------------------------------------------- seeds needed

@pytest.mark.parametrize("against", ["sample", "number"])
def test_seeds_needed_is_the_smallest_n_meeting_the_stated_criterion(against):
    """Recomputed with scipy.stats.t.ppf: (t_level + t_power)·se(n) ≤ distance at n and not at n − 1."""
    rng = np.random.default_rng(12)
    a, margin, level, power = rng.normal(-0.3, 1, 5), 0.1, 0.95, 0.8
    b = rng.normal(0, 2, 5) if against == "sample" else 0.2
    v = compare(a, b, claim="a<b", margin=margin, level=level, power=power)
    assert v.outcome == "inconclusive" and v.seeds_needed is not None
    variances = [a.var(ddof=1)] + ([b.var(ddof=1)] if against == "sample" else [])
    total, distance = sum(variances), abs(v.effect + margin)

    def meets(n):
        df = n - 1 if against == "number" else total**2 * (n - 1) / sum(x * x for x in variances)
        return (stats.t.ppf((1 + level) / 2, df) + stats.t.ppf(power, df)) * math.sqrt(total / n) <= distance

    assert meets(v.seeds_needed) and not meets(v.seeds_needed - 1)
    unit = "seeds per group" if against == "sample" else "seeds"
    assert f"about {v.seeds_needed} {unit} would likely decide" in v.prose


@pytest.mark.parametrize("power, lowest, highest", [(0.8, 0.65, 0.95), (0.5, 0.35, 0.7)])
def test_running_the_seeds_needed_usually_decides(power, lowest, highest):
    """A pilot whose mean and sd are the truth's; reruns with seeds_needed seeds decide about `power` of the time."""
    rng, true_effect, sd = np.random.default_rng(13), -0.4, 1.0
    pilot = compare(standardised(5, true_effect, sd, rng), standardised(5, 0.0, sd, rng), claim="a<b", margin=0.0,
                    power=power)
    assert pilot.outcome == "inconclusive"
    n = pilot.seeds_needed
    reruns = [compare(rng.normal(true_effect, sd, n), rng.normal(0, sd, n), claim="a<b", margin=0.0).outcome
              for _ in range(400)]
    assert lowest <= 1 - rate(reruns, "inconclusive") <= highest


def test_trials_needed_is_the_smallest_number_that_decides_at_the_same_rate():
    v = proportion(46, 50, claim="a>b", reference=0.9)
    assert v.outcome == "inconclusive"
    z, p = stats.norm.ppf(0.975) + stats.norm.ppf(0.8), 46 / 50
    deciding = [n for n in range(51, 5000) if decide("a>b", *(float(x) - 0.9 for x in _wilson_z(p, n, z)), 0.0)
                != "inconclusive"]
    assert v.seeds_needed == deciding[0]
    assert f"about {v.seeds_needed} trials would likely decide" in v.prose


def _wilson_z(p, n, z):
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_bootstrap_seeds_needed_usually_decides():
    rng = np.random.default_rng(14)
    pilot = compare_medians(standardised(6, -0.5, 1, rng), standardised(6, 0, 1, rng), claim="a<b", margin=0,
                            resamples=2000)
    assert pilot.outcome == "inconclusive" and pilot.seeds_needed is not None
    n = pilot.seeds_needed
    reruns = [compare_medians(rng.normal(-0.5, 1, n), rng.normal(0, 1, n), claim="a<b", margin=0, resamples=500,
                              seed=i).outcome for i in range(100)]
    assert 1 - rate(reruns, "inconclusive") >= 0.5


def test_seeds_needed_is_none_when_decided_on_the_boundary_or_beyond_the_cap():
    rng = np.random.default_rng(15)
    decided = compare(rng.normal(-5, 0.1, 5), rng.normal(0, 0.1, 5), claim="a<b", margin=0.1)
    assert decided.outcome == "confirmed" and decided.seeds_needed is None
    on_boundary = compare([-0.1, 0.1, 0.0], [0.0, 0.0, 0.0], claim="a<b", margin=0.0)
    assert on_boundary.outcome == "inconclusive" and on_boundary.seeds_needed is None
    assert "sits on the boundary" in on_boundary.reason
    far = compare([-0.001, 1.0, 1.998], [0.99, 1.0, 1.01], claim="a<b", margin=0.0)    # effect −0.001, sd 1
    assert far.outcome == "inconclusive" and far.seeds_needed is None
    assert f"more than {SEEDS_CAP} seeds per group" in far.reason


# ---------------------------------------------------------------- awkward data

def test_non_finite_values_are_dropped_and_counted():
    v = compare([1.0, np.nan, 1.2, 1.1, np.inf], [2.0, 2.1, -np.inf, 2.2], claim="a<b", margin=0.5)
    assert v.n == (3, 3) and v.n_dropped == (2, 1)
    assert v.estimate_a == pytest.approx(1.1) and v.outcome == "confirmed"
    assert "3 non-finite (diverged) runs dropped" in v.prose


def test_fewer_than_two_finite_values_give_no_interval():
    v = compare([1.0, np.nan], [2.0, 2.1, 2.2], claim="a<b", margin=0.0, names=("snake", "relu"))
    assert v.outcome == "inconclusive" and v.low is None and v.high is None and v.seeds_needed is None
    assert v.reason == "fewer than 2 finite values in snake" and v.effect == pytest.approx(-1.1)
    none_left = compare_medians([np.nan, np.nan], 0.0, claim="a>b", margin=0.0)
    assert none_left.outcome == "inconclusive" and none_left.effect is None and none_left.n == (0,)


def test_zero_variance_is_decided_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        both = compare([1.0, 1.0, 1.0], [2.0, 2.0], claim="a<b", margin=0.5)
        one = compare([1.0, 1.0, 1.0], 1.0, claim="a≈b", margin=0.5)
        medians = compare_medians([3.0, 3.0, 3.0], [3.0, 3.0], claim="a~b", margin=0.1)
    assert both.outcome == "confirmed" and both.low == both.high == -1.0 and both.df is None
    assert one.outcome == "confirmed" and one.low == one.high == 0.0
    assert medians.outcome == "confirmed"


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, message", [
    (lambda: compare([1, 2], [1, 2], claim="a<<b", margin=0), "claim='a<<b'"),
    (lambda: compare([1, 2], [1, 2], claim="a<b", margin=-0.1), "margin=-0.1"),
    (lambda: compare([1, 2], [1, 2], claim="a<b", margin=0, level=1.0), "level=1.0"),
    (lambda: compare([1, 2], [1, 2], claim="a<b", margin=0, level=0), "level=0"),
    (lambda: compare([1, 2], [1, 2], claim="a≈b", margin=0), "needs margin > 0"),
    (lambda: compare([], [1, 2], claim="a<b", margin=0), "a is empty"),
    (lambda: compare([1, 2], [], claim="a<b", margin=0), "b is empty"),
    (lambda: compare([[1, 2]], [1, 2], claim="a<b", margin=0), "1-D"),
    (lambda: compare([1, 2], math.nan, claim="a<b", margin=0), "must be finite"),
    (lambda: proportion(6, 5, claim="a>b", reference=0.9), "successes=6 exceeds trials=5"),
    (lambda: proportion(0, 0, claim="a>b", reference=0.9), "trials=0"),
    (lambda: proportion(2.5, 5, claim="a>b", reference=0.9), "successes=2.5"),
    (lambda: proportion(2, 5, claim="a>b", reference=1.5), "reference=1.5"),
    (lambda: compare_medians([1, 2], [1, 2], claim="a<b", margin=0, resamples=10), "resamples=10"),
    (lambda: compare([1, 2], [1, 2], claim="a<b", margin=0, power=1), "power=1"),
    (lambda: compare([1, 2], [1, 2], claim="a<b", margin=0, names=("a",)), "names=('a',)"),
    (lambda: compare([1, 2], [1, 2], claim="a<b", margin=0, digits=0), "digits=0"),
    (lambda: bonferroni_level(0.95, 0), "comparisons=0"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# ---------------------------------------------------------------- the record and its words

def test_verdict_round_trips_through_strict_json():
    rng = np.random.default_rng(16)
    verdicts = [compare(rng.normal(0, 1, 5), rng.normal(0.2, 1, 5), claim="a<b", margin=0.05, units="points"),
                compare([1.0, np.nan], [2.0, 3.0], claim="a>b", margin=0.0),
                proportion(48, 50, claim="a>b", reference=0.9),
                compare_medians(rng.normal(0, 1, 7), 0.3, claim="a~b", margin=1.0)]
    for v in verdicts:
        text = json.dumps(v.to_dict(), allow_nan=False)
        record = json.loads(text)
        assert record["prose"] == v.prose and record["label"] == v.label
        assert Verdict.from_dict(record) == v


def test_to_dict_turns_non_finite_numbers_into_none():
    v = Verdict(claim="a<b", outcome="inconclusive", effect=math.nan, low=-math.inf, high=None, level=0.95, margin=0.0,
                n=(1, 1), n_dropped=(0, 0), test="Welch t", df=None, estimate_a=1.0, estimate_b=math.inf,
                seeds_needed=None)
    record = v.to_dict()
    assert record["effect"] is None and record["low"] is None and record["estimate_b"] is None
    json.dumps(record, allow_nan=False)


def test_prose_states_outcome_interval_margin_test_and_sizes():
    a = [0.30, 0.32, 0.29, 0.31, 0.33]
    b = [0.45, 0.43, 0.47, 0.44, 0.46]
    v = compare(a, b, claim="a<b", margin=0.05, names=("snake", "relu"), units="MSE")
    assert v.outcome == "confirmed"
    assert v.prose == (f"confirmed: snake − relu = −0.14 MSE (95 % CI {format_number(v.low)} to "
                       f"{format_number(v.high)}), beyond the margin of 0.05 MSE; Welch t, n = 5 and 5")
    assert v.label.startswith("confirmed: −0.14 [")
    coarse = compare(a, b, claim="a<b", margin=0.05, digits=1)
    assert "= −0.1 (95 % CI −0.2 to −0.1)" in coarse.prose
    assert "entirely below zero" in compare(a, b, claim="a<b", margin=0.0, units="MSE").prose
    inconclusive = compare([0.3, 0.5, 0.1], [0.4, 0.2, 0.6], claim="a<b", margin=0.05)
    assert "the interval straddles −0.05, the margin" in inconclusive.prose
    assert "seeds per group would likely decide" in inconclusive.prose
    against = compare(a, 0.4, claim="a<b", margin=0.0, names=("snake", "b"))
    assert against.prose.startswith("confirmed: snake − 0.4 = −0.09 (95 % CI") and "n = 5" in against.prose
    rate_prose = proportion(50, 50, claim="a>b", reference=0.9, names=("fit rate", "b")).prose
    assert rate_prose.startswith("confirmed: fit rate − 0.9 = 0.1") and "Wilson, 50 of 50" in rate_prose


@pytest.mark.parametrize("x, digits, text", [
    (-0.12345, 3, "−0.123"), (0.05, 3, "0.05"), (1234.5, 3, "1230"), (0.0, 3, "0"), (2.0, 3, "2"),
    (1.5e-7, 3, "1.50e−07"), (0.99996, 3, "1"), (-0.0001, 1, "−0.0001"), (None, 3, "n/a"), (12.345, 5, "12.345")])
def test_number_formatting(x, digits, text):
    assert format_number(x, digits) == text


def test_bonferroni_level():
    assert bonferroni_level(0.95, 1) == 0.95 and bonferroni_level(0.95, 5) == pytest.approx(0.99)
