"""Forward+backward time of every SQRT-family activation against its classical twin, side by side.

    python benchmarks/sqrt_family.py [--rows 4096] [--cols 512] [--repeats 30]
                                     [--granularity layer element] [--threads N] [--clock wall|cpu]

Each pair is (the family member, trainable, at the parameters that recover a classical
function; torch's own implementation of that function). Every round times all modules once,
in a shuffled order, so that drift of a shared machine affects all alike; the table gives
medians over rounds and the ratio member / twin, for each granularity asked for (one
parameter per layer, or one per element of a row). The target: every trainable member
within 2x of its twin, learnable (so parameter gradients are computed). Parameter-free
members (SQRT, TanhExp) are timed against the plain torch expression of the same formula.
"""
from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F
from _timing import CLOCKS, interleaved_medians

from lib import activations

TARGET = 2.0
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
# the computational path each member takes (lib/activations/kernels.py)
PATHS = {
    "sqrt": "fused SignedPower",
    "tsqrt": "fused SignedPower",
    "thardswish": "fused: F.hardswish kernels",
    "tleaky_relu": "fused: F.leaky_relu / PReLU",
    "tgelu": "fused: aten.gelu kernels",
    "tselu": "fused: aten.elu kernels",
    "tswish": "fused: sigmoid, silu_backward",
    "tanhexp": "autograd",
    "tsqrt_tanh": "fused TanhExpPower",
}


def build(name: str, granularity: str, cols: int) -> torch.nn.Module:
    spec = activations.spec(name)
    if "learnable" not in spec.arguments:
        return spec.build()
    return spec.build(learnable=True, granularity=granularity, num_features=cols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--granularity", nargs="+", default=["layer", "element"],
                        choices=["layer", "channel", "element"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time (with --threads 1 on a shared "
                             "machine, close to the time on an idle core)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    x = torch.randn(args.rows, args.cols)
    fns = {f"twin:{name}": twin for name, (_, twin) in TWINS.items()}
    for granularity in args.granularity:
        for name in TWINS:
            fns[f"{granularity}:{name}"] = build(name, granularity, args.cols)
    load_before = os.getloadavg()
    median = interleaved_medians(fns, x, args.repeats, CLOCKS[args.clock])
    load_after = os.getloadavg()

    print(f"forward+backward at ({args.rows}, {args.cols}) float32, {torch.get_num_threads()} threads, "
          f"{args.clock} clock, median of {args.repeats} interleaved rounds; torch {torch.__version__}")
    print("load average (1, 5, 15 min): before " + ", ".join(f"{v:.2f}" for v in load_before)
          + "; after " + ", ".join(f"{v:.2f}" for v in load_after))
    print(f"{'activation':<12} {'parameters':<10} {'path':<30} {'ms':>8}   {'classical twin':<24} {'ms':>7} "
          f"{'ratio':>6}  target <= {TARGET:g}x")
    for granularity in args.granularity:
        for name, (twin_label, _) in TWINS.items():
            own, twin = median[f"{granularity}:{name}"], median[f"twin:{name}"]
            trainable = "learnable" in activations.spec(name).arguments
            verdict = ("met" if own / twin <= TARGET else "not met") if trainable else "(no parameters)"
            params = granularity if trainable else "-"
            print(f"{name:<12} {params:<10} {PATHS[name]:<30} {1e3 * own:8.2f}   {twin_label:<24} {1e3 * twin:7.2f} "
                  f"{own / twin:6.2f}  {verdict}")


if __name__ == "__main__":
    main()
