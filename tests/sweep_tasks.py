"""Run functions for tests/test_sweep.py, in a module of their own so that Dask worker processes import them.

Workers are spawned with this process's ``sys.path`` (pytest's run from the repository root has it),
so ``tests.sweep_tasks`` imports there as it does here; a script that runs a grid puts the
repository root on its path first (see `grid_script`).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from lib.dry_run import current_limit


def tiny_fit(config: dict) -> dict:
    """A 1-16-1 tanh MLP fitted to sin on [-2, 2] for `steps` Adam steps, seeded from the config."""
    generator = torch.Generator().manual_seed(config["seed"])
    x = torch.linspace(-2.0, 2.0, 64).unsqueeze(1)
    y = torch.sin(x) + 0.05 * torch.randn(x.shape, generator=generator)
    first, second = torch.nn.Linear(1, 16), torch.nn.Linear(16, 1)
    with torch.no_grad():
        for layer in (first, second):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) / layer.in_features ** 0.5)
            layer.bias.zero_()
    params = [*first.parameters(), *second.parameters()]
    optimiser = torch.optim.Adam(params, lr=config.get("lr", 0.01))
    losses = []
    for _ in range(config.get("steps", 20)):
        optimiser.zero_grad()
        loss = torch.mean((second(torch.tanh(first(x))) - y) ** 2)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return {"losses": losses, "weight": first.weight.detach().numpy().copy(), "threads": torch.get_num_threads()}


def slow_square(config: dict) -> dict:
    """`x * x` after sleeping `sleep` s; writes ``<marks>/<x>.<pid>`` when it starts (which worker ran it)."""
    if config.get("marks"):
        (Path(config["marks"]) / f"{config['x']}.{os.getpid()}").touch()
    time.sleep(config.get("sleep", 0.0))
    return {"x": config["x"], "square": config["x"] ** 2}


def sometimes_bad(config: dict) -> float:
    """Raises FloatingPointError for mode 'diverge' (as the engines do), ValueError for mode 'raise'."""
    if config["mode"] == "diverge":
        raise FloatingPointError(f"loss is nan at step 3 (x={config['x']})")
    if config["mode"] == "raise":
        raise ValueError(f"deliberate failure for x={config['x']}")
    return float(config["x"]) / 2


def read_limit(config: dict) -> dict:
    """What a training engine would see: the dry-run step limit and the torch threads."""
    return {"limit": current_limit(), "threads": torch.get_num_threads(), "x": config["x"]}


def check_positive(config: dict) -> None:
    if config["x"] <= 0:
        raise ValueError(f"x must be positive, got {config['x']}")


def trivial(config: dict) -> int:
    return config["x"]


def unpicklable(config: dict):
    """A result that pickle cannot write (a generator)."""
    return (i for i in range(config["x"]))
