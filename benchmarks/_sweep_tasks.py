"""Run functions for benchmarks/sweep_backends.py (a helper module, not a benchmark itself).

They live in a module of their own because a grid's function must be importable by the worker
processes (the script itself runs as ``__main__``, which lib.sweep refuses).
"""
from __future__ import annotations

import time

import torch

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "silu": torch.nn.functional.silu,
               "gelu": torch.nn.functional.gelu, "sin": torch.sin, "softplus": torch.nn.functional.softplus,
               "elu": torch.nn.functional.elu}


def trivial(config: dict) -> int:
    return config["i"]


def fit_sin(config: dict) -> dict:
    """A 1-64-64-1 MLP fitted to sin(x) on [-pi, pi] (256 points) with full-batch Adam, seeded from the config.

    Returns the final loss and the CPU seconds the run took (its thread's, which is where it ran).
    """
    cpu = time.thread_time()
    torch.manual_seed(config["seed"])
    act = ACTIVATIONS[config["activation"]]
    x = torch.linspace(-torch.pi, torch.pi, 256).unsqueeze(1)
    y = torch.sin(x)
    layers = [torch.nn.Linear(1, 64), torch.nn.Linear(64, 64), torch.nn.Linear(64, 1)]
    params = [p for layer in layers for p in layer.parameters()]
    optimiser = torch.optim.Adam(params, lr=3e-3)
    for _ in range(config["epochs"]):
        optimiser.zero_grad()
        h = act(layers[0](x))
        h = act(layers[1](h))
        loss = torch.mean((layers[2](h) - y) ** 2)
        loss.backward()
        optimiser.step()
    # The CPU time this run got: the grid's total over its wall time is the number of cores it obtained.
    return {"loss": loss.item(), "cpu_seconds": time.thread_time() - cpu}
