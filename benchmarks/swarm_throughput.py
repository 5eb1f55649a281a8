"""Bees x epochs per second: one vectorised swarm against the original's bee-by-bee loop, side by side.

    python benchmarks/swarm_throughput.py [--epochs 100] [--rounds 3] [--loop-bees 100]

Setting: the post's regime (x = linspace(-5, 5, 61), y = sin x, one hidden layer, ReLU,
full-batch SGD lr 0.01, momentum 0.9), recording ypred, loss and the first layer's kinks every epoch, seed 10.
Engines: ``fused`` (lib.swarm_fused: the whole training in one C call; lib.swarm's default for
one hidden layer of the activations it knows), ``batched`` (stacked weights, batched matrix
products; the default for other parameter-free activations), ``vmap`` (lib.ensemble's
vmap(functional_call); any activation) and ``loop`` (one bee after another with torch.optim.SGD,
as the original swarm package Each time includes building the bees. Every round runs all engines for one
configuration back to back, so the machine's drift affects them alike; the table gives
medians over rounds. A loop over bees costs the same per bee whatever their number, so for
swarms larger than ``--loop-bees`` the loop is timed on that many bees and its rate used.
Targets (printed at the end, met / not met): the default engine at least 100x the loop at 100
bees of width 10 and 30x at width 100, and never slower than vmap.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from lib import swarm, swarm_fused

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
    if swarm_fused.library() is not None:
        engines["fused"] = swarm.DefaultTrain("fused")
    default = "fused" if "fused" in engines else "batched"
    targets = {(100, 10): 100.0, (100, 100): 30.0}
    checks = []
    loop = one_bee_of()
    print(f"lib.swarm throughput: {args.epochs} epochs, 61 points, hidden 1, ReLU, SGD(0.01, 0.9), "
          f"1 intra-op thread (lib.swarm's default, for all three), median of {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print(f"fused engine: {swarm_fused.status()}; default engine here: {default}")
    header = f"{'bees':>5} {'width':>5} | {'loop b*e/s':>11} {'vmap b*e/s':>11} {'batched b*e/s':>13} " \
             f"{'fused b*e/s':>12} | {'vmap/loop':>9} {'batched/loop':>12} {'fused/loop':>10}"
    print(header)
    print("-" * len(header))
    seconds(engines["batched"], 2, {"x": x, "y": torch.sin(x), "hidden": 1, "width": 10, "lr": 0.01,
                                    "momentum": 0.9, "num_epochs": 5})  # warm-up
    for width in args.widths:
        params = {"x": x, "y": torch.sin(x), "hidden": 1, "width": width, "lr": 0.01, "momentum": 0.9,
                  "num_epochs": args.epochs}
        for bees in args.bees:
            loop_bees = min(bees, args.loop_bees)
            rates = {"loop": [], **{name: [] for name in engines}}
            for _ in range(args.rounds):
                rates["loop"].append(loop_bees * args.epochs / seconds(loop, loop_bees, params))
                for name, regime in engines.items():
                    rates[name].append(bees * args.epochs / seconds(regime, bees, params))
            med = {k: statistics.median(v) for k, v in rates.items()}
            note = "" if loop_bees == bees else f"  (loop timed on {loop_bees} bees)"
            fused = med.get("fused", math.nan)
            print(f"{bees:>5} {width:>5} | {med['loop']:>11,.0f} {med['vmap']:>11,.0f} {med['batched']:>13,.0f} "
                  f"{fused:>12,.0f} | {med['vmap'] / med['loop']:>8.1f}x {med['batched'] / med['loop']:>11.1f}x "
                  f"{fused / med['loop']:>9.1f}x{note}")
            speedup = med[default] / med["loop"]
            if (bees, width) in targets:
                checks.append((f"{default} at {bees} x {width}: {speedup:.1f}x the loop", speedup,
                               targets[bees, width]))
            checks.append((f"{default} at {bees} x {width}: {med[default] / med['vmap']:.2f}x vmap",
                           med[default] / med["vmap"], 1.0))
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    print("targets:")
    for text, value, bound in checks:
        print(f"  {'met' if value >= bound else 'not met':<7} {text} (target >= {bound:g}x)")


if __name__ == "__main__":
    main()
