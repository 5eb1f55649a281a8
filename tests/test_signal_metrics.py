"""lib.signal_metrics against brute force, closed forms and scipy: distances, binned errors, sine fits,
phase decoding and its chance level, intervals."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from lib import signal_metrics as sm


def test_distance_to_data_equals_brute_force():
    rng = np.random.default_rng(0)
    x, train = rng.uniform(-50, 50, 300), rng.uniform(-20, 30, 40)
    expected = np.abs(x[:, None] - train[None, :]).min(axis=1)
    np.testing.assert_allclose(sm.distance_to_data(x, train), expected, rtol=0, atol=1e-12)
    assert sm.distance_to_data([3.0], [3.0])[0] == 0.0


def test_error_by_distance_bins_by_whole_periods():
    distance = np.array([0.0, 1.0, 2 * math.pi + 0.1, 2 * math.pi + 1, 5 * math.pi, 100.0])
    error = np.array([1.0, 3.0, 10.0, 20.0, 7.0, 99.0])
    mask = np.array([True, True, True, True, True, True])
    out = sm.error_by_distance(error, distance, mask, 2 * math.pi, 4)
    np.testing.assert_allclose(out[:3], [2.0, 15.0, 7.0])
    assert np.isnan(out[3])                                   # empty bin; the point at 100 is beyond 4 periods
    mask[0] = False
    assert sm.error_by_distance(error, distance, mask, 2 * math.pi, 4)[0] == 3.0
    with pytest.raises(ValueError, match="bins"):
        sm.error_by_distance(error, distance, mask, 1.0, 0)
    with pytest.raises(ValueError, match="one value per point"):
        sm.error_by_distance(error[:3], distance, mask, 1.0, 2)


@pytest.mark.parametrize("amplitude, phase, offset", [(1.0, 0.0, 0.0), (0.3, 1.2, -0.5), (2.0, -2.9, 0.1),
                                                      (0.7, math.pi, 0.0)])
def test_fit_sine_recovers_amplitude_phase_and_offset(amplitude, phase, offset):
    x = np.linspace(3.0, 3.0 + 2 * math.pi, 80, endpoint=False)
    envelope = 0.1 * np.exp(-0.03 * x)
    for e in (None, envelope):
        scale = 1.0 if e is None else e
        y = amplitude * scale * np.sin(x + phase) + offset
        a, p, c = sm.fit_sine(x, y, e)
        assert a == pytest.approx(amplitude, abs=1e-9) and c == pytest.approx(offset, abs=1e-9)
        assert math.cos(p - phase) == pytest.approx(1.0, abs=1e-9)          # the same angle, wrapped to (-pi, pi]
        assert -math.pi < p <= math.pi


def test_period_windows_cover_whole_periods_beyond_the_data():
    x = np.linspace(-52.5, 52.5, 1000)
    train = np.array([-14.0, -6.0, 6.0, 14.0])
    windows = sm.period_windows(x, train, 2 * math.pi, 10)
    right = [w for w in windows if w[0] == 1]
    left = [w for w in windows if w[0] == -1]
    assert len(right) == len(left) == int((52.5 - 14.0) // (2 * math.pi))
    for side, k, index in windows:
        near = 14.0 * side + side * k * 2 * math.pi
        inside = x[index]
        assert np.all(np.abs(inside - near) <= 2 * math.pi + 1e-9) and np.all(np.abs(inside) >= 14.0)
        assert inside.max() - inside.min() > 2 * math.pi - 0.2      # a whole period of grid points


def test_period_fits_read_perfect_flat_and_shifted_continuations():
    x = np.linspace(-60, 60, 2400)
    train = np.linspace(-10, 10, 50)
    perfect = sm.period_fits(x, np.sin(x), train, 2 * math.pi, 5)
    np.testing.assert_allclose(perfect["amplitude"], 1.0, atol=1e-9)
    np.testing.assert_allclose(perfect["phase"], 0.0, atol=1e-9)
    flat = sm.period_fits(x, np.full_like(x, 0.2), train, 2 * math.pi, 5)
    np.testing.assert_allclose(flat["amplitude"], 0.0, atol=1e-9)
    np.testing.assert_allclose(flat["offset"], 0.2, atol=1e-9)
    shifted = sm.period_fits(x, 0.5 * np.sin(x + 0.7), train, 2 * math.pi, 5)
    np.testing.assert_allclose(shifted["amplitude"], 0.5, atol=1e-9)
    np.testing.assert_allclose(shifted["phase"], 0.7, atol=1e-9)
    envelope = np.exp(-0.03 * x)
    decaying = sm.period_fits(x, 2 * envelope * np.sin(x), train, 2 * math.pi, 5, envelope)
    np.testing.assert_allclose(decaying["amplitude"], 2.0, atol=1e-9)
    few = sm.period_fits(x, np.sin(x), train, 2 * math.pi, 12)         # only 7 whole periods fit beyond 10
    assert np.isfinite(few["amplitude"][:7]).all() and np.isnan(few["amplitude"][8:]).all()


def test_beyond_mask_is_outside_the_hull():
    mask = sm.beyond_mask(np.array([-3.0, -1.0, 0.0, 2.0, 2.5]), np.array([-1.0, 2.0]))
    assert mask.tolist() == [True, False, False, False, True]


def _decay_grid():
    x = np.linspace(-100, 100, 1000)
    train = x < -20
    return x, train, ~train


def test_a_perfect_periodic_representation_decodes_to_1_and_its_chance_is_near_0():
    x, train, test = _decay_grid()
    rng = np.random.default_rng(1)
    features = np.stack([np.sin(x), np.cos(x), rng.normal(size=len(x))], axis=1)
    decoded, score = sm.phase_decoding(features, x, train, test)
    assert score.mean() > 0.999 and decoded.shape == x.shape
    chance = sm.decoding_chance(features, x, train, test, shuffles=200, seed=0)
    # a decoder fitted to shuffled phases decodes a randomly rotated phase: its score is cos(rotation), mean 0
    assert abs(chance.mean()) < 0.15 and chance.shape == (200,) and chance.max() < 0.999
    np.testing.assert_array_equal(chance, sm.decoding_chance(features, x, train, test, shuffles=200, seed=0))


def test_features_that_only_know_x_decode_no_phase_on_held_out_periods():
    x, train, test = _decay_grid()
    linear = np.stack([x, x ** 2 / 100], axis=1)
    _, score = sm.phase_decoding(linear, x, train, test)
    assert abs(score.mean()) < 0.1
    noise = np.random.default_rng(2).normal(size=(len(x), 16))
    _, score = sm.phase_decoding(noise, x, train, test)
    assert abs(score.mean()) < 0.1


def test_phase_decoding_checks_its_inputs():
    x, train, test = _decay_grid()
    with pytest.raises(ValueError, match="one row per x"):
        sm.phase_decoding(np.zeros((10, 2)), x, train, test)
    with pytest.raises(ValueError, match="at least 3 training points"):
        sm.phase_decoding(np.zeros((len(x), 2)), x, np.zeros(len(x), bool), test)


def test_mean_interval_matches_scipy_and_drops_nans():
    values = np.array([[0.3, 1.0], [0.5, np.nan], [0.4, 2.0], [0.9, 4.0]])
    mean, low, high = sm.mean_interval(values)
    for j in range(2):
        column = values[:, j][np.isfinite(values[:, j])]
        lo, hi = scipy.stats.t.interval(0.95, len(column) - 1, loc=column.mean(), scale=scipy.stats.sem(column))
        assert mean[j] == pytest.approx(column.mean()) and low[j] == pytest.approx(lo) and high[j] == pytest.approx(hi)
    mean, low, high = sm.mean_interval([1.0, np.nan])
    assert mean == 1.0 and np.isnan(low) and np.isnan(high)


def test_geometric_band_stays_positive():
    values = np.array([[1e-4, 1.0], [1e-2, 2.0], [1.0, 4.0]])
    centre, low, high = sm.geometric_band(values)
    np.testing.assert_allclose(centre, [1e-2, 2.0])
    assert (low > 0).all() and (low < centre).all() and (high > centre).all()
