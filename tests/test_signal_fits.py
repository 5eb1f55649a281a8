"""The Snake chapters' core: one run of several seeds (run_signal), log-a Snake, the frequency probe, config checks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lib import signal_fits as sf
from lib.activations.snake import Snake
from lib.data.signals import signal_task
from lib.seeding import torch_threads

SMALL = {"hidden": [8], "epochs": 30, "eval_every": 10, "last": 2, "bins": 3, "periods": 2}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the sweep engine runs every run: these tiny networks only lose to a second one."""
    with torch_threads(1):
        yield


def small_config(task=None, candidate=None, seeds=(0, 1), **overrides):
    candidate = candidate or sf.Candidate("Snake, a = 3", "snake", {"a": 3.0})
    return sf.signal_config(task or {"name": "extrapolation", "L": 200}, candidate, seeds=list(seeds),
                            **{**SMALL, **overrides})


def test_run_signal_is_deterministic_and_reads_its_records():
    config = small_config(frames=2)
    a, b = sf.run_signal(config), sf.run_signal(config)
    for name in ("train_curve", "test_curve", "by_distance", "amplitude", "predictions", "frames"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # evaluations at the start of epochs 1, 10, 20, 30 (0, 9, 19, 29 epochs done) and after the last
    assert a.completed.tolist() == [0, 9, 19, 29, 30]
    assert a.train_curve.shape == a.test_curve.shape == (2, 5)
    np.testing.assert_allclose(a.test_mse, a.test_curve[:, -2:].mean(axis=1))          # the endpoint: last 2
    assert a.frame_completed.tolist() == [19, 30]                                       # not the untrained net
    # the test MSE is the error of the recorded predictions on the test points
    error = ((a.predictions - a.y_eval) ** 2)[:, a.test_mask].mean(axis=1)
    np.testing.assert_allclose(error, a.test_curve[:, -1], rtol=1e-6)
    assert a.by_distance.shape == (2, 3) and a.amplitude.shape == (2, 2)
    c = sf.run_signal(small_config(seeds=(0, 2)))
    np.testing.assert_array_equal(c.train_curve[0], a.train_curve[0])                  # seed 0 alone is seed 0
    assert not np.array_equal(c.train_curve[1], a.train_curve[1])


def test_members_of_the_authors_task_train_on_their_own_draw_as_alone():
    task = {"name": "authors", "points_per_side": 8, "test_points": 200}
    together = sf.run_signal(small_config(task, seeds=(3, 4), optimizer="sgd", lr=1e-2, momentum=0.9,
                                          init="default", zero_bias=False))
    for i, seed in enumerate((3, 4)):
        alone = sf.run_signal(small_config(task, seeds=(seed,), optimizer="sgd", lr=1e-2, momentum=0.9,
                                           init="default", zero_bias=False))
        np.testing.assert_allclose(together.train_curve[i], alone.train_curve[0], rtol=1e-5)
        np.testing.assert_allclose(together.predictions[i], alone.predictions[0], rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(together.x_train[i], signal_task("authors", seed, points_per_side=8,
                                                                       test_points=200).x_train.flatten().numpy())
    assert not np.array_equal(together.x_train[0], together.x_train[1])


def test_kept_parameters_rebuild_the_trained_members():
    run = sf.run_signal(small_config(keep_params=True, candidate=sf.comparison_candidates(3.0)[-1]))
    for member in range(2):
        with torch.no_grad():
            again = run.network(member)(torch.as_tensor(run.x_eval, dtype=torch.float32).reshape(-1, 1))
        np.testing.assert_allclose(again.flatten().numpy(), run.predictions[member], rtol=1e-5, atol=1e-6)
    assert run.features(0).shape == (len(run.x_eval), 8)
    moved = run.a_final[0] / run.a_initial[0]
    assert run.a_initial[0].shape == (2, 8) and np.allclose(run.a_initial[0], 3.0) and not np.allclose(moved, 1.0)


def test_log_snake_is_snake_with_log_a_gradients():
    torch.set_default_dtype(torch.float64)
    try:
        x = torch.linspace(-2, 2, 13).reshape(-1, 1).repeat(1, 3)
        log = sf.LogSnake(2.5, 3)
        plain = Snake(2.5, learnable=True, granularity="channel", num_features=3)
        torch.testing.assert_close(log(x), plain(x))
        log(x).pow(2).sum().backward()
        plain(x).pow(2).sum().backward()
        torch.testing.assert_close(log.log_a.grad, plain.a.grad * 2.5)        # d/d(log a) = a d/da
        step = 1e-6                                                           # and against finite differences
        with torch.no_grad():
            log.log_a[0] += step
            up = log(x).pow(2).sum()
            log.log_a[0] -= 2 * step
            down = log(x).pow(2).sum()
        assert log.log_a.grad[0].item() == pytest.approx(((up - down) / (2 * step)).item(), rel=1e-6)
    finally:
        torch.set_default_dtype(torch.float32)


def test_frequency_probe_log_a_reaches_the_right_a_and_raw_a_is_held_to_lr_per_step():
    common = {"target_a": 20.0, "start": [22.0, 24.0], "x_max": 0.15, "points": 50, "optimizer": "adam",
              "lr": 1e-3, "momentum": 0.0, "epochs": 400, "seeds": [0, 1], "record_every": 50}
    log = sf.run_frequency_probe({**common, "parametrization": "log"})
    raw = sf.run_frequency_probe({**common, "parametrization": "raw"})
    np.testing.assert_allclose(log.a_final, 20.0, rtol=1e-3)
    np.testing.assert_allclose(log.moved_fraction, 1.0, atol=1e-2)
    assert np.all(raw.a_start - raw.a_final <= 1e-3 * 400 * 1.01)               # Adam: about lr per step at most
    np.testing.assert_allclose(log.a_start, raw.a_start, rtol=1e-6)            # the same draw of start values
    assert log.a.shape == (2, len(log.epochs)) and log.epochs[-1] == 400


def test_a_run_in_which_every_member_diverges_raises_early():
    config = small_config({"name": "authors", "points_per_side": 8, "test_points": 100},
                          sf.Candidate("x + sin x", "x_plus_sin"), optimizer="sgd", lr=10.0, momentum=0.9,
                          epochs=2000, eval_every=5, init="default", zero_bias=False)
    with pytest.raises(FloatingPointError, match="diverged by epoch"):
        sf.run_signal(config)


@pytest.mark.parametrize("change, message", [
    ({"task": {"name": "sine"}}, "task must be"),
    ({"task": {"name": "extrapolation", "L": 1}}, "L must be"),
    ({"seeds": [1, 1]}, "distinct"),
    ({"hidden": []}, "hidden"),
    ({"init": "he"}, "unknown init"),
    ({"optimizer": "lbfgs"}, "unknown optimizer"),
    ({"lr": 0.0}, "lr must be positive"),
    ({"epochs": 0}, "epochs must be"),
    ({"frames": -1}, "frames must be"),
    ({"candidate": {"label": "x", "activation": "relu", "params": {}, "parametrization": "log"}}, "log param"),
    ({"candidate": {"label": "x", "activation": "snak", "params": {}}}, "unknown activation"),
])
def test_bad_configs_fail_before_training(change, message):
    config = {**small_config(), **change}
    with pytest.raises((ValueError, KeyError, TypeError), match=message):
        sf.check_config(config)
    with pytest.raises(ValueError, match="exactly the keys"):
        sf.check_config({k: v for k, v in small_config().items() if k != "last"})


def test_candidates_and_baselines():
    candidates = sf.comparison_candidates(20.0)
    assert [c.label for c in candidates[:5]] == ["ReLU", "tanh", "sin", "x + sin x", "x + sin²x"]
    assert candidates[-1].parametrization == "log" and candidates[-1].learnable
    for c in candidates:
        assert sf.Candidate.from_config(c.config()) == c
        net = sf.make_network(c, hidden=(4, 4))
        assert torch.isfinite(net(torch.linspace(-3, 3, 5).unsqueeze(1))).all()
    assert sf.zero_baseline(signal_task("extrapolation", L=1000)) == pytest.approx(0.5, abs=0.03)
    assert sf.zero_baseline(signal_task("decay", L=1000), normalised=True) == pytest.approx(0.5, abs=0.02)
    assert sf.task_geometry({"name": "authors"})[1] >= 5                        # 37.5 beyond |x| = 15: 5+ periods
    assert sf.task_geometry({"name": "interpolation", "L": 1000}) == (2, 1)
    assert math.isclose(signal_task("authors", 0).input_scale, 15.0)
