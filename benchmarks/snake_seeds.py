"""Stacked seeds vs one seed after another: the Snake chapters' comparison workload, timed side by side.

    python benchmarks/snake_seeds.py [--seeds 5] [--width 64] [--points 200] [--epochs 100] [--rounds 3]

Trains `seeds` Snake networks (1 -> width -> width -> 1, a = 30, Adam, full batch) on
the extrapolation task's training points, once as one vectorised ensemble
(`lib.ensemble.train_ensemble`) and once one network after another (`lib.train.train`),
in alternating order over `rounds`; prints the medians and their ratio, with the load average.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from lib.data.signals import make_task
from lib.ensemble import Ensemble, train_ensemble
from lib.seeding import seed_everything
from lib.signal_fits import Candidate, make_network
from lib.train import make_optimizer, train

SNAKE = Candidate("Snake, a = 30", "snake", {"a": 30.0})


def stacked(split, seeds, width, epochs) -> float:
    make = lambda: make_network(SNAKE, hidden=(width, width))  # noqa: E731
    ensemble = Ensemble.from_seeds(make, seeds)
    start = time.perf_counter()
    train_ensemble(ensemble, split.train, epochs=epochs, lr=1e-3, progress=False, device="cpu")
    return time.perf_counter() - start


def one_after_another(split, seeds, width, epochs) -> float:
    start = time.perf_counter()
    for seed in seeds:
        seed_everything(seed)
        model = make_network(SNAKE, hidden=(width, width))
        train(model, split.train, epochs=epochs, optimizer=make_optimizer(model, "adam", 1e-3), progress=False,
              device="cpu")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--points", type=int, default=1000, help="grid points (the training block is 20 %%)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    split = make_task("extrapolation", L=args.points)
    seeds = list(range(args.seeds))
    times = {"stacked": [], "one after another": []}
    stacked(split, seeds, args.width, 5)                       # warm-up
    for r in range(args.rounds):
        order = [stacked, one_after_another] if r % 2 == 0 else [one_after_another, stacked]
        for fn in order:
            name = "stacked" if fn is stacked else "one after another"
            times[name].append(fn(split, seeds, args.width, args.epochs))
    base = statistics.median(times["one after another"])
    print(f"{args.seeds} seeds, width {args.width}, {len(split.train_index)} training points, {args.epochs} epochs, "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    print(f"{'method':<20} {'median s':>9} {'ratio':>7}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<20} {median:9.3f} {median / base:7.2f}")


if __name__ == "__main__":
    main()
