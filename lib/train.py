"""The training loop for one model: regression or classification, full-batch, mini-batch or sampled batches.

Every chapter that trains a single network calls `train` (many networks trained as one program
go through `lib.ensemble`). Two ways to feed it:

- **epochs** over ``train_data = (x, y)``: each epoch visits the data in mini-batches in a seeded
  random order (``batch_size=None``: full batch);
- **steps** with ``batches(step, generator) -> (x, y)``: a fresh batch per step, e.g. random windows
  of a text (``seed`` drives the generator).

It records a `History` (one row per epoch or step: the train loss, and loss/accuracy on any
evaluation sets), shows a tqdm bar, honours `lib.dry_run.step_limit`, and is deterministic given the
model's initial state and `seed`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm  # text bars: executed notebooks keep no widget outputs

from lib.activations import activation_parameters
from lib.dry_run import current_limit
from lib.seeding import device as default_device


def _cross_entropy(out: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy of logits (N, C) against labels (N,), or of sequences (B, T, C) against (B, T)."""
    if out.dim() > 2:
        out, target = out.reshape(-1, out.shape[-1]), target.reshape(-1)
    return nn.functional.cross_entropy(out, target, reduction=reduction)


LOSSES: dict[str, Callable[..., Tensor]] = {
    "mse": nn.functional.mse_loss,
    "cross_entropy": _cross_entropy,
}
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}

# An evaluation set: data to score with the training loss, or a function of the model returning metrics.
EvalSet = tuple[Tensor, Tensor] | Callable[[nn.Module], Mapping[str, float]]


@dataclass
class History:
    """Per-epoch (or per-step) metrics: ``history["test_loss"]`` is a NumPy array over `epochs`.

    `step_seconds` holds the wall-clock time of every optimiser step (forward, backward, update).
    """

    epochs: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    step_seconds: list[float] = field(default_factory=list)

    def log(self, epoch: int, **values: float) -> None:
        if values.keys() - self.metrics.keys() and self.epochs:
            missing = ", ".join(sorted(values.keys() - self.metrics.keys()))
            raise KeyError(f"metric(s) {missing} appeared after epoch {self.epochs[0]}")
        self.epochs.append(epoch)
        for name, value in values.items():
            self.metrics.setdefault(name, []).append(float(value))

    def add_metric(self, name: str) -> None:
        """Declare a metric first seen after some rows were logged: NaN in those rows."""
        self.metrics.setdefault(name, [math.nan] * len(self.epochs))

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self.metrics[name])

    def last(self, name: str) -> float:
        return self.metrics[name][-1]

    def evaluated(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of a metric where it was evaluated (its NaN rows left out)."""
        values = self[name]
        keep = np.isfinite(values)
        return np.asarray(self.epochs)[keep], values[keep]


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


def check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_run(train_data: tuple[Tensor, Tensor] | None, *, loss: str | Callable, epochs: int,
              eval_every: int, eval_data: Mapping | None) -> None:
    """The checks every training loop makes before any work starts."""
    if not callable(loss) and loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)} or pass a function")
    check_positive_int("epochs", epochs)
    check_positive_int("eval_every", eval_every)
    if eval_data and "train" in eval_data:
        # evaluation sets name their metrics `{set}_loss`: "train" would overwrite train_loss
        raise ValueError('an evaluation set may not be called "train" (its metrics would overwrite '
                         'train_loss); call it e.g. "train_eval"')
    if train_data is not None:
        x, y = train_data
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"train_data must be two non-empty tensors of equal length, got {len(x)} and {len(y)}")


def place(train_data: tuple[Tensor, Tensor] | None, eval_data: Mapping[str, EvalSet] | None,
          device: torch.device | str | None):
    """The device to train on (default `lib.device()`) and the data moved there."""
    dev = torch.device(device) if device is not None else default_device()
    x, y = (t.to(dev) for t in train_data) if train_data is not None else (None, None)
    evals = {name: (data if callable(data) else tuple(t.to(dev) for t in data))
             for name, data in (eval_data or {}).items()}
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
            correct += (out.argmax(dim=-1) == target).sum().item()
    model.train(was_training)
    # Summed over output elements (or sequence positions); report the per-element mean as the losses do.
    per = y.numel() if loss == "cross_entropy" else len(x) * y[0].numel()
    result = {"loss": total / per}
    if loss == "cross_entropy":
        result["acc"] = correct / y.numel()
    return result


def _score(model: nn.Module, evals: Mapping[str, EvalSet], loss: str | Callable) -> dict[str, float]:
    row = {}
    for name, data in evals.items():
        metrics = data(model) if callable(data) else evaluate(model, *data, loss)
        row.update({f"{name}_{metric}": value for metric, value in metrics.items()})
    return row


def train(model: nn.Module, train_data: tuple[Tensor, Tensor] | None = None, *, epochs: int | None = None,
          steps: int | None = None, batches: Callable[[int, torch.Generator], tuple[Tensor, Tensor]] | None = None,
          optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3, loss: str | Callable = "mse",
          batch_size: int | None = None, eval_data: Mapping[str, EvalSet] | None = None, eval_every: int = 1,
          eval_at_start: bool = False, callback: Callable[[int, nn.Module, History], None] | None = None,
          before_step: Callable[[int, nn.Module, Tensor], None] | None = None,
          scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, seed: int = 0, progress: bool = True,
          desc: str | None = None, device: torch.device | str | None = None) -> History:
    """Train `model` and return its `History`.

    Args:
        train_data, epochs: train for `epochs` passes over ``(x, y)``, or
        batches, steps: train for `steps` steps on ``batches(step, generator)`` (step counts from 0).
        optimizer: defaults to Adam(lr) over all parameters; `scheduler` is stepped after every update.
        loss: ``"mse"`` (regression), ``"cross_entropy"`` (classification; adds accuracy) or a function
            ``loss(output, target) -> scalar``.
        batch_size: mini-batches of an epoch (None: full batch).
        eval_data: named sets, e.g. ``{"test": (x, y)}``, or functions ``model -> {metric: value}``,
            evaluated every `eval_every` epochs (or steps) and after the last, and before the first
            with `eval_at_start` (as row 0); metrics are named ``{set}_{metric}``.
        callback: ``callback(epoch, model, history)`` after each epoch (or step).
        before_step: ``before_step(step, model, loss)`` after each batch's loss is computed and before
            the update (e.g. a learning-rate warm-up, or keeping the best iterate); step counts from 0.
        seed: drives the mini-batch order (or the `batches` generator).

    A non-finite training loss raises FloatingPointError naming the epoch (or step).
    """
    stepwise = batches is not None
    if stepwise == (train_data is not None):
        raise ValueError("give either train_data (with epochs) or batches (with steps)")
    rounds = steps if stepwise else epochs
    if rounds is None:
        raise ValueError("give epochs with train_data, or steps with batches")
    check_positive_int("steps" if stepwise else "epochs", rounds)
    check_run(train_data, loss=loss, epochs=rounds, eval_every=eval_every, eval_data=eval_data)
    dev, x, y, evals = place(train_data, eval_data, device)
    model.to(dev)
    optimizer = optimizer or make_optimizer(model, "adam", lr)
    loss_fn = loss if callable(loss) else LOSSES[loss]
    generator = torch.Generator().manual_seed(seed)
    history = History()
    unit = "step" if stepwise else "epoch"
    limit = current_limit()
    taken = 0

    # Metric names of the data sets are known now; those of evaluation functions at their first call.
    metric_names = ("loss", "acc") if loss == "cross_entropy" else ("loss",)
    eval_names = [f"{name}_{m}" for name, data in evals.items() if not callable(data) for m in metric_names]
    if eval_at_start and evals:
        row = _score(model, evals, loss)
        eval_names += [k for k in row if k not in eval_names]
        history.log(0, train_loss=math.nan, **row)

    bar = tqdm(range(1, rounds + 1), desc=desc or "training", disable=not progress, leave=False)
    t0 = time.perf_counter()
    model.train()
    for r in bar:
        running, count = 0.0, 0
        if stepwise:
            xb, yb = batches(r - 1, generator)
            pieces = [(xb.to(dev), yb.to(dev))]
        else:
            pieces = ((x[index], y[index]) for index in batch_indices(len(x), batch_size, generator))
        for xb, yb in pieces:
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            batch_loss = loss_fn(model(xb), yb)
            if not torch.isfinite(batch_loss):
                raise FloatingPointError(f"training loss became {batch_loss.item()} at {unit} {r}")
            if before_step is not None:
                before_step(taken, model, batch_loss.detach())
            batch_loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            history.step_seconds.append(time.perf_counter() - start)
            running += batch_loss.item() * len(xb)
            count += len(xb)
            taken += 1
            if limit is not None and taken >= limit:
                break
        last = r == rounds or (limit is not None and taken >= limit)
        # a sampled batch's loss is recorded as computed; an epoch's as the mean over its examples
        row = {"train_loss": batch_loss.item() if stepwise else running / count}
        if evals and (r % eval_every == 0 or last):
            row.update(_score(model, evals, loss))
            for name in row:
                if name not in history.metrics and history.epochs:
                    history.add_metric(name)
                    eval_names.append(name)
        else:
            row.update({k: math.nan for k in eval_names})
        history.log(r, **row)
        if progress:
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if not math.isnan(v)})
        if callback is not None:
            callback(r, model, history)
        if last:
            break
    bar.close()
    history.seconds = time.perf_counter() - t0
    return history
