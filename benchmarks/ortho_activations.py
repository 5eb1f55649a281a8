"""Learnable-basis activations against GELU and against torchortho, measured side by side.

    python benchmarks/ortho_activations.py [--rows 4096] [--cols 512] [--repeats 15] [--threads N] [--clock wall|cpu]

For each activation at its default (variance-preserving) init, learnable coefficients:
forward+backward time at (rows, cols) float32 (median over interleaved rounds: every round
times every candidate once in a shuffled order, so drift of a shared machine hits all alike),
by default at one thread on the CPU clock and at torch's default thread count on the wall clock
(`benchmarks/_timing.py`). Each of ours runs twice: its CPU fast path (Fourier: the C kernel of
`lib.activations.native` where the library builds; the others: the slices of `lib.activations.chunks`)
and its generic code (`chunks.disabled()`: the code before the fast paths, which vmap runs);
"Fourier(5) torch" is Fourier's torch fast path (`native.disabled()`: slices, tan(theta/2) backward).
"Tropical(5), all pieces" sets coefficients with every piece on the envelope (a trained
state, not the init's two). "Fourier(5) floor" is the unavoidable part of the torch fast path's
cost: 5 cosines (forward) and 5 tangents (backward) over the input, in cache-sized slices, and
the two input-sized results (the C kernel, one vectorised sine and cosine per term in one loop,
is below it). Also: the memory autograd keeps for backward (unique storages seen by a
saved-tensors hook), as a multiple of the input's size. torchortho (GPL-3.0, the
paper's reference library) is an optional extra: `pip install --no-deps torchortho==0.1.2`;
without it, its rows and targets are left out. The targets are checked at the end (met / not met).
"""
from __future__ import annotations

import argparse

import torch
from _timing import Candidate, add_arguments, run_settings, settings, verdict

from lib import activations
from lib.activations import chunks, native
from lib.activations.base import saved_storages
from lib.activations.ortho import upper_envelope

OURS = {"GELU": ("gelu", {}), "Hermite(3)": ("hermite", {"degree": 3}), "Fourier(5)": ("fourier", {"degree": 5}),
        "Tropical(5)": ("tropical", {"degree": 5}), "Tropical(5), all pieces": ("tropical", {"degree": 5}),
        "TropicalRational(5)": ("tropical_rational", {"degree": 5})}
REFERENCE = {"Hermite(3)": ("HermiteActivation", 3), "Fourier(5)": ("FourierActivation", 5),
             "Tropical(5)": ("TropicalActivation", 5), "TropicalRational(5)": ("TropicalRationalActivation", 5)}
TARGETS = (("Hermite(3)", 50.0), ("Fourier(5)", 10.0), ("Tropical(5)", 5.0))


def build_modules() -> dict[str, torch.nn.Module]:
    modules = {label: activations.get(name, **params) for label, (name, params) in OURS.items()}
    with torch.no_grad():       # c_k = -(k - 2.5)^2 / 2: concave in k, so each of the 6 pieces wins somewhere
        modules["Tropical(5), all pieces"].coefficients.copy_(-(torch.arange(6.0) - 2.5) ** 2 / 2)
    try:
        import torchortho
    except ImportError:
        print("torchortho is not installed: its rows are left out (pip install --no-deps torchortho==0.1.2)")
        return modules
    for label, (cls, degree) in REFERENCE.items():
        modules[f"torchortho {label}"] = getattr(torchortho, cls)(degree)
    return modules


def path(label: str, module: torch.nn.Module, x: torch.Tensor) -> str:
    """The code an activation runs on x (outside transforms): its fast path or the generic code."""
    if label.startswith("torchortho"):
        return "torchortho (autograd)"
    if label == "GELU":
        return "torch F.gelu"
    if label.startswith("Hermite"):
        return "HermiteSeries (whole tensors)"
    if label.startswith("Fourier"):
        coefficients = [p.detach() for p in module.parameters()]
        if native.applies_shared(x, *coefficients):
            return "C kernel (native.c)"
        fast = chunks.applies(x, *coefficients)
        return "slices, tan(theta/2) backward" if fast else "FourierSeries generic"
    pairs = ([module.slopes_and_intercepts()] if hasattr(module, "slopes_and_intercepts") else
             [(module.numerator_slopes, module.numerator_intercepts),
              (module.denominator_slopes, module.denominator_intercepts)])
    if not chunks.applies(x, *(t for pair in pairs for t in pair)):
        return "MaxAffine generic"
    envelope = all(upper_envelope(s.tolist(), c.tolist()) is not None for s, c in pairs)
    return "slices, envelope backward" if envelope else "slices, index backward"


def fourier_floor(x: torch.Tensor) -> torch.Tensor:
    """The unavoidable passes of Fourier(5): 5 cosines and 5 tangents over x by slices, 2 results."""
    x_flat = x.detach().view(-1)
    slices = chunks.Slices(x_flat.numel())
    buffer = slices.buffer(5, dtype=x.dtype)
    frequencies = torch.arange(1.0, 6.0, dtype=x.dtype)[:, None]
    for function in (torch.Tensor.cos_, torch.Tensor.tan_):
        result = torch.empty_like(x_flat)
        for (xs, out) in slices.split(x_flat, result):
            function(torch.mul(frequencies, xs, out=buffer.view(xs.numel())))
            out.copy_(xs)                       # the result is written once, as a real one is
    return torch.zeros((), requires_grad=True)  # a scalar with a trivial backward


def saved_bytes(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd saves for backward in one forward pass."""
    return sum(saved_storages(module, x.detach().requires_grad_(True)).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=15)
    add_arguments(parser)
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.rows, args.cols)
    modules = build_modules()
    memory = {label: saved_bytes(m, x) / (x.numel() * x.element_size()) for label, m in modules.items()}
    paths = {label: path(label, m, x) for label, m in modules.items()}
    candidates: dict[str, Candidate] = {}
    for label, module in modules.items():
        candidates[label] = Candidate(module)
        if label in OURS and label != "GELU" and not label.startswith("Hermite"):
            candidates[f"{label} generic"] = Candidate(module, chunks.disabled)
        if label == "Fourier(5)" and native.library() is not None:
            candidates[f"{label} torch"] = Candidate(module, native.disabled)
    candidates["Fourier(5) floor"] = Candidate(fourier_floor)

    for setting, timing, load in run_settings(candidates, x, args.repeats, settings(args)):
        print(f"\nforward+backward at ({args.rows}, {args.cols}) float32, {setting.label()}, "
              f"median of {args.repeats} interleaved rounds; torch {torch.__version__}")
        print(load)
        print(f"C kernels: {native.status()}")
        gelu = timing["GELU"].median
        print(f"{'activation':<33} {'path':<30} {'ms':>8} {'faults':>7} {'x GELU':>7} {'torchortho/this':>16} "
              f"{'saved/input':>12}")
        for label in candidates:
            base = label.removesuffix(" generic").removesuffix(" floor").removesuffix(" torch")
            reference = timing.get(f"torchortho {base}")
            versus = f"{reference.median / timing[label].median:16.1f}" if reference else f"{'':>16}"
            shown = ("generic code (chunks.disabled)" if label.endswith(" generic") else
                     "slices, tan(theta/2) backward" if label.endswith(" torch") else
                     "cos + tan passes, 2 results" if label.endswith(" floor") else paths[label])
            saved = f"{memory[label]:12.2f}" if label in memory else f"{'':>12}"
            print(f"{label:<33} {shown:<30} {1e3 * timing[label].median:8.2f} {timing[label].faults:7.0f} "
                  f"{timing[label].median / gelu:7.2f} {versus} {saved}")

        checks = [("Hermite(3) within 6x of GELU", timing["Hermite(3)"].median / gelu, "<=", 6.0)]
        checks += [(f"{label} saves only its input (and coefficients)", memory[label], "<=", 1.01)
                   for label in OURS if label != "GELU"]
        for label, bound in TARGETS:
            if f"torchortho {label}" in timing:
                checks.append((f"{label} at least {bound:g}x faster than torchortho 0.1.2's",
                               timing[f"torchortho {label}"].median / timing[label].median, ">=", bound))
        print(f"targets ({setting.label()}):")
        for text, value, op, bound in checks:
            print(f"  {verdict(value, op, bound):<7} {text}: {value:.2f} (target {op} {bound:g})")


if __name__ == "__main__":
    main()
