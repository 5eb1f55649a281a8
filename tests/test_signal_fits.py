"""The Snake chapters' experiment code: recording, stacked seeds, comparisons, phase agreement."""
from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lib import signal_fits as se
from lib.chapters import snake_decay, snake_extrapolation
from lib.data.signals import decay_split, extrapolation_split, make_task
from lib.seeding import seed_everything
from lib.train import evaluate, make_optimizer, train

matplotlib.use("Agg")

SMALL = dict(hidden=(8, 8), device="cpu", progress=False)


@pytest.fixture(scope="module")
def split():
    return extrapolation_split(L=120)


def test_fit_records_predictions_every_k_epochs_and_is_deterministic(split):
    a = se.fit(split, "snake", {"a": 3.0}, epochs=20, frames=5, lr=1e-3, seeds=(4,), **SMALL)
    b = se.fit(split, "snake", {"a": 3.0}, epochs=20, frames=5, lr=1e-3, seeds=(4,), **SMALL)
    assert a.frame_epochs.tolist() == [1, 4, 8, 12, 16, 20]
    assert a.predictions.shape == (1, 6, 120) and a.train_mse.shape == a.test_mse.shape == (1, 20)
    assert np.array_equal(a.predictions, b.predictions) and np.array_equal(a.test_mse, b.test_mse)
    # frame 0 is the untrained network: the seed's init, built alone
    seed_everything(4)
    model = se.make_network("snake", {"a": 3.0}, hidden=(8, 8))
    with torch.no_grad():
        untrained = model(split.x).squeeze(-1).numpy()
    np.testing.assert_allclose(a.predictions[0, 0], untrained, rtol=1e-5, atol=1e-6)
    # the frame MSEs are the recorded per-epoch train MSEs at those epochs (before that epoch's update)
    train_mse, _ = a.frame_mse()
    np.testing.assert_allclose(train_mse, a.train_mse[0, a.frame_epochs - 1], rtol=1e-4)
    # the final numbers are those of the trained network
    np.testing.assert_allclose(a.final_test_mse, a.test_mse[:, -1], rtol=1e-5)
    c = se.fit(split, "snake", {"a": 3.0}, epochs=20, frames=5, lr=1e-3, seeds=(5,), **SMALL)
    assert not np.array_equal(a.predictions, c.predictions)


def test_stacked_grid_equals_separate_runs(split):
    params, seeds = [{"a": 0.5}, {"a": 5.0}], [0, 7]
    grid = se.train_grid(split, "snake", params, seeds, hidden=(8, 8), lr=1e-2, epochs=25, device="cpu",
                         progress=False)
    assert grid.test_mse.shape == (2, 2) and np.isfinite(grid.test_mse).all()
    for p, values in enumerate(params):
        for s, seed in enumerate(seeds):
            seed_everything(seed)
            model = se.make_network("snake", values, hidden=(8, 8))
            train(model, split.train, epochs=25, optimizer=make_optimizer(model, "adam", 1e-2), progress=False,
                  device="cpu")
            alone = evaluate(model, *split.test)["loss"]
            assert grid.test_mse[p, s] == pytest.approx(alone, rel=1e-4, abs=1e-7)
            for (name, mine), theirs in zip(grid.member(p, s).state_dict().items(), model.state_dict().values()):
                torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6, msg=name)


def test_learnable_per_neuron_snake_trains_stacked(split):
    grid = se.train_grid(split, "snake", [{"a": 2.0, "learnable": True, "granularity": "channel"}], [1, 2],
                         hidden=(8, 8), lr=1e-2, epochs=10, device="cpu", progress=False)
    a = grid.member(0, 1).activations[0].a
    assert a.shape == (8,) and not torch.allclose(a, torch.full((8,), 2.0))


def test_compare_activations_table_and_stats(split):
    candidates = [se.Candidate("ReLU", "relu"), se.Candidate("Snake a=2", "snake", {"a": 2.0})]
    tasks = {"extrapolation": split, "interpolation": extrapolation_split(L=120, reverse=True)}
    c = se.compare_activations(tasks, candidates, seeds=[0, 1, 2], hidden=(8, 8), epochs=10, lr=1e-2,
                               progress=False, device="cpu")
    assert c.test_mse.shape == (2, 2, 3) and np.isfinite(c.test_mse).all()
    mean, std = c.stats()
    np.testing.assert_allclose(mean, c.test_mse.mean(axis=2))
    np.testing.assert_allclose(std, c.test_mse.std(axis=2, ddof=1))
    table = c.markdown()
    assert table.count("\n") == 3 and "±" in table and table.count("**") == 4
    assert c.best("extrapolation").label == candidates[int(np.argmin(mean[:, 0]))].label


def test_comparison_candidates_are_buildable_and_include_the_papers_baselines():
    labels = [c.label for c in se.comparison_candidates(30.0)]
    assert labels[:5] == ["ReLU", "tanh", "sin", "x + sin x", "x + sin²x"]
    for c in se.comparison_candidates(7.0):
        net = se.make_network(c.activation, c.params, hidden=(4, 4))
        assert torch.isfinite(net(torch.linspace(-3, 3, 5).unsqueeze(1))).all()


def test_bad_setups_fail_before_training(split):
    with pytest.raises(KeyError, match="unknown activation"):
        se.train_grid(split, "snak", [{}], [0], epochs=1)
    with pytest.raises(TypeError, match="no parameter"):
        se.train_grid(split, "relu", [{"a": 1.0}], [0], epochs=1)
    with pytest.raises(ValueError, match="distinct"):
        se.train_grid(split, "relu", [{}], [0, 0], epochs=1)
    with pytest.raises(ValueError, match="frames"):
        se.fit(split, "relu", {}, frames=0, epochs=1)
    with pytest.raises(ValueError, match="lr"):
        se.fit(split, "relu", {}, lr=0.0, epochs=1)
    with pytest.raises(ValueError, match="finite a > 0"):
        se.compare_activations({"e": split}, [se.Candidate("bad", "snake", {"a": -1.0})], [0], epochs=1)


def test_frame_indices_are_even_and_keep_both_ends():
    assert se.frame_indices(51, 50).tolist()[0] == 0 and se.frame_indices(51, 50).tolist()[-1] == 50
    assert len(se.frame_indices(51, 50)) == 50
    assert se.frame_indices(5, 50).tolist() == [0, 1, 2, 3, 4]


def test_animation_is_offline_html_with_the_requested_frames_and_no_open_figure(split):
    result = se.fit(split, "relu", {}, epochs=12, frames=4, lr=1e-3, **SMALL)
    plt.close("all")
    html = se.animate_fit(result, frames=3).data
    assert "<script" in html and "font-awesome" not in html
    assert html.count("data:image/png;base64") == 3
    assert plt.get_fignums() == []


def test_phase_agreement_separates_periodic_from_unrelated_features():
    split = extrapolation_split(L=600)
    x = split.x.flatten().numpy()
    periodic = np.stack([np.cos(x), np.sin(x)], axis=1)
    assert snake_decay.phase_agreement(periodic, split) > 0.99
    rng = np.random.default_rng(0)
    unrelated = rng.normal(size=(len(x), 5))
    assert abs(snake_decay.phase_agreement(unrelated, split)) < 0.2
    # features that only know x: test points match the block's ends, whatever their phase
    linear = np.stack([x, 2 * x], axis=1)
    assert snake_decay.phase_agreement(linear, split) < 0.5


def test_tsne_is_seeded_and_two_dimensional():
    feats = np.random.default_rng(1).normal(size=(40, 6))
    a, b = snake_decay.tsne(feats, seed=3, perplexity=5), snake_decay.tsne(feats, seed=3, perplexity=5)
    assert a.shape == (40, 2) and np.array_equal(a, b)


def test_subsample_keeps_the_split():
    split = decay_split(L=1000)
    small = snake_decay.subsample(split, 100)
    assert len(small.x) == 100 and torch.equal(small.x.flatten(), split.x.flatten()[::10])
    assert small.x[small.train_index].max() < -19.5 and small.x[small.test_index].min() > -20.5


def test_baseline_and_period():
    split = make_task("extrapolation", L=1000)
    assert se.zero_baseline(split) == pytest.approx(0.5, abs=0.03)
    assert snake_extrapolation.snake_period(30.0) == pytest.approx(math.pi / 30)


def test_compare_means_needs_a_difference_beyond_two_standard_errors():
    assert se.compare_means([1.0, 1.1, 0.9], [5.0, 5.1, 4.9]) == "lower than"
    assert se.compare_means([5.0, 5.1, 4.9], [1.0, 1.1, 0.9]) == "higher than"
    assert se.compare_means([1.0, 3.0, 0.1], [2.0, 0.5, 2.5]) == "not clearly different from"
    assert se.compare_means([1.0, np.nan, 1.2], [3.0, 3.1, np.nan]) == "lower than"   # NaNs left out
    assert se.compare_means([np.nan], [1.0]) == "not comparable with"
