"""Character data (pydoc topics) and the models and runs of the orthogonal-activations chapter."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lib.chapters import ortho_activations as oe
from lib.data.images import load_images
from lib.data.text import corpus_text, load_chars
from lib.models.char_gpt import CharGPT
from lib.models.convnext import ConvNeXtBlock, SmallConvNeXt

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


# --- runs ----------------------------------------------------------------------------------------

def test_variance_propagation_matches_mean_field_for_tropical_rational():
    """sqrt(2) ReLU (TropicalRational at init) with N(0, 1/width) weights: both gains exactly 1."""
    run = oe.variance_propagation("tropical_rational", depth=8, width=256, samples=256, seeds=[0, 1])
    np.testing.assert_allclose(run.signal_theory, 1.0, rtol=1e-5)
    np.testing.assert_allclose(run.gradient_theory, 1.0, rtol=1e-5)
    assert np.all(np.abs(np.log(run.signal.mean(axis=0))) < 0.3)
    assert np.all(np.abs(np.log(run.gradient.mean(axis=0))) < 0.5)
    again = oe.variance_propagation("tropical_rational", depth=8, width=256, samples=256, seeds=[0, 1])
    np.testing.assert_array_equal(run.signal, again.signal)


def test_mean_field_first_layer_is_the_closed_form_gain():
    q, g = oe.mean_field(oe.factory("Hermite")(1), depth=2)
    assert q[0] == 1.0 and q[1] == pytest.approx(math.exp(-1) * 2.5, rel=1e-6)       # 0.9197
    assert oe.first_overflow(np.array([[1.0, np.nan, 2.0]])) == 2
    assert oe.first_overflow(np.ones((2, 3))) is None


def test_fourier_sqrt2_scheme_matches_both_gains_under_uniform_phase():
    plain = oe.gains("Fourier", "uniform")
    scaled = oe.gains("Fourier", "uniform", init="variance_preserving_sqrt2")
    assert plain["forward"] == pytest.approx(0.7193, abs=1e-3) and plain["backward"] == pytest.approx(0.5, abs=1e-3)
    assert scaled["forward"] == pytest.approx(scaled["backward"], rel=1e-3)
    assert scaled["forward_mc"] == pytest.approx(scaled["forward"], rel=1e-2)


def test_vision_and_language_runs_are_deterministic():
    data = load_images("digits", train_limit=200, test_limit=100)
    runs = [oe.train_vision("Hermite", data, seeds=[0, 1], epochs=1, batch_size=64, widths=(8,), depths=(1,),
                            progress=False) for _ in range(2)]
    assert runs[0].test_acc.shape == (2, 1)
    np.testing.assert_array_equal(runs[0].test_acc, runs[1].test_acc)
    assert runs[0].activations and all(oe.shape_on_grid(a)[1].shape == (401,) for a in runs[0].activations)
    text = load_chars(limit=20_000)
    lang = [oe.train_language("Tropical", text, seeds=[0], steps=4, batch_size=4, block_size=16, layers=1,
                              width=16, heads=2, eval_every=2, eval_windows=4, progress=False) for _ in range(2)]
    np.testing.assert_array_equal(lang[0].steps, [0, 2, 4])
    assert lang[0].val_loss.shape == (1, 3) and np.isfinite(lang[0].perplexity).all()
    np.testing.assert_array_equal(lang[0].val_loss, lang[1].val_loss)
    assert lang[0].val_loss[0, 0] == pytest.approx(math.log(text.vocab_size), rel=0.1)    # untrained: uniform


def test_run_argument_errors():
    text = load_chars(limit=2000)
    with pytest.raises(ValueError, match="seeds"):
        oe.train_language("GELU", text, seeds=[])
    with pytest.raises(ValueError, match="steps"):
        oe.train_language("GELU", text, steps=0)
    with pytest.raises(ValueError, match="depth"):
        oe.variance_propagation("GELU", depth=0)
