"""The swarm engine: parameter sets, seeding, vectorised training equal to bee-by-bee training, metrics."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from reference_swarm import one_bee_of
from torch import nn

from lib import swarm, swarm_fused
from lib.ensemble import BatchedMLP, Ensemble
from lib.seeding import seed_everything

X = torch.linspace(-5, 5, 61)
Y = torch.sin(X)


def static(**kw):
    return {"x": X, "y": Y, "hidden": 1, "momentum": 0.9, "lr": 0.01, "num_epochs": 12, **kw}


# ----------------------------------------------------------------------------- parameter sets

def test_sweep_is_a_product_with_the_first_keyword_slowest():
    sets = swarm.make_sweep_paramsets({"s": 0}, a=[1, 2], b=["u", "v", "w"])
    assert [(p["a"], p["b"]) for p in sets] == [(1, "u"), (1, "v"), (1, "w"), (2, "u"), (2, "v"), (2, "w")]
    assert all(p["s"] == 0 for p in sets)


def test_combo_lists_vary_together_and_combos_vary_slowest():
    sets = swarm.make_combo_paramsets({"s": 0}, {"lr": [0.1, 0.2], "momentum": [0.9, 0.5]}, {}, act=["r", "t"])
    assert [(p["lr"], p["momentum"], p["act"]) for p in sets] == [
        (0.1, 0.9, "r"), (0.1, 0.9, "t"), (0.2, 0.5, "r"), (0.2, 0.5, "t")]
    assert swarm.make_combo_paramsets({"s": 0}, a=[1, 2]) == swarm.make_sweep_paramsets({"s": 0}, a=[1, 2])


def test_two_combos_are_crossed():
    sets = swarm.make_combo_paramsets({}, {"a": [1, 2]}, {"b": [3, 4], "c": [5, 6]})
    assert [(p["a"], p["b"], p["c"]) for p in sets] == [(1, 3, 5), (1, 4, 6), (2, 3, 5), (2, 4, 6)]


@pytest.mark.parametrize("call", [
    lambda: swarm.make_sweep_paramsets({"a": 1}, a=[2]),
    lambda: swarm.make_combo_paramsets({"a": 1}, {"a": [2]}),
    lambda: swarm.make_combo_paramsets({}, {"a": [1]}, a=[2]),
    lambda: swarm.make_combo_paramsets({}, {"a": [1]}, {"a": [2]}),
    lambda: swarm.make_sweep_paramsets({"a": 1}, a=[]),
])
def test_a_key_given_twice_is_an_error(call):
    with pytest.raises(ValueError, match="given twice"):
        call()


def test_unequal_combo_lengths_and_non_lists_are_errors():
    with pytest.raises(ValueError, match="equal lengths"):
        swarm.make_combo_paramsets({}, {"lr": [0.1, 0.2], "momentum": [0.9]})
    with pytest.raises(TypeError, match="list or tuple"):
        swarm.make_sweep_paramsets({}, activation="relu")


# ----------------------------------------------------------------------------- the default regime

def original_default_bee(x, y, hidden=2, width=2, activation=nn.ReLU, num_epochs=200, lr=0.001, momentum=0.9):
    """An independent transcription of the original default_train (nn.Sequential, torch's SGD)."""
    layers = [nn.Linear(1, width), activation()]
    for _ in range(hidden - 1):
        layers += [nn.Linear(width, width), activation()]
    net = nn.Sequential(*layers, nn.Linear(width, 1))
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    for _ in range(num_epochs):
        opt.zero_grad()
        ypred = net(x.unsqueeze(-1)).squeeze(-1)
        loss = nn.functional.mse_loss(ypred, y)
        yield ypred.detach(), loss.detach()
        loss.backward()
        opt.step()


def test_defaults_and_seeding_match_the_original_bee_by_bee():
    params = {"x": X, "y": Y, "num_epochs": 15}
    ours = swarm.hive_trainer(swarm.default_train, [params], num_bees=3, seed=10)[0]
    theirs = swarm.hive_trainer(original_default_bee, [params], num_bees=3, seed=10)[0]
    assert ours["ypred"].shape == (3, 15, 61) and ours["loss"].shape == (3, 15)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours["ypred"], theirs["ypred"], rtol=1e-5, atol=1e-6)
    # record 0 is the untrained network
    seed_everything(10)
    first = swarm.default_train.make_net(swarm.default_train.resolve(params))
    np.testing.assert_allclose(ours["ypred"][0, 0], first(X.unsqueeze(1)).detach()[:, 0].numpy(), rtol=1e-6)


CASES = [
    ("relu", 10, 1, None), ("tanh", 3, 1, None), ("tanhshrink", 1, 1, None), ("relu", 4, 2, None),
    (nn.ReLU, 5, 1, None), ("snake", 6, 1, {"a": 1.0}), ("x_plus_sin", 4, 1, None),
    ("snake", 5, 1, {"a": 2.0, "learnable": True}), ("snake", 5, 1, {"learnable": True, "granularity": "channel"}),
]


@pytest.mark.parametrize("activation,width,hidden,act_params", CASES)
@pytest.mark.parametrize("engine", ["auto", "fused", "batched", "vmap"])
def test_vectorised_swarm_equals_training_each_bee_alone(activation, width, hidden, act_params, engine):
    learnable = bool(act_params and act_params.get("learnable"))
    fused = hidden == 1 and not learnable and swarm_fused.library() is not None
    if engine == "batched" and learnable:
        with pytest.raises(ValueError, match="vmap"):
            swarm.default_train.with_engine(engine).swarm(
                2, 0, **static(width=width, hidden=hidden, activation=activation, activation_params=act_params))
        return
    if engine == "fused" and not fused:
        with pytest.raises(ValueError, match="fused engine does not apply"):
            swarm.default_train.with_engine(engine).swarm(
                2, 0, **static(width=width, hidden=hidden, activation=activation, activation_params=act_params))
        return
    regime = swarm.DefaultTrain(engine, dtype=torch.float64)
    params = [static(width=width, hidden=hidden, activation=activation, activation_params=act_params, lr=0.02)]
    fast = swarm.hive_trainer(regime, params, num_bees=4, seed=3, fields="ypred,loss,kinks")[0]
    slow = swarm.hive_trainer(one_bee_of(regime), params, num_bees=4, seed=3, fields="ypred,loss,kinks")[0]
    for field in ("ypred", "loss", "kinks"):
        np.testing.assert_allclose(fast[field], slow[field], rtol=1e-9, atol=1e-11, err_msg=field)
    assert fast["n_diverged"] == 0
    if engine == "auto":
        expected = "fused" if fused else "vmap" if learnable or (act_params or {}).get("granularity") else "batched"
        assert fast["engine"] == expected


def test_float32_swarm_is_close_to_bee_by_bee():
    params = [static(width=10, activation="relu", num_epochs=60)]
    fast = swarm.hive_trainer(swarm.default_train, params, num_bees=5, seed=10)[0]
    slow = swarm.hive_trainer(one_bee_of(), params, num_bees=5, seed=10, fields="ypred,loss,kinks")[0]
    np.testing.assert_allclose(fast["loss"], slow["loss"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fast["ypred"], slow["ypred"], rtol=1e-4, atol=1e-5)


def test_a_bee_starts_where_it_would_in_any_swarm_and_every_swarm_restarts_from_the_seed():
    small = swarm.default_train.swarm(2, 7, **static(width=3))
    large = swarm.default_train.swarm(5, 7, **static(width=3))
    np.testing.assert_array_equal(small["ypred"], large["ypred"][:2])  # bee k does not depend on the swarm size
    hive = swarm.hive_trainer(swarm.default_train, [static(width=3, momentum=0.0), static(width=3, momentum=0.9)],
                              num_bees=3, seed=7)
    np.testing.assert_array_equal(hive[0]["ypred"][:, 0], hive[1]["ypred"][:, 0])  # same starts
    assert not np.allclose(hive[0]["loss"][:, -1], hive[1]["loss"][:, -1])  # different training


def test_same_seed_same_swarm_other_seed_other_swarm():
    a = swarm.default_train.swarm(3, 1, **static(width=4))
    b = swarm.default_train.swarm(3, 1, **static(width=4))
    c = swarm.default_train.swarm(3, 2, **static(width=4))
    np.testing.assert_array_equal(a["loss"], b["loss"])
    assert not np.allclose(a["loss"], c["loss"])


@pytest.mark.parametrize("engine", ["fused", "batched", "vmap"])
def test_diverged_bees_are_marked_and_frozen_while_the_rest_go_on(engine):
    params = [static(width=10, lr=0.1, num_epochs=60)]
    regime = swarm.DefaultTrain(engine, dtype=torch.float64)  # unstable runs amplify float32 rounding
    fast = swarm.hive_trainer(regime, params, num_bees=12, seed=3)[0]
    slow = swarm.hive_trainer(one_bee_of(regime), params, num_bees=12, seed=3, fields="ypred,loss,kinks")[0]
    diverged = fast["diverged_at"] >= 0
    assert 0 < fast["n_diverged"] == diverged.sum() < 12, "this setting should make some bees, not all, diverge"
    np.testing.assert_array_equal(fast["diverged_at"], slow["diverged_at"])
    for i in np.flatnonzero(diverged):
        e = fast["diverged_at"][i]
        assert np.isfinite(fast["loss"][i, :e]).all() and np.isnan(fast["loss"][i, e:]).all()
        assert np.isnan(fast["ypred"][i, e:]).all()
    assert np.isfinite(fast["loss"][~diverged]).all()
    np.testing.assert_allclose(fast["loss"][~diverged], slow["loss"][~diverged], rtol=1e-8)


def test_bad_input_fails_before_any_training():
    good = static(width=3)
    with pytest.raises(KeyError, match="relu"):
        swarm.hive_trainer(swarm.default_train, [good, static(width=3, activation="reluu")], 2, 0)
    with pytest.raises(TypeError, match="no parameter"):
        swarm.hive_trainer(swarm.default_train, [{**good, "widht": 3}], 2, 0)
    with pytest.raises(ValueError, match="unknown field"):
        swarm.hive_trainer(swarm.default_train, [good], 2, 0, fields="ypred,weights")
    with pytest.raises(ValueError, match="momentum"):
        swarm.hive_trainer(swarm.default_train, [static(momentum=1.0)], 2, 0)
    with pytest.raises(ValueError, match="width"):
        swarm.hive_trainer(swarm.default_train, [static(width=0)], 2, 0)
    with pytest.raises(ValueError, match="num_bees"):
        swarm.hive_trainer(swarm.default_train, [good], 0, 0)
    with pytest.raises(ValueError, match="empty"):
        swarm.hive_trainer(swarm.default_train, [], 2, 0)
    with pytest.raises(ValueError, match="length"):
        swarm.hive_trainer(swarm.default_train, [{**good, "y": Y[:-1]}], 2, 0)
    with pytest.raises(ValueError, match="engine"):
        swarm.DefaultTrain("jit")


# ----------------------------------------------------------------------------- metrics and rows

def test_first_and_stays_below():
    loss = np.array([[5, 3, 1, 2, 0.5, 0.4],    # first below 1 at 2, stays from 4
                     [5, 4, 3, 2, 2, 2],         # never
                     [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],  # from the start
                     [5, 0.9, 0.8, 0.7, 0.6, 3],      # below but ends above
                     [5, 0.9, np.nan, np.nan, np.nan, np.nan]])  # diverged after getting below
    np.testing.assert_array_equal(swarm.first_below(loss, 1.0), [2, -1, 0, 1, 1])
    np.testing.assert_array_equal(swarm.stays_below(loss, 1.0), [4, -1, 0, -1, -1])
    # relative: a fraction of each bee's own loss at the reference epoch
    np.testing.assert_array_equal(swarm.first_below(loss, 0.5, relative=True), [2, 3, -1, 1, 1])
    np.testing.assert_array_equal(swarm.stays_below(loss, 0.5, relative=True), [2, 3, -1, -1, -1])
    np.testing.assert_array_equal(swarm.first_below(loss[0], 1.0), [2])
    with pytest.raises(ValueError, match="positive"):
        swarm.first_below(loss, 0.0)
    with pytest.raises(ValueError, match="reference"):
        swarm.first_below(loss, 0.5, relative=True, reference=6)


def test_tidy_rows_one_per_swarm_bee_epoch():
    hive = swarm.hive_trainer(swarm.default_train, swarm.make_sweep_paramsets(static(num_epochs=4), width=[1, 2],
                                                                              activation=[nn.Tanh, "relu"]), 3, 0)
    rows = swarm.tidy_rows(hive)
    assert len(rows) == 4 * 3 * 4
    first = rows[0]
    assert {"swarm", "bee", "epoch", "loss", "diverged", "width", "activation", "lr"} <= first.keys()
    assert "x" not in first and "ypred" not in first
    assert {r["activation"] for r in rows} == {"Tanh", "relu"}
    r = rows[5]
    assert r["loss"] == pytest.approx(hive[r["swarm"]]["loss"][r["bee"], r["epoch"]])
    assert len(swarm.tidy_rows(hive, every=2)) == 4 * 3 * 2
    with pytest.raises(ValueError, match="bee, epoch"):
        swarm.tidy_rows(hive, fields=("ypred",))


@pytest.mark.parametrize("activation", ["relu", "tanh", "tanhshrink", "snake", "x_plus_sin", "gelu", "elu"])
def test_batched_bees_start_exactly_where_built_modules_start(activation):
    regime = swarm.DefaultTrain()
    p = regime.resolve(static(width=5, hidden=2, activation=activation))
    direct = BatchedMLP.from_stream([1, 5, 5, 1], p["factory"], 4, 11)
    built = BatchedMLP(Ensemble.from_stream(lambda: regime.make_net(p), 4, 11))
    for a, b in zip([*direct.weights, *direct.biases], [*built.weights, *built.biases]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_without_the_fused_library_auto_takes_the_torch_engines(monkeypatch):
    """Where the C library cannot be built (no compiler, ACTIVATION_BOOK_NATIVE=0), "auto" trains with the
    batched engine and asking for "fused" says why it cannot."""
    monkeypatch.setattr(swarm_fused.LIBRARY, "loaded", True)
    monkeypatch.setattr(swarm_fused.LIBRARY, "lib", None)
    monkeypatch.setattr(swarm_fused.LIBRARY, "status", "off: no C compiler (set CC, or install gcc)")
    out = swarm.default_train.swarm(2, 0, **static(width=3, hidden=1))
    assert out["engine"] == "batched"
    with pytest.raises(ValueError, match="no C compiler"):
        swarm.default_train.with_engine("fused").swarm(2, 0, **static(width=3, hidden=1))


@pytest.mark.skipif(swarm_fused.library() is None, reason="the fused engine's library is not built here")
def test_the_fused_engine_honours_a_step_limit_and_keeps_the_trained_weights():
    from lib.dry_run import step_limit
    with step_limit(4):
        out = swarm.DefaultTrain("fused").swarm(3, 0, **static(width=3, hidden=1, num_epochs=50))
    assert out["loss"].shape == (3, 4) and out["ypred"].shape[1] == 4
    p = swarm.default_train.resolve(static(width=5, hidden=1, num_epochs=30))
    bees = BatchedMLP.from_stream([1, 5, 1], p["factory"], 2, 0)
    start = bees.weights[0].detach().clone()
    records = swarm_fused.train(bees, p["x"], p["y"], 30, 0.01, 0.9, ["loss"])
    assert not torch.equal(bees.weights[0], start)                       # trained in place
    with torch.no_grad():
        final = float(((bees(p["x"]) - p["y"].unsqueeze(0)) ** 2).mean(dim=(1, 2))[0])
    assert final < records["loss"][0, -1] * 1.01                         # the last record is before the last update
