"""Code of the chapter "Learnable orthogonal activations" (book/ortho_activations.ipynb): Hermite, Fourier and
Tropical against GELU (Khalfaoui-Hassani & Kesselheim 2025), with the chapter's figures and tables.

- `variance_propagation`: signal and gradient second moments layer by layer through a deep MLP
  at initialisation, measured, beside the mean-field prediction computed by Gauss-Hermite quadrature.
- `train_vision`: `lib.models.SmallConvNeXt` (depthwise conv, LayerNorm, inverted bottleneck with the
  activation) on Fashion-MNIST or digits.
- `train_language`: `lib.models.CharGPT`, a small character-level GPT on `lib.data.text` (pydoc topics),
  with validation loss and time per step.

Every run is deterministic given its seed (`lib.seed_everything`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from lib import activations
from lib.activations import ActivationFactory
from lib.data.text import CharData
from lib.models.char_gpt import CharGPT
from lib.models.convnext import SmallConvNeXt
from lib.parameters import Bool, Int, ListOf, OneOf, Parameters, Positive, Seeds
from lib.report import pm
from lib.seeding import seed_everything
from lib.train import train

PARAMETERS = Parameters(
    "ortho_activations",
    gain_samples=Int(minimum=1000), depth=Int(minimum=2), prop_width=Int(minimum=2), prop_samples=Int(minimum=2),
    prop_seeds=Seeds(), prop_fit=Bool(), dataset=OneOf("fashion_mnist", "digits"), image_size=Int(minimum=8),
    train_limit=Int(minimum=0), test_limit=Int(minimum=0), vision_seeds=Seeds(), vision_epochs=Int(minimum=1),
    vision_widths=ListOf(Int(minimum=1), max_length=4), vision_batch_size=Int(minimum=1), vision_lr=Positive(),
    lm_seeds=Seeds(), lm_steps=Int(minimum=1), lm_layers=Int(minimum=1), lm_width=Int(minimum=2),
    lm_heads=Int(minimum=1), lm_batch_size=Int(minimum=1), lm_block_size=Int(minimum=2), lm_lr=Positive(),
    lm_eval_every=Int(minimum=1), lm_eval_windows=Int(minimum=1),
    constraints=[lambda p: p["lm_width"] % p["lm_heads"] == 0 or PARAMETERS.fail(
        "lm_width", p["lm_width"], f"a multiple of lm_heads = {p['lm_heads']}")],
)


def datasets(p) -> list[str]:
    """The image data sets the chapter will read with parameters `p` (located before any chapter runs)."""
    return [p["dataset"]]

# The chapter's contenders: the paper's degrees (Hermite 3, Fourier 5, Tropical 5).
CONTENDERS = {"GELU": ("gelu", {}), "Hermite": ("hermite", {"degree": 3}),
              "Fourier": ("fourier", {"degree": 5}), "Tropical": ("tropical", {"degree": 5})}


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


# --- variance through depth -------------------------------------------------------------------------

@dataclass
class Propagation:
    """Second moments per layer l = 1..depth: signal E[z_l^2] of the pre-activations and gradient
    E[(dL/dz_l)^2], measured (seeds, depth) and predicted by mean-field theory (depth,)."""

    label: str
    signal: np.ndarray
    gradient: np.ndarray
    signal_theory: np.ndarray
    gradient_theory: np.ndarray


def mean_field(module: nn.Module, depth: int, q0: float = 1.0, nodes: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Infinite-width prediction with weights N(0, 1/width): q_{l+1} = E[F(sqrt(q_l) u)^2], u ~ N(0, 1),
    and the gradient second moment multiplied by chi_l = E[F'(sqrt(q_l) u)^2] per layer going back.
    Expectations on an even grid over [-10, 10] weighted by the normal density (not Gauss-Hermite,
    which converges slowly for the kinks of the piecewise-linear activations); the module itself
    is evaluated in float64."""
    u = np.linspace(-10.0, 10.0, nodes)
    w = np.exp(-u**2 / 2)
    w = w / w.sum()
    module = module.double()
    q = np.empty(depth)
    chi = np.empty(depth)
    q[0] = q0
    for layer in range(depth):
        z = torch.tensor(math.sqrt(max(q[layer], 0.0)) * u, requires_grad=True)
        y = module(z)
        (dy,) = torch.autograd.grad(y.sum(), z)
        chi[layer] = float(np.sum(w * dy.detach().numpy() ** 2))
        if layer + 1 < depth:
            q[layer + 1] = float(np.sum(w * y.detach().numpy() ** 2))
    module.float()
    gradient = np.empty(depth)
    gradient[-1] = chi[-1]                                  # dL/dz_L = F'(z_L) r, E[r^2] = 1
    for layer in range(depth - 2, -1, -1):
        gradient[layer] = gradient[layer + 1] * chi[layer]
    return q, gradient


def variance_propagation(label: str, *, depth: int = 50, width: int = 256, samples: int = 512,
                         seeds: list[int] | tuple[int, ...] = (0,), **overrides: Any) -> Propagation:
    """A depth-layer MLP z_l = W_l F(z_{l-1}) (z_1 = W_1 x, x ~ N(0, I)), W ~ N(0, 1/width), no bias,
    the same activation module in every layer (coefficients at init); loss L = sum(F(z_L) * r), r ~ N(0, I)."""
    for name, value in (("depth", depth), ("width", width), ("samples", samples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not seeds:
        raise ValueError("seeds must not be empty")
    make = factory(label, **overrides)
    signal, gradient = np.empty((len(seeds), depth)), np.empty((len(seeds), depth))
    for i, seed in enumerate(seeds):
        seed_everything(seed)
        act = make(width)
        h = torch.randn(samples, width)
        pre = []
        for _ in range(depth):
            weight = torch.randn(width, width) / math.sqrt(width)
            z = (h @ weight.T).requires_grad_(True)
            z.retain_grad()
            pre.append(z)
            h = act(z)
        (h * torch.randn_like(h)).sum().backward()
        signal[i] = [z.detach().double().pow(2).mean().item() for z in pre]
        gradient[i] = [z.grad.double().pow(2).mean().item() for z in pre]
    # float32 overflow (a polynomial activation can blow up) shows as inf/nan: keep it as nan
    signal[~np.isfinite(signal)] = np.nan
    gradient[~np.isfinite(gradient)] = np.nan
    theory = mean_field(make(width), depth)
    return Propagation(label, signal, gradient, *theory)


def first_overflow(values: np.ndarray) -> int | None:
    """The first layer (1-based) where any seed's second moment is not finite, or None."""
    bad = ~np.isfinite(np.atleast_2d(values)).all(axis=0)
    return int(np.argmax(bad)) + 1 if bad.any() else None


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


# --- vision: a small ConvNeXt -----------------------------------------------------------------------

def _warm_up(model: nn.Module, x: Tensor) -> None:
    """One untimed forward and backward: the first convolution of a process pays one-off set-up
    costs that would otherwise be charged to whichever activation runs first. Runs before the
    seeding of the timed runs, so it changes none of their results."""
    model(x).sum().backward()


@dataclass
class VisionRun:
    label: str
    seeds: list[int]
    test_acc: np.ndarray             # (seeds, epochs)
    train_loss: np.ndarray           # (seeds, epochs)
    seconds: np.ndarray              # (seeds,) wall-clock training time
    activations: list[nn.Module] = field(default_factory=list)   # the trained activations of the first seed


def train_vision(label: str, data, *, seeds: list[int] | tuple[int, ...] = (0, 1, 2), epochs: int = 5,
                 batch_size: int = 128, lr: float = 2.0e-3, widths=(16, 32), depths=(1, 1),
                 per_channel: bool = False, progress: bool = True, **overrides: Any) -> VisionRun:
    """Train one SmallConvNeXt per seed on `data` (a `lib.data.images.ImageData`) with AdamW."""
    if not seeds:
        raise ValueError("seeds must not be empty")
    make = factory(label, per_channel=per_channel, **overrides)
    _warm_up(SmallConvNeXt(data.shape[0], data.num_classes, make, widths, depths), data.train[0][:2])
    accuracy, losses, seconds, learned = [], [], [], []
    for seed in tqdm(list(seeds), desc=f"{label} seeds", disable=not progress, leave=False):
        seed_everything(seed)
        model = SmallConvNeXt(data.shape[0], data.num_classes, make, widths, depths)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
        history = train(model, data.train, epochs=epochs, optimizer=optimizer, loss="cross_entropy",
                        batch_size=batch_size, eval_data={"test": data.test}, seed=seed, progress=False)
        accuracy.append(history["test_acc"])
        losses.append(history["train_loss"])
        seconds.append(history.seconds)
        if not learned:
            learned = [m for m in model.modules() if activations.is_activation(m)]
    return VisionRun(label, list(seeds), np.array(accuracy), np.array(losses), np.array(seconds), learned)


# --- language: a small character GPT -----------------------------------------------------------------

@dataclass
class LanguageRun:
    label: str
    seeds: list[int]
    steps: np.ndarray                # (evaluations,) step numbers of the validation losses
    val_loss: np.ndarray             # (seeds, evaluations) nats per character
    train_loss: np.ndarray           # (seeds, steps)
    seconds_per_step: np.ndarray     # (seeds,) median wall-clock time of one training step

    @property
    def perplexity(self) -> np.ndarray:
        return np.exp(self.val_loss)


@torch.no_grad()
def validation_loss(model: CharGPT, data: CharData, block_size: int, windows: int) -> float:
    model.eval()
    x, y = data.windows("validation", block_size, limit=windows)
    loss = F.cross_entropy(model(x).reshape(-1, data.vocab_size), y.reshape(-1)).item()
    model.train()
    return loss


def train_language(label: str, data: CharData, *, seeds: list[int] | tuple[int, ...] = (0, 1, 2),
                   steps: int = 300, batch_size: int = 32, block_size: int = 64, layers: int = 4,
                   width: int = 128, heads: int = 4, lr: float = 2.0e-3, eval_every: int = 50,
                   eval_windows: int = 64, per_channel: bool = False, progress: bool = True,
                   **overrides: Any) -> LanguageRun:
    """Train one CharGPT per seed with AdamW (linear warm-up over 10% of the steps, then constant)."""
    if not seeds:
        raise ValueError("seeds must not be empty")
    for name, value in (("steps", steps), ("eval_every", eval_every), ("eval_windows", eval_windows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    make = factory(label, per_channel=per_channel, **overrides)
    warmup = max(1, steps // 10)
    _warm_up(CharGPT(data.vocab_size, make, block_size=block_size, layers=layers, width=width, heads=heads),
             data.train[:block_size].unsqueeze(0))
    val, train_losses, step_seconds, checkpoints = [], [], [], None
    for seed in list(seeds):
        seed_everything(seed)
        model = CharGPT(data.vocab_size, make, block_size=block_size, layers=layers, width=width, heads=heads)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))

        def warm_up_lr(step, _model, _loss, optimizer=optimizer):
            for group in optimizer.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / warmup)

        history = train(model, batches=lambda step, gen: data.batch("train", batch_size, block_size, gen),
                        steps=steps, optimizer=optimizer, loss="cross_entropy", before_step=warm_up_lr,
                        eval_data={"validation": lambda m: {"loss": validation_loss(m, data, block_size,
                                                                                     eval_windows)}},
                        eval_every=eval_every, eval_at_start=True, seed=seed, progress=progress,
                        desc=f"{label} seed {seed}")
        checkpoints, curve = history.evaluated("validation_loss")
        val.append(curve)
        train_losses.append(history["train_loss"][1:])
        step_seconds.append(float(np.median(history.step_seconds)))
    return LanguageRun(label, list(seeds), np.array(checkpoints), np.array(val), np.array(train_losses),
                       np.array(step_seconds))


def shape_on_grid(module: nn.Module, x: Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, F(x)) on [-4, 4] for plotting a (possibly per-channel: first channel) activation."""
    x = torch.linspace(-4, 4, 401) if x is None else x
    with torch.no_grad():
        probe = x
        first = next(iter(module.parameters()), None)
        if first is not None and first.dim() > 1:           # per-channel coefficients: (.., C, K)
            probe = x[:, None].expand(-1, first.shape[0])
            return x.numpy(), module(probe)[:, 0].numpy()
        return x.numpy(), module(probe).numpy()


# --- figures and tables -----------------------------------------------------------------------------

COLORS = {"GELU": "black", "Hermite": "tab:blue", "Fourier": "tab:orange", "Tropical": "tab:green"}


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


def plot_propagation(runs: list[Propagation]):
    """Signal and gradient second moments per layer (log scale): measured mean over seeds (solid)
    and mean-field prediction (dashed); a measured line stops where float32 overflowed."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharex=True)
    cmap = plt.get_cmap("tab20")
    for i, run in enumerate(runs):
        color = cmap(i % 20)
        layers = np.arange(1, run.signal.shape[1] + 1)
        for ax, measured, theory in ((axes[0], run.signal, run.signal_theory),
                                     (axes[1], run.gradient, run.gradient_theory)):
            with np.errstate(invalid="ignore"):
                mean = np.exp(np.nanmean(np.log(np.clip(measured, 1e-300, None)), axis=0))
            mean[~np.isfinite(measured).all(axis=0)] = np.nan
            ax.plot(layers, mean, color=color, label=run.label)
            ax.plot(layers, np.clip(theory, 1e-300, None), color=color, ls="--", lw=0.9)
    for ax, title in zip(axes, (r"signal $E[z_l^2]$", r"gradient $E[(\partial L/\partial z_l)^2]$")):
        ax.set_yscale("log")
        ax.axhspan(0.5, 2.0, color="grey", alpha=0.15)
        ax.set_xlabel("layer l")
        ax.set_title(title)
    axes[1].legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


def within(values: np.ndarray, low: float = 0.5, high: float = 2.0) -> bool:
    values = np.asarray(values, dtype=float)
    return bool(np.isfinite(values).all() and values.min() >= low and values.max() <= high)


def propagation_table(runs: list[Propagation]) -> str:
    rows = ["| activation (init) | signal at layer 1 | signal at layer L (measured) | mean field | "
            "gradient at layer 1 / layer L (measured) | mean field | signal overflows at layer "
            "| both within [1/2, 2] |",
            "|---|---|---|---|---|---|---|---|"]
    for run in runs:
        stable = within(run.signal_theory) and within(run.gradient_theory / run.gradient_theory[-1])
        signal_end = np.nanmean(run.signal[:, -1]) if np.isfinite(run.signal[:, -1]).any() else math.nan
        grad_ratio = run.gradient[:, 0] / run.gradient[:, -1]
        overflow = first_overflow(run.signal)
        rows.append(f"| {run.label} | {np.mean(run.signal[:, 0]):.3g} | {signal_end:.3g} | "
                    f"{run.signal_theory[-1]:.3g} | {np.nanmean(grad_ratio):.3g} | "
                    f"{run.gradient_theory[0] / run.gradient_theory[-1]:.3g} | {overflow or '—'} | "
                    f"{'yes' if stable else 'no'} |")
    return "\n".join(rows)


def plot_curves(runs: dict[str, VisionRun | LanguageRun], metric: str, xlabel: str, ylabel: str):
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for label, run in runs.items():
        values = getattr(run, metric)
        x = np.arange(1, values.shape[1] + 1) if isinstance(run, VisionRun) else run.steps
        mean, std = values.mean(axis=0), values.std(axis=0)
        ax.plot(x, mean, color=COLORS.get(label), label=f"{label} ({values.shape[0]} seeds)")
        ax.fill_between(x, mean - std, mean + std, color=COLORS.get(label), alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_learned_shapes(runs: dict[str, VisionRun], x_max: float = 4.0):
    """Each trained activation of the first seed (one line per block) beside its init (dashed)."""
    labels = [label for label in runs if label != "GELU"]
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.2), squeeze=False)
    x = torch.linspace(-x_max, x_max, 401)
    for ax, label in zip(axes[0], labels):
        xs, init = shape_on_grid(factory(label)(1), x)
        ax.plot(xs, init, color="grey", ls="--", label="init")
        for block, module in enumerate(runs[label].activations, start=1):
            ax.plot(*shape_on_grid(module, x), label=f"block {block}")
        gelu = torch.nn.functional.gelu(x).numpy()
        ax.plot(xs, gelu, color="black", lw=0.8, alpha=0.5, label="GELU")
        ax.set_title(f"{label}: learned (seed {runs[label].seeds[0]})")
        ax.set_ylim(-3, 6)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def vision_table(runs: dict[str, VisionRun]) -> str:
    gelu = runs["GELU"].seconds.mean() if "GELU" in runs else math.nan
    rows = ["| activation | final test accuracy (mean ± std) | best epoch accuracy | training time / GELU's |",
            "|---|---|---|---|"]
    for label, run in runs.items():
        rows.append(f"| {label} | {pm(run.test_acc[:, -1], '.4f')} | {pm(run.test_acc.max(axis=1), '.4f')} | "
                    f"{run.seconds.mean() / gelu:.2f} |")
    return "\n".join(rows)


def language_table(runs: dict[str, LanguageRun]) -> str:
    gelu = np.median(runs["GELU"].seconds_per_step) if "GELU" in runs else math.nan
    rows = ["| activation | final validation loss (nats/char) | perplexity | time per step / GELU's |",
            "|---|---|---|---|"]
    for label, run in runs.items():
        rows.append(f"| {label} | {pm(run.val_loss[:, -1], '.4f')} | {pm(run.perplexity[:, -1], '.3f')} | "
                    f"{np.median(run.seconds_per_step) / gelu:.2f} |")
    return "\n".join(rows)
