"""The fused swarm engine: `swarm_fused.c`, a whole swarm's full-batch training in one C call.

`lib.swarm.DefaultTrain` picks it (engine ``"fused"``, the default under ``"auto"`` where it applies)
for the post's networks with one hidden layer and an activation it knows in closed form (ReLU, tanh,
sigmoid, Tanhshrink, Snake with a fixed scalar a, x + sin x); anything else keeps the torch engines
(`lib.ensemble`'s ``batched`` and ``vmap``). The starting weights are `lib.ensemble.BatchedMLP`'s,
drawn exactly as the modules would be, so every bee starts where its lone copy would; the
arithmetic is that of `BatchedMLP.mse_forward` / `mse_backward` and torch.optim.SGD, op for op, so
results agree with the torch engines to float rounding (`tests/test_swarm.py`). The library is built
on first use by `lib.cbuild` (no compiler: `library()` is None and the torch engines run).
"""
from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lib import cbuild
from lib.activations.classical import XPlusSin
from lib.activations.snake import Snake
from lib.dry_run import current_limit
from lib.ensemble import BatchedMLP

COMPANION_FILES = ("swarm_fused.c",)     # hashed with this module by lib.provenance (a result cache key)
SOURCE = Path(__file__).with_name(COMPANION_FILES[0])
KINDS = {nn.ReLU: 0, nn.Tanh: 1, nn.Sigmoid: 2, nn.Tanhshrink: 3, Snake: 4, XPlusSin: 5}
SUFFIX = {torch.float32: "f32", torch.float64: "f64"}

def _declare(lib: ctypes.CDLL) -> None:
    pointer, long, integer, real = ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_double
    for suffix in SUFFIX.values():
        fn = getattr(lib, f"swarm_train_{suffix}")
        fn.argtypes = [pointer, pointer, long, long, long, pointer, pointer, pointer, pointer, integer,
                       real, long, real, real, pointer, pointer, pointer, pointer, integer]
        fn.restype = integer


LIBRARY = cbuild.Library(SOURCE, _declare)


def library() -> ctypes.CDLL | None:
    """The loaded library, or None (see `status()`); built on the first call."""
    return LIBRARY.get()


def status() -> str:
    library()
    return LIBRARY.status


def activation_kind(act: nn.Module) -> tuple[int, float] | None:
    """(the kernel's code for `act`, Snake's a) or None when the kernel does not know it."""
    kind = KINDS.get(type(act))
    if kind is None or list(act.parameters()):
        return None
    if isinstance(act, Snake):
        a = act.a
        if a.dim() != 0:
            return None
        return kind, float(a)
    return kind, 0.0


def applies(hidden: int, act: nn.Module, dtype: torch.dtype) -> bool:
    """Whether the fused engine trains this swarm: one hidden layer, a known activation, float32/64."""
    return hidden == 1 and dtype in SUFFIX and activation_kind(act) is not None and library() is not None


def train(bees: BatchedMLP, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, momentum: float,
          fields: Sequence[str]) -> dict[str, np.ndarray]:
    """Train `bees` (one hidden layer, as `applies` checks) and return the records of `fields` and
    ``diverged_at`` (the record whose loss was not finite, -1 if none); honours `lib.dry_run.step_limit`."""
    lib = library()
    if lib is None:
        raise RuntimeError(f"the fused swarm engine is off: {status()}")
    (act,) = bees.acts
    kind, a = activation_kind(act)
    limit = current_limit()
    epochs = min(epochs, limit) if limit is not None else epochs
    dtype = bees.weights[0].dtype
    n, width = bees.size, bees.weights[0].shape[2]
    with torch.no_grad():
        w1 = bees.weights[0][:, 0, :].contiguous()
        b1 = bees.biases[0][:, 0, :].contiguous()
        w2 = bees.weights[1][:, :, 0].contiguous()
        b2 = bees.biases[1][:, 0, 0].contiguous()
    xs = x.reshape(-1).to(dtype).contiguous()
    ys = y.reshape(-1).to(dtype).contiguous()
    points = xs.numel()
    records = {"ypred": torch.empty(n, epochs, points, dtype=dtype) if "ypred" in fields else None,
               "loss": torch.empty(n, epochs, dtype=dtype) if "loss" in fields else None,
               "kinks": torch.empty(n, epochs, width, dtype=dtype) if "kinks" in fields else None}
    diverged_at = torch.full((n,), -1, dtype=torch.long)
    address = lambda t: None if t is None else t.data_ptr()  # noqa: E731
    code = getattr(lib, f"swarm_train_{SUFFIX[dtype]}")(
        xs.data_ptr(), ys.data_ptr(), points, width, n, w1.data_ptr(), b1.data_ptr(), w2.data_ptr(), b2.data_ptr(),
        kind, a, epochs, float(lr), float(momentum), address(records["ypred"]), address(records["loss"]),
        address(records["kinks"]), diverged_at.data_ptr(), torch.get_num_threads())
    if code != 0:
        raise MemoryError("the fused swarm engine could not allocate its scratch memory")
    with torch.no_grad():                       # the trained weights back into the stacked module
        bees.weights[0][:, 0, :] = w1
        bees.biases[0][:, 0, :] = b1
        bees.weights[1][:, :, 0] = w2
        bees.biases[1][:, 0, 0] = b2
    out = {name: records[name].numpy() for name in fields}
    out["diverged_at"] = diverged_at.numpy()
    return out
