"""Forward+backward time of Snake (fixed and learnable a) against x + sin x, measured side by side.

    python benchmarks/snake.py [--rows 4096] [--cols 512] [--repeats 30] [--a 30] [--threads N] [--clock wall|cpu]

Snake, f(x) = x + sin²(ax)/a, generalises x + sin x (Ziyin et al. 2020). The target: every
Snake variant within 1.5x of `x + torch.sin(x)` computed by plain torch ops with autograd;
ReLU is timed for reference. Every round times every candidate once in a shuffled order (so
drift of a shared machine hits all alike); the table gives medians over rounds.
"""
from __future__ import annotations

import argparse
import os

import torch
from _timing import CLOCKS, interleaved_medians

from lib import activations

TARGET = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--a", type=float, default=30.0, help="Snake's frequency (the chapters use 30)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    x = torch.randn(args.rows, args.cols)
    candidates = {
        "x + sin x": ("autograd (torch ops)", lambda t: t + torch.sin(t)),
        "ReLU": ("torch F.relu", torch.relu),
        "Snake fixed a": ("fused SnakeFunction", activations.get("snake", a=args.a)),
        "Snake learnable, per layer": ("fused SnakeFunction", activations.get("snake", a=args.a, learnable=True)),
        "Snake learnable, per channel": ("fused SnakeFunction",
                                         activations.get("snake", a=args.a, learnable=True, num_features=args.cols)),
    }
    load_before = os.getloadavg()
    median = interleaved_medians({k: fn for k, (_, fn) in candidates.items()}, x, args.repeats, CLOCKS[args.clock])
    load_after = os.getloadavg()

    print(f"forward+backward at ({args.rows}, {args.cols}) float32, a = {args.a:g}, {torch.get_num_threads()} threads, "
          f"{args.clock} clock, median of {args.repeats} interleaved rounds; torch {torch.__version__}")
    print("load average (1, 5, 15 min): before " + ", ".join(f"{v:.2f}" for v in load_before)
          + "; after " + ", ".join(f"{v:.2f}" for v in load_after))
    base = median["x + sin x"]
    print(f"{'activation':<30} {'path':<22} {'ms':>8} {'x (x+sin x)':>12} {'x ReLU':>8}  target <= {TARGET:g}x")
    for label, (path, _) in candidates.items():
        ratio = median[label] / base
        verdict = ("met" if ratio <= TARGET else "not met") if label.startswith("Snake") else ""
        print(f"{label:<30} {path:<22} {1e3 * median[label]:8.2f} {ratio:12.2f} {median[label] / median['ReLU']:8.2f}"
              f"  {verdict}")


if __name__ == "__main__":
    main()
