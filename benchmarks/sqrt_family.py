"""Forward+backward time of every SQRT-family activation against its classical twin, side by side.

    python benchmarks/sqrt_family.py [--rows 4096] [--cols 512] [--repeats 30]
                                     [--granularity layer element] [--threads N] [--clock wall|cpu]

Each pair is (the family member, trainable, at the parameters that recover a classical
function; torch's own implementation of that function). Every round times all candidates once,
in a shuffled order, so that drift of a shared machine affects all alike; the table gives
medians over rounds, minor page faults per call, and the ratio member / twin, for each
granularity asked for (one parameter per layer, or one per element of a row), by default at
one thread on the CPU clock and at torch's default thread count on the wall clock
(`benchmarks/_timing.py`). Each trainable member runs three times: its C kernel
(`lib.activations.native`, where the library builds), its torch fast path (`native.disabled()`:
the slices of `lib.activations.chunks.Rows`, where it has one) and its generic code
(`chunks.disabled()`, the code before the fast paths, which vmap runs). The path column says
which of them the first takes on this machine. The target: every trainable member within 2x of
its twin, learnable (so parameter gradients are computed). Parameter-free members (SQRT,
TanhExp) are timed against the plain torch expression of the same formula.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from _timing import Candidate, add_arguments, run_settings, settings, verdict

from lib import activations
from lib.activations import chunks, native

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
# the torch path each member takes on the CPU without the C kernels (lib/activations/kernels.py)
TORCH_PATHS = {
    "sqrt": "SignedPower (whole tensors)",
    "tsqrt": "SignedPower (whole tensors)",
    "thardswish": "slices: hardswish kernels",
    "tleaky_relu": "slices: leaky_relu/threshold bwd",
    "tgelu": "slices: gelu kernels",
    "tselu": "slices: elu kernels",
    "tswish": "slices: sigmoid, silu_backward",
    "tanhexp": "autograd",
    "tsqrt_tanh": "slices: TanhExpPower",
}
FAST = {"thardswish", "tleaky_relu", "tgelu", "tselu", "tswish", "tsqrt_tanh"}
NATIVE = {"sqrt", "tsqrt", "thardswish", "tleaky_relu", "tgelu", "tselu", "tswish", "tsqrt_tanh"}


def path(name: str) -> str:
    if name in NATIVE and native.library() is not None:
        return "C kernel (native.c)"
    return TORCH_PATHS[name]


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
    add_arguments(parser)
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.rows, args.cols)
    candidates: dict[str, Candidate] = {f"twin:{name}": Candidate(twin) for name, (_, twin) in TWINS.items()}
    for granularity in args.granularity:
        for name in TWINS:
            module = build(name, granularity, args.cols)
            candidates[f"{granularity}:{name}"] = Candidate(module)
            if name in FAST or name in NATIVE:
                candidates[f"{granularity}:{name}:generic"] = Candidate(module, chunks.disabled)
            if name in NATIVE:
                candidates[f"{granularity}:{name}:torch"] = Candidate(module, native.disabled)

    for setting, timing, load in run_settings(candidates, x, args.repeats, settings(args)):
        print(f"\nforward+backward at ({args.rows}, {args.cols}) float32, {setting.label()}, "
              f"median of {args.repeats} interleaved rounds; torch {torch.__version__}")
        print(load)
        print(f"C kernels: {native.status()}")
        print(f"{'activation':<12} {'parameters':<10} {'path':<34} {'ms':>7} {'faults':>6} {'torch ms':>8} "
              f"{'generic ms':>10}   "
              f"{'classical twin':<24} {'ms':>7} {'faults':>6} {'ratio':>6}  target <= {TARGET:g}x")
        for granularity in args.granularity:
            for name, (twin_label, _) in TWINS.items():
                own, twin = timing[f"{granularity}:{name}"], timing[f"twin:{name}"]
                generic = timing.get(f"{granularity}:{name}:generic")
                trainable = "learnable" in activations.spec(name).arguments
                result = verdict(own.median / twin.median, "<=", TARGET) if trainable else "(no parameters)"
                params = granularity if trainable else "-"
                torch_path = timing.get(f"{granularity}:{name}:torch")
                generic_ms = f"{1e3 * generic.median:10.2f}" if generic else f"{'':>10}"
                torch_ms = f"{1e3 * torch_path.median:8.2f}" if torch_path else f"{'':>8}"
                print(f"{name:<12} {params:<10} {path(name):<34} {1e3 * own.median:7.2f} {own.faults:6.0f} "
                      f"{torch_ms} {generic_ms}   {twin_label:<24} {1e3 * twin.median:7.2f} {twin.faults:6.0f} "
                      f"{own.median / twin.median:6.2f}  {result}")


if __name__ == "__main__":
    main()
