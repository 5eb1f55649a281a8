"""Character data (pydoc topics), the models, and the runs of the orthogonal-activations chapter (the depth test's
predictions and measurements, the n-gram references, the vision and language runs, its grids)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from lib import sweep
from lib.chapters import ortho_activations as oe
from lib.data.text import CharData, corpus_text, load_chars
from lib.dry_run import step_limit
from lib.models.char_gpt import CharGPT
from lib.models.convnext import ConvNeXtBlock, SmallConvNeXt
from lib.runner.checks import profile_values

# --- text ----------------------------------------------------------------------------------------

def test_corpus_is_the_pydoc_topics_and_round_trips():
    from pydoc_data.topics import topics

    text = corpus_text()
    assert len(text) > 100_000 and topics["assert"].strip() in text
    data = load_chars(validation=0.1)
    assert data.decode(data.encode("assert x")) == "assert x"
    assert len(data.validation) == pytest.approx(0.1 * (len(data.train) + len(data.validation)), abs=1)
    # the split is a contiguous tail: train + validation is the text
    assert data.decode(torch.cat([data.train[:50]])) == text[:50]
    assert data.decode(data.validation[-30:]) == text[-30:]


def test_batches_are_next_character_targets_and_deterministic():
    data = load_chars(limit=5000)
    x, y = data.batch("train", 4, 16, torch.Generator().manual_seed(3))
    assert x.shape == y.shape == (4, 16) and x.dtype == torch.int64
    torch.testing.assert_close(x[:, 1:], y[:, :-1])
    x2, _ = data.batch("train", 4, 16, torch.Generator().manual_seed(3))
    torch.testing.assert_close(x, x2)
    wx, wy = data.windows("validation", 10, limit=3)
    assert wx.shape == (3, 10)
    torch.testing.assert_close(wx.reshape(-1)[1:], wy.reshape(-1)[:-1])


def test_text_errors():
    with pytest.raises(ValueError, match="unknown text source"):
        corpus_text("wikipedia")
    with pytest.raises(ValueError, match="validation"):
        load_chars(validation=1.5)
    data = load_chars(limit=1000)
    with pytest.raises(ValueError, match="block_size"):
        data.batch("validation", 2, 500)
    with pytest.raises(ValueError, match="unknown split"):
        data.batch("test", 2, 8)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        data.encode("\u2603")


# --- models --------------------------------------------------------------------------------------

@pytest.mark.parametrize("label", list(oe.CONTENDERS))
@pytest.mark.parametrize("per_channel", [False, True])
def test_convnext_shapes_and_activation_layout(label, per_channel):
    make = oe.factory(label, per_channel=per_channel)
    model = SmallConvNeXt(1, 10, make, widths=(8, 16), depths=(1, 1))
    assert model(torch.randn(3, 1, 16, 16)).shape == (3, 10)
    acts = [m.act for m in model.modules() if isinstance(m, ConvNeXtBlock)]
    assert len(acts) == 2
    if per_channel and label != "GELU":
        assert next(acts[1].parameters()).shape[0] == 64          # 4 x 16 channels


@pytest.mark.parametrize("label", list(oe.CONTENDERS))
def test_char_gpt_shapes_and_causality(label):
    torch.manual_seed(0)
    model = CharGPT(20, oe.factory(label), block_size=8, layers=2, width=16, heads=2)
    ids = torch.randint(20, (2, 8))
    logits = model(ids)
    assert logits.shape == (2, 8, 20)
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 20                       # the future must not leak back
    torch.testing.assert_close(model(changed)[:, :-1], logits[:, :-1])
    with pytest.raises(ValueError, match="longer than block_size"):
        model(torch.randint(20, (1, 9)))


def test_model_errors():
    with pytest.raises(ValueError, match="divisible"):
        CharGPT(20, oe.factory("GELU"), width=10, heads=3)
    with pytest.raises(ValueError, match="widths and depths"):
        SmallConvNeXt(1, 10, oe.factory("GELU"), widths=(8,), depths=(1, 1))
    with pytest.raises(KeyError, match="unknown activation"):
        oe.factory("Chebyshev")
    with pytest.raises(ValueError, match="unknown init"):
        oe.factory("Fourier", init="orthonormal")


# --- the depth test: mean-field predictions ------------------------------------------------------

def _gelu_moments() -> tuple[float, float]:
    """E[GELU(u)^2] and E[GELU'(u)^2] for u ~ N(0, 1), GELU(x) = x Phi(x), by scipy's adaptive quadrature."""
    f = lambda x: x * stats.norm.cdf(x)
    df = lambda x: stats.norm.cdf(x) + x * stats.norm.pdf(x)
    return (integrate.quad(lambda x: f(x) ** 2 * stats.norm.pdf(x), -np.inf, np.inf)[0],
            integrate.quad(lambda x: df(x) ** 2 * stats.norm.pdf(x), -np.inf, np.inf)[0])


def test_forward_gain_weights_are_he_for_relu_and_match_scipy_for_gelu():
    assert oe.weight_variance(oe.factory("relu")(1), "forward_gain") == pytest.approx(2.0, rel=1e-9)
    assert oe.weight_variance(oe.factory("Hermite")(1), "unit") == 1.0
    f2, d2 = _gelu_moments()
    assert oe.weight_variance(oe.factory("GELU")(1), "forward_gain") == pytest.approx(1 / f2, rel=1e-6)
    assert oe.normal_moments(oe.factory("GELU")(1)) == pytest.approx((f2, d2), rel=1e-6)
    with pytest.raises(ValueError, match="weight rule"):
        oe.weight_variance(oe.factory("GELU")(1), "xavier")


def test_mean_field_relu_with_he_weights_preserves_both_moments_exactly():
    for norm in oe.NORMS:
        q, g = oe.mean_field(oe.factory("relu")(1), 20, weight_variance=2.0, norm=norm)
        np.testing.assert_allclose(q, 1.0, rtol=1e-9)
        np.testing.assert_allclose(g, 0.5, rtol=1e-9)          # E[ReLU'(u)^2] at the last layer, kept by every layer


def test_mean_field_behind_layernorm_multiplies_the_gradient_by_the_ratio_of_the_gains():
    """Layers 2.. multiply g by E[F'^2]/E[F^2] (the closed forms of the modules, or scipy's for GELU); layer 1
    (q_1 = 1) by s E[F'^2]; the signal is s E[F^2] from layer 2 on."""
    fourier = oe.factory("Fourier")(1)
    f2, d2 = fourier.second_moments("normal")
    q, g = oe.mean_field(fourier, 6, norm="layernorm")
    np.testing.assert_allclose(q[1:], f2, rtol=1e-6)
    np.testing.assert_allclose(g[1:-1] / g[2:], d2 / f2, rtol=1e-6)
    assert g[-1] == pytest.approx(d2 / f2, rel=1e-6) and g[0] / g[1] == pytest.approx(d2, rel=1e-6)
    gf2, gd2 = _gelu_moments()
    _, g = oe.mean_field(oe.factory("GELU")(1), 5, weight_variance=1 / gf2, norm="layernorm")
    np.testing.assert_allclose(g[1:-1] / g[2:], gd2 / gf2, rtol=1e-6)
    hermite = oe.factory("Hermite")(1)
    _, g = oe.mean_field(hermite, 10, norm="layernorm")
    assert g[0] / g[-1] == pytest.approx(math.exp(-1) * 2.5, rel=1e-6)       # equal gains: only layer 1 counts


def test_mean_field_without_norm_follows_the_one_layer_recursion_and_reports_explosions_as_inf():
    q, g = oe.mean_field(oe.factory("Hermite")(1), 2)
    assert q[0] == 1.0 and q[1] == pytest.approx(math.exp(-1) * 2.5, rel=1e-6)       # 0.9197
    tropical = oe.factory("Tropical")(1)
    q, _ = oe.mean_field(tropical, 2)
    assert q[1] == pytest.approx(tropical.second_moments("normal")[0], rel=1e-6)
    with torch.no_grad():                                  # a cubic with a big leading term explodes
        hermite = oe.factory("Hermite")(1)
        hermite.coefficients[3] = 30.0
    q, g = oe.mean_field(hermite, 30)
    assert np.isinf(q[-1]) and np.isinf(g).any()
    with pytest.raises(ValueError, match="norm"):
        oe.mean_field(hermite, 3, norm="batchnorm")


# --- the depth test: measurements ----------------------------------------------------------------

def _config(name, activation, weights, norm, seeds=(0, 1), width=128, depth=12, overrides=None):
    return {"name": name, "activation": activation, "overrides": overrides or {}, "weights": weights, "norm": norm,
            "depth": depth, "width": width, "samples": 64, "seeds": list(seeds)}


def test_relu_with_he_weights_is_sqrt2_relu_with_unit_weights_and_runs_are_deterministic():
    for norm in oe.NORMS:
        relu = oe.propagation_run(_config("relu", "relu", "forward_gain", norm))
        rational = oe.propagation_run(_config("tr", "tropical_rational", "unit", norm))
        np.testing.assert_allclose(relu["signal"], rational["signal"], rtol=1e-4)
        # the loss reads F(z_L) = sqrt(2) ReLU(z_L): every gradient moment doubles, every ratio stays
        np.testing.assert_allclose(2 * relu["gradient"], rational["gradient"], rtol=1e-4)
        np.testing.assert_allclose(relu["log_gradient"], rational["log_gradient"], atol=1e-4)
        again = oe.propagation_run(_config("relu", "relu", "forward_gain", norm))
        np.testing.assert_array_equal(relu["signal"], again["signal"])
        np.testing.assert_array_equal(relu["gradient"], again["gradient"])


def test_measured_log_ratios_agree_with_the_mean_field_where_it_is_exact():
    """Tropical behind a LayerNorm: the gradient shrinks by E[F'^2]/E[F^2] = 1/1.399 per layer (the bias); over
    6 networks of width 512 the mean log ratio is within 0.2 of the prediction, which is 3.4 away from 0 (at width
    128 the finite-width shortfall is about 0.4)."""
    run = oe.propagation_run(_config("t", "Tropical", "unit", "layernorm", seeds=range(6), width=512) | {"samples": 32})
    f2, d2 = oe.factory("Tropical")(1).second_moments("normal")
    assert run["log_gradient_theory"] == pytest.approx(math.log(d2) + 10 * math.log(d2 / f2), rel=1e-6)
    assert run["log_gradient"].mean() == pytest.approx(run["log_gradient_theory"], abs=0.2)
    np.testing.assert_allclose(run["signal"][:, 1:].mean(axis=0), run["signal_theory"][1:], rtol=0.1)


def test_log_ratios_and_drift_clip_what_float32_cannot_hold():
    cap = oe.OVERFLOW_DRIFT
    signal = np.array([[1.0, 2.0, 4.0], [1.0, np.inf, np.nan], [1.0, 1.0, 1.0]])
    gradient = np.array([[8.0, 2.0, 1.0], [np.nan, np.nan, np.nan], [0.0, 1.0, 1.0]])
    s, g = oe.log_ratios(signal, gradient)
    np.testing.assert_allclose(s, [math.log(4), cap, 0.0])
    np.testing.assert_allclose(g, [math.log(8), cap, -cap])
    np.testing.assert_allclose(oe.drift(signal, gradient), [math.log(8), cap, cap])
    assert oe.first_nonfinite(signal) == 2 and oe.first_nonfinite(np.ones((2, 3))) is None


def test_propagation_checks_fail_before_any_run():
    with pytest.raises(ValueError, match="norm"):
        oe.check_propagation(_config("x", "relu", "unit", "batchnorm"))
    with pytest.raises(ValueError, match="weights"):
        oe.check_propagation(_config("x", "relu", "he", "none"))
    with pytest.raises(ValueError, match="lacks"):
        oe.check_propagation({"name": "x"})
    with pytest.raises(ValueError, match="unknown init"):
        oe.check_propagation(_config("x", "Fourier", "unit", "none", overrides={"init": "orthonormal"}))


# --- language: references, schedule, runs ---------------------------------------------------------

def test_ngram_cross_entropies_against_counts_by_hand():
    train = torch.tensor([0, 1, 0, 1, 0, 1, 0, 2])                  # "abababac"
    data = CharData(vocabulary=("a", "b", "c"), train=train, validation=torch.tensor([0, 1, 0, 2]), digest="")
    x, y = torch.tensor([[0, 1, 0]]), torch.tensor([[1, 0, 2]])
    alpha = 0.5
    unigram = {0: (4 + alpha) / (8 + 3 * alpha), 1: (3 + alpha) / (8 + 3 * alpha), 2: (1 + alpha) / (8 + 3 * alpha)}
    expected = -np.mean([math.log(unigram[t]) for t in (1, 0, 2)])
    assert oe.ngram_cross_entropy(data, 1, x, y, alpha=alpha) == pytest.approx(expected, rel=1e-12)
    # bigram counts: a->b 3, a->c 1, b->a 3; p(b|a) = 3.5/5.5, p(a|b) = 3.5/4.5, p(c|a) = 1.5/5.5
    expected = -np.mean([math.log(3.5 / 5.5), math.log(3.5 / 4.5), math.log(1.5 / 5.5)])
    assert oe.ngram_cross_entropy(data, 2, x, y, alpha=alpha) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="order"):
        oe.ngram_cross_entropy(data, 3, x, y)


def test_the_pydoc_bigram_beats_its_unigram_which_beats_a_uniform_guess():
    data = load_chars()
    x, y = oe.evaluation_windows(data, 64, 64)
    uni, bi = oe.ngram_cross_entropy(data, 1, x, y), oe.ngram_cross_entropy(data, 2, x, y)
    assert bi < uni - 0.5 and uni < math.log(data.vocab_size) - 1


def test_lr_schedule_warms_up_linearly_then_decays_by_a_cosine_to_its_floor():
    factor = oe.lr_schedule(100)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    values = [factor(s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:])) and values[-1] == pytest.approx(0.1)
    assert factor(55) == pytest.approx(0.1 + 0.9 * 0.5, abs=1e-12)          # halfway through the decay


def _vision_config(**changes):
    config = {"activation": "Hermite", "seed": 0, "dataset": "digits", "image_size": 8, "train_limit": 200,
              "test_limit": 100, "epochs": 1, "batch_size": 64, "lr": 2.0e-3, "widths": [8], "depths": [1],
              "train_eval": 100}
    config.update(changes)
    return config


def _language_config(**changes):
    config = {"activation": "Tropical", "seed": 0, "steps": 4, "layers": 1, "width": 16, "heads": 2,
              "batch_size": 4, "block_size": 16, "lr": 2.0e-3, "eval_every": 2, "eval_windows": 4}
    config.update(changes)
    return config


def test_vision_and_language_runs_are_deterministic_and_report_how_far_the_activations_moved():
    runs = [oe.vision_run(_vision_config()) for _ in range(2)]
    assert runs[0]["test_acc"].shape == (1,) and 0 <= runs[0]["train_acc"] <= 1
    np.testing.assert_array_equal(runs[0]["test_acc"], runs[1]["test_acc"])
    assert len(runs[0]["moved"]) == 1 and runs[0]["moved"][0] > 0
    module = oe.rebuild("Hermite", runs[0]["activation_state"][0])
    np.testing.assert_array_equal(module.coefficients.detach().numpy(), runs[0]["activation_state"][0]["coefficients"])
    lang = [oe.language_run(_language_config()) for _ in range(2)]
    np.testing.assert_array_equal(lang[0]["steps"], [0, 2, 4])
    np.testing.assert_array_equal(lang[0]["val_loss"], lang[1]["val_loss"])
    assert lang[0]["val_loss"][0] == pytest.approx(math.log(load_chars().vocab_size), rel=0.1)   # untrained: uniform
    assert all(m > 0 for m in lang[0]["moved"])
    gelu = oe.language_run(_language_config(activation="GELU"))
    assert all(math.isnan(m) for m in gelu["moved"])                      # nothing to move


def test_moved_is_the_relative_distance_of_the_trainable_parameters():
    module = oe.factory("Hermite")(1)
    before = oe._snapshot([module])
    with torch.no_grad():
        module.coefficients.add_(torch.tensor([0.0, 0.3, 0.0, 0.4]))
    expected = 0.5 / np.linalg.norm(before[0]["coefficients"])
    assert oe.moved(before, oe._snapshot([module]), [module]) == pytest.approx([expected])


def test_run_checks_fail_before_any_run():
    with pytest.raises(ValueError, match="widths"):
        oe.check_vision(_vision_config(depths=[1, 1]))
    with pytest.raises(ValueError, match="too small"):
        oe.check_vision(_vision_config(dataset="fashion_mnist", image_size=8, widths=[8, 8, 8, 8], depths=[1] * 4))
    with pytest.raises(ValueError, match="epochs"):
        oe.check_vision(_vision_config(epochs=0))
    with pytest.raises(ValueError, match="multiple of heads"):
        oe.check_language(_language_config(width=10, heads=3))
    with pytest.raises(ValueError, match="lr"):
        oe.check_language(_language_config(lr=0.0))
    with pytest.raises(KeyError, match="unknown activation"):
        oe.check_language(_language_config(activation="Chebyshev"))


def test_endpoints_and_tables_show_diverged_runs():
    finished = {"activation": "GELU", "seed": 0, "val_loss": np.array([3.0, 2.0, 1.0, 1.2]), "seconds": 1.0,
                "cpu_seconds": 0.5, "step_seconds": 0.1, "moved": [math.nan]}
    diverged = sweep.Diverged({"activation": "GELU", "seed": 1}, "FloatingPointError: loss became nan")
    np.testing.assert_allclose(oe.endpoints([finished, diverged], "val_loss", 2), [1.1, math.nan])
    groups = oe.by_activation([finished, diverged])
    assert [len(v) for v in groups.values()] == [2, 0, 0, 0]
    rows = oe.training_rows(groups, "val_loss", 2)
    assert [r["status"] for r in rows] == ["finished", "diverged"]
    flat = {"GELU": oe.flattened_runs(groups["GELU"], "val_loss", window=1, tolerance=0.01, mode="min")}
    table = oe.training_table(groups, "val_loss", 2, title="loss", fmt=".2f", flat=flat, verdicts={})
    assert "1.10 ± 0.00 (1 diverged)" in table and "| 1 of 1 |" in table


# --- the grids: every profile's configs pass their checks and run one step -------------------------

ROOT = Path(__file__).resolve().parents[1]


def _profile_parameters(profile: str) -> dict:
    return profile_values(ROOT, "ortho_activations", profile)


@pytest.mark.parametrize("profile", ["quick", "full", "paper"])
def test_every_grid_of_every_profile_passes_its_checks(profile):
    p = _profile_parameters(profile)
    grids = oe.grids(p)
    assert [g.name for g in grids] == ["ortho-propagation", "ortho-vision", "ortho-language"]
    assert len(grids[1].configs) == len(oe.CONTENDERS) * len(p["vision_seeds"])
    assert len(grids[2].configs) == len(oe.CONTENDERS) * len(p["lm_seeds"])
    for grid in grids:
        for config in grid.configs:
            grid.check(config)


def test_the_paper_profile_runs_one_step_of_each_grid():
    grids = oe.grids(_profile_parameters("paper"))
    for grid in grids:
        result = sweep.dry_run(grid)
        assert isinstance(result, dict)
    with step_limit(1):
        lm = oe.language_run(grids[2].configs[0])
    assert len(lm["val_loss"]) == 2                         # at the start and after the one step
