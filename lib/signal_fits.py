"""Fitting 1-D signals with many seeds of a small MLP at once (the core both Snake chapters share).

One run (`run_signal`, the function every Snake sweep calls) trains the seeds of one activation on one
task as one vectorised program (`lib.ensemble`): member i is built right after
``seed_everything(seeds[i])``; on Ziyin et al.'s task each member also trains on its own training
points drawn from its seed (`lib.ensemble.MemberData`). During training the predictions on the
task's evaluation grid are recorded every `eval_every` epochs; everything a chapter reports is read
from those records: train and test MSE curves, and, as the mean over the last `last` evaluations
(the robust endpoint), the test error by distance from the data and the per-period sine fits of
`lib.signal_metrics`, plus a few frames for an animation.

A learnable Snake frequency can be stored as it is (``a``, what `lib.activations` builds) or as
``log a`` (`LogSnake`): with Adam every step changes a stored parameter by about the learning rate,
so a raw a of 30 moves by at most ~0.1 % per step at lr 1e-3, while log a moves a by up to ~0.1 %
*of itself*, as far in relative terms at a = 30 as at a = 0.3. `run_frequency_probe` shows the
difference on a task whose right a is known.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from lib import activations
from lib.activations.base import broadcast_to_input
from lib.activations.snake import SnakeFunction
from lib.data.signals import TASKS, SignalTask, signal_task
from lib.ensemble import BatchedMLP, Ensemble, MemberData, train_ensemble
from lib.models.mlp import INITS, MLP
from lib.run_config import check_keys
from lib.seeding import seed_everything
from lib.signal_metrics import beyond_mask, distance_to_data, envelope_values, error_by_distance, period_fits
from lib.train import OPTIMIZERS

PARAMETRIZATIONS = ("raw", "log")


# ---------------------------------------------------------------- activations and networks

@dataclass(frozen=True)
class Candidate:
    """One activation of a comparison: a label for tables, a registry name, its parameters, and how a learnable
    constant is stored ("raw" as `lib.activations` builds it, or "log": Snake's a as log a, see `LogSnake`).

    ``params`` go to `lib.activations.factory`, e.g. ``{"a": 30.0, "learnable": True, "granularity": "channel"}``
    for one learnable constant per neuron.
    """

    label: str
    activation: str
    params: dict = field(default_factory=dict)
    parametrization: str = "raw"

    def config(self) -> dict:
        """The candidate as a JSON-able dict (what a sweep config holds)."""
        return {"label": self.label, "activation": self.activation, "params": dict(self.params),
                "parametrization": self.parametrization}

    @classmethod
    def from_config(cls, config: dict) -> Candidate:
        return cls(config["label"], config["activation"], dict(config.get("params", {})),
                   config.get("parametrization", "raw"))

    @property
    def learnable(self) -> bool:
        return bool(self.params.get("learnable", False))


def comparison_candidates(snake_a: float = 30.0, learnable: str = "log") -> list[Candidate]:
    """The activations Ziyin et al. compare (ReLU, tanh, sin, x + sin x, x + sin²x), plus Snake with a fixed
    a and with one learnable a per neuron starting there (stored as `learnable`: "log" or "raw")."""
    if learnable not in PARAMETRIZATIONS:
        raise ValueError(f"learnable must be one of {PARAMETRIZATIONS}, got {learnable!r}")
    return [
        Candidate("ReLU", "relu"),
        Candidate("tanh", "tanh"),
        Candidate("sin", "sin"),
        Candidate("x + sin x", "x_plus_sin"),
        Candidate("x + sin²x", "snake", {"a": 1.0}),
        Candidate(f"Snake, a = {snake_a:g}", "snake", {"a": float(snake_a)}),
        Candidate(f"Snake, learnable a (from {snake_a:g})", "snake",
                  {"a": float(snake_a), "learnable": True, "granularity": "channel"}, learnable),
    ]


class LogSnake(nn.Module):
    r"""Snake :math:`x + \sin^2(a x)/a` with one learnable :math:`a = e^{\theta}` per channel, θ stored.

    The same function and gradients with respect to x as `lib.activations.snake.Snake` (it calls the
    same `SnakeFunction`); only what the optimiser updates differs: θ = log a, so that a step of a given
    size changes a by a given *fraction* and a stays positive.
    """

    def __init__(self, a: float, num_features: int, feature_dim: int = 1):
        super().__init__()
        if not (isinstance(a, (int, float)) and math.isfinite(a) and a > 0):
            raise ValueError(f"LogSnake needs a finite a > 0, got a={a!r}")
        self.feature_dim = feature_dim
        self.log_a = nn.Parameter(torch.full((int(num_features),), math.log(a)))

    @property
    def a(self) -> Tensor:
        return self.log_a.detach().exp()

    def forward(self, x: Tensor) -> Tensor:
        return SnakeFunction.apply(x, broadcast_to_input(self.log_a.exp(), x, self.feature_dim))


def activation_factory(candidate: Candidate):
    """``width -> module`` for the candidate (checked now: a bad name or value fails before any training)."""
    if candidate.parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}, got {candidate.parametrization!r}")
    if candidate.parametrization == "log":
        if candidate.activation != "snake" or not candidate.learnable or \
                candidate.params.get("granularity", "layer") != "channel":
            raise ValueError(f"candidate {candidate.label!r}: the log parametrisation is for Snake with a learnable "
                             f"a per channel, got {candidate.activation!r} with {candidate.params}")
        a = float(candidate.params.get("a", 1.0))
        LogSnake(a, 1)                                      # probe the value
        return lambda width: LogSnake(a, width)
    return activations.factory(candidate.activation, **candidate.params)


def make_network(candidate: Candidate, hidden: Sequence[int] = (512, 512), init: str = "xavier_normal",
                 zero_bias: bool = True) -> MLP:
    """1 -> hidden -> 1 with the candidate's activation after every hidden layer."""
    return MLP(1, tuple(int(w) for w in hidden), 1, activation=activation_factory(candidate), init=init,
               zero_bias=zero_bias)


def build_members(candidate: Candidate, seeds: Sequence[int], hidden: Sequence[int], init: str,
                  zero_bias: bool) -> Ensemble | BatchedMLP:
    """Member i built right after ``seed_everything(seeds[i])``; batched matrix products when the activation has
    no learnable parameters (several times faster for these small networks), vmap otherwise."""
    ensemble = Ensemble.from_seeds(lambda: make_network(candidate, hidden, init, zero_bias), seeds)
    if candidate.learnable:
        return ensemble
    return BatchedMLP(ensemble)


def frequencies(params: dict[str, Tensor | np.ndarray], layers: int) -> list[np.ndarray] | None:
    """Snake's a of every hidden layer, (members, width) each, from stacked parameters (raw ``a`` or ``log_a``);
    None if the activations have no learnable a."""
    out = []
    for i in range(layers):
        for name, transform in ((f"activations.{i}.log_a", np.exp), (f"activations.{i}.a", lambda v: v)):
            if name in params:
                value = params[name]
                value = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
                out.append(np.asarray(transform(value), dtype=float).reshape(value.shape[0], -1))
                break
    return out or None


# ---------------------------------------------------------------- one run: configuration

CONFIG_KEYS = ("task", "candidate", "hidden", "init", "zero_bias", "optimizer", "lr", "momentum", "epochs", "seeds",
               "eval_every", "last", "frames", "bins", "periods", "keep_params")


def signal_config(task: dict, candidate: Candidate | dict, *, seeds: Sequence[int], hidden: Sequence[int] = (64, 64),
                  init: str = "xavier_normal", zero_bias: bool = True, optimizer: str = "adam", lr: float = 1e-3,
                  momentum: float = 0.0, epochs: int = 1000, eval_every: int = 10, last: int = 5, frames: int = 0,
                  bins: int = 6, periods: int = 5, keep_params: bool = False) -> dict:
    """A complete, JSON-able configuration of `run_signal` (every key present, so that two spellings of the same run
    share one stored result)."""
    candidate = candidate.config() if isinstance(candidate, Candidate) else dict(candidate)
    return {"task": dict(task), "candidate": candidate, "hidden": [int(w) for w in hidden], "init": init,
            "zero_bias": bool(zero_bias), "optimizer": optimizer, "lr": float(lr), "momentum": float(momentum),
            "epochs": int(epochs), "seeds": [int(s) for s in seeds], "eval_every": int(eval_every), "last": int(last),
            "frames": int(frames), "bins": int(bins), "periods": int(periods), "keep_params": bool(keep_params)}


def _positive_int(config: dict, key: str, minimum: int = 1) -> None:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an int >= {minimum}, got {value!r}")


def check_config(config: dict) -> None:
    """Every problem a `run_signal` configuration can have, raised before any training (a sweep's `check`)."""
    check_keys(config, CONFIG_KEYS, "run_signal", exact=True)
    task = config["task"]
    if not isinstance(task, dict) or task.get("name") not in ("authors", *TASKS):
        raise ValueError(f"task must be a dict with a name among authors, {', '.join(TASKS)}; got {task!r}")
    signal_task(task["name"], 0, **{k: v for k, v in task.items() if k != "name"})   # bad task arguments fail here
    candidate = Candidate.from_config(config["candidate"])
    activation_factory(candidate)
    seeds = config["seeds"]
    if not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds) or \
            any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**32 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct ints in [0, 2**32), got {seeds!r}")
    hidden = config["hidden"]
    if not isinstance(hidden, list) or not hidden or any(isinstance(w, bool) or not isinstance(w, int) or w < 1
                                                         for w in hidden):
        raise ValueError(f"hidden must be a non-empty list of positive ints, got {hidden!r}")
    if config["init"] not in INITS:
        raise ValueError(f"unknown init {config['init']!r}; choose from {', '.join(INITS)}")
    if config["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {config['optimizer']!r}; choose from {', '.join(OPTIMIZERS)}")
    for key in ("lr", "momentum"):
        if not (isinstance(config[key], (int, float)) and math.isfinite(config[key]) and config[key] >= 0):
            raise ValueError(f"{key} must be a finite number >= 0, got {config[key]!r}")
    if not config["lr"] > 0:
        raise ValueError(f"lr must be positive, got {config['lr']!r}")
    for key in ("epochs", "eval_every", "last", "bins", "periods"):
        _positive_int(config, key)
    _positive_int(config, "frames", minimum=0)


# ---------------------------------------------------------------- one run: the result

@dataclass
class SignalRun:
    """What one `run_signal` returns (plain NumPy arrays; members are the seeds, in `seeds` order).

    Curves (members, evaluations) are read at `completed` epochs (0 = the untrained network; the last is
    the network after the last epoch). Endpoints (members,) and the distance / period metrics are the mean
    over the last `last` evaluations. ``by_distance[:, k]``: test squared error relative to the envelope²
    (for sin x the plain squared error) at distance [k, k+1) periods from the nearest training point;
    ``amplitude``, ``phase`` (|phase error|, radians), ``offset`` [:, k]: the sine fits in the k-th
    period beyond the data. Diverged members are NaN throughout and flagged in `diverged`.
    """

    label: str
    config: dict
    seeds: list[int]
    completed: np.ndarray
    train_curve: np.ndarray
    test_curve: np.ndarray
    normalised_curve: np.ndarray
    beyond_curve: np.ndarray
    train_mse: np.ndarray
    test_mse: np.ndarray
    normalised_mse: np.ndarray
    beyond_mse: np.ndarray
    by_distance: np.ndarray
    amplitude: np.ndarray
    phase: np.ndarray
    offset: np.ndarray
    diverged: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    test_mask: np.ndarray
    envelope: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray
    predictions: np.ndarray
    frames: np.ndarray
    frame_completed: np.ndarray
    input_scale: float = 1.0
    period: float = 2 * math.pi
    a_initial: list[np.ndarray] | None = None
    a_final: list[np.ndarray] | None = None
    params: dict[str, np.ndarray] | None = None
    seconds: float = 0.0

    @property
    def candidate(self) -> Candidate:
        return Candidate.from_config(self.config["candidate"])

    def network(self, member: int) -> MLP:
        """Member `member` as a trained `lib.models.MLP` (needs a run with ``keep_params``)."""
        if self.params is None:
            raise ValueError(f"run {self.label!r} kept no parameters (run it with keep_params=True)")
        c = self.config
        model = make_network(self.candidate, c["hidden"], c["init"], c["zero_bias"])
        state = model.state_dict()
        for name, value in self.params.items():
            state[name] = torch.as_tensor(value[member]).to(state[name].dtype)
        model.load_state_dict(state)
        return model.eval()

    def features(self, member: int, x: np.ndarray | None = None) -> np.ndarray:
        """The last hidden layer of member `member` at raw inputs `x` (default: the evaluation grid), shape
        (points, width)."""
        x = self.x_eval if x is None else np.asarray(x, dtype=float)
        with torch.no_grad():
            inputs = torch.as_tensor(x / self.input_scale, dtype=torch.float32).reshape(-1, 1)
            return self.network(member).features(inputs).numpy()


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _frame_indices(total: int, frames: int) -> np.ndarray:
    """`frames` indices spread evenly over range(total), keeping the last (all of them if fewer)."""
    if total <= frames:
        return np.arange(total)
    return np.unique(np.round(np.linspace(total / frames - 1, total - 1, frames)).astype(int))


def _record_metrics(task: SignalTask, predictions: np.ndarray, x_train: np.ndarray, period: float,
                    bins: int, periods: int) -> dict[str, np.ndarray]:
    """Distance and period metrics of predictions (members, records, M), members with their own training x."""
    x = task.x_eval.flatten().numpy().astype(float)
    y = task.y_eval.flatten().numpy().astype(float)
    mask = task.test_mask.numpy()
    envelope = envelope_values(task.envelope, x)
    n, r, _ = predictions.shape
    by_distance = np.full((n, r, bins), np.nan)
    fits = {name: np.full((n, r, periods), np.nan) for name in ("amplitude", "phase", "offset")}
    for i in range(n):
        distance = distance_to_data(x, x_train[i])
        for j in range(r):
            relative = ((predictions[i, j] - y) / envelope) ** 2
            by_distance[i, j] = error_by_distance(relative, distance, mask, period, bins)
            for name, values in period_fits(x, predictions[i, j], x_train[i], period, periods, envelope).items():
                fits[name][i, j] = values
    return {"by_distance": by_distance, **fits}


def run_signal(config: dict) -> SignalRun:
    """Train the seeds of one activation on one task (a `signal_config`) and read the records; see the module doc.

    Raises FloatingPointError when every member diverged (a sweep stores that as `lib.sweep.Diverged`).
    """
    check_config(config)
    started = time.perf_counter()
    c = config
    seeds = list(c["seeds"])
    candidate = Candidate.from_config(c["candidate"])
    kwargs = {k: v for k, v in c["task"].items() if k != "name"}
    per_seed = c["task"]["name"] == "authors"              # Ziyin et al.'s points are drawn from each seed
    tasks = [signal_task(c["task"]["name"], s, **kwargs) for s in seeds] if per_seed else \
        [signal_task(c["task"]["name"], seeds[0], **kwargs)] * len(seeds)
    task = tasks[0]
    seed_everything(seeds[0])
    members = build_members(candidate, seeds, c["hidden"], c["init"], c["zero_bias"])
    layers = len(c["hidden"])
    a_initial = frequencies({k: v for k, v in members.params().items()}, layers)

    if per_seed:
        train_data = MemberData(torch.stack([t.train_inputs[0] for t in tasks]),
                                torch.stack([t.train_inputs[1] for t in tasks]))
    else:
        train_data = task.train_inputs
    grid = task.eval_inputs

    target = train_data.y if per_seed else train_data[1].unsqueeze(0)

    def record(epoch: int, ens, outputs: Tensor) -> dict[str, Tensor]:
        # a diverged member is frozen where its loss stopped being finite, so its loss stays non-finite
        if not torch.isfinite((outputs - target).square().flatten(1).mean(dim=1)).any():
            # every member diverged and is frozen: stop here instead of running out the epochs
            raise FloatingPointError(f"every member of {candidate.label!r} on {c['task']['name']} diverged "
                                     f"by epoch {epoch}")
        with torch.no_grad():
            return {"grid": ens(grid).squeeze(-1)}

    history = train_ensemble(members, train_data, epochs=c["epochs"], optimizer=c["optimizer"], lr=c["lr"],
                             momentum=c["momentum"], loss="mse", record=record, record_every=c["eval_every"],
                             progress=False, device="cpu")
    with torch.no_grad():
        final = members(grid).squeeze(-1)
        out_train = members(train_data.x, per_member=True) if per_seed else members(train_data[0])
        final_train = (out_train - target).square().flatten(1).mean(dim=1)
    diverged = history.diverged_at >= 0
    if diverged.all():
        raise FloatingPointError(f"every member of {candidate.label!r} on {c['task']['name']} diverged "
                                 f"(first at epoch {int(history.diverged_at.min())})")

    record_epochs = np.asarray(history.record_epochs)
    predictions = np.concatenate([history.record("grid"), _numpy(final)[:, None]], axis=1).astype(float)
    completed = np.append(record_epochs - 1, history.epochs[-1])
    train_loss = history["train_loss"]
    train_curve = np.concatenate([train_loss[:, record_epochs - 1], _numpy(final_train)[:, None]], axis=1)

    x = task.x_eval.flatten().numpy().astype(float)
    y = task.y_eval.flatten().numpy().astype(float)
    mask = task.test_mask.numpy()
    envelope = envelope_values(task.envelope, x)
    x_train = np.stack([t.x_train.flatten().numpy() for t in tasks]).astype(float)
    y_train = np.stack([t.y_train.flatten().numpy() for t in tasks]).astype(float)
    error = (predictions - y) ** 2
    test_curve = error[:, :, mask].mean(axis=2)
    normalised_curve = (error / envelope ** 2)[:, :, mask].mean(axis=2)
    beyond = np.stack([beyond_mask(x, x_train[i]) & mask for i in range(len(seeds))])
    beyond_curve = np.stack([error[i][:, beyond[i]].mean(axis=1) if beyond[i].any() else
                             np.full(error.shape[1], np.nan) for i in range(len(seeds))])

    last = min(c["last"], predictions.shape[1])
    tail = _record_metrics(task, predictions[:, -last:], x_train, task.period, c["bins"], c["periods"])

    def endpoint(values: np.ndarray) -> np.ndarray:
        return np.where(diverged.reshape((-1,) + (1,) * (values.ndim - 2)), np.nan, values[:, -last:].mean(axis=1))

    def masked(values: np.ndarray) -> np.ndarray:
        return np.where(diverged.reshape((-1,) + (1,) * (values.ndim - 1)), np.nan, values)

    chosen = _frame_indices(predictions.shape[1] - 1, c["frames"]) + 1 if c["frames"] else np.arange(0)
    params = members.params()
    a_final = frequencies(params, layers)
    return SignalRun(
        label=candidate.label, config=config, seeds=seeds, completed=completed,
        train_curve=masked(train_curve), test_curve=masked(test_curve), normalised_curve=masked(normalised_curve),
        beyond_curve=masked(beyond_curve),
        train_mse=endpoint(train_curve), test_mse=endpoint(test_curve), normalised_mse=endpoint(normalised_curve),
        beyond_mse=endpoint(beyond_curve),
        by_distance=endpoint(tail["by_distance"]), amplitude=endpoint(tail["amplitude"]),
        phase=endpoint(tail["phase"]), offset=endpoint(tail["offset"]), diverged=diverged,
        x_eval=x, y_eval=y, test_mask=mask, envelope=envelope, x_train=x_train, y_train=y_train,
        predictions=masked(predictions[:, -1]), frames=predictions[0, chosen], frame_completed=completed[chosen],
        input_scale=task.input_scale, period=task.period,
        a_initial=a_initial, a_final=a_final,
        params={k: _numpy(v).copy() for k, v in params.items()} if c["keep_params"] else None,
        seconds=time.perf_counter() - started)


# ---------------------------------------------------------------- a case where the right a is known

class SnakeUnits(nn.Module):
    r"""One Snake unit per seed, each with its input weight fixed at 1:
    :math:`f_i(x) = v_i\,\mathrm{Snake}_{a_i}(x) + c_i`.

    A unit's frequency is a alone (a network's first layer would multiply it by a learned weight), so a
    target :math:`\mathrm{Snake}_{a^*}(x)` has one right answer, a = a*, v = 1, c = 0. Unit i's start a is
    drawn uniformly from [`low`, `high`] right after ``seed_everything(seeds[i])``; a is stored raw or as log a.
    The units are trained together by `lib.ensemble.train_ensemble` (``size``, and an output with a leading
    unit dimension): every parameter element belongs to one unit, so each gets the updates it would get alone.
    """

    def __init__(self, seeds: Sequence[int], low: float, high: float, parametrization: str = "raw"):
        super().__init__()
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(f"parametrization must be one of {PARAMETRIZATIONS}, got {parametrization!r}")
        if not 0 < low <= high:
            raise ValueError(f"need 0 < low <= high, got {low}, {high}")
        starts = []
        for seed in seeds:
            seed_everything(int(seed))
            starts.append(low + (high - low) * float(torch.rand(())))
        start = torch.tensor(starts)
        self.size = len(starts)
        self.parametrization = parametrization
        self.theta = nn.Parameter(start.log() if parametrization == "log" else start)
        self.v = nn.Parameter(torch.ones(self.size))
        self.c = nn.Parameter(torch.zeros(self.size))

    def a(self) -> Tensor:
        return self.theta.exp() if self.parametrization == "log" else self.theta

    def forward(self, x: Tensor) -> Tensor:
        """x (N, 1) -> (units, N, 1)."""
        column = (lambda t: t.reshape(-1, 1, 1))
        return column(self.v) * SnakeFunction.apply(x.unsqueeze(0), column(self.a())) + column(self.c)


PROBE_KEYS = ("target_a", "start", "x_max", "points", "parametrization", "optimizer", "lr", "momentum", "epochs",
              "seeds", "record_every")


def check_probe_config(config: dict) -> None:
    check_keys(config, PROBE_KEYS, "frequency-probe", exact=True)
    if not config["target_a"] > 0 or not config["x_max"] > 0:
        raise ValueError(f"target_a and x_max must be positive, got {config['target_a']}, {config['x_max']}")
    low, high = config["start"]
    SnakeUnits([0], low, high, config["parametrization"])
    if config["optimizer"] not in OPTIMIZERS or not config["lr"] > 0:
        raise ValueError(f"need a known optimizer and lr > 0, got {config['optimizer']!r}, {config['lr']!r}")
    for key in ("points", "epochs", "record_every"):
        _positive_int(config, key)
    if not config["seeds"] or len(set(config["seeds"])) != len(config["seeds"]):
        raise ValueError(f"seeds must be a non-empty list of distinct ints, got {config['seeds']!r}")


@dataclass
class ProbeRun:
    """How a moved in `run_frequency_probe`: a at each recorded epoch (members, records), start, end, final loss."""

    config: dict
    seeds: list[int]
    epochs: np.ndarray
    a: np.ndarray
    a_start: np.ndarray
    a_final: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray

    @property
    def moved_fraction(self) -> np.ndarray:
        """(a_start − a_final) / (a_start − a*): 1 = all the way to the right a, 0 = did not move."""
        return (self.a_start - self.a_final) / (self.a_start - self.config["target_a"])


def run_frequency_probe(config: dict) -> ProbeRun:
    """Fit `SnakeUnits` (one per seed) to Snake_{a*}(x) on `points` x in [−x_max, x_max]; record a every
    `record_every` epochs. x_max is meant to be small enough that the loss has one basin around a* for the
    start range (a sine's frequency is only found by descent from nearby: its loss has a local minimum
    every ~π/x_max in a)."""
    check_probe_config(config)
    c = config
    low, high = c["start"]
    members = SnakeUnits(c["seeds"], low, high, c["parametrization"])
    x = torch.linspace(-c["x_max"], c["x_max"], c["points"]).reshape(-1, 1)
    with torch.no_grad():
        y = SnakeFunction.apply(x, torch.tensor(float(c["target_a"])))
    start = _numpy(members.a()).copy()

    def record(epoch: int, units, outputs: Tensor) -> dict[str, Tensor]:
        return {"a": units.a().detach().clone()}

    history = train_ensemble(members, (x, y), epochs=c["epochs"], optimizer=c["optimizer"], lr=c["lr"],
                             momentum=c["momentum"], record=record, record_every=c["record_every"], progress=False,
                             device="cpu")
    final = _numpy(members.a()).copy()
    diverged = history.diverged_at >= 0
    trajectory = np.concatenate([history.record("a"), final[:, None]], axis=1)
    epochs = np.append(np.asarray(history.record_epochs) - 1, history.epochs[-1])
    loss = history["train_loss"][:, -1]
    return ProbeRun(config, list(c["seeds"]), epochs, np.where(diverged[:, None], np.nan, trajectory), start,
                    np.where(diverged, np.nan, final), np.where(diverged, np.nan, loss), diverged)


def zero_baseline(task: SignalTask, normalised: bool = False) -> float:
    """The test error of predicting 0 everywhere: the mean square of the test targets (relative to the envelope²
    with `normalised`, which is 1/2 for any envelope times sin x over whole periods)."""
    x, y = task.test
    if normalised:
        return float((y / task.envelope(x)).square().mean())
    return float(y.square().mean())


def task_geometry(task: dict) -> tuple[int, int]:
    """(distance bins, whole periods beyond the data) of a task description (as in a config): how far its test
    points reach from its training points, in periods of the target (for a drawn task, seed 0's draw)."""
    t = signal_task(task["name"], 0, **{k: v for k, v in task.items() if k != "name"})
    x, x_train = t.x_eval.flatten().numpy(), t.x_train.flatten().numpy()
    test = t.test_mask.numpy()
    reach = float(distance_to_data(x, x_train)[test].max())
    beyond = beyond_mask(x, x_train) & test
    far = float(distance_to_data(x[beyond], x_train).max()) if beyond.any() else 0.0
    return max(1, math.ceil(reach / t.period - 1e-9)), max(1, math.floor(far / t.period))
