"""Swarms of small networks, trained all at once.

Vocabulary of the original `swarm` package (Nayyar, Morrison & Jelliffe, 2020):
a **bee** is one training run; a **swarm** is bees trained identically except for
their random start; a **hive** is a set of swarms with some parameter varied.

- `make_sweep_paramsets` / `make_combo_paramsets` build a hive's parameter sets
  (Cartesian product of sweeps, zipped "combos");
- `hive_trainer(bee, param_list, num_bees, seed, fields)` trains one swarm per
  parameter set and returns a list of dicts: the parameters plus arrays
  ``[bee, epoch, ...]``;
- `default_train` is the original's default regime (1-input MLP, PyTorch
  default init, full-batch SGD with momentum on MSE, recording the prediction
  and the loss *before* each update), trained as one vectorised program
  (`lib.ensemble`, either backend);
- `first_below`, `stays_below`, `find`, `final_loss` (mean of the last k records), `fraction`, `weakest`
  (the verdict of a claim over several cases) and `tidy_rows` summarise the results.

Seeding follows the original: every swarm of a hive restarts from the same
seed and builds its bees one after another from that RNG stream, so a bee's
start does not depend on whether the swarm is trained bee by bee or at once.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lib import activations, curves, stats, swarm_fused
from lib.ensemble import BACKENDS, BatchedMLP, Ensemble, member_losses, train_ensemble
from lib.models.mlp import MLP
from lib.seeding import seed_everything, torch_threads

__all__ = [
    "make_sweep_paramsets", "make_combo_paramsets", "hive_trainer", "DefaultTrain", "default_train",
    "first_below", "stays_below", "find", "final_loss", "fraction", "median_interval", "median_text",
    "share_text", "weakest", "verdict_rows", "tidy_rows",
    "value_label", "kink_positions",
]


# ----------------------------------------------------------------------------- parameter sets

def _merge(*dicts: Mapping[str, Any]) -> dict[str, Any]:
    """Merge dicts, refusing to let one overwrite a key of another (as the original does)."""
    merged: dict[str, Any] = {}
    for d in dicts:
        clash = merged.keys() & d.keys()
        if clash:
            raise ValueError(f"parameter(s) {', '.join(sorted(clash))} given twice")
        merged.update(d)
    return merged


def _check_sequence(name: str, values: Any) -> None:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"sweep {name!r} must be a list or tuple of values, got {type(values).__name__}")


def make_sweep_paramsets(static: Mapping[str, Any], **sweeps: Sequence) -> list[dict[str, Any]]:
    """Every combination of the sweep values (the first keyword varies slowest), each merged with `static`.

    >>> make_sweep_paramsets({"hidden": 1}, width=[1, 3], lr=[0.1])
    [{'hidden': 1, 'width': 1, 'lr': 0.1}, {'hidden': 1, 'width': 3, 'lr': 0.1}]

    A key in both `static` and the sweeps is an error.
    """
    for name, values in sweeps.items():
        _check_sequence(name, values)
    _merge(static, dict.fromkeys(sweeps))  # fail on a clash even when a sweep is empty
    return [_merge(static, dict(zip(sweeps, combo))) for combo in itertools.product(*sweeps.values())]


def _slices(combo: Mapping[str, Sequence]) -> list[dict[str, Any]]:
    """{"a": [1, 2], "b": [3, 4]} -> [{"a": 1, "b": 3}, {"a": 2, "b": 4}]."""
    for name, values in combo.items():
        _check_sequence(name, values)
    lengths = {name: len(values) for name, values in combo.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the lists of a combo must have equal lengths, got {lengths}")
    n = next(iter(lengths.values()))
    return [{name: values[i] for name, values in combo.items()} for i in range(n)]


def make_combo_paramsets(static: Mapping[str, Any], *combos: Mapping[str, Sequence],
                         **sweeps: Sequence) -> list[dict[str, Any]]:
    """Parameter sets where the lists inside each combo vary together (zipped), crossed with the sweeps.

    Combos vary slowest (in the order given), then the sweeps as in `make_sweep_paramsets`.
    Empty combos are ignored; unequal lengths inside a combo and keys given twice are errors.

    >>> make_combo_paramsets({}, {"lr": [0.1, 0.2], "momentum": [0.9, 0.5]}, width=[1, 3])[:2]
    [{'lr': 0.1, 'momentum': 0.9, 'width': 1}, {'lr': 0.1, 'momentum': 0.9, 'width': 3}]
    """
    combos = [c for c in combos if c]
    keys = [static.keys(), *[c.keys() for c in combos], sweeps.keys()]
    _merge(*[dict.fromkeys(k) for k in keys])
    sliced = [_slices(c) for c in combos]
    return [p for parts in itertools.product(*sliced) for p in make_sweep_paramsets(_merge(static, *parts), **sweeps)]


# ----------------------------------------------------------------------------- the default regime

def value_label(value: Any) -> str:
    """How a parameter value is shown: class names for classes, registry labels for names."""
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, str) and value in activations.names():
        return activations.spec(value).label
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _as_column(t: Any, name: str, dtype: torch.dtype) -> Tensor:
    t = torch.as_tensor(t, dtype=dtype)
    if t.dim() == 1:
        t = t.unsqueeze(1)
    if t.dim() != 2 or t.shape[1] != 1:
        raise ValueError(f"{name} must have shape (N,) or (N, 1), got {tuple(t.shape)}")
    return t


def kink_positions(weight: Tensor, bias: Tensor) -> Tensor:
    """Where each first-layer unit's pre-activation w x + b crosses zero: -b/w (inf where w = 0)."""
    return -bias / weight


ENGINES = ("auto", "fused", *BACKENDS)


class DefaultTrain:
    """The original `default_train`: a 1-input, 1-output MLP trained full-batch with SGD + momentum on MSE.

    Network: Linear(1, width), activation, [Linear(width, width), activation] x (hidden - 1),
    Linear(width, 1), PyTorch's default initialisation. Each epoch records the
    prediction and the loss *before* the update, so record 0 is the untrained
    network and there are `num_epochs` records.

    Fields: ``ypred`` (bee, epoch, N), ``loss`` (bee, epoch), ``kinks`` (bee, epoch, width):
    the first layer's -b/w, where a ReLU unit has its kink.

    Calling `swarm(num_bees, seed, **params)` trains a whole swarm as one program (`engine`:
    ``"fused"``, one C call for the whole training (`lib.swarm_fused`: one hidden layer, ReLU, tanh,
    sigmoid, Tanhshrink, fixed Snake or x + sin x); ``"batched"``, `lib.ensemble.train_ensemble`
    with stacked-weight matrix products, for activations without learnable parameters; ``"vmap"``,
    the same with torch.func.vmap, for any activation; ``"auto"`` picks the first that applies).
    """

    fields = ("ypred", "loss", "kinks")
    defaults = {"hidden": 2, "width": 2, "activation": "relu", "activation_params": None,
                "num_epochs": 200, "lr": 0.001, "momentum": 0.9}

    def __init__(self, engine: str = "auto", dtype: torch.dtype = torch.float32, progress: bool = False,
                 threads: int | None = 1):
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        self.engine = engine
        self.dtype = dtype
        self.progress = progress
        self.threads = threads

    def with_engine(self, engine: str) -> DefaultTrain:
        return DefaultTrain(engine, self.dtype, self.progress, self.threads)

    # -- checks before any work
    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(params) - set(self.defaults) - {"x", "y"}
        if unknown:
            raise TypeError(f"default_train has no parameter(s) {', '.join(sorted(unknown))}; "
                            f"valid: x, y, {', '.join(self.defaults)}")
        if "x" not in params or "y" not in params:
            raise TypeError("default_train needs x and y")
        p = {**self.defaults, **params}
        x = _as_column(p["x"], "x", self.dtype)
        y = _as_column(p["y"], "y", self.dtype)
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
        for name in ("hidden", "width", "num_epochs"):
            v = p[name]
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not (isinstance(p["lr"], (int, float)) and math.isfinite(p["lr"]) and p["lr"] > 0):
            raise ValueError(f"lr must be a positive number, got {p['lr']!r}")
        if not (isinstance(p["momentum"], (int, float)) and 0 <= p["momentum"] < 1):
            raise ValueError(f"momentum must be in [0, 1), got {p['momentum']!r}")
        p["x"], p["y"] = x, y
        p["factory"] = activations.factory(p["activation"], **dict(p["activation_params"] or {}))
        return p

    def check(self, params: Mapping[str, Any]) -> None:
        self.resolve(params)

    def make_net(self, p: Mapping[str, Any]) -> MLP:
        return MLP(1, [int(p["width"])] * int(p["hidden"]), 1, activation=p["factory"]).to(self.dtype)

    # -- a whole swarm at once
    def pick_engine(self, p: Mapping[str, Any]) -> str:
        probe = p["factory"](int(p["width"]))
        # only where it may be picked: asking builds its library
        fused = self.engine in ("auto", "fused") and swarm_fused.applies(int(p["hidden"]), probe, self.dtype)
        if self.engine == "fused" and not fused:
            why = swarm_fused.status() if swarm_fused.library() is None else \
                "it trains one hidden layer of ReLU, tanh, sigmoid, Tanhshrink, fixed Snake or x + sin x"
            raise ValueError(f"the fused engine does not apply to this swarm: {why}")
        if self.engine != "auto":
            return self.engine
        if fused:
            return "fused"
        fixed_scalars = not list(probe.parameters()) and all(b.dim() == 0 for b in probe.buffers())
        return "batched" if fixed_scalars else "vmap"

    def swarm(self, num_bees: int, seed: int, fields: Sequence[str] | None = None, **params) -> dict[str, Any]:
        """Train `num_bees` bees (seeded once with `seed`, built one after another) as one program."""
        p = self.resolve(params)
        fields = list(fields or self.fields)
        engine = self.pick_engine(p)
        with torch_threads(self.threads):
            if engine in ("batched", "fused"):
                widths = [1, *[int(p["width"])] * int(p["hidden"]), 1]
                bees = BatchedMLP.from_stream(widths, p["factory"], num_bees, seed, self.dtype)
            else:
                bees = Ensemble.from_stream(lambda: self.make_net(p), num_bees, seed)
            if engine == "fused":
                out = swarm_fused.train(bees, p["x"], p["y"], int(p["num_epochs"]), float(p["lr"]),
                                        float(p["momentum"]), fields)
                diverged_at = out.pop("diverged_at")
                _nan_after_divergence(out, diverged_at)
                out.update(diverged_at=diverged_at, n_diverged=int((diverged_at >= 0).sum()))
            else:
                out = _train_swarm(bees, p, fields, self.progress)
        out["engine"] = engine
        return out


def _nan_after_divergence(records: dict[str, np.ndarray], diverged_at: np.ndarray) -> None:
    """Blank every record of a diverged bee from the epoch its loss stopped being finite."""
    for i, e in enumerate(diverged_at):
        if e >= 0:
            for v in records.values():
                v[i, e:] = np.nan


def _train_swarm(bees: Ensemble | BatchedMLP, p: Mapping[str, Any], fields: Sequence[str],
                 progress: bool) -> dict[str, Any]:
    """Full-batch SGD with momentum on MSE for every bee at once, recording before each update."""

    # Views of the stacked parameters, made once: the optimiser updates them in place, and building the views
    # every epoch cost a tenth of a small swarm's training.
    first = bees.params() if "kinks" in fields else None

    def record(epoch, members, outputs):
        kept = {}
        if "ypred" in fields:
            kept["ypred"] = outputs[:, :, 0]
        if "loss" in fields:
            # train_ensemble's own train_loss accumulates in float32; this keeps the network's dtype
            kept["loss"] = member_losses(outputs, p["y"], "mse")
        if "kinks" in fields:
            kept["kinks"] = kink_positions(first["hidden_layers.0.weight"][:, :, 0], first["hidden_layers.0.bias"])
        return kept

    history = train_ensemble(bees, (p["x"], p["y"]), epochs=int(p["num_epochs"]), optimizer="sgd",
                             lr=float(p["lr"]), momentum=float(p["momentum"]), loss="mse", record=record,
                             progress=progress, device="cpu")
    records = {f: history.record(f) for f in fields}
    diverged_at = history.diverged_at - 1  # train_ensemble counts epochs from 1, records from 0
    diverged_at[history.diverged_at < 0] = -1
    _nan_after_divergence(records, diverged_at)
    return {**records, "diverged_at": diverged_at, "n_diverged": int((diverged_at >= 0).sum())}


default_train = DefaultTrain()


# ----------------------------------------------------------------------------- the hive

def _sequential_swarm(bee: Callable[..., Iterable[tuple]], num_bees: int, seed: int, fields: Sequence[str] | None,
                      params: Mapping[str, Any]) -> dict[str, Any]:
    """The original's way: seed once, then train bee after bee; each yields a tuple per epoch."""
    seed_everything(seed)
    per_bee = []
    for _ in range(num_bees):
        epochs = [tuple(np.asarray(torch.as_tensor(v).detach().cpu().numpy(), dtype=float) for v in step)
                  for step in bee(**params)]
        per_bee.append(epochs)
    width = len(per_bee[0][0])
    names = list(fields) if fields else [f"V{i + 1}" for i in range(width)]
    if len(names) != width:
        raise ValueError(f"fields names {len(names)} values but the bee yields {width}")
    length = max(len(b) for b in per_bee)
    out: dict[str, Any] = {}
    diverged_at = np.full(num_bees, -1)
    for k, name in enumerate(names):
        shape = np.shape(per_bee[0][0][k])
        arr = np.full((num_bees, length, *shape), np.nan)
        for i, b in enumerate(per_bee):
            arr[i, :len(b)] = np.stack([step[k] for step in b])
        out[name] = arr
    if "loss" in out:
        for i in range(num_bees):
            bad = np.flatnonzero(~np.isfinite(out["loss"][i]))
            diverged_at[i] = bad[0] if len(bad) else -1
        _nan_after_divergence(out, diverged_at)
    out["diverged_at"] = diverged_at
    out["n_diverged"] = int((diverged_at >= 0).sum())
    return out


def hive_trainer(bee: Any = default_train, param_list: Iterable[Mapping[str, Any]] = (), num_bees: int = 10,
                 seed: int = 0, fields: str | None = "ypred,loss") -> list[dict[str, Any]]:
    """Train one swarm of `num_bees` per parameter set; every swarm starts from `seed`.

    `bee` is either a vectorised regime (an object with ``swarm(num_bees, seed, fields, **params)``,
    such as `default_train`) or, as in the original, a function of the parameters
    that yields one tuple per epoch for one bee (trained bee after bee).
    `fields` names what to keep (comma-separated). Returns one dict per parameter set:
    the parameters, the fields as arrays ``[bee, epoch, ...]``, ``diverged_at`` (epoch or -1
    per bee) and ``n_diverged``.
    """
    param_list = [dict(p) for p in param_list]
    if not param_list:
        raise ValueError("param_list is empty: nothing to train")
    if not isinstance(num_bees, (int, np.integer)) or isinstance(num_bees, bool) or num_bees < 1:
        raise ValueError(f"num_bees must be a positive int, got {num_bees!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    names = [f.strip() for f in fields.split(",")] if fields else None
    vectorised = hasattr(bee, "swarm")
    if vectorised:
        names = names or list(bee.fields)
        unknown = set(names) - set(bee.fields)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}; this bee records {', '.join(bee.fields)}")
        for p in param_list:  # every parameter set is checked before the first swarm trains
            bee.check(p)
    elif not callable(bee):
        raise TypeError(f"bee must be a regime with .swarm or a generator function, got {bee!r}")
    results = []
    for p in param_list:
        if vectorised:
            out = bee.swarm(int(num_bees), int(seed), names, **p)
        else:
            out = _sequential_swarm(bee, int(num_bees), int(seed), names, p)
        results.append({**p, **out})
    return results


# ----------------------------------------------------------------------------- metrics

def _threshold(loss: np.ndarray, threshold: float, relative: bool, reference: int) -> np.ndarray:
    loss = np.asarray(loss, dtype=float)
    if loss.ndim == 1:
        loss = loss[None]
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    if relative:
        if not -loss.shape[1] <= reference < loss.shape[1]:
            raise ValueError(f"reference epoch {reference} outside 0..{loss.shape[1] - 1}")
        return loss, threshold * loss[:, reference:reference + 1]
    return loss, np.full((loss.shape[0], 1), float(threshold))


def first_below(loss: np.ndarray, threshold: float, relative: bool = False, reference: int = 0) -> np.ndarray:
    """The first epoch at which each bee's loss is at or below `threshold`; -1 if never.

    `loss` is (bee, epoch) (or one bee's (epoch,)). With ``relative=True`` the threshold
    is a fraction of each bee's own loss at epoch `reference` (0: the untrained net).
    NaN (a diverged bee) never counts as below.
    """
    loss, limit = _threshold(loss, threshold, relative, reference)
    below = loss <= limit
    return np.where(below.any(axis=1), below.argmax(axis=1), -1)


def stays_below(loss: np.ndarray, threshold: float, relative: bool = False, reference: int = 0) -> np.ndarray:
    """The epoch from which each bee's loss stays at or below `threshold` to the end; -1 if it ends above."""
    loss, limit = _threshold(loss, threshold, relative, reference)
    above = ~(loss <= limit)
    n_epochs = loss.shape[1]
    last_above = np.where(above.any(axis=1), n_epochs - 1 - above[:, ::-1].argmax(axis=1), -1)
    return np.where(above[:, -1], -1, last_above + 1)


def find(results: Sequence[Mapping[str, Any]], **where) -> Mapping[str, Any]:
    """The one swarm whose parameters equal `where`."""
    hits = [r for r in results if all(r[k] == v for k, v in where.items())]
    if len(hits) != 1:
        raise KeyError(f"{len(hits)} swarms match {where}")
    return hits[0]


def final_loss(result: Mapping[str, Any] | np.ndarray, last: int) -> np.ndarray:
    """Each bee's final loss: the mean of its last `last` records (`lib.curves.endpoint`), NaN for a bee that diverged.

    `result` is a swarm (its ``loss``) or a (bee, epoch) array. One record is noise on a loss that still swings
    (high momentum, a large learning rate); the mean of the last k is what every verdict reads. A bee whose loss
    ends non-finite diverged: it gets NaN, not the mean of the records before it blew up.
    """
    loss = np.asarray(result["loss"] if isinstance(result, Mapping) else result, dtype=float)
    if loss.ndim != 2:
        raise ValueError(f"loss must be (bee, epoch), got shape {loss.shape}")
    if isinstance(last, bool) or not isinstance(last, (int, np.integer)) or last < 1:
        raise ValueError(f"last must be a whole number >= 1, got {last!r}")
    values = np.asarray(curves.endpoint(loss, last=int(last)), dtype=float)
    values[np.asarray(curves.diverged(loss), dtype=bool)] = np.nan
    return values


def fraction(values: np.ndarray) -> float:
    """The share of True values (NaN when there are none)."""
    values = np.asarray(values, dtype=bool)
    return float(values.mean()) if values.size else float("nan")


def median_interval(values: Sequence[float], level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """The median of the finite values and its seeded percentile-bootstrap interval (NaN where there is none).

    The interval is `lib.stats.compare_medians`'s, of the median against zero, so tables show the intervals that
    verdicts are read from.
    """
    v = stats.compare_medians(values, 0.0, claim="a>b", margin=0.0, level=level, seed=seed)
    nan = float("nan")
    return (nan if v.estimate_a is None else v.estimate_a, nan if v.low is None else v.low,
            nan if v.high is None else v.high)


def median_text(values: Sequence[float], seed: int = 0) -> str:
    """"0.123 [0.1, 0.15]": the median over bees with its bootstrap 95 % interval (`median_interval`)."""
    median, low, high = median_interval(values, seed=seed)
    return f"{stats.format_number(median)} [{stats.format_number(low)}, {stats.format_number(high)}]"


def share_text(successes: int, trials: int) -> str:
    """"88 % [84, 91]": a share with its Wilson 95 % interval, in per cent (`lib.stats.wilson_interval`)."""
    low, high = stats.wilson_interval(successes, trials)
    return f"{100 * successes / trials:.0f} % [{100 * float(low):.0f}, {100 * float(high):.0f}]"


_STRENGTH = {"contradicted": 0, "inconclusive": 1, "confirmed": 2}


def weakest(verdicts: Sequence[stats.Verdict]) -> stats.Verdict:
    """The verdict of a claim that must hold in every case ("Tanh is fastest at every width"): the weakest of them.

    An intersection-union test: the claim is confirmed only when every case is (each at the cases' own level,
    which keeps the family's false-confirmation rate at that level without a correction), contradicted as soon as
    one case is, inconclusive otherwise. Among equally weak cases the one whose interval reaches furthest towards
    failing is returned (the highest upper bound for "a<b", the lowest lower bound for "a>b", the widest
    excursion for "a≈b"), so its prose names the case that binds.
    """
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("weakest of no verdicts")
    claims = {v.claim for v in verdicts}
    if len(claims) != 1:
        raise ValueError(f"the cases of one claim must share its direction, got {sorted(claims)}")

    def reach(v: stats.Verdict) -> float:
        if v.low is None or v.high is None:
            return math.inf
        return {"a<b": v.high, "a>b": -v.low, "a≈b": max(abs(v.low), abs(v.high))}[v.claim]

    return min(verdicts, key=lambda v: (_STRENGTH[v.outcome], -reach(v)))


def verdict_rows(cases: Sequence[stats.Verdict], claim: str) -> list[dict[str, Any]]:
    """One row per case of a claim, for a downloadable table: relation, outcome, effect, interval, margin, sizes."""
    return [{"claim": claim, "case": v.relation, "outcome": v.outcome, "effect": v.effect, "low": v.low,
             "high": v.high, "level": v.level, "margin": v.margin, "n": " and ".join(map(str, v.n)),
             "dropped": sum(v.n_dropped), "test": v.test} for v in cases]


# ----------------------------------------------------------------------------- tidy rows

def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool, np.generic, type)) or (
        isinstance(v, (np.ndarray, torch.Tensor)) and v.ndim == 0)


def tidy_rows(results: Sequence[Mapping[str, Any]], fields: Sequence[str] = ("loss",),
              every: int = 1) -> list[dict[str, Any]]:
    """One row per (swarm, bee, epoch): the swarm's scalar parameters, bee, epoch, the fields, diverged.

    Fields must be (bee, epoch) arrays (``loss``); arrays such as ``x`` or ``ypred`` are left out.
    Classes become their names, so ``pandas.DataFrame(tidy_rows(res))`` works directly.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    rows = []
    for s, res in enumerate(results):
        missing = [f for f in fields if f not in res]
        if missing:
            raise KeyError(f"swarm {s} has no field(s) {', '.join(missing)}")
        for f in fields:
            if np.ndim(res[f]) != 2:
                raise ValueError(f"field {f!r} has shape {np.shape(res[f])}; tidy rows need (bee, epoch)")
        params = {k: (value_label(v) if isinstance(v, type) else (v.item() if hasattr(v, "item") else v))
                  for k, v in res.items() if k not in fields and _is_scalar(v) and k != "n_diverged"}
        n_bees, n_epochs = np.shape(res[fields[0]])
        diverged = res.get("diverged_at", np.full(n_bees, -1))
        for b in range(n_bees):
            for e in range(0, n_epochs, every):
                row = {"swarm": s, **params, "bee": b, "epoch": e}
                row.update({f: float(res[f][b, e]) for f in fields})
                row["diverged"] = bool(0 <= diverged[b] <= e)
                rows.append(row)
    return rows
