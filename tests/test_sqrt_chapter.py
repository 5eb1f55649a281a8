"""The report's CNN, the SQRT-family chapter's run function, its grids and its claims."""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lib import image_runs, slice_measures, sweep
from lib.chapters import sqrt_family as se
from lib.claims import ClaimSet
from lib.models.sqrt_cnn import SqrtCNN, parameter_counts
from lib.parameters import ParameterError
from lib.runner.checks import profile_values
from lib.seeding import torch_threads

ROOT = Path(__file__).resolve().parents[1]


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
    assert rows["RELU_BN"]["k5"] == weights5 + bn == 4_811_922          # the report's RELU_BN count
    assert rows["TSQRT_tanh_BN"]["k5"] == weights5 + bn + per_element
    assert rows["RELU"]["original"] == 4_749_226


def test_activations_sit_before_conv2_fc1_fc2_only():
    """With identity activations (TLeakyReLU at z = 1) the network is conv-pool-conv-pool-FC-FC."""
    torch.manual_seed(0)
    model = SqrtCNN("tleaky_relu", activation_params={"z": 1.0}, in_channels=1, channels=4, hidden=6).double()
    x = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    h = F.max_pool2d(model.conv1(x), 2)
    h = F.max_pool2d(model.conv2(h), 2).flatten(1)
    torch.testing.assert_close(model(x), model.fc2(model.fc1(h)))
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


# ---------------------------------------------------------------- the chapter's parameters and grids

def notebook_defaults(profile: str = "full") -> dict:
    """The chapter's values in a profile, as the runner resolves them; they name every assignment of the
    notebook's parameters cell."""
    import nbformat

    values = profile_values(ROOT, "sqrt_family", profile)
    path = ROOT / "book" / "sqrt_family.ipynb"
    cell = next(c for c in nbformat.read(path, 4).cells if "parameters" in c.metadata.get("tags", []))
    assert set(values) == {node.target.id for node in ast.parse(cell.source).body}
    return values


def tiny(**changes) -> dict:
    """Parameters of a tiny chapter on the digits (seconds per grid)."""
    p = {**notebook_defaults(), "dataset": "digits", "train_limit": 200, "test_limit": 100, "epochs": 3,
         "early_epochs": 1, "channels": 3, "hidden": 8, "seeds": [0, 1], "reference_hidden": 8,
         "landscape_examples": 40, "landscape_points_1d": 5, "landscape_points_2d": 3, **changes}
    return se.PARAMETERS.check(p)


def test_grids_cover_every_variant_and_seed_with_valid_configs():
    p = tiny()
    grids = {g.name: g for g in se.grids(p)}
    assert set(grids) == {"sqrt_family-main", "sqrt_family-rates", "sqrt_family-collapse",
                          "sqrt_family-references"}
    n_trainable = len(p["trainable"])
    assert len(grids["sqrt_family-main"].configs) == (2 * (1 + 2 * n_trainable) + 1) * len(p["seeds"])
    assert len(grids["sqrt_family-rates"].configs) == (2 * len(p["rate_activations"]) + 1) * len(p["seeds"])
    assert len(grids["sqrt_family-collapse"].configs) == 3 * len(p["seeds"])
    assert len(grids["sqrt_family-references"].configs) == 2 * len(p["seeds"])
    for grid in grids.values():
        for config in grid.configs:
            se.check_config(config)
    sliced = [c for c in grids["sqrt_family-main"].configs if c["slices"] is not None]
    assert {(c["activation"], c["learnable"], c["batch_norm"]) for c in sliced} == \
        {("relu", False, False), ("tsqrt", True, False), ("tsqrt_tanh", True, False)}
    rates = grids["sqrt_family-rates"].configs
    assert {c["activation_lr"] for c in rates} == {p["activation_lr"], p["fast_activation_lr"]}
    collapse = grids["sqrt_family-collapse"].configs
    assert {c["lr"] for c in collapse} == {p["collapse_lr"]} and all(c["batch_norm"] for c in collapse)
    assert {(c["activation"], c["strategy"]) for c in collapse} == {("relu", "single"), ("tsqrt", "single"),
                                                                     ("tsqrt", "fast-activation")}
    assert not se.grids(tiny(collapse_study=False, rate_activations=[]))[1].name.endswith("rates")


@pytest.mark.parametrize("change, match", [
    ({"early_epochs": 3}, "early_epochs"), ({"landscape_points_1d": 6}, "odd"),
    ({"rate_activations": ["tselu"]}, "rate_activations"), ({"landscape_activations": ["gelu"]}, "gelu"),
    ({"trainable": ["relu"]}, "trainable")])
def test_impossible_parameters_fail_before_anything_runs(change, match):
    with pytest.raises(ParameterError, match=match):
        tiny(**change)


@pytest.mark.parametrize("change, match", [
    ({"activation_lr": 1e-5}, "single-rate"), ({"bn_affine": False}, "bn_affine"), ({"model": "vit"}, "model"),
    ({"kernel_size": 4}, "kernel_size"), ({"slices": {"examples": 5, "points_1d": 4, "points_2d": 3, "span": 1.0}},
                                          "odd"), ({"strategy": "fast-activation", "activation": "relu",
                                                    "learnable": False, "activation_lr": 0.01}, "trainable")])
def test_check_config_rejects_impossible_runs(change, match):
    config = se.cnn_config(tiny(), se.Variant("tsqrt", True, False), 0)
    se.check_config(config)
    with pytest.raises(ValueError, match=match):
        se.check_config({**config, **change})


# ---------------------------------------------------------------- one run

@pytest.fixture(scope="module")
def one_thread():
    with torch_threads(1):
        yield


def run(variant, seed=0, **changes):
    p = tiny(**changes)
    return image_runs.train_run(se.cnn_config(p, dataclasses.replace(variant, lr=p["lr"]), seed))


def test_a_run_is_deterministic_given_its_seed_and_returns_plain_numbers(one_thread):
    v = se.Variant("tsqrt_tanh", True, True)
    a, b, c = run(v, 3), run(v, 3), run(v, 4)
    np.testing.assert_array_equal(a["test_acc"], b["test_acc"])
    k_a, k_b = a["parameters"]["before FC2"]["k"]["final"], b["parameters"]["before FC2"]["k"]["final"]
    np.testing.assert_array_equal(k_a, k_b)
    assert not np.array_equal(k_a, c["parameters"]["before FC2"]["k"]["final"])
    assert len(a["test_acc"]) == len(a["train_eval_acc"]) == 3
    assert a["parameters"]["before FC2"]["k"]["path"].shape == (4, 1 + len(se.QUANTILES))
    assert a["parameters"]["before conv2"]["k"]["final"].shape == (3 * 8 * 8,)     # one k per unit
    assert a["counts"]["activation"] == 3 * 8 * 8 + 3 * 4 * 4 + 8
    assert a["cpu_seconds"] > 0 and a["steps"] == 3 * math.ceil(200 / tiny()["batch_size"])


def test_frozen_parameters_stay_and_the_strategies_move_them_in_order(one_thread):
    frozen = run(se.Variant("tgelu", False, False))
    np.testing.assert_allclose(frozen["parameters"]["before FC1"]["w"]["final"], np.sqrt(2.0), rtol=1e-6)
    moved = {s: float(se.moved([se.Run(se.Variant("tgelu", True, False, s), 0,
                                       run(se.Variant("tgelu", True, False, s)))])[0])
             for s in se.STRATEGIES}
    assert moved["high-low"] < moved["single"] / 10 < moved["fast-activation"] / 10
    assert float(se.moved([se.Run(se.Variant("tgelu", False, False), 0, frozen)])[0]) == 0.0


def test_frozen_batchnorm_keeps_scale_one_and_shift_zero(one_thread):
    from lib.train import make_optimizer, train

    p = tiny()
    config = se.cnn_config(p, se.Variant("relu", False, True, lr=p["lr"], bn_affine=False), 0)
    data = image_runs.cached_data(config["dataset"], config["train_limit"], config["test_limit"], config["data_seed"])
    for affine in (False, True):
        model = image_runs.build_model({**config, "bn_affine": affine}, data)
        train(model, data.train, epochs=1, optimizer=make_optimizer(model, "adam", 1e-2), loss="cross_entropy",
              batch_size=64, progress=False)
        unchanged = all(torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(bn.bias, torch.zeros_like(
            bn.bias)) for bn in (model.bn1, model.bn2, model.bn3))
        assert unchanged == (not affine)
    frozen, learnable = image_runs.train_run(config), image_runs.train_run({**config, "bn_affine": True})
    assert not np.array_equal(frozen["test_loss"], learnable["test_loss"])


def test_a_run_can_slice_its_loss_landscape(one_thread):
    p = tiny()
    config = se.cnn_config(p, se.Variant("tsqrt", True, False, lr=p["lr"]), 0, slices=True)
    result = image_runs.train_run(config)
    s = result["slices"]
    assert s["loss_1d"].shape == (5,) and s["loss_2d"].shape == (3, 3)
    assert s["loss_1d"][2] == pytest.approx(s["loss_2d"][1, 1])          # both hold the trained weights
    assert slice_measures.roughness(s)["second_difference"] > 0


# ---------------------------------------------------------------- claims from per-seed numbers

def fake_run(variant, seed, test_acc, train_acc=None):
    test_acc = np.asarray(test_acc, float) / 100
    result = {"test_acc": test_acc, "train_eval_acc": test_acc if train_acc is None else np.asarray(train_acc) / 100,
              "parameters": {}, "counts": {"total": 1}, "cpu_seconds": 1.0, "seconds": 1.0}
    return se.Run(variant, seed, result)


def fake_study(p, curves_by_variant):
    return {v: [fake_run(v, s, c) for s, c in zip(p["seeds"], curves, strict=True)]
            for v, curves in curves_by_variant.items()}


def test_readings_of_a_curve():
    v = se.Variant("relu", False, False)
    runs = [fake_run(v, 0, [50, 60, 70, 80, 81, 82]), fake_run(v, 1, [40, 40, 40, 40, 40, 40]),
            se.Run(v, 2, None, "FloatingPointError: loss became nan")]
    np.testing.assert_allclose(se.final(runs), [81, 40, np.nan])
    np.testing.assert_allclose(se.early(runs, 2), [55, 40, np.nan])
    np.testing.assert_allclose(se.fluctuation(runs), [32 / 5, 0, np.nan])
    assert se.flattened(runs).tolist() == [False, True, False]    # 82 vs 80: a gain of 2 points in the last 3
    assert se.summary(runs)["diverged"] == 1 and se.summary(runs)["n"] == 2


def test_claims_follow_the_numbers():
    p = tiny(seeds=[0, 1, 2, 3])
    V = se.Variant
    flat = lambda level: [[level + d] * 6 for d in (-0.2, 0.0, 0.1, 0.2)]       # noqa: E731
    levels = {V("tsqrt", True, False): 70, V("relu", False, False): 80, V("tgelu", True, False): 80.1,
              V("tgelu", False, False): 80}
    study = fake_study(p, {v: flat(level) for v, level in levels.items()})
    specs = {s.id: s for s in se.claim_specs(p)}
    below, same = specs["sqrt_family.tsqrt.below_relu"], specs["sqrt_family.gelu.final_same"]
    assert se.decide(study, below, p)["verdict"].outcome == "confirmed"        # 10 points below, margin 1
    assert se.decide(study, same, p)["verdict"].outcome == "confirmed"         # 0.1 apart, within ±1
    study.update(fake_study(p, {V("tsqrt", True, False): flat(79.5)}))
    assert se.decide(study, below, p)["verdict"].outcome == "contradicted"     # 0.5 below: less than the margin
    record = se.decide(study, below, p)
    assert record["details"]["a"] == pytest.approx([79.3, 79.5, 79.6, 79.7]) and record["seeds"] == [0, 1, 2, 3]


def test_every_claim_is_recorded_once_with_the_report_as_source():
    p = tiny()
    ids = [s.id for s in se.claim_specs(p)]
    assert len(ids) == len(set(ids)) and len(ids) == 23
    assert {s.section for s in se.claim_specs(p)} == set(se.SECTIONS.values())
    assert not any(i.startswith("sqrt_family.collapse") for i in (s.id for s in se.claim_specs(tiny(
        collapse_study=False))))


# ---------------------------------------------------------------- the whole chapter, small, through the sweep

def test_tiny_chapter_through_the_sweep_engine(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("ACTIVATION_BOOK_RUNS", str(tmp_path / "runs"))
    p = tiny(epochs=2, train_limit=128, test_limit=60, trainable=["tsqrt", "tsqrt_tanh"],
             rate_activations=["tsqrt_tanh"], landscape_activations=["relu", "tsqrt"])
    grids = se.grids(p)
    results = {g.name: sweep.run(g, workers=0, progress=False) for g in grids}
    study = se.collect([g for g in grids if not g.name.endswith("references")], results)
    references = se.collect_references(grids[-1], results[grids[-1].name])
    assert set(references) == {"linear", "mlp"} and all(len(r) == 2 for r in references.values())
    assert all(len(runs) == 2 for runs in study.values())
    claims = ClaimSet("sqrt_family", profile="test")
    added = se.record_claims(claims, study, p)
    assert len(added) == len(se.claim_specs(p)) and all(c.verdict.outcome in
                                                        ("confirmed", "contradicted", "inconclusive") for c in added)
    assert len(se.run_rows(study)) == sum(len(r) for r in study.values())
    assert {r["parameter"] for r in se.movement_rows(study)} == {"z", "k"}
    assert len(se.landscape_rows(study, se.landscape_variants(p))) == 4

    import matplotlib.pyplot as plt
    visible = lambda fig: [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]    # noqa: E731
    assert len(visible(se.plot_curves(study, lr=p["lr"]))) == 3                         # ReLU, TSQRT, TSQRT_tanh
    assert len(visible(se.plot_curves(study, lr=p["collapse_lr"]))) == 2
    paths = [v for v in study if v.trainable and not v.batch_norm and v.lr == p["lr"]]
    assert len(visible(se.plot_parameter_paths(study, paths))) == len(paths)
    assert len(visible(se.plot_learned_shapes(study, paths))) == len(paths)
    plt.close("all")

    # a diverged run comes back as a record and is counted, not raised
    diverged = {grids[0].name: [sweep.Diverged(c, "FloatingPointError: nan") if i == 0 else value
                                for i, (c, value) in enumerate(zip(grids[0].configs, results[grids[0].name]))]}
    broken = se.collect([grids[0]], diverged)
    first = se.Variant(**{k: grids[0].configs[0][k] for k in se.VARIANT_FIELDS})
    assert broken[first][0].diverged and se.summary(broken[first])["diverged"] == 1


# ---------------------------------------------------------------- the profiles

def test_the_quick_profile_and_the_full_defaults_pass_the_rules():
    se.PARAMETERS.check(notebook_defaults("quick"))
    se.PARAMETERS.check(notebook_defaults("full"))


def test_the_paper_profile_is_the_reports_setting():
    p = se.PARAMETERS.check(notebook_defaults("paper"))
    assert (p["dataset"], p["channels"], p["hidden"], p["epochs"], p["train_limit"]) == ("cifar10", 192, 1256, 100, 0)
    assert set(p["trainable"]) == set(se.TRAINABLE) and len(p["seeds"]) >= 3
    assert se.datasets(p) == ["cifar10"]


@pytest.mark.slow      # about 10 s on a quiet machine: the loss slices of a 4.8-million-parameter network
def test_paper_grids_dry_run_on_a_tiny_cifar_archive(tmp_path, monkeypatch, one_thread):
    """Every grid of the paper profile: every config checked, the first trained for one step on a fake archive."""
    from test_images import fake_cifar_archive

    from lib.data import images

    archive = tmp_path / "cifar-10-python.tar.gz"
    fake_cifar_archive(archive, per_batch=4)
    monkeypatch.setattr(images, "CIFAR10", dataclasses.replace(
        images.CIFAR10, files=(images.DataFile(archive.name, hashlib.md5(archive.read_bytes()).hexdigest()),)))
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path))
    image_runs.cached_data.cache_clear()
    try:
        p = se.PARAMETERS.check(notebook_defaults("paper"))
        for grid in se.grids(p):
            result = sweep.dry_run(grid)
            assert len(result["test_acc"]) == 1                          # stopped after one step
            if grid.name.endswith("main"):
                assert result["counts"]["weights"] == expected_counts(3, 192, 1256, p["kernel_size"])[0]
    finally:
        image_runs.cached_data.cache_clear()
