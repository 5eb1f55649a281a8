"""What the Snake chapters' runs cost, per run and per chapter, for a profile: the budget check and the paper estimate.

    python benchmarks/snake_costs.py [--profile full|quick|paper] [--chapter snake_extrapolation snake_decay]
                                     [--epochs 40] [--workers 2]

Every config of the chapter's grids is run twice with its epochs cut to `epochs` and 2 × `epochs` (everything
else as configured), one torch thread, as the sweep engine runs it; the difference gives the cost of an epoch
and the rest the fixed cost of a run. Both are measured in CPU seconds of this process (`time.process_time`),
which on a machine shared with other work stays close to what a quiet machine would take in wall-clock time
(wall seconds are printed beside them, with the load average). A chapter's estimate is the longest-first
schedule of its runs on `workers` workers, plus a fixed allowance for the notebook itself (kernel start,
imports, figures, animations). Targets: full profile ≤ 8 min per chapter, quick ≤ 45 s.
"""
from __future__ import annotations

import argparse
import heapq
import importlib
import os
import time
from pathlib import Path

from lib.runner.checks import profile_values
from lib.seeding import torch_threads

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"full": 8 * 60, "quick": 45}
NOTEBOOK_SECONDS = {"full": 40, "quick": 15, "paper": 60}     # kernel, imports, cluster start, figures, animations


def parameters(chapter: str, profile: str) -> dict:
    return profile_values(ROOT, chapter, profile)


def shortened(config: dict, epochs: int) -> dict:
    out = dict(config, epochs=epochs)
    for key in ("eval_every", "record_every"):
        if key in out:
            out[key] = min(out[key], epochs)
    return out


def measure(fn, config: dict, epochs: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one shortened run."""
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        fn(shortened(config, epochs))
    except FloatingPointError:
        pass
    return time.process_time() - cpu, time.perf_counter() - wall


def describe(config: dict) -> str:
    if "candidate" in config:
        return (f"{config['task']['name']:13s} {config['candidate']['label'][:30]:30s} "
                f"{'x'.join(map(str, config['hidden'])):>7s} {len(config['seeds'])} seeds")
    return f"probe {config['parametrization']} {config['optimizer']}, {len(config['seeds'])} seeds"


def schedule(costs: list[float], workers: int) -> float:
    """Makespan of longest-first scheduling of `costs` on `workers` workers."""
    finish = [0.0] * workers
    heapq.heapify(finish)
    for cost in sorted(costs, reverse=True):
        heapq.heappush(finish, heapq.heappop(finish) + cost)
    return max(finish)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=["full", "quick", "paper"])
    parser.add_argument("--chapter", nargs="+", default=["snake_extrapolation", "snake_decay"])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    for chapter in args.chapter:
        module = importlib.import_module(f"lib.chapters.{chapter}")
        p = parameters(chapter, args.profile)
        costs = []
        print(f"\n{chapter}, profile {args.profile}")
        print(f"{'run':62s} {'epochs':>7s} {'ms/epoch':>9s} {'fixed s':>8s} {'run s':>8s} {'wall/cpu':>8s}")
        with torch_threads(1):
            for grid in module.grids(p):
                for config in grid.configs:
                    e = min(args.epochs, config["epochs"])
                    measure(grid.fn, config, 2)                                # warm-up: imports, first calls
                    (c1, w1), (c2, w2) = measure(grid.fn, config, e), measure(grid.fn, config, 2 * e)
                    per_epoch = max(c2 - c1, 1e-9) / e
                    fixed = max(c1 - per_epoch * e, 0.0)
                    total = fixed + per_epoch * config["epochs"]
                    costs.append(total)
                    print(f"{describe(config):62s} {config['epochs']:7d} {1e3 * per_epoch:9.2f} {fixed:8.2f} "
                          f"{total:8.1f} {(w1 + w2) / max(c1 + c2, 1e-9):8.2f}", flush=True)
        runs = schedule(costs, args.workers)
        estimate = runs + NOTEBOOK_SECONDS[args.profile]
        target = TARGETS.get(args.profile)
        verdict = "" if target is None else f" — target ≤ {target} s: {'met' if estimate <= target else 'not met'}"
        print(f"{chapter}: {len(costs)} runs, {sum(costs):.0f} CPU s in all; on {args.workers} workers "
              f"{runs:.0f} s + {NOTEBOOK_SECONDS[args.profile]} s notebook ≈ {estimate / 60:.1f} min{verdict}")
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
