"""Robust curve endpoints, the stated convergence criterion and best checkpoints (lib.curves): hand-computed."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from lib.curves import (
    best_checkpoint,
    criterion_text,
    diverged,
    endpoint,
    flattened,
    improvement,
)

NAN, INF = math.nan, math.inf


def test_endpoint_is_the_mean_of_the_last_k_evaluations():
    assert endpoint([1.0, 2.0, 3.0, 4.0, 5.0], last=2) == 4.5
    assert endpoint([1.0, 2.0, 3.0, 4.0, 5.0], last=1) == 5.0
    assert endpoint([1.0, 2.0, 3.0], last=10) == 2.0          # a short curve: all it has


def test_endpoint_skips_non_finite_evaluations_and_works_per_member():
    assert endpoint([1.0, 2.0, NAN, 4.0, NAN], last=2) == 3.0
    values = endpoint([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, NAN, 40.0], [NAN, NAN, NAN, NAN]], last=3)
    assert isinstance(values, np.ndarray) and values.shape == (3,)
    np.testing.assert_allclose(values[:2], [3.0, 70.0 / 3])                 # 10, 20 and 40
    assert math.isnan(values[2])


def test_diverged_flags_curves_that_end_non_finite():
    assert diverged([1.0, 2.0, INF]) is True and diverged([1.0, NAN, 2.0]) is False
    np.testing.assert_array_equal(diverged([[1.0, NAN], [1.0, 0.5], [1.0, -INF]]), [True, False, True])


def test_improvement_and_flattened_for_a_loss():
    loss = [1.0, 0.5, 0.4, 0.39, 0.385]
    assert improvement(loss, window=2) == pytest.approx(0.015)   # best before 0.4, best in the window 0.385
    assert flattened(loss, window=2, tolerance=0.05) is True
    assert flattened(loss, window=2, tolerance=0.01) is False
    assert flattened(loss, window=2, tolerance=0.05, relative=True) is True    # 0.015 / 0.4 = 3.75 %
    assert flattened(loss, window=2, tolerance=0.03, relative=True) is False
    assert improvement(loss, window=4) == pytest.approx(0.615)


def test_improvement_and_flattened_for_an_accuracy():
    accuracy = [50.0, 70.0, 80.0, 80.4, 80.2]
    assert improvement(accuracy, window=2, mode="max") == pytest.approx(0.4)
    assert flattened(accuracy, window=2, tolerance=0.5, mode="max") is True
    assert flattened(accuracy, window=3, tolerance=0.5, mode="max") is False   # 80.4 − 70
    worse = [50.0, 80.0, 79.0, 78.0]                                           # overfitting: no gain at all
    assert improvement(worse, window=2, mode="max") == -1.0 and flattened(worse, 2, 0.0, mode="max") is True


def test_flattened_per_member_and_for_short_or_sparse_curves():
    curves = [[1.0, 0.5, 0.49, 0.489], [1.0, 0.8, 0.6, 0.4], [1.0, 0.9, NAN, NAN]]
    np.testing.assert_array_equal(flattened(curves, window=2, tolerance=0.02), [True, False, False])
    assert math.isnan(improvement([1.0, 0.9], window=2))
    assert flattened([1.0, 0.9], window=2, tolerance=1.0) is False            # too short to tell
    assert flattened([0.0, 0.0, 0.0], window=1, tolerance=0.01, relative=True) is True
    assert flattened([0.0, 0.0, -0.1], window=1, tolerance=0.01, relative=True) is False


def test_criterion_text():
    assert criterion_text(3, 0.5, units="points") == (
        "the last 3 evaluations improve on the best before them by less than 0.5 points")
    assert criterion_text(1, 0.01, relative=True) == "the last evaluation improves on the best before them by less " \
                                                      "than 1 % of it"


def test_best_checkpoint():
    assert best_checkpoint([3.0, 1.0, 2.0, 1.0]) == (1, 1.0)                 # the first of ties
    assert best_checkpoint([3.0, 1.0, 2.0, 1.0], mode="max") == (0, 3.0)
    assert best_checkpoint([NAN, 2.0, INF, 0.5, NAN]) == (3, 0.5)
    index, value = best_checkpoint([[0.3, 0.1, 0.2], [NAN, 0.9, 0.95]], mode="max")
    np.testing.assert_array_equal(index, [0, 2])
    np.testing.assert_allclose(value, [0.3, 0.95])


@pytest.mark.parametrize("call, message", [
    (lambda: endpoint([], last=1), "shape (0,)"),
    (lambda: endpoint(np.zeros((2, 2, 2)), last=1), "shape (2, 2, 2)"),
    (lambda: endpoint([1.0], last=0), "last=0"),
    (lambda: flattened([1.0, 2.0], window=1, tolerance=-1), "tolerance=-1"),
    (lambda: flattened([1.0, 2.0], window=1.5, tolerance=1), "window=1.5"),
    (lambda: improvement([1.0, 2.0], window=1, mode="lowest"), "mode='lowest'"),
    (lambda: best_checkpoint([[1.0, 2.0], [NAN, NAN]]), "member(s) [1]"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
