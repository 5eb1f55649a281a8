"""Experiments of the chapter "Learnable orthogonal activations" (Hermite, Fourier, Tropical vs GELU).

- `variance_propagation`: signal and gradient second moments layer by layer through a deep MLP
  at initialisation, measured, beside the mean-field prediction computed by Gauss-Hermite quadrature.
- `SmallConvNeXt` + `train_vision`: a ConvNeXt-style CNN (depthwise conv, LayerNorm, inverted
  bottleneck with the activation) on Fashion-MNIST or digits.
- `CharGPT` + `train_language`: a small character-level GPT on `lib.data.text` (pydoc topics),
  with validation loss and time per step.

Every run is deterministic given its seed (`lib.seed_everything`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from lib import activations
from lib.data.text import CharData
from lib.seeding import seed_everything

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


ActivationFactory = Callable[[int], nn.Module]


def factory(label: str, per_channel: bool = False, feature_dim: int = -1, **overrides: Any) -> ActivationFactory:
    """width -> a fresh activation module: one coefficient vector per layer (the paper), or per
    channel along `feature_dim` with `per_channel`. `overrides` (e.g. init="orthonormal") replace
    the contender's parameters."""
    name, params = contender(label)
    params.update(overrides)
    spec = activations.spec(name)
    spec.check_arguments(params)
    takes_features = "num_features" in spec.arguments

    def make(width: int) -> nn.Module:
        if per_channel and takes_features:
            return spec.build(**params, num_features=width, feature_dim=feature_dim)
        return spec.build(**params)

    make(4)                                          # bad parameters fail here, before any training
    return make


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

class ChannelsLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """x + pw2(act(pw1(LN(dwconv(x))))): ConvNeXt's block (Liu et al. 2022) without layer scale or drop path."""

    def __init__(self, dim: int, make_activation: ActivationFactory, kernel_size: int = 5, expansion: int = 4):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, expansion * dim)
        self.act = make_activation(expansion * dim)          # applied on (N, H, W, C): channels last
        self.pw2 = nn.Linear(expansion * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class SmallConvNeXt(nn.Module):
    """Patchify stem (2x2, stride 2), stages of ConvNeXt blocks with 2x2 stride-2 downsampling between
    them, global average pooling, LayerNorm and a linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, make_activation: ActivationFactory,
                 widths: tuple[int, ...] | list[int] = (16, 32), depths: tuple[int, ...] | list[int] = (1, 1),
                 kernel_size: int = 5):
        super().__init__()
        if len(widths) != len(depths) or not widths or min(widths) < 1 or min(depths) < 1:
            raise ValueError(f"widths and depths must be equally long lists of positive ints, got {widths}, {depths}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 2, stride=2), ChannelsLayerNorm(widths[0])]
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            if stage:
                layers += [ChannelsLayerNorm(widths[stage - 1]), nn.Conv2d(widths[stage - 1], width, 2, stride=2)]
            layers += [ConvNeXtBlock(width, make_activation, kernel_size) for _ in range(depth)]
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(widths[-1])
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.features(x).mean(dim=(2, 3))))


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
    from lib.train import train

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

class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} must be divisible by the number of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class GPTBlock(nn.Module):
    """Pre-LayerNorm transformer block (GPT-2): x + attn(LN x), then x + mlp(LN x), mlp = Linear-act-Linear."""

    def __init__(self, dim: int, heads: int, make_activation: ActivationFactory):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.fc = nn.Linear(dim, 4 * dim)
        self.act = make_activation(4 * dim)                  # on (B, T, 4C): features last
        self.proj = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.proj(self.act(self.fc(self.ln2(x))))


class CharGPT(nn.Module):
    """A small GPT over characters: token and position embeddings, `layers` blocks, tied output head."""

    def __init__(self, vocab_size: int, make_activation: ActivationFactory, *, block_size: int = 64,
                 layers: int = 4, width: int = 128, heads: int = 4):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("block_size", block_size), ("layers", layers),
                            ("width", width), ("heads", heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.block_size = block_size
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(block_size, width)
        self.blocks = nn.ModuleList(GPTBlock(width, heads, make_activation) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        self.head.weight = self.token.weight
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: Tensor) -> Tensor:
        t = ids.shape[1]
        if t > self.block_size:
            raise ValueError(f"sequence of {t} tokens is longer than block_size {self.block_size}")
        x = self.token(ids) + self.position(torch.arange(t, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


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
    checkpoints = sorted(set(list(range(0, steps + 1, eval_every)) + [steps]))
    val, train_losses, step_seconds = [], [], []
    warmup = max(1, steps // 10)
    _warm_up(CharGPT(data.vocab_size, make, block_size=block_size, layers=layers, width=width, heads=heads),
             data.train[:block_size].unsqueeze(0))
    for seed in list(seeds):
        seed_everything(seed)
        model = CharGPT(data.vocab_size, make, block_size=block_size, layers=layers, width=width, heads=heads)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))
        generator = torch.Generator().manual_seed(seed)
        curve, losses, times = [], [], []
        bar = tqdm(range(steps + 1), desc=f"{label} seed {seed}", disable=not progress, leave=False)
        for step in bar:
            if step in checkpoints:
                curve.append(validation_loss(model, data, block_size, eval_windows))
            if step == steps:
                break
            for group in optimizer.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / warmup)
            x, y = data.batch("train", batch_size, block_size, generator)
            start = time.perf_counter()
            loss = F.cross_entropy(model(x).reshape(-1, data.vocab_size), y.reshape(-1))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{label}: training loss became {loss.item()} at step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
            losses.append(loss.item())
        val.append(curve)
        train_losses.append(losses)
        step_seconds.append(float(np.median(times)))
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
