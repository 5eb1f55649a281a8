"""Signal generators: index semantics of the Snake seed, targets, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lib.data import signals
from lib.data.signals import (
    decay_split,
    decaying_sine,
    extrapolation_split,
    gen_data2,
    make_task,
    two_block_split,
)


def original_gen_data2(L=1000, prop_train=0.5, start=-30 * torch.pi, end=30 * torch.pi, reverse=False):
    """The seed's definition, line for line (the reference the module must match)."""
    x = torch.linspace(start, end, L)
    y = torch.sin(x)
    cnt_train = int(L * prop_train)
    train_inds = [(L // 8, (L // 8 + cnt_train // 2)),
                  (L // 8 + cnt_train // 2 + L // 8, L // 8 + cnt_train // 2 + L // 8 + cnt_train // 2)]
    train_inds = (list(np.arange(train_inds[0][0], train_inds[0][1], 1))
                  + list(np.arange(train_inds[1][0], train_inds[1][1], 1)))
    test_inds = [i for i in np.arange(L) if i not in train_inds]
    x_train, y_train, x_test, y_test = x[train_inds], y[train_inds], x[test_inds], y[test_inds]
    if reverse:
        return x_test, y_test, x_train, y_train
    return x_train, y_train, x_test, y_test


@pytest.mark.parametrize("L, prop, start, end", [
    (2000, 0.5, -50, 50), (1000, 0.5, -30 * math.pi, 30 * math.pi), (999, 0.3, -10, 10),
    (64, 0.7, 0, 1), (17, 0.45, -1, 1), (7, 0.5, -1, 1),
])
@pytest.mark.parametrize("reverse", [False, True])
def test_gen_data2_equals_the_original_definition(L, prop, start, end, reverse):
    ours = gen_data2(L, prop, start, end, reverse)
    theirs = original_gen_data2(L, prop, start, end, reverse)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert torch.equal(a, b)


def test_gen_data2_seed_call_trains_on_the_two_published_intervals():
    split = two_block_split()                          # L = 2000, prop 0.5, [-50, 50]
    x_train = split.train[0].flatten()
    assert len(x_train) == 1000 and len(split.test_index) == 1000
    first, second = x_train[:500], x_train[500:]
    assert first[0].item() == pytest.approx(-37.5, abs=0.05) and first[-1].item() == pytest.approx(-12.5, abs=0.06)
    assert second[0].item() == pytest.approx(0.0, abs=0.06) and second[-1].item() == pytest.approx(25.0, abs=0.06)


@pytest.mark.parametrize("L, prop", [(1000, 0.2), (2000, 0.2), (333, 0.2), (100, 0.5), (9, 0.3)])
@pytest.mark.parametrize("reverse", [False, True])
def test_extrapolation_block_starts_at_L_over_8(L, prop, reverse):
    split = extrapolation_split(L=L, prop_train=prop, reverse=reverse)
    block = list(range(L // 8, L // 8 + int(L * prop)))
    rest = [i for i in range(L) if i not in block]
    train, test = (rest, block) if reverse else (block, rest)
    assert split.train_index.tolist() == train and split.test_index.tolist() == test
    x = torch.linspace(-50, 50, L)
    assert torch.equal(split.x.flatten(), x) and torch.equal(split.y.flatten(), torch.sin(x))
    assert torch.equal(split.train[0].flatten(), x[train]) and torch.equal(split.test[1].flatten(), torch.sin(x[test]))
    assert split.is_train.sum().item() == len(train)
    assert split.name == ("interpolation" if reverse else "extrapolation")


def test_default_extrapolation_block_covers_the_published_interval():
    x_train = extrapolation_split().train[0].flatten()
    assert x_train[0].item() == pytest.approx(-37.5, abs=0.05)
    assert x_train[-1].item() == pytest.approx(-17.6, abs=0.05)


def test_decaying_signal_values():
    x = torch.tensor([-100.0, 0.0, math.pi / 2, 100.0], dtype=torch.float64)
    expected = [0.1 * math.exp(3.0) * math.sin(-100.0), 0.0, 0.1 * math.exp(-0.03 * math.pi / 2),
                0.1 * math.exp(-3.0) * math.sin(100.0)]
    torch.testing.assert_close(decaying_sine(x), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)


@pytest.mark.parametrize("L", [1000, 501, 2000])
def test_decay_split_trains_on_the_first_40_percent(L):
    split = decay_split(L=L)
    count = int(L * 0.4)
    assert split.train_index.tolist() == list(range(count))
    assert split.test_index.tolist() == list(range(count, L))
    x = torch.linspace(-100, 100, L)
    assert torch.equal(split.x.flatten(), x)
    torch.testing.assert_close(split.y.flatten(), 0.1 * torch.exp(-0.03 * x) * torch.sin(x))
    assert split.train[0].max().item() < -19.5 and split.test[0].min().item() > -20.5


def test_any_target_function_replaces_sin():
    target = lambda x: torch.sin(x) + 0.5 * torch.cos(3 * x)  # noqa: E731
    x = torch.linspace(-50, 50, 1000)
    assert torch.equal(extrapolation_split(target=target).y.flatten(), target(x))
    ours = gen_data2(800, 0.5, -20, 20, target=torch.cos)
    x = torch.linspace(-20, 20, 800)
    reference = original_gen_data2(800, 0.5, -20, 20)
    index = [int(torch.nonzero(x == v).flatten()[0]) for v in ours[0][:5]]
    assert torch.equal(ours[0], reference[0]) and torch.equal(ours[1][:5], torch.cos(x[index]))
    assert torch.equal(decay_split(target=torch.tanh).y.flatten(), torch.tanh(torch.linspace(-100, 100, 1000)))


def test_make_task_builds_every_named_split_with_its_arguments():
    assert make_task("interpolation", L=100).train_fraction == pytest.approx(0.8)
    assert make_task("extrapolation", L=100).train_fraction == pytest.approx(0.2)
    assert make_task("gen_data2", L=400).name == "gen_data2"
    assert make_task("decay", L=50).train_index.tolist() == list(range(20))
    assert set(signals.TASKS) == {"extrapolation", "interpolation", "gen_data2", "decay"}
    with pytest.raises(ValueError, match="unknown task 'extrapolate'; choose from extrapolation"):
        make_task("extrapolate")


@pytest.mark.parametrize("call, message", [
    (lambda: extrapolation_split(L=1), "L must be an int >= 2"),
    (lambda: extrapolation_split(L=100.0), "L must be an int"),
    (lambda: extrapolation_split(start=5, end=5), "need start < end"),
    (lambda: extrapolation_split(prop_train=0.0), r"prop_train must be in \(0, 1\)"),
    (lambda: extrapolation_split(L=16, prop_train=0.95), "does not fit"),
    (lambda: extrapolation_split(L=10, prop_train=0.05), "no training point"),
    (lambda: gen_data2(L=100, prop_train=0.9), "runs past"),
    (lambda: gen_data2(L=10, prop_train=0.1), "no training point"),
    (lambda: decay_split(prop_train=1.5), r"prop_train must be in \(0, 1\)"),
    (lambda: extrapolation_split(target=lambda x: x.sum()), "same shape"),
    (lambda: extrapolation_split(target="sin"), "target must be a function"),
])
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_original_fails_where_we_raise():
    """The original indexes past the end when the second block does not fit."""
    with pytest.raises(IndexError):
        original_gen_data2(L=100, prop_train=0.9)


def test_authors_task_draws_its_points_from_the_seed_as_the_notebook_describes():
    task = signals.authors_task(3)
    x = task.x_train.flatten()
    assert task.x_train.shape == task.y_train.shape == (64, 1) and task.input_scale == 15.0
    left, right = x[:32], x[32:]
    assert ((left >= -15) & (left <= -5)).all() and ((right >= 5) & (right <= 15)).all()
    torch.testing.assert_close(task.y_train, torch.sin(task.x_train))                    # sin of the undivided x
    torch.testing.assert_close(task.train_inputs[0], task.x_train / 15)
    assert torch.equal(task.x_eval.flatten(), torch.linspace(-52.5, 52.5, 1000)) and task.test_mask.all()
    assert torch.equal(signals.authors_task(3).x_train, task.x_train)                   # seeded
    assert not torch.equal(signals.authors_task(4).x_train, task.x_train)
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    signals.authors_task(5)
    assert torch.equal(torch.rand(3), before)                                           # the global RNG untouched
    with pytest.raises(ValueError, match="inner < outer"):
        signals.authors_task(0, inner=15.0, outer=5.0)
    with pytest.raises(ValueError, match="points_per_side"):
        signals.authors_task(0, points_per_side=0)


def test_split_task_keeps_the_split_and_the_decay_task_its_envelope():
    split = extrapolation_split(L=300)
    task = signals.split_task(split)
    assert torch.equal(task.x_train, split.train[0]) and torch.equal(task.test[1], split.test[1])
    assert torch.equal(task.test_mask, ~split.is_train)
    decay = signals.signal_task("decay", L=500)
    x = decay.x_eval.flatten()
    torch.testing.assert_close(decay.envelope(x), 0.1 * torch.exp(-0.03 * x))
    torch.testing.assert_close(decay.y_eval.flatten(), decaying_sine(x))
    assert signals.signal_task("authors", 2, points_per_side=4).x_train.shape == (8, 1)
    with pytest.raises(ValueError, match="unknown task"):
        signals.signal_task("sine")
