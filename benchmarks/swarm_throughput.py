"""Bees x epochs per second: one vectorised swarm against the original's bee-by-bee loop, side by side.

    python benchmarks/swarm_throughput.py [--epochs 100] [--rounds 3] [--loop-bees 100]

Setting: the post's regime (x = linspace(-5, 5, 61), y = sin x, one hidden layer, ReLU,
full-batch SGD lr 0.01, momentum 0.9), recording ypred, loss and the first layer's kinks every epoch, seed 10.
Engines: ``batched`` (stacked weights, batched matrix products; lib.swarm's default for
parameter-free activations), ``vmap`` (lib.ensemble's vmap(functional_call); any activation)
and ``loop`` (one bee after another with torch.optim.SGD, as the original swarm package
trains). Each time includes building the bees. Every round runs all engines for one
configuration back to back, so the machine's drift affects them alike; the table gives
medians over rounds. A loop over bees costs the same per bee whatever their number, so for
swarms larger than ``--loop-bees`` the loop is timed on that many bees and its rate used.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from lib import swarm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_swarm import one_bee_of  # noqa: E402 (the tests' reference: one bee after another)


def seconds(bee, num_bees: int, params: dict) -> float:
    start = time.perf_counter()
    swarm.hive_trainer(bee, [params], num_bees=num_bees, seed=10, fields="ypred,loss,kinks")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop-bees", type=int, default=100)
    parser.add_argument("--bees", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--widths", type=int, nargs="+", default=[10, 100])
    args = parser.parse_args()

    x = torch.linspace(-5, 5, 61)
    engines = {"batched": swarm.DefaultTrain("batched"), "vmap": swarm.DefaultTrain("vmap")}
    loop = one_bee_of()
    print(f"lib.swarm throughput: {args.epochs} epochs, 61 points, hidden 1, ReLU, SGD(0.01, 0.9), "
          f"1 intra-op thread (lib.swarm's default, for all three), median of {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    header = f"{'bees':>5} {'width':>5} | {'loop b*e/s':>11} {'vmap b*e/s':>11} {'batched b*e/s':>13} | " \
             f"{'vmap/loop':>9} {'batched/loop':>12}"
    print(header)
    print("-" * len(header))
    seconds(engines["batched"], 2, {"x": x, "y": torch.sin(x), "hidden": 1, "width": 10, "lr": 0.01,
                                    "momentum": 0.9, "num_epochs": 5})  # warm-up
    for width in args.widths:
        params = {"x": x, "y": torch.sin(x), "hidden": 1, "width": width, "lr": 0.01, "momentum": 0.9,
                  "num_epochs": args.epochs}
        for bees in args.bees:
            loop_bees = min(bees, args.loop_bees)
            rates = {"loop": [], "vmap": [], "batched": []}
            for _ in range(args.rounds):
                rates["loop"].append(loop_bees * args.epochs / seconds(loop, loop_bees, params))
                for name, regime in engines.items():
                    rates[name].append(bees * args.epochs / seconds(regime, bees, params))
            med = {k: statistics.median(v) for k, v in rates.items()}
            note = "" if loop_bees == bees else f"  (loop timed on {loop_bees} bees)"
            print(f"{bees:>5} {width:>5} | {med['loop']:>11,.0f} {med['vmap']:>11,.0f} {med['batched']:>13,.0f} | "
                  f"{med['vmap'] / med['loop']:>8.1f}x {med['batched'] / med['loop']:>11.1f}x{note}")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
