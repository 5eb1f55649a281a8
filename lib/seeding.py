"""The one place that picks the device and seeds every random number generator."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch


def device() -> torch.device:
    """CUDA when present (set ``LIB_DEVICE=cpu`` to force the CPU), else the CPU."""
    wanted = os.environ.get("LIB_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with `n` torch intra-op threads (None: leave as is), then restore the old count.

    Tiny networks lose more to synchronising threads than they gain (about 10x slower with two
    threads on a busy 2-core machine), and one thread also fixes the order of reductions.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) with `seed`.

    Returns a fresh CPU `torch.Generator` seeded with the same value, for code
    that wants its own stream (data shuffling) without touching the global one.
    Same seed, same machine, CPU -> bit-identical results.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
