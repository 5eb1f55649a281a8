"""Code of the chapter "Learnable orthogonal activations" (book/ortho_activations.ipynb): Hermite, Fourier and
Tropical against GELU (Khalfaoui-Hassani & Kesselheim 2025), with the chapter's grids, figures and tables.

Three grids (`grids(p)`), each run through `lib.sweep`:

- propagation (`propagation_run`): signal and gradient second moments layer by layer through a deep MLP at
  initialisation, with and without a LayerNorm before every activation, each activation at its proper
  initialisation; measured over several networks, beside the mean-field prediction (`mean_field`);
- vision (`vision_run`): one `lib.models.SmallConvNeXt` per activation and seed on Fashion-MNIST (or digits);
- language (`language_run`): one `lib.models.CharGPT` per activation and seed on `lib.data.text` (pydoc topics),
  beside the unigram and bigram cross-entropies of the same text (`ngram_cross_entropy`).

Every run seeds itself from its config (`lib.seeding.seed_everything`) and returns plain NumPy data.
"""
from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lib import activations, sweep
from lib.activations import ActivationFactory
from lib.curves import endpoint, flattened
from lib.data.images import load_images
from lib.data.text import CharData, load_chars
from lib.dry_run import current_limit
from lib.models.char_gpt import CharGPT
from lib.models.convnext import SmallConvNeXt
from lib.parameters import Bool, Int, ListOf, OneOf, Parameters, Positive, Seeds
from lib.run_config import check_keys
from lib.seeding import seed_everything
from lib.train import evaluate, train

PARAMETERS = Parameters(
    "ortho_activations",
    gain_samples=Int(minimum=1000), gain_seeds=Seeds(), depth=Int(minimum=2), prop_width=Int(minimum=4),
    prop_samples=Int(minimum=2), prop_seeds=Seeds(), prop_fit=Bool(), dataset=OneOf("fashion_mnist", "digits"),
    image_size=Int(minimum=8), train_limit=Int(minimum=0), test_limit=Int(minimum=0), vision_seeds=Seeds(),
    vision_epochs=Int(minimum=1), vision_widths=ListOf(Int(minimum=1), max_length=4),
    vision_depths=ListOf(Int(minimum=1), max_length=4), vision_batch_size=Int(minimum=1), vision_lr=Positive(),
    lm_seeds=Seeds(), lm_steps=Int(minimum=1), lm_layers=Int(minimum=1), lm_width=Int(minimum=2),
    lm_heads=Int(minimum=1), lm_batch_size=Int(minimum=1), lm_block_size=Int(minimum=2), lm_lr=Positive(),
    lm_eval_every=Int(minimum=1), lm_eval_windows=Int(minimum=1), endpoint_last=Int(minimum=1),
    constraints=[
        lambda p: p["lm_width"] % p["lm_heads"] == 0 or PARAMETERS.fail(
            "lm_width", p["lm_width"], f"a multiple of lm_heads = {p['lm_heads']}"),
        lambda p: len(p["vision_depths"]) == len(p["vision_widths"]) or PARAMETERS.fail(
            "vision_depths", p["vision_depths"], f"as long as vision_widths = {p['vision_widths']} (one per stage)"),
    ],
)


def datasets(p) -> list[str]:
    """The image data sets the chapter will read with parameters `p` (located before any chapter runs)."""
    return [p["dataset"]]


# The chapter's contenders: the paper's degrees (Hermite 3, Fourier 5, Tropical 5) against GELU.
CONTENDERS = {"GELU": ("gelu", {}), "Hermite": ("hermite", {"degree": 3}),
              "Fourier": ("fourier", {"degree": 5}), "Tropical": ("tropical", {"degree": 5})}
BASES = ("Hermite", "Fourier", "Tropical")
# Vision and language verdicts: each basis against GELU, the three read as one family (Bonferroni).
BASELINE = "GELU"


def contender(label: str) -> tuple[str, dict[str, Any]]:
    """(registry name, parameters) of a chapter label, or of any registered name (default parameters)."""
    if label in CONTENDERS:
        name, params = CONTENDERS[label]
        return name, dict(params)
    activations.spec(label)                         # unknown: KeyError listing the registered names
    return label, {}


def factory(label: str, per_channel: bool = False, feature_dim: int = -1, **overrides: Any) -> ActivationFactory:
    """width -> a fresh activation module: one coefficient vector per layer (the paper), or per
    channel along `feature_dim` with `per_channel`. `overrides` (e.g. init="orthonormal") replace
    the contender's parameters."""
    name, params = contender(label)
    params.update(overrides)
    return activations.factory(name, granularity="channel" if per_channel else "layer", feature_dim=feature_dim,
                               **params)


def _positive(config: Mapping[str, Any], *names: str) -> None:
    for name in names:
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def dry(value: int, small: int) -> int:
    """`value`, or at most `small` under `lib.dry_run.step_limit`: a dry run checks that a config runs (every code
    path, every shape), not what it scores, so its evaluation sets and batches are cut to seconds of work."""
    return value if current_limit() is None else min(value, small)


def _seeds(seeds: Any) -> list[int]:
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of ints, got {seeds!r}")
    return list(seeds)


# --- gains at initialisation ---------------------------------------------------------------------

def gains(label: str, distribution: str = "normal", samples: int = 400_000, seed: int = 0,
          **overrides: Any) -> dict[str, float]:
    """Forward gain E[F^2] and backward gain E[F'^2] at init for x ~ N(0, 1) or U[-pi, pi]:
    the exact closed form of the module and a Monte-Carlo estimate (float64, seeded)."""
    module = factory(label, **overrides)(1).double()
    closed = module.second_moments(distribution) if hasattr(module, "second_moments") else (math.nan, math.nan)
    generator = torch.Generator().manual_seed(seed)
    if distribution == "normal":
        x = torch.randn(samples, generator=generator, dtype=torch.float64)
    else:
        x = (2 * torch.rand(samples, generator=generator, dtype=torch.float64) - 1) * math.pi
    x.requires_grad_(True)
    y = module(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return {"forward": float(closed[0]), "backward": float(closed[1]),
            "forward_mc": (y.detach() ** 2).mean().item(), "backward_mc": (dy**2).mean().item()}


# --- variance through depth ----------------------------------------------------------------------

NORMS = ("none", "layernorm")
WEIGHT_RULES = ("unit", "forward_gain")
# Every configuration of the depth test: (row label, activation label, overrides, weight rule). The references
# get the weights that make one layer preserve the forward second moment, sigma_w^2 = 1 / E[F(u)^2]: He's 2 for
# ReLU, 2.35 for GELU. The bases carry their gain in their coefficients and get the paper's N(0, 1/width).
PROPAGATION = (
    ("ReLU (He)", "relu", {}, "forward_gain"),
    ("GELU (own gain)", "GELU", {}, "forward_gain"),
    ("Hermite", "Hermite", {}, "unit"),
    ("Hermite (orthonormal)", "Hermite", {"init": "orthonormal"}, "unit"),
    ("Hermite (fit)", "Hermite", {"init": "fit"}, "unit"),
    ("Fourier", "Fourier", {}, "unit"),
    ("Fourier (×√2)", "Fourier", {"init": "variance_preserving_sqrt2"}, "unit"),
    ("Fourier (fit)", "Fourier", {"init": "fit"}, "unit"),
    ("Tropical", "Tropical", {}, "unit"),
    ("Tropical (fit)", "Tropical", {"init": "fit"}, "unit"),
    ("TropicalRational", "tropical_rational", {}, "unit"),
)
# The rows the figure shows (the table shows all).
PROPAGATION_SHOWN = ("ReLU (He)", "GELU (own gain)", "Hermite", "Fourier", "Tropical", "TropicalRational")
# A drift beyond float32's range (a moment that overflowed to inf or underflowed to 0) counts as this value:
# the largest |ln| of a ratio float32 can represent.
OVERFLOW_DRIFT = float(math.log(np.finfo(np.float32).max))
STABLE_BAND = (0.5, 2.0)                        # "stable": every ratio within a factor 2 either way


def _normal_grid(nodes: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """An even grid over [-10, 10] and its N(0, 1) weights: expectations of piecewise-linear functions converge
    with it (Gauss-Hermite nodes converge slowly on kinks). An even number of nodes keeps x = 0, where a kink's
    derivative is a convention, off the grid."""
    u = np.linspace(-10.0, 10.0, nodes)
    w = np.exp(-u**2 / 2)
    return u, w / w.sum()


def _moments_at(module: nn.Module, scale: float, u: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """E[F(s u)^2] and E[F'(s u)^2] for u ~ N(0, 1), the module evaluated in float64."""
    z = torch.tensor(scale * u, dtype=torch.float64, requires_grad=True)
    y = module(z)
    (dy,) = torch.autograd.grad(y.sum(), z)
    return float(np.sum(w * y.detach().numpy() ** 2)), float(np.sum(w * dy.numpy() ** 2))


def normal_moments(module: nn.Module) -> tuple[float, float]:
    """E[F(u)^2] and E[F'(u)^2] for u ~ N(0, 1) by quadrature (module copied to float64)."""
    u, w = _normal_grid()
    return _moments_at(_float64(module), 1.0, u, w)


def forward_gain(module: nn.Module) -> float:
    """E[F(u)^2] for u ~ N(0, 1) by quadrature (module copied to float64)."""
    return normal_moments(module)[0]


def _float64(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module).double()


def weight_variance(module: nn.Module, rule: str) -> float:
    """sigma_w^2 of N(0, sigma_w^2 / width) weights: 1 ("unit", the paper's) or 1 / E[F(u)^2] ("forward_gain")."""
    if rule not in WEIGHT_RULES:
        raise ValueError(f"weight rule {rule!r} is not one of {WEIGHT_RULES}")
    return 1.0 if rule == "unit" else 1.0 / forward_gain(module)


def mean_field(module: nn.Module, depth: int, *, weight_variance: float = 1.0,
               norm: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """The predicted second moments (q_l, g_l), l = 1..depth, of the network `propagation_run` measures.

    Without normalisation (infinite width): q_1 = 1, q_{l+1} = s E[F(sqrt(q_l) u)^2] and, going back,
    g_depth = E[F'(sqrt(q_depth) u)^2], g_l = s E[F'(sqrt(q_l) u)^2] g_{l+1}, with s = `weight_variance`.
    With a LayerNorm before every activation, F sees N(0, 1) at every layer: q_{l+1} = s E[F(u)^2], and the
    norm divides the gradient by sqrt(q_l): g_l = s E[F'(u)^2] g_{l+1} / q_l (g_depth = E[F'(u)^2] / q_depth), so
    that from layer 2 on each layer multiplies the gradient by E[F'^2] / E[F^2], whatever s is. (At finite width
    the norm also removes two directions from the gradient, a factor 1 - 2/width, but dividing by a per-example
    standard deviation estimated from `width` values multiplies it by about 1 + 2/width: the two cancel, which
    the measurements confirm, so the prediction leaves both out.)
    A moment beyond 1e300 is reported as inf (the recursion of a polynomial explodes doubly exponentially).
    """
    if norm not in NORMS:
        raise ValueError(f"norm {norm!r} is not one of {NORMS}")
    module = _float64(module)
    u, w = _normal_grid()
    q, slope = np.full(depth, np.inf), np.full(depth, np.inf)    # slope_l = E[F'(z_l)^2] (divided by q_l with LN)
    q[0] = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        if norm == "none":
            for layer in range(depth):
                if not q[layer] < 1e300:
                    break
                f2, d2 = _moments_at(module, math.sqrt(q[layer]), u, w)
                slope[layer] = d2
                if layer + 1 < depth:
                    q[layer + 1] = weight_variance * f2
        else:
            f2, d2 = _moments_at(module, 1.0, u, w)
            q[1:] = weight_variance * f2
            slope = d2 / q
        gradient = np.empty(depth)
        gradient[-1] = slope[-1]
        for layer in range(depth - 2, -1, -1):
            gradient[layer] = gradient[layer + 1] * weight_variance * slope[layer]
    gradient[~np.isfinite(gradient) | (gradient > 1e300)] = np.inf
    return q, gradient


def drift(signal: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """The worst drift of a network (one per row): max over layers of |ln(q_l / q_1)| and |ln(g_l / g_depth)|.

    Stable means drift < ln 2 (every ratio within a factor 2). A moment that is not a finite positive number
    (float32 overflowed, or a gradient underflowed to 0) makes the drift OVERFLOW_DRIFT.
    """
    signal, gradient = np.atleast_2d(signal).astype(float), np.atleast_2d(gradient).astype(float)
    out = np.empty(len(signal))
    for i, (q, g) in enumerate(zip(signal, gradient)):
        if not (np.isfinite(q).all() and np.isfinite(g).all() and (q > 0).all() and (g > 0).all()):
            out[i] = OVERFLOW_DRIFT
            continue
        with np.errstate(over="ignore", divide="ignore"):
            worst = max(np.abs(np.log(q / q[0])).max(), np.abs(np.log(g / g[-1])).max())
        out[i] = min(float(worst), OVERFLOW_DRIFT)
    return out


def log_ratios(signal: np.ndarray, gradient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per network (row): the end-to-end log ratios ln(q_depth / q_1) of the signal and ln(g_1 / g_depth) of the
    gradient (0 for a perfectly preserved one). Beyond float32's range they are clipped to ±OVERFLOW_DRIFT, and a
    ratio that is not a number (a signal that overflowed makes its gradient inf·0) counts as +OVERFLOW_DRIFT."""
    def ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            values = np.log(top.astype(float)) - np.log(bottom.astype(float))
        return np.clip(np.where(np.isnan(values), OVERFLOW_DRIFT, values), -OVERFLOW_DRIFT, OVERFLOW_DRIFT)

    signal, gradient = np.atleast_2d(signal), np.atleast_2d(gradient)
    bad_signal = ~np.isfinite(signal).all(axis=1)
    signal_ratio = np.where(bad_signal, OVERFLOW_DRIFT, ratio(signal[:, -1], signal[:, 0]))
    bad_gradient = np.isnan(gradient).any(axis=1)
    gradient_ratio = np.where(bad_gradient, OVERFLOW_DRIFT, ratio(gradient[:, 0], gradient[:, -1]))
    return signal_ratio, gradient_ratio


def first_nonfinite(values: np.ndarray) -> int | None:
    """The first layer (1-based) where any row's moment is not a finite positive number, or None."""
    values = np.atleast_2d(values)
    bad = ~(np.isfinite(values) & (values > 0)).all(axis=0)
    return int(np.argmax(bad)) + 1 if bad.any() else None


def check_propagation(config: Mapping[str, Any]) -> None:
    """Fail before any run on a config `propagation_run` cannot do."""
    check_keys(config, ("name", "activation", "overrides", "weights", "norm", "depth", "width", "samples",
                        "seeds"), "propagation")
    _positive(config, "depth", "width", "samples")
    if config["depth"] < 2 or config["width"] < 3:
        raise ValueError(f"depth must be >= 2 and width >= 3, got {config['depth']}, {config['width']}")
    if config["norm"] not in NORMS:
        raise ValueError(f"norm {config['norm']!r} is not one of {NORMS}")
    if config["weights"] not in WEIGHT_RULES:
        raise ValueError(f"weights {config['weights']!r} is not one of {WEIGHT_RULES}")
    _seeds(config["seeds"])
    factory(config["activation"], **config["overrides"])         # an unknown name or init fails here


def propagation_run(config: Mapping[str, Any]) -> dict[str, Any]:
    """Second moments through `depth` layers at init, one network per seed, and their mean-field prediction.

    z_1 = x ~ N(0, I); z_{l+1} = W_l F(N(z_l)) with N the identity or a LayerNorm (no affine), W_l of
    N(0, sigma_w^2 / width) entries (`weight_variance`), no bias, the same activation module (at its init) in
    every layer; loss L = sum(F(N(z_depth)) r), r ~ N(0, I). Returns the measured signal E[z_l^2] and gradient
    E[(dL/dz_l)^2] per seed (float32 networks; overflow shows as inf or nan), the predictions, the drift of each.
    """
    check_propagation(config)
    started, cpu = time.perf_counter(), time.process_time()
    depth, width, samples = config["depth"], config["width"], config["samples"]
    make = factory(config["activation"], **config["overrides"])
    act = make(width)
    variance = weight_variance(act, config["weights"])
    normalise = (lambda z: F.layer_norm(z, (width,))) if config["norm"] == "layernorm" else (lambda z: z)
    seeds = _seeds(config["seeds"])
    seeds = seeds[:dry(len(seeds), 1)]
    signal, gradient = np.empty((len(seeds), depth)), np.empty((len(seeds), depth))
    for i, seed in enumerate(seeds):
        seed_everything(seed)
        z = torch.randn(samples, width).requires_grad_(True)
        pre = [z]
        for layer in range(depth):
            h = act(normalise(pre[-1]))
            if layer + 1 < depth:
                weight = torch.randn(width, width) * math.sqrt(variance / width)
                nxt = h @ weight.T
                nxt.retain_grad()
                pre.append(nxt)
        (h * torch.randn_like(h)).sum().backward()
        with np.errstate(over="ignore", invalid="ignore"):
            signal[i] = [z.detach().double().pow(2).mean().item() for z in pre]
            gradient[i] = [z.grad.double().pow(2).mean().item() for z in pre]
    theory = mean_field(act, depth, weight_variance=variance, norm=config["norm"])
    signal_ratio, gradient_ratio = log_ratios(signal, gradient)
    theory_signal, theory_gradient = log_ratios(*theory)
    return {"name": config["name"], "norm": config["norm"], "weight_variance": variance, "seeds": seeds,
            "signal": signal, "gradient": gradient, "signal_theory": theory[0], "gradient_theory": theory[1],
            "log_signal": signal_ratio, "log_gradient": gradient_ratio, "log_signal_theory": float(theory_signal[0]),
            "log_gradient_theory": float(theory_gradient[0]), "drift": drift(signal, gradient),
            "drift_theory": float(drift(*theory)[0]), "overflow": first_nonfinite(signal),
            "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}


def propagation_configs(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every (configuration, norm) of the depth test, all seeds in one run (each run is a fraction of a second)."""
    rows = [row for row in PROPAGATION if p["prop_fit"] or row[2].get("init") != "fit"]
    return [{"name": name, "activation": label, "overrides": overrides, "weights": rule, "norm": norm,
             "depth": p["depth"], "width": p["prop_width"], "samples": p["prop_samples"],
             "seeds": list(p["prop_seeds"])}
            for norm in NORMS for name, label, overrides, rule in rows]


def lr_schedule(steps: int, warmup_fraction: float = 0.1, floor: float = 0.1):
    """The factor of the base learning rate at each step: linear warm-up over the first tenth of the steps, then
    a cosine decay to `floor` at the last step (as GPT-2 and ConvNeXt are trained)."""
    warmup = max(1, int(round(warmup_fraction * steps)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


# --- vision: a small ConvNeXt --------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _images(dataset: str, size: int | None, train_limit: int | None, test_limit: int | None):
    return load_images(dataset, size=size, train_limit=train_limit, test_limit=test_limit, seed=0)


def vision_data(config: Mapping[str, Any]):
    """The (cached per process) `ImageData` of a vision config: limits of 0 mean every image."""
    size = None if config["dataset"] == "digits" else config["image_size"]
    return _images(config["dataset"], size, config["train_limit"] or None, config["test_limit"] or None)


def _warm_up(model: nn.Module, x: Tensor) -> None:
    """One untimed forward and backward: the first convolution of a process pays one-off set-up costs that would
    otherwise be charged to whichever run comes first. Runs before seeding, so it changes no result."""
    model(x).sum().backward()


def _activation_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if activations.is_activation(m)]


def _snapshot(modules: list[nn.Module]) -> list[dict[str, np.ndarray]]:
    return [{k: v.detach().cpu().numpy().copy() for k, v in m.state_dict().items()} for m in modules]


def moved(before: list[dict[str, np.ndarray]], after: list[dict[str, np.ndarray]],
          modules: list[nn.Module]) -> list[float]:
    """Per activation module: ||theta - theta_0|| / ||theta_0|| over its trainable parameters (NaN without any)."""
    out = []
    for b, a, module in zip(before, after, modules):
        names = [n for n, p in module.named_parameters() if p.requires_grad]
        if not names:
            out.append(float("nan"))
            continue
        delta = math.sqrt(sum(float(np.sum((a[n] - b[n]) ** 2)) for n in names))
        size = math.sqrt(sum(float(np.sum(b[n] ** 2)) for n in names))
        out.append(delta / size if size > 0 else float("inf"))
    return out


VISION_KEYS = ("activation", "seed", "dataset", "image_size", "train_limit", "test_limit", "epochs", "batch_size",
               "lr", "widths", "depths", "train_eval")


def check_vision(config: Mapping[str, Any]) -> None:
    """Fail before any run on a config `vision_run` cannot do."""
    check_keys(config, VISION_KEYS, "vision")
    _positive(config, "epochs", "batch_size", "image_size", "train_eval")
    if config["dataset"] not in ("fashion_mnist", "digits"):
        raise ValueError(f"dataset {config['dataset']!r} is not fashion_mnist or digits")
    widths, depths = config["widths"], config["depths"]
    if len(widths) != len(depths) or not widths:
        raise ValueError(f"widths {widths} and depths {depths} must be equally long and not empty")
    if config["dataset"] == "fashion_mnist" and config["image_size"] < 2 ** len(widths):
        raise ValueError(f"image_size {config['image_size']} is too small for {len(widths)} stages "
                         f"(each halves it; at least {2 ** len(widths)})")
    if not config["lr"] > 0:
        raise ValueError(f"lr must be positive, got {config['lr']!r}")
    factory(config["activation"])


def vision_run(config: Mapping[str, Any]) -> dict[str, Any]:
    """Train one SmallConvNeXt with AdamW (weight decay 0.05; `lr_schedule` over all its steps: warm-up, then a
    cosine decay, as ConvNeXt is trained) on the config's images.

    Returns per-epoch test accuracy and loss, the training loss, the accuracy on `train_eval` training images at
    the end, the wall-clock seconds, and each activation's parameters before and after (and how far they moved).
    """
    check_vision(config)
    data = vision_data(config)
    make = factory(config["activation"])
    build = lambda: SmallConvNeXt(data.shape[0], data.num_classes, make, config["widths"], config["depths"])
    _warm_up(build(), data.train[0][:2])
    seed_everything(config["seed"])
    model = build()
    modules = _activation_modules(model)
    before = _snapshot(modules)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=0.05)
    steps = config["epochs"] * math.ceil(len(data.train[0]) / config["batch_size"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_schedule(steps))
    test = tuple(t[:dry(len(t), 256)] for t in data.test)
    started, cpu = time.perf_counter(), time.process_time()
    history = train(model, data.train, epochs=config["epochs"], optimizer=optimizer, scheduler=scheduler,
                    loss="cross_entropy", batch_size=config["batch_size"], eval_data={"test": test},
                    seed=config["seed"], progress=False)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    n = dry(min(config["train_eval"], len(data.train[0])), 256)
    fit = evaluate(model, data.train[0][:n], data.train[1][:n], "cross_entropy")
    after = _snapshot(modules)
    return {"activation": config["activation"], "seed": config["seed"], "test_acc": history["test_acc"],
            "test_loss": history["test_loss"], "train_loss": history["train_loss"], "train_acc": fit["acc"],
            "seconds": seconds, "cpu_seconds": cpu_seconds, "epochs_run": len(history["test_acc"]),
            "step_seconds": float(np.median(history.step_seconds)), "activation_init": before,
            "activation_state": after, "moved": moved(before, after, modules)}


def vision_configs(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"activation": label, "seed": seed, "dataset": p["dataset"], "image_size": p["image_size"],
             "train_limit": p["train_limit"], "test_limit": p["test_limit"], "epochs": p["vision_epochs"],
             "batch_size": p["vision_batch_size"], "lr": p["vision_lr"], "widths": list(p["vision_widths"]),
             "depths": list(p["vision_depths"]), "train_eval": 2000}
            for label in CONTENDERS for seed in p["vision_seeds"]]


def rebuild(label: str, state: dict[str, np.ndarray]) -> nn.Module:
    """The activation module of `label` (one coefficient vector per layer, as the runs use) with a stored state."""
    module = factory(label)(1)
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    return module


# --- language: a small character GPT -------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _text() -> CharData:
    return load_chars()


def evaluation_windows(data: CharData, block_size: int, windows: int) -> tuple[Tensor, Tensor]:
    """The fixed validation windows every language run is scored on: the first `windows` consecutive windows."""
    return data.windows("validation", block_size, limit=windows)


@torch.no_grad()
def validation_loss(model: CharGPT, x: Tensor, y: Tensor, vocab_size: int) -> float:
    model.eval()
    loss = F.cross_entropy(model(x).reshape(-1, vocab_size), y.reshape(-1)).item()
    model.train()
    return loss


def ngram_cross_entropy(data: CharData, order: int, x: Tensor, y: Tensor, alpha: float = 0.1) -> float:
    """Cross-entropy (nats per character) on the targets `y` of a character n-gram model counted on the training
    split, with add-`alpha` smoothing: order 1 (unigram) ignores the context, order 2 (bigram) conditions each
    target y[t] on the character x[t] before it, the one the GPT has just read."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 (unigram) or 2 (bigram), got {order!r}")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha!r}")
    train_ids = data.train.numpy()
    v = data.vocab_size
    target = y.reshape(-1).numpy()
    if order == 1:
        counts = np.bincount(train_ids, minlength=v) + alpha
        return float(-np.log(counts[target] / counts.sum()).mean())
    counts = np.full((v, v), alpha)
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
    context = x.reshape(-1).numpy()
    return float(-np.log(counts[context, target] / counts[context].sum(axis=1)).mean())


LANGUAGE_KEYS = ("activation", "seed", "steps", "layers", "width", "heads", "batch_size", "block_size", "lr",
                 "eval_every", "eval_windows")


def check_language(config: Mapping[str, Any]) -> None:
    """Fail before any run on a config `language_run` cannot do."""
    check_keys(config, LANGUAGE_KEYS, "language")
    _positive(config, "steps", "layers", "width", "heads", "batch_size", "block_size", "eval_every", "eval_windows")
    if config["width"] % config["heads"]:
        raise ValueError(f"width {config['width']} must be a multiple of heads {config['heads']}")
    if not config["lr"] > 0:
        raise ValueError(f"lr must be positive, got {config['lr']!r}")
    factory(config["activation"])


def language_run(config: Mapping[str, Any]) -> dict[str, Any]:
    """Train one CharGPT with AdamW (betas 0.9/0.95, weight decay 0.1, `lr_schedule`) on random windows of the
    training text; validation loss on the fixed `evaluation_windows` every `eval_every` steps and at the start."""
    check_language(config)
    data = _text()
    block = config["block_size"]
    make = factory(config["activation"])
    build = lambda: CharGPT(data.vocab_size, make, block_size=block, layers=config["layers"],
                            width=config["width"], heads=config["heads"])
    _warm_up(build(), data.train[:block].unsqueeze(0))
    x_val, y_val = evaluation_windows(data, block, dry(config["eval_windows"], 2))
    seed_everything(config["seed"])
    model = build()
    modules = _activation_modules(model)
    before = _snapshot(modules)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=0.1, betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_schedule(config["steps"]))
    batch = dry(config["batch_size"], 2)
    started, cpu = time.perf_counter(), time.process_time()
    history = train(model, batches=lambda step, gen: data.batch("train", batch, block, gen), steps=config["steps"],
                    optimizer=optimizer, scheduler=scheduler, loss="cross_entropy",
                    eval_data={"validation": lambda m: {"loss": validation_loss(m, x_val, y_val, data.vocab_size)}},
                    eval_every=config["eval_every"], eval_at_start=True, seed=config["seed"], progress=False)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    steps, val = history.evaluated("validation_loss")
    after = _snapshot(modules)
    return {"activation": config["activation"], "seed": config["seed"], "steps": steps, "val_loss": val,
            "train_loss": history["train_loss"][1:], "seconds": seconds, "cpu_seconds": cpu_seconds,
            "step_seconds": float(np.median(history.step_seconds)), "activation_init": before,
            "activation_state": after, "moved": moved(before, after, modules)}


def language_configs(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"activation": label, "seed": seed, "steps": p["lm_steps"], "layers": p["lm_layers"],
             "width": p["lm_width"], "heads": p["lm_heads"], "batch_size": p["lm_batch_size"],
             "block_size": p["lm_block_size"], "lr": p["lm_lr"], "eval_every": p["lm_eval_every"],
             "eval_windows": p["lm_eval_windows"]}
            for label in CONTENDERS for seed in p["lm_seeds"]]


# --- the grids -----------------------------------------------------------------------------------

def grids(p: Mapping[str, Any]) -> list[sweep.Grid]:
    """Every grid the chapter runs, from its parameters alone: propagation, vision, language."""
    return [sweep.Grid("ortho-propagation", propagation_run, propagation_configs(p), check=check_propagation),
            sweep.Grid("ortho-vision", vision_run, vision_configs(p), check=check_vision),
            sweep.Grid("ortho-language", language_run, language_configs(p), check=check_language)]


def by_activation(results: list, key: str = "activation") -> dict[str, list]:
    """Sweep results grouped by activation label in CONTENDERS order (Diverged records kept, by their config)."""
    groups: dict[str, list] = {label: [] for label in CONTENDERS}
    for result in results:
        label = result.config[key] if isinstance(result, sweep.Diverged) else result[key]
        groups.setdefault(label, []).append(result)
    return groups


def endpoints(runs: list, metric: str, last: int) -> np.ndarray:
    """The robust endpoint (mean of the last `last` evaluations, `lib.curves.endpoint`) of each run; NaN for a
    diverged run (`lib.stats` counts it as dropped)."""
    return np.array([math.nan if isinstance(r, sweep.Diverged) else endpoint(r[metric], last=last) for r in runs])


def curves(runs: list, metric: str) -> np.ndarray:
    """(runs, evaluations) of the finished runs' curves (diverged runs left out)."""
    rows = [np.asarray(r[metric], dtype=float) for r in runs if not isinstance(r, sweep.Diverged)]
    return np.array(rows) if rows else np.empty((0, 0))


def flattened_runs(runs: list, metric: str, window: int, tolerance: float, mode: str) -> list[bool]:
    """Per finished run: whether its curve met `lib.curves.flattened` with this criterion."""
    return [bool(flattened(r[metric], window, tolerance, mode=mode)) for r in runs
            if not isinstance(r, sweep.Diverged)]


# --- figures -------------------------------------------------------------------------------------

COLORS = {"GELU": "black", "Hermite": "tab:blue", "Fourier": "tab:orange", "Tropical": "tab:green"}
PROPAGATION_COLORS = {"ReLU (He)": "tab:gray", "GELU (own gain)": "black", "Hermite": "tab:blue",
                      "Fourier": "tab:orange", "Tropical": "tab:green", "TropicalRational": "tab:purple"}


def shape_on_grid(module: nn.Module, x: Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, F(x)) on [-4, 4] for plotting a (possibly per-channel: first channel) activation."""
    x = torch.linspace(-4, 4, 401) if x is None else x
    with torch.no_grad():
        first = next(iter(module.parameters()), None)
        if first is not None and first.dim() > 1:           # per-channel coefficients: (.., C, K)
            probe = x[:, None].expand(-1, first.shape[0])
            return x.numpy(), module(probe)[:, 0].numpy()
        return x.numpy(), module(x).numpy()


def plot_bases(x_max: float = 4.0, points: int = 401):
    """The basis functions of each family at the paper's degrees, and the four activations at init."""
    x = np.linspace(-x_max, x_max, points)
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.0), sharex=True)
    he = np.polynomial.hermite_e.hermevander(x, 3)
    for k in range(4):
        axes[0].plot(x, he[:, k] / math.factorial(k), label=rf"$\mathrm{{He}}_{k}/{k}!$")
    axes[0].set_ylim(-3, 3)
    axes[0].set_title("Hermite basis (n = 3)")
    for k in range(1, 6):
        axes[1].plot(x, np.cos(k * x - np.pi / 4) / math.factorial(k), label=rf"$\cos({k}x-\pi/4)/{k}!$")
    axes[1].set_title("Fourier basis (n = 5)")
    scale = math.sqrt(2) / 5
    for k in range(6):
        axes[2].plot(x, scale * (1 + k * x), label=rf"$c_{k}+{k}x$")
    axes[2].plot(x, scale * np.max([1 + k * x for k in range(6)], axis=0), color="black", lw=2.5, alpha=0.4,
                 label="max")
    axes[2].set_ylim(-3, 6)
    axes[2].set_title(r"Tropical pieces (n = 5, $\times\sqrt{2}/n$)")
    for label, color in COLORS.items():
        xs, ys = shape_on_grid(factory(label)(1), torch.tensor(x, dtype=torch.float32))
        axes[3].plot(xs, ys, color=color, label=label)
    axes[3].set_ylim(-2, 6)
    axes[3].set_title("the activations at init")
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=6.5, loc="upper left")
        ax.set_xlabel("x")
    fig.tight_layout()
    return fig


def _geometric(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per layer: geometric mean and geometric std over the rows; NaN where any row is not finite and positive."""
    values = np.atleast_2d(values)
    ok = (np.isfinite(values) & (values > 0)).all(axis=0)
    logs = np.log(np.where(np.isfinite(values) & (values > 0), values, 1.0))
    mean, std = np.exp(logs.mean(axis=0)), np.exp(logs.std(axis=0))
    mean[~ok], std[~ok] = np.nan, np.nan
    return mean, std


def plot_propagation(runs: list[dict[str, Any]], shown: Sequence[str] = PROPAGATION_SHOWN):
    """Rows: without / with LayerNorm; columns: signal E[z_l^2] / q_1 and gradient E[(dL/dz_l)^2] / g_depth, on log
    axes. Measured: geometric mean over the networks, band ×/÷ one geometric std; dashed: the mean-field
    prediction. A measured line stops where float32 overflowed; the grey band is [1/2, 2]."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex=True)
    for row, norm in enumerate(NORMS):
        for run in (r for r in runs if r["norm"] == norm and r["name"] in shown):
            color = PROPAGATION_COLORS.get(run["name"])
            layers = np.arange(1, run["signal"].shape[1] + 1)
            pairs = ((run["signal"] / run["signal"][:, :1], run["signal_theory"] / run["signal_theory"][0]),
                     (run["gradient"] / run["gradient"][:, -1:], run["gradient_theory"] / run["gradient_theory"][-1]))
            for ax, (measured, theory) in zip(axes[row], pairs):
                with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                    mean, std = _geometric(measured)
                    ax.plot(layers, mean, color=color, label=run["name"])
                    ax.fill_between(layers, mean / std, mean * std, color=color, alpha=0.15, lw=0)
                    ax.plot(layers, np.clip(theory, 1e-300, 1e300), color=color, ls="--", lw=0.9)
        titles = (r"signal $E[z_l^2]\,/\,E[z_1^2]$", r"gradient $E[(\partial L/\partial z_l)^2]\,/\,$last layer's")
        for ax, title in zip(axes[row], titles):
            ax.set_yscale("log")
            ax.axhspan(*STABLE_BAND, color="grey", alpha=0.2)
            ax.set_title(f"{title}, {'no normalisation' if norm == 'none' else 'LayerNorm before F'}", fontsize=10)
            ax.set_ylim(1e-12, 1e12)
    for ax in axes[1]:
        ax.set_xlabel("layer l")
    axes[0, 1].legend(fontsize=8, ncol=2, loc="lower left")
    fig.tight_layout()
    return fig


def plot_curves(groups: dict[str, list], metric: str, *, x: str | None = None, xlabel: str, ylabel: str,
                last: int, references: Mapping[str, float] | None = None):
    """Mean over seeds (line) and the range over seeds (band) of each activation's curve; the evaluations the
    endpoint averages are shaded; `references` are horizontal lines (e.g. n-gram cross-entropies)."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    xs = span = None
    for label, runs in groups.items():
        values = curves(runs, metric)
        if values.size == 0:
            continue
        first = next(r for r in runs if not isinstance(r, sweep.Diverged))
        xs = np.asarray(first[x]) if x else np.arange(1, values.shape[1] + 1)
        ax.plot(xs, values.mean(axis=0), color=COLORS.get(label), label=f"{label} ({len(values)} seeds)")
        ax.fill_between(xs, values.min(axis=0), values.max(axis=0), color=COLORS.get(label), alpha=0.2, lw=0)
        span = xs[-min(last, len(xs))]
    if xs is not None:
        ax.axvspan(span, xs[-1], color="grey", alpha=0.12, lw=0, label=f"endpoint: last {last} evaluations")
    for i, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, color="grey", ls=(0, (4, 2 + 2 * i)), lw=1)
        ax.annotate(f"{name} {value:.3f}", (0, value), xycoords=("axes fraction", "data"), xytext=(4, 3),
                    textcoords="offset points", fontsize=8, color="dimgrey")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_learned_shapes(groups: dict[str, list], x_max: float = 4.0):
    """Each trained activation of the first finished seed (one line per block) beside its init (dashed)."""
    labels = [label for label in groups if label != BASELINE]
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.2), squeeze=False)
    x = torch.linspace(-x_max, x_max, 401)
    for ax, label in zip(axes[0], labels):
        xs, init = shape_on_grid(factory(label)(1), x)
        ax.plot(xs, init, color="grey", ls="--", label="init")
        run = next((r for r in groups[label] if not isinstance(r, sweep.Diverged)), None)
        if run is not None:
            for block, state in enumerate(run["activation_state"], start=1):
                ax.plot(*shape_on_grid(rebuild(label, state), x), label=f"block {block}")
            ax.set_title(f"{label}: learned (seed {run['seed']})")
        ax.plot(xs, F.gelu(x).numpy(), color="black", lw=0.8, alpha=0.5, label="GELU")
        ax.set_ylim(-3, 6)
        ax.set_xlabel("x")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- tables --------------------------------------------------------------------------------------

def _pm(values: Any, fmt: str = ".3f") -> str:
    """'mean ± sd' of the finite values (sample sd; none: 'diverged')."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "diverged"
    sd = values.std(ddof=1) if values.size > 1 else 0.0
    return f"{values.mean():{fmt}} ± {sd:{fmt}}"


def _ratio_text(values: np.ndarray) -> str:
    values = np.asarray(values, dtype=float)
    if np.all(np.abs(values) >= OVERFLOW_DRIFT):
        return "overflow"
    return _pm(values, ".2f") + (" (some overflow)" if np.any(np.abs(values) >= OVERFLOW_DRIFT) else "")


def stable_word(verdicts: Sequence[Any]) -> str:
    """'yes' when every verdict (signal and gradient ≈ 0) is confirmed, 'no' when any is contradicted."""
    outcomes = {v.outcome for v in verdicts}
    return "yes" if outcomes == {"confirmed"} else "no" if "contradicted" in outcomes else "inconclusive"


def mean_field_stable(run: Mapping[str, Any]) -> bool:
    return abs(run["log_signal_theory"]) < math.log(2) and abs(run["log_gradient_theory"]) < math.log(2)


def propagation_table(runs: list[dict[str, Any]], verdicts: Mapping[tuple[str, str], Sequence[Any]]) -> str:
    """One row per (configuration, norm): the measured log ratios (mean ± sd over networks) beside the mean-field
    prediction, how many networks stayed inside the band at every layer, and the measured and predicted stability
    (`verdicts[(name, norm)]`: the signal and gradient verdicts of `lib.stats`)."""
    header = ["configuration", "normalisation", "σ_w²", "ln(q_L/q_1) measured", "mean field", "ln(g_1/g_L) measured",
              "mean field", "inside [½, 2] at every layer", "stable (measured)", "stable (mean field)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        inside = int(np.sum(run["drift"] < math.log(2)))
        overflow = f", overflow at layer {run['overflow']}" if run["overflow"] else ""
        cells = [run["name"], "LayerNorm" if run["norm"] == "layernorm" else "none", f"{run['weight_variance']:.3g}",
                 _ratio_text(run["log_signal"]), _theory_text(run["log_signal_theory"]),
                 _ratio_text(run["log_gradient"]), _theory_text(run["log_gradient_theory"]),
                 f"{inside} of {len(run['drift'])}{overflow}", stable_word(verdicts[(run["name"], run["norm"])]),
                 "yes" if mean_field_stable(run) else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _theory_text(value: float) -> str:
    return "overflow" if abs(value) >= OVERFLOW_DRIFT else f"{value:.2f}"


def propagation_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One CSV row per network: its configuration, seed, log ratios, worst drift and overflow layer."""
    rows = []
    for run in runs:
        for i, seed in enumerate(run["seeds"]):
            bad = first_nonfinite(run["signal"][i])
            rows.append({"configuration": run["name"], "norm": run["norm"], "weight_variance": run["weight_variance"],
                         "seed": seed, "ln_signal_ratio": run["log_signal"][i],
                         "ln_gradient_ratio": run["log_gradient"][i], "worst_drift": run["drift"][i],
                         "overflow_layer": bad if bad is not None else "", "ln_signal_ratio_mean_field":
                             run["log_signal_theory"], "ln_gradient_ratio_mean_field": run["log_gradient_theory"]})
    return rows


def _moved_text(runs: list) -> str:
    values = [np.nanmedian(r["moved"]) for r in runs if not isinstance(r, sweep.Diverged) and r["moved"]
              and np.isfinite(r["moved"]).any()]
    return "—" if not values else f"{np.median(values):.3g}"


def training_table(groups: dict[str, list], metric: str, last: int, *, title: str, fmt: str,
                   flat: Mapping[str, list[bool]],
                   verdicts: Mapping[str, Any], extra: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """One row per activation: the endpoint (mean ± sd over seeds), diverged runs, how many runs flattened,
    how far the activation's parameters moved (median over seeds of the per-block median relative change),
    seconds per run, `extra` columns, and the verdict against GELU."""
    extra = extra or {}
    extra_header = list(next(iter(extra.values()), {}).keys())
    header = ["activation", f"{title} (mean of last {last})", *extra_header, "flattened", "parameters moved",
              "s per run", f"vs {BASELINE}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, runs in groups.items():
        done = [r for r in runs if not isinstance(r, sweep.Diverged)]
        diverged = len(runs) - len(done)
        cells = [label, _pm(endpoints(runs, metric, last), fmt) + (f" ({diverged} diverged)" if diverged else ""),
                 *[extra.get(label, {}).get(h, "") for h in extra_header],
                 f"{sum(flat.get(label, []))} of {len(done)}", _moved_text(runs),
                 f"{np.mean([r['seconds'] for r in done]):.1f}" if done else "—",
                 verdicts[label].label if label in verdicts else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def training_rows(groups: dict[str, list], metric: str, last: int, extra_keys: Sequence[str] = ()) -> list[dict]:
    """One CSV row per run: activation, seed, status, endpoint, final value, seconds, movement, `extra_keys`."""
    rows = []
    for label, runs in groups.items():
        for run in runs:
            if isinstance(run, sweep.Diverged):
                rows.append({"activation": label, "seed": run.config["seed"], "status": "diverged",
                             f"{metric}_endpoint": math.nan, "message": run.message})
                continue
            row = {"activation": label, "seed": run["seed"], "status": "finished",
                   f"{metric}_endpoint": endpoint(run[metric], last=last), f"{metric}_final": run[metric][-1],
                   "seconds": run["seconds"], "cpu_seconds": run["cpu_seconds"], "step_seconds": run["step_seconds"],
                   "moved_per_block": list(run["moved"]) if run["moved"] else ""}
            row.update({key: run[key] for key in extra_keys})
            rows.append(row)
    return rows


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
