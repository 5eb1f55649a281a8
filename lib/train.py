"""One training loop for the book: regression or classification, full-batch or mini-batch.

It records a `History` (one row per epoch: train loss, and loss/accuracy on any
evaluation sets), shows a tqdm bar, and is deterministic given the model's
initial state and `seed` (which drives the mini-batch order).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm  # text bars: executed notebooks keep no widget outputs

from lib.activations import activation_parameters
from lib.seeding import device as default_device

LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": nn.functional.mse_loss,
    "cross_entropy": nn.functional.cross_entropy,
}
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


@dataclass
class History:
    """Per-epoch metrics: ``history["test_loss"]`` is a NumPy array over `epochs`."""

    epochs: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def log(self, epoch: int, **values: float) -> None:
        if values.keys() - self.metrics.keys() and self.epochs:
            missing = ", ".join(sorted(values.keys() - self.metrics.keys()))
            raise KeyError(f"metric(s) {missing} appeared after epoch {self.epochs[0]}")
        self.epochs.append(epoch)
        for name, value in values.items():
            self.metrics.setdefault(name, []).append(float(value))

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self.metrics[name])

    def last(self, name: str) -> float:
        return self.metrics[name][-1]


def make_optimizer(model: nn.Module, name: str = "adam", lr: float = 1e-3,
                   activation_lr: float | None = None, **kwargs) -> torch.optim.Optimizer:
    """An optimiser over `model`; with `activation_lr`, the activations' own parameters
    form a second group with that rate (the "high-low" strategy of the SQRT report)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimiser {name!r}; choose from {', '.join(OPTIMIZERS)}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if activation_lr is None:
        return OPTIMIZERS[name](model.parameters(), lr=lr, **kwargs)
    act_ids = {id(p) for p in activation_parameters(model)}
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in act_ids], "lr": lr, "name": "weights"},
        {"params": [p for p in model.parameters() if id(p) in act_ids], "lr": activation_lr, "name": "activations"},
    ]
    return OPTIMIZERS[name]([g for g in groups if g["params"]], lr=lr, **kwargs)


def check_run(train_data: tuple[Tensor, Tensor], *, loss: str, epochs: int, eval_every: int,
              eval_data: Mapping | None) -> None:
    """The checks every training loop makes before any work starts."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    if eval_data and "train" in eval_data:
        # evaluation sets name their metrics `{set}_loss`: "train" would overwrite train_loss
        raise ValueError('an evaluation set may not be called "train" (its metrics would overwrite '
                         'train_loss); call it e.g. "train_eval"')
    x, y = train_data
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"train_data must be two non-empty tensors of equal length, got {len(x)} and {len(y)}")


def place(train_data: tuple[Tensor, Tensor], eval_data: Mapping[str, tuple[Tensor, Tensor]] | None,
          device: torch.device | str | None):
    """The device to train on (default `lib.device()`) and the data moved there."""
    dev = torch.device(device) if device is not None else default_device()
    x, y = (t.to(dev) for t in train_data)
    evals = {name: (ex.to(dev), ey.to(dev)) for name, (ex, ey) in (eval_data or {}).items()}
    return dev, x, y, evals


def batch_indices(n: int, batch_size: int | None, generator: torch.Generator | None) -> list[Tensor | slice]:
    """One epoch's mini-batches as index tensors in a seeded random order (one slice for full batch)."""
    if batch_size is None or batch_size >= n:
        return [slice(None)]
    order = torch.randperm(n, generator=generator)
    return list(order.split(batch_size))


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, loss: str = "mse", batch_size: int = 4096) -> dict[str, float]:
    """Mean loss (and accuracy for classification) of `model` on (x, y), in eval mode."""
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        out = model(x[start:start + batch_size])
        target = y[start:start + batch_size]
        total += LOSSES[loss](out, target, reduction="sum").item()
        if loss == "cross_entropy":
            correct += (out.argmax(dim=1) == target).sum().item()
    model.train(was_training)
    # MSE is summed over output elements; report the per-element mean as mse_loss does.
    per = len(x) * (y[0].numel() if loss == "mse" else 1)
    result = {"loss": total / per}
    if loss == "cross_entropy":
        result["acc"] = correct / len(x)
    return result


def train(model: nn.Module, train_data: tuple[Tensor, Tensor], *, epochs: int,
          optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3, loss: str = "mse",
          batch_size: int | None = None, eval_data: Mapping[str, tuple[Tensor, Tensor]] | None = None,
          eval_every: int = 1, callback: Callable[[int, nn.Module, History], None] | None = None,
          seed: int = 0, progress: bool = True, desc: str | None = None,
          device: torch.device | str | None = None) -> History:
    """Train `model` on `train_data` for `epochs` and return its `History`.

    Args:
        optimizer: defaults to Adam(lr) over all parameters.
        loss: ``"mse"`` (regression) or ``"cross_entropy"`` (classification; adds accuracy).
        batch_size: None for full-batch gradient descent.
        eval_data: named sets, e.g. ``{"test": (x, y)}``, evaluated every `eval_every` epochs
            and after the last; metrics are named ``{set}_loss`` (and ``{set}_acc``).
        callback: called as ``callback(epoch, model, history)`` after each epoch
            (e.g. to record predictions for an animation).
        seed: drives the mini-batch order.

    A non-finite training loss raises FloatingPointError naming the epoch.
    """
    check_run(train_data, loss=loss, epochs=epochs, eval_every=eval_every, eval_data=eval_data)
    dev, x, y, evals = place(train_data, eval_data, device)
    model.to(dev)
    optimizer = optimizer or make_optimizer(model, "adam", lr)
    loss_fn = LOSSES[loss]
    generator = torch.Generator().manual_seed(seed)
    history = History()

    eval_names = [f"{name}_{metric}" for name in evals
                  for metric in (("loss", "acc") if loss == "cross_entropy" else ("loss",))]

    bar = tqdm(range(1, epochs + 1), desc=desc or "training", disable=not progress, leave=False)
    t0 = time.perf_counter()
    model.train()
    for epoch in bar:
        running, count = 0.0, 0
        for index in batch_indices(len(x), batch_size, generator):
            xb, yb = x[index], y[index]
            optimizer.zero_grad(set_to_none=True)
            batch_loss = loss_fn(model(xb), yb)
            if not torch.isfinite(batch_loss):
                raise FloatingPointError(f"training loss became {batch_loss.item()} at epoch {epoch}")
            batch_loss.backward()
            optimizer.step()
            running += batch_loss.item() * len(xb)
            count += len(xb)
        row = {"train_loss": running / count}
        if evals and (epoch % eval_every == 0 or epoch == epochs):
            for name, (ex, ey) in evals.items():
                for metric, value in evaluate(model, ex, ey, loss).items():
                    row[f"{name}_{metric}"] = value
        else:
            row.update({k: math.nan for k in eval_names})
        history.log(epoch, **row)
        if progress:
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if not math.isnan(v)})
        if callback is not None:
            callback(epoch, model, history)
    history.seconds = time.perf_counter() - t0
    return history
