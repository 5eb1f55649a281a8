"""Many members of one network, trained as one vectorised program.

Two backends, one API (`train_ensemble`, `evaluate_ensemble`, ``members(x) -> (n, N, ...)``,
``members.params()``, ``members.member(i)``):

- `Ensemble` (vmap): stacks the parameters of `n` independently initialised copies of any
  module (``torch.func.stack_module_state``) and evaluates them at once with
  ``vmap(functional_call)``;
- `BatchedMLP` (bmm): `n` copies of a `lib.models.MLP` whose activations have no parameters of
  their own, as stacked weight matrices multiplied with ``baddbmm``. For very small networks
  (the swarms' bees) the per-call overhead of vmap dominates and this is several times faster.

Because Adam and SGD with momentum update every parameter element on its own, optimising the
stacked parameters on the *sum* of the members' losses gives each member exactly the updates it
would get alone; `member(i)` rebuilds one copy as an ordinary module, so tests check that claim
against separate runs.

Data is shared by default: every member trains on the same ``(x, y)``. Wrap tensors with a leading
member dimension in `MemberData` to give each member its own (e.g. training points drawn from each
member's seed); an evaluation set may be either.

Two ways to initialise the copies:

- ``from_seeds(make, seeds)``: copy i is built right after ``seed_everything(seeds[i])`` (the
  same start as a lone run with that seed);
- ``from_stream(make, n, seed)``: seed once, then build the copies one after another, copy k
  starting from the RNG state copies 0..k-1 left (the original `swarm` package's "bees").
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from lib.dry_run import current_limit
from lib.models.mlp import MLP
from lib.seeding import seed_everything
from lib.train import LOSSES, OPTIMIZERS, batch_indices, check_run, place

BACKENDS = ("vmap", "batched")


class MemberData(NamedTuple):
    """Data with a leading member dimension: member i trains (or is evaluated) on ``(x[i], y[i])``.

    ``x`` has shape (n, N, in_features) and ``y`` (n, N, ...); every member has the same number N of points.
    """

    x: Tensor
    y: Tensor


def _check_member_data(data: tuple[Tensor, Tensor], n: int, name: str) -> None:
    if not isinstance(data, MemberData):
        return
    if data.x.dim() < 2 or data.x.shape[0] != n or data.y.shape[:2] != data.x.shape[:2]:
        raise ValueError(f"{name}: MemberData needs x of shape (members={n}, N, features) and y of shape "
                         f"({n}, N, ...), got {tuple(data.x.shape)} and {tuple(data.y.shape)}")


class Ensemble(nn.Module):
    """`n` copies of one architecture with stacked parameters (leading dimension n); the vmap backend."""

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
    def from_seeds(cls, make: Callable[[], nn.Module], seeds: Sequence[int]) -> Ensemble:
        models = []
        for s in seeds:
            seed_everything(int(s))
            models.append(make())
        return cls(models)

    @classmethod
    def from_stream(cls, make: Callable[[], nn.Module], n: int, seed: int) -> Ensemble:
        seed_everything(seed)
        return cls([make() for _ in range(n)])

    @property
    def template(self) -> nn.Module:
        return self._template[0]

    def params(self) -> dict[str, Tensor]:
        """Every stacked parameter by the name it has in one member, shape (n, *member shape)."""
        return {k: self.stacked[k.replace(".", ":")] for k in self.names}

    def buffers_by_name(self) -> dict[str, Tensor]:
        return {k: getattr(self, "buffer:" + k.replace(".", ":")) for k in self._buffer_names}

    def forward(self, x: Tensor, method: str | None = None, per_member: bool = False) -> Tensor:
        """Every member on the same input `x` -> shape (n, *out); with `per_member`, member i on ``x[i]``.

        `method` names another method of the model to call instead of forward
        (e.g. ``"features"``).
        """
        target, prefix = (self.template, "") if method is None else (_Method(self.template, method), "module.")

        def one(params, buffers, x):
            named = {prefix + k: v for k, v in params.items()}
            named.update({prefix + k: v for k, v in buffers.items()})
            return functional_call(target, named, (x,))

        x_dim = 0 if per_member else None
        return vmap(one, in_dims=(0, 0, x_dim), randomness="different")(self.params(), self.buffers_by_name(), x)

    def member(self, i: int) -> nn.Module:
        """Copy i as an ordinary module (on the CPU, detached)."""
        _check_member(i, self.size)
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


def _check_member(i: int, size: int) -> None:
    if not 0 <= i < size:
        raise IndexError(f"member {i} of an ensemble of {size}")


class _LinearView:
    """Just the attributes `nn.Linear.reset_parameters` reads, pointing at one member's slices."""

    def __init__(self, weight: Tensor, bias: Tensor):
        self.weight, self.bias = weight, bias


class BatchedMLP(nn.Module):
    """`n` copies of a `lib.models.MLP` with stacked weights, evaluated with batched matrix products; the bmm backend.

    Built from an `Ensemble` of MLPs, or directly with `from_stream` (the same starting weights,
    without building the modules); either way every member starts exactly where its lone copy
    would. Its activations must have no parameters of their own (fixed scalars in buffers are
    fine), since one activation module serves all members.
    """

    def __init__(self, ensemble: Ensemble):
        super().__init__()
        if not isinstance(ensemble.template, MLP):
            raise TypeError("BatchedMLP needs an Ensemble of lib.models.MLP")
        if any(list(act.parameters()) for act in ensemble.template.activations):
            raise ValueError("BatchedMLP needs activations without learnable parameters; use the vmap backend")
        params = ensemble.params()
        depth = len(ensemble.template.hidden_layers)
        names = [f"hidden_layers.{i}" for i in range(depth)] + ["head"]
        weights = [params[f"{n}.weight"].detach() for n in names]
        biases = [params[f"{n}.bias"].detach() for n in names]
        # the template lives on "meta": rebuild the activations from a real member's buffers
        self._set(weights, biases, list(ensemble.member(0).activations))

    @classmethod
    def from_stream(cls, widths: Sequence[int], activation: Callable[[int], nn.Module], n: int, seed: int,
                    dtype: torch.dtype = torch.float32) -> BatchedMLP:
        """`n` members initialised exactly as `Ensemble.from_stream` would build `lib.models.MLP` copies.

        Seeds once, then for member after member runs `nn.Linear.reset_parameters` (torch's own
        default initialisation) on that member's slice of each stacked weight, layer by layer:
        the same random draws in the same order as building the modules, without their cost.
        Valid when the activations draw no random numbers when built (checked in the tests).
        """
        widths = [int(w) for w in widths]
        layers = list(zip(widths[:-1], widths[1:]))
        weights = [torch.empty(n, o, i) for i, o in layers]  # nn.Linear's (out, in) layout
        biases = [torch.empty(n, o) for _, o in layers]
        acts = [activation(w) for w in widths[1:-1]]
        seed_everything(seed)
        with torch.no_grad():
            for k in range(n):
                for w, b in zip(weights, biases):
                    nn.Linear.reset_parameters(_LinearView(w[k], b[k]))
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._set([w.to(dtype) for w in weights], [b.to(dtype) for b in biases], [a.to(dtype) for a in acts])
        return self

    def _set(self, weights: list[Tensor], biases: list[Tensor], acts: list[nn.Module]) -> None:
        """Store (n, out, in) weights as (n, in, out) for baddbmm, and (n, out) biases as (n, 1, out)."""
        self.weights = nn.ParameterList([nn.Parameter(w.transpose(1, 2).contiguous().clone()) for w in weights])
        self.biases = nn.ParameterList([nn.Parameter(b.unsqueeze(1).clone()) for b in biases])
        self.acts = nn.ModuleList(acts)
        self._layer_cache = None
        for act in self.acts:
            if list(act.parameters()):
                raise ValueError("BatchedMLP needs activations without learnable parameters; use the vmap backend")
            if any(b.dim() > 0 for b in act.buffers()):
                raise ValueError("BatchedMLP needs activations whose fixed parameters are scalars")
        self.size = weights[0].shape[0]

    def params(self) -> dict[str, Tensor]:
        """The stacked parameters named and shaped as in `Ensemble.params` (views of the stored ones)."""
        depth = len(self.acts)
        names = [f"hidden_layers.{i}" for i in range(depth)] + ["head"]
        out = {}
        for name, w, b in zip(names, self.weights, self.biases):
            out[f"{name}.weight"] = w.transpose(1, 2)
            out[f"{name}.bias"] = b[:, 0, :]
        return out

    def _layers(self) -> list[tuple[Tensor, Tensor]]:
        # the Parameter objects themselves, listed once: indexing an nn.ParameterList costs more than the
        # arithmetic of a small bee (`.to()` keeps the objects and changes their data, so the list stays valid)
        if getattr(self, "_layer_cache", None) is None:
            self._layer_cache = list(zip(list(self.weights), list(self.biases)))
            self._act_cache = list(self.acts)
        return self._layer_cache

    def features(self, x: Tensor, per_member: bool = False) -> Tensor:
        """x (N, in) -> last hidden layer of every member, (n, N, width); with `per_member`, x is (n, N, in)."""
        return self._forward(x, self._layers()[:-1], keep=None, per_member=per_member)

    def forward(self, x: Tensor, per_member: bool = False) -> Tensor:
        layers = self._layers()
        w, b = layers[-1]
        return torch.baddbmm(b, self._forward(x, layers[:-1], keep=None, per_member=per_member), w)

    def _forward(self, x: Tensor, hidden: list[tuple[Tensor, Tensor]], keep: list | None,
                 per_member: bool = False) -> Tensor:
        """The hidden layers; with `keep`, appends each layer's (input, pre-activation, output) for `mse_backward`.
        With `per_member`, x is (n, N, in): member i reads x[i]."""
        h = x
        xs = x if per_member else x.unsqueeze(0)
        for i, ((w, b), act) in enumerate(zip(hidden, self._act_cache)):
            if i == 0 and x.shape[-1] == 1:
                # one input: the layer is an outer product, cheaper elementwise than as a matrix product
                z = torch.addcmul(b, xs, w)
            elif i == 0:
                z = torch.baddbmm(b, xs.expand(self.size, *xs.shape[1:]), w)
            else:
                z = torch.baddbmm(b, h, w)
            out = act(z)
            if keep is not None:
                keep.append((h, z, out))
            h = out
        return h

    @torch.no_grad()
    def mse_forward(self, x: Tensor, per_member: bool = False) -> tuple[Tensor, list]:
        """Outputs (n, N, out) and what `mse_backward` needs, without building an autograd graph."""
        layers, keep = self._layers(), []
        w, b = layers[-1]
        h = self._forward(x, layers[:-1], keep, per_member)
        keep.append((h, None, None))
        return torch.baddbmm(b, h, w), keep

    @torch.no_grad()
    def mse_backward(self, outputs: Tensor, keep: list, y: Tensor, weight: Tensor | None = None,
                     per_member: bool = False) -> list[Tensor]:
        """Gradients of sum_i weight_i * MSE_i (weight None: all 1) with respect to `parameters()` (weights, then
        biases), written out: for bees of a few units, autograd's bookkeeping costs more than the arithmetic.
        With `per_member`, y is (n, N, out) as the input was (n, N, in)."""
        layers = self._layers()
        g = (outputs - (y if per_member else y.unsqueeze(0))).mul_(2.0 / (outputs.shape[1] * outputs.shape[2]))
        if weight is not None:
            g = torch.where(weight.view(-1, 1, 1) > 0, g, torch.zeros_like(g))
        grad_w, grad_b = [None] * len(layers), [None] * len(layers)
        h_last = keep[-1][0]
        w_last = layers[-1][0]
        if g.shape[2] == 1:
            # one output (every swarm): products with a vector, cheaper elementwise than as batched matrix products
            grad_w[-1] = (h_last * g).sum(dim=1).unsqueeze(2)
            grad_h = g * w_last.transpose(1, 2)
        else:
            grad_w[-1] = torch.bmm(h_last.transpose(1, 2), g)
            grad_h = torch.bmm(g, w_last.transpose(1, 2))
        grad_b[-1] = g.sum(dim=1, keepdim=True)
        for i in range(len(layers) - 2, -1, -1):
            h_in, z, h_out = keep[i]
            grad_z = _activation_backward(self._act_cache[i], z, h_out, grad_h)
            grad_b[i] = grad_z.sum(dim=1, keepdim=True)
            if i == 0 and h_in.shape[-1] == 1:
                grad_w[i] = (grad_z * (h_in if per_member else h_in.unsqueeze(0))).sum(dim=1, keepdim=True)
            elif i == 0 and not per_member:
                grad_w[i] = torch.matmul(h_in.transpose(0, 1), grad_z)
            else:
                grad_w[i] = torch.bmm(h_in.transpose(1, 2), grad_z)
            if i > 0:
                grad_h = torch.bmm(grad_z, layers[i][0].transpose(1, 2))
        return grad_w + grad_b

    def member(self, i: int) -> MLP:
        """Member i as an ordinary `lib.models.MLP` (on the CPU, detached)."""
        _check_member(i, self.size)
        widths = [self.weights[0].shape[1]] + [w.shape[2] for w in self.weights]
        acts = [copy.deepcopy(a).cpu() for a in self.acts]
        model = MLP(widths[0], widths[1:-1], widths[-1], activation=[lambda _w, a=a: a for a in acts])
        state = {k: v[i].detach().cpu().clone() for k, v in self.params().items()}
        model.load_state_dict(state)
        return model.to(self.weights[0].dtype)


def _activation_backward(act: nn.Module, z: Tensor, h: Tensor, grad_h: Tensor) -> Tensor:
    """dL/dz from dL/dh for h = act(z): closed forms for the common parameter-free activations, autograd else."""
    kind = type(act)
    if kind is nn.ReLU:                     # what autograd's ReLU backward computes, fused
        return torch.ops.aten.threshold_backward(grad_h, h, 0)
    if kind is nn.Tanh:
        return grad_h * (1 - h * h)
    if kind is nn.Sigmoid:
        return grad_h * (h * (1 - h))
    if kind is nn.Tanhshrink:               # x - tanh x: slope tanh^2 x = (z - h)^2
        return grad_h * (z - h).square()
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        (grad_z,) = torch.autograd.grad(act(z), z, grad_h)
    return grad_z


def member_losses(outputs: Tensor, target: Tensor, loss: str, per_member: bool = False) -> Tensor:
    """The loss of each member: outputs (n, N, ...) against one target (N, ...) -> (n,);
    with `per_member`, against targets (n, N, ...), one per member."""
    n = outputs.shape[0]
    if loss == "mse":
        return (outputs - (target if per_member else target.unsqueeze(0))).square().reshape(n, -1).mean(dim=1)
    if loss == "cross_entropy":
        labels = target.reshape(-1) if per_member else target.repeat(n)
        flat = nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), labels, reduction="none")
        return flat.view(n, -1).mean(dim=1)
    raise ValueError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")


@torch.no_grad()
def evaluate_ensemble(members: Ensemble | BatchedMLP, x: Tensor, y: Tensor, loss: str = "mse",
                      batch_size: int = 4096, per_member: bool = False) -> dict[str, np.ndarray]:
    """Per-member mean loss (and accuracy for classification) on (x, y) -> arrays of shape (n,).

    With `per_member`, x and y carry a leading member dimension (member i is scored on x[i], y[i]).
    """
    totals, correct = torch.zeros(members.size, device=x.device), torch.zeros(members.size, device=x.device)
    count = x.shape[1] if per_member else len(x)
    for start in range(0, count, batch_size):
        piece = slice(start, start + batch_size)
        xb, target = (x[:, piece], y[:, piece]) if per_member else (x[piece], y[piece])
        out = members(xb, per_member=True) if per_member else members(xb)
        totals += member_losses(out, target, loss, per_member) * target.shape[int(per_member)]
        if loss == "cross_entropy":
            correct += (out.argmax(dim=-1) == (target if per_member else target.unsqueeze(0))).flatten(1).sum(dim=1)
    result = {"loss": (totals / count).cpu().numpy()}
    if loss == "cross_entropy":
        result["acc"] = (correct / count).cpu().numpy()
    return result


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


class _ForeachSGD:
    """SGD with momentum exactly as torch.optim.SGD computes it (no dampening, weight decay or Nesterov):
    buf = g at the first step, then buf = momentum * buf + g; p -= lr * buf, as a few foreach calls."""

    def __init__(self, params: list[Tensor], lr: float, momentum: float):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.buffers: list[Tensor] | None = None

    @torch.no_grad()
    def step(self, grads: list[Tensor]) -> None:
        if self.momentum == 0:
            torch._foreach_add_(self.params, grads, alpha=-self.lr)
            return
        if self.buffers is None:
            self.buffers = [g.detach().clone() for g in grads]
        else:
            torch._foreach_mul_(self.buffers, self.momentum)
            torch._foreach_add_(self.buffers, grads)
        torch._foreach_add_(self.params, self.buffers, alpha=-self.lr)


def train_ensemble(members: Ensemble | BatchedMLP, train_data: tuple[Tensor, Tensor], *, epochs: int,
                   optimizer: str = "adam", lr: float = 1e-3, momentum: float = 0.0, loss: str = "mse",
                   batch_size: int | None = None, eval_data: Mapping[str, tuple[Tensor, Tensor]] | None = None,
                   eval_every: int = 1,
                   record: Callable[[int, Ensemble | BatchedMLP, Tensor], Mapping[str, Tensor]] | None = None,
                   record_every: int = 1, seed: int = 0, progress: bool = True, desc: str | None = None,
                   device: torch.device | str | None = None) -> EnsembleHistory:
    """Train every member at once (either backend); each gets the updates it would get alone.

    ``train_loss`` at epoch e is the loss *before* that epoch's update (averaged
    over its mini-batches), as the `swarm` package records it. Evaluation sets are
    scored after the update, every `eval_every` epochs and at the last.
    `record(epoch, members, outputs)` is called every `record_every` epochs
    (and at epoch 1) before the update, with `outputs` the members' predictions on
    the first batch; it returns tensors with a leading member dimension to keep.
    A member whose loss is not finite is frozen and marked in `diverged_at`.
    Honours `lib.dry_run.step_limit`.
    """
    check_run(train_data, loss=loss, epochs=epochs, eval_every=eval_every, eval_data=eval_data)
    per_member = isinstance(train_data, MemberData)
    _check_member_data(train_data, members.size, "train_data")
    eval_per_member = {k: isinstance(d, MemberData) for k, d in (eval_data or {}).items()}
    for k, d in (eval_data or {}).items():
        _check_member_data(d, members.size, f"eval_data[{k!r}]")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimiser {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr}")
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1, got {record_every}")
    dev, x, y, evals = place(train_data, eval_data, device)
    members.to(dev)
    params = [p for p in members.parameters() if p.requires_grad]
    # Written-out gradients for stacked MLPs on MSE, and SGD as foreach updates: for small networks the
    # bookkeeping of autograd and torch.optim costs more than the arithmetic. Same updates as torch.optim.SGD.
    manual_gradients = isinstance(members, BatchedMLP) and loss == "mse"
    sgd = _ForeachSGD(params, lr, momentum) if optimizer == "sgd" else None
    opt = None if sgd is not None else OPTIMIZERS[optimizer](params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    n = members.size
    active = torch.ones(n, dtype=torch.bool, device=dev)
    all_active = True
    history = EnsembleHistory(diverged_at=np.full(n, -1))
    eval_names = [f"{k}_{m}" for k in evals for m in (("loss", "acc") if loss == "cross_entropy" else ("loss",))]
    limit, taken = current_limit(), 0

    bar = tqdm(range(1, epochs + 1), desc=desc or f"{n} members", disable=not progress, leave=False)
    t0 = time.perf_counter()
    for epoch in bar:
        running, count = torch.zeros(n, device=dev), 0
        for b, index in enumerate(batch_indices(x.shape[1] if per_member else len(x), batch_size, generator)):
            xb, yb = (x[:, index], y[:, index]) if per_member else (x[index], y[index])
            if manual_gradients:
                outputs, keep = members.mse_forward(xb, per_member)
            else:
                for p in params:
                    p.grad = None
                outputs = members(xb, per_member=True) if per_member else members(xb)
            losses = member_losses(outputs, yb, loss, per_member)
            if record is not None and b == 0 and (epoch == 1 or epoch % record_every == 0):
                kept = record(epoch, members, outputs.detach())
                history.record_epochs.append(epoch)
                for name, value in kept.items():
                    history.records.setdefault(name, []).append(value.detach().cpu().numpy().copy())
            if all_active and not bool(torch.isfinite(losses).all()):
                all_active = False
            if not all_active:
                finite = torch.isfinite(losses)
                newly = active & ~finite
                if newly.any():
                    history.diverged_at[newly.cpu().numpy()] = epoch
                    active &= finite
            weight = None if all_active else active.to(losses.dtype)
            if manual_gradients:
                grads = members.mse_backward(outputs, keep, yb, weight, per_member)
            else:
                (losses.sum() if weight is None else torch.where(active, losses, torch.zeros_like(losses)).sum()
                 ).backward()
                grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            frozen = None if all_active else ~active
            if frozen is not None:
                saved = [p.detach()[frozen].clone() for p in params]
                for g in grads:
                    g[frozen] = 0.0
            if sgd is not None:
                sgd.step(grads)
            else:
                for p, g in zip(params, grads):
                    p.grad = g
                opt.step()
            if frozen is not None:
                with torch.no_grad():
                    for p, old in zip(params, saved):
                        p[frozen] = old
            running += losses.detach() * yb.shape[int(per_member)]
            count += yb.shape[int(per_member)]
            taken += 1
            if limit is not None and taken >= limit:
                break
        last = epoch == epochs or (limit is not None and taken >= limit)
        mean = running / count
        row = {"train_loss": (mean if all_active else torch.where(active, mean, torch.full_like(mean, math.nan))
                              ).cpu().numpy()}
        if evals and (epoch % eval_every == 0 or last):
            for name, (ex, ey) in evals.items():
                for metric, value in evaluate_ensemble(members, ex, ey, loss, per_member=eval_per_member[name]).items():
                    row[f"{name}_{metric}"] = np.where(active.cpu().numpy(), value, np.nan)
        else:
            row.update({k: np.full(n, np.nan) for k in eval_names})
        history.epochs.append(epoch)
        for k, v in row.items():
            history.metrics.setdefault(k, []).append(v)
        if progress:
            bar.set_postfix(median_loss=f"{np.nanmedian(row['train_loss']) if active.any() else float('nan'):.3g}",
                            diverged=int((~active).sum()))
        if last:
            break
    bar.close()
    history.seconds = time.perf_counter() - t0
    return history
