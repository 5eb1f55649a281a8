"""Learnable-basis activations against GELU and against torchortho, measured side by side.

    python benchmarks/ortho_activations.py [--rows 4096] [--cols 512] [--repeats 15] [--threads N] [--clock wall|cpu]

For each activation at its default (variance-preserving) init, learnable coefficients:
forward+backward time at (rows, cols) float32 (median over interleaved rounds: every round
times every activation once in a shuffled order, so drift of a shared machine hits all
alike), and the memory autograd keeps for the backward pass (unique storages seen by a
saved-tensors hook), as a multiple of the input's size. torchortho (GPL-3.0, the paper's
reference library) is an optional extra: `pip install --no-deps torchortho==0.1.2`; without
it, its rows are left out. The targets are checked at the end (met / not met).
"""
from __future__ import annotations

import argparse
import os

import torch
from _timing import CLOCKS, interleaved_medians

from lib import activations

OURS = {"GELU": ("gelu", {}), "Hermite(3)": ("hermite", {"degree": 3}), "Fourier(5)": ("fourier", {"degree": 5}),
        "Tropical(5)": ("tropical", {"degree": 5}), "TropicalRational(5)": ("tropical_rational", {"degree": 5})}
REFERENCE = {"Hermite(3)": ("HermiteActivation", 3), "Fourier(5)": ("FourierActivation", 5),
             "Tropical(5)": ("TropicalActivation", 5), "TropicalRational(5)": ("TropicalRationalActivation", 5)}


def build_modules() -> dict[str, torch.nn.Module]:
    modules = {label: activations.get(name, **params) for label, (name, params) in OURS.items()}
    try:
        import torchortho
    except ImportError:
        print("torchortho is not installed: its rows are left out (pip install --no-deps torchortho==0.1.2)")
        return modules
    for label, (cls, degree) in REFERENCE.items():
        modules[f"torchortho {label}"] = getattr(torchortho, cls)(degree)
    return modules


def saved_bytes(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd saves for backward in one forward pass."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    x = x.detach().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(storages.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time, which on a shared machine "
                             "with --threads 1 approximates the time on an idle core")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]

    torch.manual_seed(0)
    x = torch.randn(args.rows, args.cols)
    modules = build_modules()
    memory = {label: saved_bytes(m, x) / (x.numel() * x.element_size()) for label, m in modules.items()}
    load_before = os.getloadavg()
    median = interleaved_medians(modules, x, args.repeats, clock)
    load_after = os.getloadavg()

    print(f"forward+backward at ({args.rows}, {args.cols}) float32, {torch.get_num_threads()} threads, "
          f"{args.clock} clock, median of {args.repeats} interleaved rounds; torch {torch.__version__}")
    print("load average (1, 5, 15 min): before " + ", ".join(f"{v:.2f}" for v in load_before)
          + "; after " + ", ".join(f"{v:.2f}" for v in load_after))
    print(f"{'activation':<31} {'ms':>8} {'x GELU':>8} {'torchortho / ours':>18} {'saved / input':>14}")
    for label in modules:
        reference = f"torchortho {label}"
        versus = f"{median[reference] / median[label]:18.1f}" if reference in median else f"{'':>18}"
        print(f"{label:<31} {1e3 * median[label]:8.2f} {median[label] / median['GELU']:8.2f} {versus} "
              f"{memory[label]:14.2f}")

    checks = [("Hermite(3) within 6x of GELU", median["Hermite(3)"] / median["GELU"], "<=", 6.0)]
    checks += [(f"{label} saves only its input (and coefficients)", memory[label], "<=", 1.01)
               for label in OURS if label != "GELU"]
    for label, bound in (("Hermite(3)", 50.0), ("Fourier(5)", 10.0), ("Tropical(5)", 5.0)):
        if f"torchortho {label}" in median:
            checks.append((f"{label} at least {bound:g}x faster than torchortho 0.1.2's",
                           median[f"torchortho {label}"] / median[label], ">=", bound))
    print("\ntargets:")
    for text, value, op, bound in checks:
        ok = value <= bound if op == "<=" else value >= bound
        print(f"  {'met    ' if ok else 'not met'} {text}: {value:.2f} (target {op} {bound:g})")

if __name__ == "__main__":
    main()
