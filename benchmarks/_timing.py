"""Timing shared by the activation benchmarks (a helper module, not a benchmark itself).

Every candidate is timed in interleaved rounds in a random order, so a burst of load on a
shared machine falls on all of them alike; the median over rounds is reported, with the
minor page faults per call (a fresh input-sized buffer costs about 2,000 on the CPU, as much
time as the arithmetic, and whether glibc hands one back to the kernel depends on the heap's
history, so they explain much of the spread between runs).

By default a benchmark runs twice (`SETTINGS`): at one thread on this process's CPU clock (on a
machine shared with other jobs, close to the time on an idle core) and at torch's default thread
count on the wall clock (what a user sees; on a loaded machine it also measures the scheduler:
each parallel region waits for its slowest thread). `add_arguments` lets one setting be chosen.

To see the times without page faults, run a benchmark with glibc told to keep freed memory:
`MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 python benchmarks/...`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class Setting:
    threads: int
    clock: str

    def label(self) -> str:
        return f"{self.threads} thread{'s' if self.threads != 1 else ''}, {self.clock} clock"


@dataclass(frozen=True)
class Candidate:
    """A function timed as `fn(x).sum().backward()`, inside `context()` when one is given (e.g.
    `lib.activations.chunks.disabled` for the generic code)."""
    fn: Callable[[torch.Tensor], torch.Tensor]
    context: Callable[[], contextlib.AbstractContextManager] | None = None


@dataclass(frozen=True)
class Timing:
    median: float           # seconds, median over rounds
    faults: float           # minor page faults per call, median over rounds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for one setting (default: both 1 thread and torch's default)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default=None,
                        help="clock for --threads (default: cpu at 1 thread, wall otherwise)")


def settings(args: argparse.Namespace) -> list[Setting]:
    """The settings to run: the one asked for, or 1 thread on the CPU clock and the default on the wall clock."""
    default_threads = torch.get_num_threads()
    if args.threads is None and args.clock is None:
        return [Setting(1, "cpu")] + ([Setting(default_threads, "wall")] if default_threads != 1 else [])
    threads = args.threads if args.threads is not None else default_threads
    return [Setting(threads, args.clock or ("cpu" if threads == 1 else "wall"))]


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def forward_backward(candidate: Candidate, x: torch.Tensor, clock: Callable[[], float]) -> tuple[float, int]:
    """Seconds and minor page faults of one forward pass and the backward pass of its sum, on a
    fresh leaf copy of x."""
    x = x.detach().requires_grad_(True)
    with candidate.context() if candidate.context else contextlib.nullcontext():
        faults, start = _faults(), clock()
        candidate.fn(x).sum().backward()
        return clock() - start, _faults() - faults


def interleaved(candidates: dict[str, Candidate | Callable], x: torch.Tensor, repeats: int,
                clock: Callable[[], float] = time.perf_counter, seed: int = 0) -> dict[str, Timing]:
    """Median forward+backward seconds (and page faults) of each candidate: one warm-up each, then
    `repeats` rounds, each timing every candidate once in a shuffled order."""
    candidates = {k: v if isinstance(v, Candidate) else Candidate(v) for k, v in candidates.items()}
    order = list(candidates)
    for name in order:
        forward_backward(candidates[name], x, clock)
    seconds: dict[str, list[float]] = {name: [] for name in order}
    faults: dict[str, list[int]] = {name: [] for name in order}
    shuffle = random.Random(seed).shuffle
    for _ in range(repeats):
        shuffle(order)
        for name in order:
            t, f = forward_backward(candidates[name], x, clock)
            seconds[name].append(t)
            faults[name].append(f)
    return {name: Timing(statistics.median(seconds[name]), statistics.median(faults[name])) for name in candidates}


def interleaved_medians(fns: dict[str, Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor,
                        repeats: int, clock: Callable[[], float] = time.perf_counter,
                        seed: int = 0) -> dict[str, float]:
    """Median forward+backward seconds of each function (`interleaved` without the page faults)."""
    return {name: t.median for name, t in interleaved(fns, x, repeats, clock, seed).items()}


def load_line(before: tuple[float, ...], after: tuple[float, ...]) -> str:
    return ("load average (1, 5, 15 min): before " + ", ".join(f"{v:.2f}" for v in before)
            + "; after " + ", ".join(f"{v:.2f}" for v in after))


def run_settings(candidates: dict[str, Candidate | Callable], x: torch.Tensor, repeats: int,
                 chosen: list[Setting]) -> Iterator[tuple[Setting, dict[str, Timing], str]]:
    """For each setting: its timings and the load-average line measured around them."""
    for setting in chosen:
        with threads(setting.threads):
            before = os.getloadavg()
            timings = interleaved(candidates, x, repeats, CLOCKS[setting.clock])
            yield setting, timings, load_line(before, os.getloadavg())


def verdict(value: float, op: str, bound: float) -> str:
    ok = value <= bound if op == "<=" else value >= bound
    return "met" if ok else "not met"
