"""Forward+backward time of Snake (fixed and learnable a) against x + sin x, measured side by side.

    python benchmarks/snake.py [--rows 4096] [--cols 512] [--repeats 30] [--a 30] [--threads N] [--clock wall|cpu]

Snake, f(x) = x + sin²(ax)/a, generalises x + sin x (Ziyin et al. 2020). The target: every
Snake variant within 1.5x of `x + torch.sin(x)` computed by plain torch ops with autograd;
ReLU is timed for reference. Every round times every candidate once in a shuffled order (so
drift of a shared machine hits all alike); the table gives medians over rounds and minor page
faults per call, by default at one thread on the CPU clock and at torch's default thread count
on the wall clock (`benchmarks/_timing.py`). Each Snake runs twice: its CPU fast path
(`lib.activations.chunks.Rows`) and its generic code (`chunks.disabled()`, the code before the
fast path, which vmap runs).
"""
from __future__ import annotations

import argparse

import torch
from _timing import Candidate, add_arguments, run_settings, settings, verdict

from lib import activations
from lib.activations import chunks

TARGET = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--a", type=float, default=30.0, help="Snake's frequency (the chapters use 30)")
    add_arguments(parser)
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.rows, args.cols)
    snakes = {
        "Snake fixed a": activations.get("snake", a=args.a),
        "Snake learnable, per layer": activations.get("snake", a=args.a, learnable=True),
        "Snake learnable, per channel": activations.get("snake", a=args.a, learnable=True, num_features=args.cols),
    }
    paths = {"x + sin x": "autograd (torch ops)", "ReLU": "torch F.relu"}
    candidates = {"x + sin x": Candidate(lambda t: t + torch.sin(t)), "ReLU": Candidate(torch.relu)}
    for label, module in snakes.items():
        candidates[label], paths[label] = Candidate(module), "slices: SnakeFunction"
        candidates[f"{label}, generic"] = Candidate(module, chunks.disabled)
        paths[f"{label}, generic"] = "generic code (chunks.disabled)"

    for setting, timing, load in run_settings(candidates, x, args.repeats, settings(args)):
        print(f"\nforward+backward at ({args.rows}, {args.cols}) float32, a = {args.a:g}, {setting.label()}, "
              f"median of {args.repeats} interleaved rounds; torch {torch.__version__}")
        print(load)
        base = timing["x + sin x"].median
        print(f"{'activation':<39} {'path':<32} {'ms':>8} {'faults':>6} {'x (x+sin x)':>12} {'x ReLU':>8}  "
              f"target <= {TARGET:g}x")
        for label, t in timing.items():
            ratio = t.median / base
            result = verdict(ratio, "<=", TARGET) if label in snakes else ""
            print(f"{label:<39} {paths[label]:<32} {1e3 * t.median:8.2f} {t.faults:6.0f} {ratio:12.2f} "
                  f"{t.median / timing['ReLU'].median:8.2f}  {result}")


if __name__ == "__main__":
    main()
