"""Forward+backward time of every registered activation, relative to ReLU, measured side by side.

    python benchmarks/activations.py [--rows 4096] [--cols 512] [--repeats 30]

Each round times every activation once, in a shuffled order, so that slow drift of the
machine affects all of them alike; the table reports medians over rounds and the ratio
of each median to ReLU's. Parameters are at their defaults (learnable where offered).
"""
from __future__ import annotations

import argparse

import torch
from _timing import interleaved_medians

from lib import activations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.rows, args.cols)
    modules = {}
    for spec in activations.specs():
        learnable = "learnable" in spec.arguments
        modules[spec.name] = spec.build(**({"learnable": True} if learnable else {}))
    medians = interleaved_medians(modules, x, args.repeats)

    base = medians["relu"]
    print(f"forward+backward at ({args.rows}, {args.cols}) float32, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} interleaved rounds")
    print(f"{'activation':<16} {'ms':>8} {'x ReLU':>8}")
    for name in sorted(modules, key=medians.get):
        median = medians[name]
        print(f"{name:<16} {1e3 * median:8.2f} {median / base:8.2f}")


if __name__ == "__main__":
    main()
