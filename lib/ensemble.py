"""Many copies of one network, trained as one vectorised program.

An `Ensemble` stacks the parameters of `n` independently initialised copies of a
model (``torch.func.stack_module_state``) and evaluates all of them at once with
``vmap(functional_call)``. Because Adam and SGD with momentum update every
parameter element on its own, optimising the stacked parameters on the *sum* of
the members' losses gives each member exactly the updates it would get alone;
`member(i)` rebuilds one copy as an ordinary module, so tests can check that
claim against separate runs.

Two ways to initialise the copies:

- `Ensemble.from_seeds(make, seeds)`: copy i is built right after
  ``seed_everything(seeds[i])`` (the same start as a lone run with that seed);
- `Ensemble.from_stream(make, n, seed)`: seed once, then build the copies one
  after another, copy k starting from the RNG state copies 0..k-1 left (the
  original `swarm` package's "bees").
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from lib.seeding import seed_everything
from lib.train import LOSSES, OPTIMIZERS, batch_indices, check_run, place


class Ensemble(nn.Module):
    """`n` copies of one architecture with stacked parameters (leading dimension n)."""

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        if any(type(m) is not type(models[0]) for m in models):
            raise TypeError("all members must be instances of one class")
        params, buffers = stack_module_state(list(models))
        # The template holds the structure only; its own tensors are never used.
        self._template = [copy.deepcopy(models[0]).to("meta")]
        self.size = len(models)
        self.names = list(params)
        self.stacked = nn.ParameterDict({k.replace(".", ":"): nn.Parameter(v) for k, v in params.items()})
        for k, v in buffers.items():
            self.register_buffer("buffer:" + k.replace(".", ":"), v)
        self._buffer_names = list(buffers)

    @classmethod
    def from_seeds(cls, make: Callable[[], nn.Module], seeds: Sequence[int]) -> "Ensemble":
        models = []
        for s in seeds:
            seed_everything(int(s))
            models.append(make())
        return cls(models)

    @classmethod
    def from_stream(cls, make: Callable[[], nn.Module], n: int, seed: int) -> "Ensemble":
        seed_everything(seed)
        return cls([make() for _ in range(n)])

    @property
    def template(self) -> nn.Module:
        return self._template[0]

    def params(self) -> dict[str, Tensor]:
        return {k: self.stacked[k.replace(".", ":")] for k in self.names}

    def buffers_by_name(self) -> dict[str, Tensor]:
        return {k: getattr(self, "buffer:" + k.replace(".", ":")) for k in self._buffer_names}

    def forward(self, x: Tensor, method: str | None = None) -> Tensor:
        """Every member on the same input `x` -> shape (n, *out).

        `method` names another method of the model to call instead of forward
        (e.g. ``"features"``).
        """
        target, prefix = (self.template, "") if method is None else (_Method(self.template, method), "module.")

        def one(params, buffers, x):
            named = {prefix + k: v for k, v in params.items()}
            named.update({prefix + k: v for k, v in buffers.items()})
            return functional_call(target, named, (x,))

        return vmap(one, in_dims=(0, 0, None), randomness="different")(self.params(), self.buffers_by_name(), x)

    def member(self, i: int) -> nn.Module:
        """Copy i as an ordinary module (on the CPU, detached)."""
        if not 0 <= i < self.size:
            raise IndexError(f"member {i} of an ensemble of {self.size}")
        model = copy.deepcopy(self.template).to_empty(device="cpu")
        state = {k: v[i].detach().cpu().clone() for k, v in {**self.params(), **self.buffers_by_name()}.items()}
        model.load_state_dict(state)
        return model


class _Method(nn.Module):
    """Wrap `module.method` as a forward so that functional_call can bind parameters to it."""

    def __init__(self, module: nn.Module, method: str):
        super().__init__()
        self.module = module
        self.method = method

    def forward(self, x):
        return getattr(self.module, self.method)(x)


@dataclass
class EnsembleHistory:
    """Per-epoch metrics of every member: ``history["train_loss"]`` has shape (n, epochs).

    `diverged_at[i]` is the epoch at which member i's loss stopped being finite
    (-1 if never); from then on its metrics are NaN and its parameters frozen.
    `records` holds what the `record` callback returned, stacked over the
    recorded epochs (`record_epochs`).
    """

    epochs: list[int] = field(default_factory=list)
    metrics: dict[str, list[np.ndarray]] = field(default_factory=dict)
    diverged_at: np.ndarray | None = None
    record_epochs: list[int] = field(default_factory=list)
    records: dict[str, list[np.ndarray]] = field(default_factory=dict)
    seconds: float = 0.0

    def __getitem__(self, name: str) -> np.ndarray:
        return np.stack(self.metrics[name], axis=1)

    def record(self, name: str) -> np.ndarray:
        """A recorded field stacked as (n, recorded epochs, ...)."""
        return np.stack(self.records[name], axis=1)

    @property
    def n_diverged(self) -> int:
        return int((self.diverged_at >= 0).sum())


def member_losses(outputs: Tensor, target: Tensor, loss: str) -> Tensor:
    """The loss of each member: outputs (n, N, ...) against one target (N, ...) -> (n,)."""
    n = outputs.shape[0]
    if loss == "mse":
        return (outputs - target.unsqueeze(0)).square().reshape(n, -1).mean(dim=1)
    if loss == "cross_entropy":
        flat = nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), target.repeat(n), reduction="none")
        return flat.view(n, -1).mean(dim=1)
    raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")


@torch.no_grad()
def evaluate_ensemble(ensemble: Ensemble, x: Tensor, y: Tensor, loss: str = "mse",
                      batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Per-member mean loss (and accuracy for classification) on (x, y) -> arrays of shape (n,)."""
    totals, correct = torch.zeros(ensemble.size, device=x.device), torch.zeros(ensemble.size, device=x.device)
    for start in range(0, len(x), batch_size):
        out = ensemble(x[start:start + batch_size])
        target = y[start:start + batch_size]
        totals += member_losses(out, target, loss) * len(target)
        if loss == "cross_entropy":
            correct += (out.argmax(dim=-1) == target.unsqueeze(0)).sum(dim=1)
    result = {"loss": (totals / len(x)).cpu().numpy()}
    if loss == "cross_entropy":
        result["acc"] = (correct / len(x)).cpu().numpy()
    return result


def train_ensemble(ensemble: Ensemble, train_data: tuple[Tensor, Tensor], *, epochs: int,
                   optimizer: str = "adam", lr: float = 1e-3, momentum: float = 0.0, loss: str = "mse",
                   batch_size: int | None = None, eval_data: Mapping[str, tuple[Tensor, Tensor]] | None = None,
                   eval_every: int = 1,
                   record: Callable[[int, Ensemble, Tensor], Mapping[str, Tensor]] | None = None,
                   record_every: int = 1, seed: int = 0, progress: bool = True, desc: str | None = None,
                   device: torch.device | str | None = None) -> EnsembleHistory:
    """Train every member of `ensemble` at once; each gets the updates it would get alone.

    ``train_loss`` at epoch e is the loss *before* that epoch's update (averaged
    over its mini-batches), as the `swarm` package records it. Evaluation sets are
    scored after the update, every `eval_every` epochs and at the last.
    `record(epoch, ensemble, outputs)` is called every `record_every` epochs
    (and at epoch 1) before the update, with `outputs` the members' predictions on
    the first batch; it returns tensors with a leading member dimension to keep.
    A member whose loss is not finite is frozen and marked in `diverged_at`.
    """
    check_run(train_data, loss=loss, epochs=epochs, eval_every=eval_every, eval_data=eval_data)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimiser {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr}")
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1, got {record_every}")
    dev, x, y, evals = place(train_data, eval_data, device)
    ensemble.to(dev)
    params = list(ensemble.stacked.values())
    kwargs = {"momentum": momentum} if optimizer == "sgd" else {}
    opt = OPTIMIZERS[optimizer](params, lr=lr, **kwargs)
    generator = torch.Generator().manual_seed(seed)
    n = ensemble.size
    active = torch.ones(n, dtype=torch.bool, device=dev)
    history = EnsembleHistory(diverged_at=np.full(n, -1))
    eval_names = [f"{k}_{m}" for k in evals for m in (("loss", "acc") if loss == "cross_entropy" else ("loss",))]

    bar = tqdm(range(1, epochs + 1), desc=desc or f"{n} members", disable=not progress, leave=False)
    t0 = time.perf_counter()
    for epoch in bar:
        running, count = torch.zeros(n, device=dev), 0
        for b, index in enumerate(batch_indices(len(x), batch_size, generator)):
            xb, yb = x[index], y[index]
            opt.zero_grad(set_to_none=True)
            outputs = ensemble(xb)
            losses = member_losses(outputs, yb, loss)
            if record is not None and b == 0 and (epoch == 1 or epoch % record_every == 0):
                kept = record(epoch, ensemble, outputs.detach())
                history.record_epochs.append(epoch)
                for name, value in kept.items():
                    history.records.setdefault(name, []).append(value.detach().cpu().numpy())
            finite = torch.isfinite(losses)
            newly = active & ~finite
            if newly.any():
                history.diverged_at[newly.cpu().numpy()] = epoch
                active &= finite
            torch.where(active, losses, torch.zeros_like(losses)).sum().backward()
            frozen = ~active
            if frozen.any():
                saved = [p.detach()[frozen].clone() for p in params]
                for p in params:
                    if p.grad is not None:
                        p.grad[frozen] = 0.0
            opt.step()
            if frozen.any():
                with torch.no_grad():
                    for p, old in zip(params, saved):
                        p[frozen] = old
            running += losses.detach() * len(xb)
            count += len(xb)
        nan = torch.full_like(running, float("nan"))
        row = {"train_loss": torch.where(active, running / count, nan).cpu().numpy()}
        if evals and (epoch % eval_every == 0 or epoch == epochs):
            for name, (ex, ey) in evals.items():
                for metric, value in evaluate_ensemble(ensemble, ex, ey, loss).items():
                    row[f"{name}_{metric}"] = np.where(active.cpu().numpy(), value, np.nan)
        else:
            row.update({k: np.full(n, np.nan) for k in eval_names})
        history.epochs.append(epoch)
        for k, v in row.items():
            history.metrics.setdefault(k, []).append(v)
        if progress:
            bar.set_postfix(median_loss=f"{np.nanmedian(row['train_loss']) if active.any() else float('nan'):.3g}",
                            diverged=int((~active).sum()))
    history.seconds = time.perf_counter() - t0
    return history
