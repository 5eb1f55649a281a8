"""The training loop, the optimiser helper, the MLP and the ensemble."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lib
from lib.activations.snake import Snake
from lib.ensemble import Ensemble, member_losses, train_ensemble
from lib.models import MLP
from lib.train import History, evaluate, make_optimizer, train


def regression_data(n=64):
    x = torch.linspace(-3, 3, n).unsqueeze(1)
    return x, torch.sin(x)


def classification_data(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()
    return x, y


# --- train --------------------------------------------------------------------------------------

def test_training_reduces_the_loss_and_records_history():
    lib.seed_everything(0)
    model = MLP(1, [32], 1, activation="tanh")
    data = regression_data()
    history = train(model, data, epochs=200, lr=1e-2, eval_data={"test": data}, progress=False)
    assert history.epochs == list(range(1, 201))
    assert history["train_loss"][-1] < 0.2 * history["train_loss"][0]
    assert history.last("test_loss") == pytest.approx(evaluate(model, *data)["loss"])
    assert history.seconds > 0


def test_same_seed_same_training_on_cpu():
    def run():
        lib.seed_everything(7)
        model = MLP(2, [16], 2, activation="snake", activation_params={"learnable": True, "granularity": "channel"})
        h = train(model, classification_data(), epochs=5, loss="cross_entropy", batch_size=32,
                  eval_data={"test": classification_data(seed=1)}, progress=False, seed=7)
        return h, model

    (h1, m1), (h2, m2) = run(), run()
    assert h1.metrics == h2.metrics
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)


def test_classification_metrics_and_eval_every():
    lib.seed_everything(1)
    model = MLP(2, [16], 2, activation="relu")
    h = train(model, classification_data(), epochs=6, loss="cross_entropy", batch_size=40,
              eval_data={"test": classification_data(seed=1)}, eval_every=3, progress=False)
    assert set(h.metrics) == {"train_loss", "test_loss", "test_acc"}
    acc = h["test_acc"]
    assert np.isnan(acc[[0, 1, 3, 4]]).all() and np.isfinite(acc[[2, 5]]).all()
    assert 0.0 <= acc[-1] <= 1.0


def test_callback_sees_every_epoch():
    seen = []
    model = MLP(1, [4], 1)
    train(model, regression_data(), epochs=4, progress=False, callback=lambda e, m, h: seen.append((e, len(h.epochs))))
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]


def test_non_finite_loss_raises_naming_the_epoch():
    model = MLP(1, [4], 1)
    x, y = regression_data()
    with pytest.raises(FloatingPointError, match="epoch 1"):
        train(model, (x, y * float("nan")), epochs=3, progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs"), ({"epochs": 2, "loss": "l1"}, "unknown loss"),
    ({"epochs": 2, "eval_every": 0}, "eval_every"),
])
def test_bad_arguments_fail_before_training(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train(MLP(1, [4], 1), regression_data(), progress=False, **kwargs)


def test_mismatched_data_is_rejected():
    x, y = regression_data()
    with pytest.raises(ValueError, match="equal length"):
        train(MLP(1, [4], 1), (x, y[:-1]), epochs=1, progress=False)


def test_history_rejects_metrics_that_appear_late():
    h = History()
    h.log(1, a=1.0)
    with pytest.raises(KeyError, match="b"):
        h.log(2, a=1.0, b=2.0)


def test_high_low_learning_rates_split_activation_parameters():
    model = MLP(1, [8, 8], 1, activation="snake", activation_params={"learnable": True, "granularity": "channel"})
    opt = make_optimizer(model, "adam", lr=1e-3, activation_lr=1e-5)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["weights"]["lr"] == 1e-3 and groups["activations"]["lr"] == 1e-5
    assert {id(p) for p in groups["activations"]["params"]} == {id(a.a) for a in model.activations}
    assert len(groups["weights"]["params"]) + len(groups["activations"]["params"]) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="unknown optimiser"):
        make_optimizer(model, "lbfgs")
    with pytest.raises(ValueError, match="lr"):
        make_optimizer(model, "adam", lr=0.0)


# --- MLP --------------------------------------------------------------------------------------

def test_mlp_shapes_features_and_per_layer_activations():
    model = MLP(3, [5, 7], 2, activation=["relu", "snake"], activation_params=None)
    x = torch.randn(4, 3)
    assert model(x).shape == (4, 2) and model.features(x).shape == (4, 7)
    assert isinstance(model.activations[1], Snake)
    per = MLP(1, [6], 1, activation="snake", activation_params={"granularity": "channel", "learnable": True})
    assert per.activations[0].a.shape == (6,)


def test_mlp_initialisations():
    lib.seed_everything(0)
    wide = MLP(2000, [2000], 1, init="snake", zero_bias=True)
    w = wide.hidden_layers[0].weight
    assert w.var().item() == pytest.approx(1 / 2000, rel=0.02)        # gain 1: Var(W) = 1/fan_in
    assert torch.all(wide.hidden_layers[0].bias == 0)
    xav = MLP(1000, [3000], 1, init="xavier_normal")
    assert xav.hidden_layers[0].weight.var().item() == pytest.approx(2 / 4000, rel=0.02)
    assert not torch.all(MLP(2, [3], 1).hidden_layers[0].bias == 0)  # PyTorch default keeps biases


@pytest.mark.parametrize("kwargs, error", [
    ({"init": "he"}, ValueError), ({"hidden": []}, ValueError), ({"hidden": [4, 0]}, ValueError),
    ({"activation": ["relu"], "hidden": [3, 3]}, ValueError), ({"activation": "nope"}, KeyError),
    ({"activation": "snake", "activation_params": {"b": 1}}, TypeError),
])
def test_mlp_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        MLP(**kwargs)


# --- Ensemble ---------------------------------------------------------------------------------

def make_snake_mlp():
    return MLP(1, [12, 12], 1, activation="snake",
               activation_params={"a": 2.0, "learnable": True, "granularity": "channel"}, init="xavier_normal")


def solo_adam(model, data, epochs, lr):
    x, y = data
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return np.array(losses)


def test_ensemble_training_equals_separate_runs():
    torch.set_default_dtype(torch.float64)
    try:
        data = regression_data()
        seeds = [0, 1, 2]
        ens = Ensemble.from_seeds(make_snake_mlp, seeds)
        history = train_ensemble(ens, data, epochs=40, lr=1e-2, progress=False, eval_data={"fit": data})
        assert history["train_loss"].shape == (3, 40)
        for i, s in enumerate(seeds):
            lib.seed_everything(s)
            solo = make_snake_mlp()
            losses = solo_adam(solo, data, 40, 1e-2)
            np.testing.assert_allclose(history["train_loss"][i], losses, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(ens.member(i)(data[0]), solo(data[0]), rtol=1e-10, atol=1e-12)
            assert history["fit_loss"][i, -1] == pytest.approx(evaluate(solo, *data)["loss"], rel=1e-10)
    finally:
        torch.set_default_dtype(torch.float32)


def test_an_eval_set_may_not_shadow_the_training_loss():
    data = regression_data()
    with pytest.raises(ValueError, match='"train"'):
        train(MLP(1, [4], 1), data, epochs=1, eval_data={"train": data}, progress=False)
    with pytest.raises(ValueError, match='"train"'):
        train_ensemble(Ensemble.from_seeds(lambda: MLP(1, [4], 1), [0]), data, epochs=1,
                       eval_data={"train": data}, progress=False)


def test_ensemble_from_stream_follows_the_swarm_seeding():
    make = lambda: MLP(1, [5], 1, activation="relu")  # noqa: E731
    ens = Ensemble.from_stream(make, 3, seed=10)
    lib.seed_everything(10)
    bees = [make() for _ in range(3)]
    x = regression_data()[0]
    for i, bee in enumerate(bees):
        torch.testing.assert_close(ens.member(i)(x), bee(x))
    assert ens(x).shape == (3, len(x), 1)
    assert ens(x, method="features").shape == (3, len(x), 5)


def test_ensemble_freezes_diverged_members_and_records():
    make = lambda: MLP(1, [8], 1, activation="relu")  # noqa: E731
    ens = Ensemble.from_stream(make, 4, seed=0)
    x, y = regression_data()
    history = train_ensemble(ens, (x, y * 1e3), epochs=20, optimizer="sgd", lr=5.0, momentum=0.9,
                             progress=False, record=lambda e, en, out: {"ypred": out[..., 0]}, record_every=5)
    assert history.n_diverged == 4 and (history.diverged_at > 0).all()
    for p in ens.stacked.values():
        assert torch.isfinite(p).all()                       # frozen at the last finite state
    for i, epoch in enumerate(history.diverged_at):
        losses = history["train_loss"][i]
        assert np.isfinite(losses[:epoch - 1]).all() and np.isnan(losses[epoch - 1:]).all()
    assert history.record_epochs == [1, 5, 10, 15, 20]
    assert history.record("ypred").shape == (4, 5, len(x))


def test_member_losses_for_classification_match_torch():
    torch.manual_seed(0)
    out = torch.randn(3, 10, 4)
    y = torch.randint(0, 4, (10,))
    expected = torch.stack([nn.functional.cross_entropy(out[i], y) for i in range(3)])
    torch.testing.assert_close(member_losses(out, y, "cross_entropy"), expected)
    with pytest.raises(ValueError):
        member_losses(out, y, "hinge")


def test_ensemble_rejects_mixed_or_empty_members():
    with pytest.raises(ValueError):
        Ensemble([])
    with pytest.raises(TypeError):
        Ensemble([MLP(1, [2], 1), nn.Linear(1, 1)])
    with pytest.raises(IndexError):
        Ensemble.from_seeds(lambda: MLP(1, [2], 1), [0]).member(1)
