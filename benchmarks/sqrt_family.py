"""Forward+backward time of every SQRT-family activation against its classical twin, side by side.

    python benchmarks/sqrt_family.py [--rows 4096] [--cols 512] [--repeats 30] [--granularity layer]

Each pair is (the family member, trainable, at the parameters that recover a classical
function; torch's own implementation of that function). Every round times all modules once,
in a shuffled order, so that drift of a shared machine affects all alike; the table gives
medians over rounds and the ratio member / twin. Parameter-free members (SQRT, TanhExp) are
timed against the plain torch expression of the same formula.
"""
from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F
from _timing import interleaved_medians

from lib import activations

TWINS = {
    "sqrt": ("sign(x)·sqrt|x| (torch)", lambda x: torch.sign(x) * torch.sqrt(torch.abs(x))),
    "tsqrt": ("sign(x)·sqrt|x| (torch)", lambda x: torch.sign(x) * torch.sqrt(torch.abs(x))),
    "thardswish": ("F.hardswish", F.hardswish),
    "tleaky_relu": ("F.leaky_relu", lambda x: F.leaky_relu(x, 0.01)),
    "tgelu": ("F.gelu", F.gelu),
    "tselu": ("F.selu", F.selu),
    "tswish": ("F.silu", F.silu),
    "tanhexp": ("x·tanh(e^x) (torch)", lambda x: x * torch.tanh(torch.exp(x))),
    "tsqrt_tanh": ("x·tanh(e^x) (torch)", lambda x: x * torch.tanh(torch.exp(x))),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--granularity", default="layer", choices=["layer", "channel", "element"])
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.rows, args.cols)
    fns = {}
    for name, (twin_label, twin) in TWINS.items():
        spec = activations.spec(name)
        kwargs = {}
        if "learnable" in spec.arguments:
            kwargs = {"learnable": True, "granularity": args.granularity, "num_features": args.cols}
        fns[name] = spec.build(**kwargs)
        fns[f"twin:{name}"] = twin
    median = interleaved_medians(fns, x, args.repeats)

    print(f"forward+backward at ({args.rows}, {args.cols}) float32, {torch.get_num_threads()} threads, "
          f"parameters per {args.granularity}, median of {args.repeats} interleaved rounds, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'activation':<12} {'ms':>8}   {'classical twin':<26} {'ms':>8} {'ratio':>7}")
    for name, (twin_label, _) in TWINS.items():
        own, twin = median[name], median[f"twin:{name}"]
        print(f"{name:<12} {1e3 * own:8.2f}   {twin_label:<26} {1e3 * twin:8.2f} {own / twin:7.2f}")


if __name__ == "__main__":
    main()
