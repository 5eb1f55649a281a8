"""The report's CNN and the SQRT-family experiment helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lib.chapters import sqrt_family as se
from lib.models.sqrt_cnn import SqrtCNN, parameter_counts
from lib.seeding import torch_threads


def expected_counts(in_ch, C, H, k, S=16, classes=10):
    weights = (in_ch * C * k * k + C) + (C * C * k * k + C) + (C * (S // 4) ** 2 * H + H) + (H * classes + classes)
    per_element = C * (S // 2) ** 2 + C * (S // 4) ** 2 + H
    return weights, per_element, 2 * (C + C + H)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("name, n_params", [("relu", 0), ("tsqrt_tanh", 1), ("tgelu", 2)])
@pytest.mark.parametrize("bn", [False, True])
def test_parameter_counts_follow_the_layout(k, name, n_params, bn):
    weights, per_element, batch_norm = expected_counts(3, 12, 20, k)
    model = SqrtCNN(name, learnable=True, granularity="element", batch_norm=bn, channels=12, hidden=20, kernel_size=k)
    counts = parameter_counts(model)
    assert counts["weights"] == weights
    assert counts["activation"] == n_params * per_element
    assert counts["batch_norm"] == (batch_norm if bn else 0)
    assert counts["total"] == weights + n_params * per_element + (batch_norm if bn else 0)


def test_original_size_counts_in_the_parameter_table():
    rows = {r["variant"]: r for r in se.parameter_table()}
    weights5, per_element, bn = expected_counts(3, 192, 1256, 5)
    assert rows["RELU"]["k5"] == weights5
    assert rows["RELU_BN"]["k5"] == weights5 + bn
    assert rows["TSQRT_tanh_BN"]["k5"] == weights5 + bn + per_element
    assert rows["RELU"]["original"] == 4_749_226


def test_activations_sit_before_conv2_fc1_fc2_only():
    """With identity activations (TLeakyReLU at z = 1) the network is conv-pool-conv-pool-FC-FC."""
    torch.manual_seed(0)
    model = SqrtCNN("tleaky_relu", activation_params={"z": 1.0}, in_channels=1, channels=4, hidden=6).double()
    x = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    h = F.max_pool2d(model.conv1(x), 2)
    h = F.max_pool2d(model.conv2(h), 2).flatten(1)
    expected = model.fc2(model.fc1(h))
    torch.testing.assert_close(model(x), expected)
    relu = SqrtCNN("relu", in_channels=1, channels=4, hidden=6).double()
    relu.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("act")})
    h = F.max_pool2d(relu.conv1(x), 2)          # no activation after conv1
    h = F.max_pool2d(relu.conv2(torch.relu(h)), 2)
    torch.testing.assert_close(relu(x), relu.fc2(torch.relu(relu.fc1(torch.relu(h.flatten(1))))))


@pytest.mark.parametrize("granularity, shapes", [
    ("layer", [(), (), ()]), ("channel", [(4,), (4,), (6,)]), ("element", [(4, 8, 8), (4, 4, 4), (6,)])])
def test_activation_sites_have_the_granularity_shapes(granularity, shapes):
    model = SqrtCNN("tsqrt", granularity=granularity, in_channels=1, channels=4, hidden=6, batch_norm=True,
                    dropout=0.3)
    assert [tuple(a.raw_z.shape) for a in model.activation_sites.values()] == shapes
    assert model(torch.randn(5, 1, 16, 16)).shape == (5, 10)


@pytest.mark.parametrize("kwargs, match", [
    ({"image_size": 18}, "multiple of 4"), ({"kernel_size": 4}, "odd"), ({"dropout": 1.0}, "dropout"),
    ({"channels": 0}, "channels"), ({"activation": "sqrtt"}, "unknown activation")])
def test_bad_network_arguments_fail_early(kwargs, match):
    with pytest.raises((ValueError, KeyError), match=match):
        SqrtCNN(**kwargs)


@pytest.fixture(scope="module")
def tiny():
    # one thread: these networks are too small to gain from two, and a shared machine punishes them
    with torch_threads(1):
        data = se.load_data("digits", train_limit=256, test_limit=120)
        setup = se.Setup(epochs=2, batch_size=64, channels=4, hidden=8, train_eval=100)
        yield data, setup


def test_training_is_deterministic_given_the_seed(tiny):
    data, setup = tiny
    v = se.Variant("tsqrt_tanh", True, True)
    a, b, c = (se.train_variant(v, data, setup, s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.history["test_acc"], b.history["test_acc"])
    np.testing.assert_array_equal(a.trajectory[-1]["before FC2"]["k"], b.trajectory[-1]["before FC2"]["k"])
    assert not np.array_equal(a.trajectory[-1]["before FC2"]["k"], c.trajectory[-1]["before FC2"]["k"])
    assert len(a.trajectory) == setup.epochs + 1 and len(a.history["train_eval_acc"]) == setup.epochs


def test_frozen_parameters_stay_and_high_low_moves_them_less(tiny):
    data, setup = tiny
    frozen = se.train_variant(se.Variant("tgelu", False, False), data, setup, 0)
    assert se.movement([frozen]) == 0.0
    np.testing.assert_allclose(frozen.parameter_path("before FC1", "w"), np.sqrt(2.0), rtol=1e-6)
    single = se.train_variant(se.Variant("tgelu", True, False), data, setup, 0)
    high_low = se.train_variant(se.Variant("tgelu", True, False, "high-low"), data, setup, 0)
    assert se.movement([single]) > 0
    assert se.movement([high_low]) < se.movement([single]) / 10


def test_grid_claims_and_tables(tiny):
    data, setup = tiny
    variants = se.variant_grid(["tsqrt", "tgelu", "tsqrt_tanh"])
    assert len(variants) == 2 * (1 + 2 * 3) and len(set(variants)) == len(variants)
    small = se.load_data("digits", train_limit=64, test_limit=40)
    results = se.run_grid(variants, small, se.Setup(epochs=1, batch_size=32, channels=2, hidden=4, train_eval=20),
                          seeds=[0, 1], progress=False)
    comparisons = se.claims(results)
    assert {"gelu_t_final", "gelu_t_early", "tsqrt_vs_relu", "tsqrt_bn_vs_relu_bn", "tsqrt_tanh_vs_relu_bn",
            "tsqrt_tanh_bn_effect"} <= set(comparisons)
    assert set(se.bn_effects(comparisons, "trainable")) == {"tsqrt", "tgelu", "tsqrt_tanh"}
    assert set(se.bn_effects(comparisons, "frozen")) == {"relu", "tsqrt", "tgelu", "tsqrt_tanh"}
    rows = se.final_table(results, data, setup)
    assert [r["variant"] for r in rows] == list(se.TABLE2_VARIANTS)
    assert all(r["seeds"] == 2 and 0 <= r["acc_mean"] <= 100 for r in rows)
    claim_rows = se.claim_rows(comparisons)
    assert {r["key"] for r in claim_rows} >= {"gelu_t_final", "tsqrt_vs_relu", "bn_hurts_trainable"}
    assert all(r["verdict"] in ("confirmed", "not confirmed") for r in claim_rows)

    import matplotlib.pyplot as plt
    visible = lambda fig: [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]   # noqa: E731
    assert len(visible(se.plot_curves(results))) == 4                      # ReLU + 3 trainable
    assert len(visible(se.plot_trajectories(results))) == 4                # z, (z, w), k
    assert len(visible(se.plot_learned_shapes(results))) == 3
    plt.close("all")

    study = se.landscape_study(results, ["relu", "tsqrt"], small, examples=30, points_1d=5, points_2d=3,
                               progress=False)
    assert [len(study[n]) for n in ("relu", "tsqrt")] == [2, 2]
    rough = se.roughness_over_seeds(study)
    assert rough["tsqrt"].shape == (2,) and np.all(rough["tsqrt"] >= 0)


def test_claim_verdicts_follow_the_numbers():
    c = lambda a, b: se.compare(a, b)   # noqa: E731
    comparisons = {"tsqrt_vs_relu": c([0.5, 0.51, 0.52], [0.9, 0.91, 0.92]),
                   "gelu_t_early": c([0.5, 0.51, 0.52], [0.9, 0.91, 0.92]),
                   "bn_effect_tsqrt_trainable": c([0.5, 0.51, 0.52], [0.9, 0.91, 0.92]),
                   "bn_effect_tgelu_trainable": c([0.9, 0.91, 0.92], [0.5, 0.51, 0.52]),
                   "bn_effect_tswish_trainable": c([0.5, 0.51, 0.52], [0.9, 0.91, 0.92])}
    rows = {r["key"]: r for r in se.claim_rows(comparisons)}
    assert rows["tsqrt_vs_relu"]["verdict"] == "confirmed"        # TSQRT lower than ReLU
    assert rows["gelu_t_early"]["verdict"] == "not confirmed"     # lower, not faster
    assert rows["bn_hurts_trainable"]["outcome"] == "2 lower, 1 higher"
    assert rows["bn_hurts_trainable"]["verdict"] == "confirmed"
    assert "gelu_t_final" not in rows


def test_chapter_name_lists_are_checked():
    se.check_names(["tsqrt", "tgelu"], ["tgelu"], ["relu", "tsqrt"])
    with pytest.raises(ValueError, match="high_low_activations"):
        se.check_names(["tsqrt"], ["tgelu"], [])
    with pytest.raises(ValueError, match="landscape_activations"):
        se.check_names(["tsqrt"], [], ["gelu"])


def test_compare_verdicts():
    assert se.compare([0.9, 0.91, 0.92], [0.5, 0.51, 0.52]).verdict == "higher"
    assert se.compare([0.5, 0.51, 0.52], [0.9, 0.91, 0.92]).verdict == "lower"
    c = se.compare([0.5, 0.7, 0.6], [0.6, 0.5, 0.7])
    assert c.verdict == "indistinguishable" and c.diff == pytest.approx(0.0)
    assert c.se == pytest.approx(np.sqrt(2 * 0.01 / 3))


def test_bad_experiment_arguments_fail_early(tiny):
    data, setup = tiny
    with pytest.raises(ValueError, match="not trainable"):
        se.variant_grid(["relu"])
    with pytest.raises(ValueError, match="strategy"):
        se.Variant("tsqrt", True, False, "fast")
    with pytest.raises(ValueError, match="epochs"):
        se.Setup(epochs=0)
    with pytest.raises(ValueError, match="seed"):
        se.run_grid([se.Variant("relu", False, False)], data, setup, seeds=[])
    with pytest.raises(KeyError, match="no runs"):
        se.find({}, "tsqrt", True, False)
