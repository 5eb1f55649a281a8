"""Timing shared by the activation benchmarks (a helper module, not a benchmark itself).

Every candidate is timed in interleaved rounds in a random order, so a burst of load on a
shared machine falls on all of them alike; the median over rounds is reported.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

import torch

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def forward_backward_seconds(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                             clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds of one forward pass and the backward pass of its sum, on a fresh leaf copy of x."""
    x = x.detach().requires_grad_(True)
    start = clock()
    fn(x).sum().backward()
    return clock() - start


def interleaved_medians(fns: dict[str, Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor,
                        repeats: int, clock: Callable[[], float] = time.perf_counter,
                        seed: int = 0) -> dict[str, float]:
    """Median forward+backward seconds of each function: one warm-up each, then `repeats` rounds."""
    order = list(fns)
    for name in order:
        forward_backward_seconds(fns[name], x, clock)
    times: dict[str, list[float]] = {name: [] for name in fns}
    shuffle = random.Random(seed).shuffle
    for _ in range(repeats):
        shuffle(order)
        for name in order:
            times[name].append(forward_backward_seconds(fns[name], x, clock))
    return {name: statistics.median(values) for name, values in times.items()}
