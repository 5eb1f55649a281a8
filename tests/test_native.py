"""The C kernels (`lib.activations.native`) against the torch code they replace, and their fallbacks."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lib import activations
from lib.activations import native

ROOT = Path(__file__).resolve().parents[1]
needs_compiler = pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None,
                                    reason="no C compiler: the C kernels are off and the torch code runs")

MEMBERS = {
    "tleaky_relu": {"z": 0.2}, "thardswish": {"z": 2.5}, "tselu": {"z": 1.1, "w": 1.5}, "tswish": {"z": 2.0},
    "tgelu": {"z": 0.6, "w": 1.3}, "tsqrt": {"z": 0.6}, "tsqrt_tanh": {"k": 0.8},
}
# relative to the largest magnitude of each result: float64 within rounding, float32 within a few ulp
# of the sums' terms (the parameter gradients add 10^4 terms in another order); TSQRT_tanh's e^s with
# s up to 20, s itself e^{k ln|x|}, turns an ulp of glibc's exp against torch's into up to 300
TOLERANCE = {torch.float64: 1e-12, torch.float32: 2e-5}
CONDITIONING = {"tsqrt_tanh": 5.0}


def build(name: str, granularity: str, dtype: torch.dtype, seed: int = 7) -> torch.nn.Module:
    features = {"layer": None, "channel": 3, "element": (3, 4)}[granularity]
    act = activations.get(name, learnable=True, granularity=granularity, num_features=features, **MEMBERS[name])
    act = act.to(dtype)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in act.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator, dtype=dtype))
    return act


def sample(rows: int, dtype: torch.dtype, seed: int = 8) -> torch.Tensor:
    """(rows, 3, 4) inputs over the kinks and tails, with exact zeros (the signed power's guards)."""
    x = 3 * torch.randn(rows, 3, 4, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    x.view(-1)[::7] = 0.0
    x.view(-1)[1::11] = 1e-8
    return x


def forward_backward(act, x, grad, context, needs=(True, True)):
    xr = x.clone().requires_grad_(needs[0])
    for p in act.parameters():
        p.requires_grad_(needs[1])
    with context():
        y = act(xr)
        wanted = [t for t in (xr, *act.parameters()) if t.requires_grad]
        grads = torch.autograd.grad(y.sum() if grad is None else (y * grad).sum(), wanted)
    for p in act.parameters():
        p.requires_grad_(True)
    return [y.detach(), *grads]


def assert_near(ours, reference, dtype, factor=1.0):
    for a, b in zip(ours, reference, strict=True):
        scale = b.abs().max().item() or 1.0
        error = (a - b).abs().max().item()
        assert error <= factor * TOLERANCE[dtype] * scale, (error, scale)


@needs_compiler
def test_the_library_builds_here_and_says_so():
    assert native.library() is not None, native.status()
    assert native.status().startswith("on: ")


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("granularity", ["layer", "channel", "element"])
@pytest.mark.parametrize("name", list(MEMBERS))
def test_kernels_equal_the_torch_code(name, granularity, dtype):
    """Outputs, input and parameter gradients, for an expanded (y.sum()) and an explicit output
    gradient, with the input's and the parameters' gradients together and apart."""
    act = build(name, granularity, dtype)
    x = sample(300, dtype)           # 3,600 elements: several rows of the flat layout, a short last one
    assert native.applies(x, torch.ones((), dtype=dtype))
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(9), dtype=dtype)
    for g in (None, grad):
        for needs in ((True, True), (True, False), (False, True)):
            ours = forward_backward(act, x, g, contextlib.nullcontext, needs)
            reference = forward_backward(act, x, g, native.disabled, needs)
            assert_near(ours, reference, dtype, CONDITIONING.get(name, 1.0))


@needs_compiler
@pytest.mark.parametrize("name", list(MEMBERS))
def test_gradcheck_through_the_kernels(name):
    act = build(name, "element", torch.float64)
    x = (sample(30, torch.float64) + 0.05).requires_grad_(True)   # off the kinks, where finite differences hold
    names = [n for n, _ in act.named_parameters()]

    def f(x, *values):
        return torch.func.functional_call(act, dict(zip(names, values, strict=True)), (x,))

    values = [p.detach().clone().requires_grad_(True) for p in act.parameters()]
    assert native.applies(x, values[0])
    assert torch.autograd.gradcheck(f, (x, *values), eps=1e-6, atol=1e-5)


@needs_compiler
@pytest.mark.parametrize("name", ["tswish", "tsqrt_tanh"])
def test_threads_split_rows_deterministically(name):
    """Above the kernels' parallel threshold the rows are split among threads: the same thread count
    gives the same bits twice, another count the same values within float64 rounding."""
    act = build(name, "channel", torch.float64)
    x = sample(4000, torch.float64)                 # 48,000 elements: over the threshold of 32,768
    threads = torch.get_num_threads()
    try:
        results = {}
        for count in (1, 2, 2):
            torch.set_num_threads(count)
            results.setdefault(count, []).append(forward_backward(act, x, None, contextlib.nullcontext))
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results[2], strict=True):
        assert torch.equal(a, b)
    assert_near(results[2][0], results[1][0], torch.float64)


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fourier_kernel_equals_the_torch_code(dtype):
    act = activations.get("fourier", degree=5).to(dtype)
    with torch.no_grad():
        for p in act.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3), dtype=dtype))
    x = 2 * torch.randn(2000, 7, generator=torch.Generator().manual_seed(4), dtype=dtype)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    for g in (None, grad):
        for needs in ((True, True), (True, False), (False, True)):
            assert_near(forward_backward(act, x, g, contextlib.nullcontext, needs),
                        forward_backward(act, x, g, native.disabled, needs), dtype)


def test_per_batch_parameters_and_other_dtypes_keep_the_torch_code():
    x = torch.randn(4, 3)
    assert not native.applies(x, torch.ones(4, 3))                 # varies along the batch
    assert not native.applies(x.half(), torch.ones((), dtype=torch.half))
    assert not native.applies(x, torch.ones((), dtype=torch.float64))   # a parameter of another dtype
    assert not native.applies(x.t(), torch.ones(()))                # not contiguous
    with native.disabled():
        assert not native.applies(x, torch.ones(()))


SCRIPT = """
import torch
from lib import activations
from lib.activations import native
act = activations.get("tswish", learnable=True)
x = torch.randn(50, 4, requires_grad=True)
act(x).sum().backward()
expected = torch.sigmoid(x.detach()) * x.detach()
assert torch.allclose(act(x.detach()), expected, atol=1e-6)
print(native.status())
"""


def run_script(**environment):
    env = {**os.environ, **environment}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_switched_off_by_the_environment():
    assert run_script(ACTIVATION_BOOK_NATIVE="0") == "off: ACTIVATION_BOOK_NATIVE=0"


def test_a_failing_compiler_leaves_the_torch_code(tmp_path):
    status = run_script(CC="false", ACTIVATION_BOOK_CACHE=str(tmp_path / "cache"))
    assert status.startswith("off: "), status
    assert not list((tmp_path / "cache").rglob("*.so"))    # no half-written library left behind


@needs_compiler
def test_a_build_is_cached_under_a_key_of_source_and_machine(tmp_path):
    first = run_script(ACTIVATION_BOOK_CACHE=str(tmp_path))
    built = sorted((tmp_path / "kernels").glob("native-*.so"))
    assert first == f"on: {built[0]}" and len(built) == 1
    assert run_script(ACTIVATION_BOOK_CACHE=str(tmp_path)) == first          # reused, not rebuilt
    assert sorted((tmp_path / "kernels").glob("*")) == built                  # no temporaries left
