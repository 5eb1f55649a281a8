"""lib.ensemble.BatchedMLP's written-out MSE gradients (the swarm's engine) against torch.autograd."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from lib.ensemble import BatchedMLP, member_losses


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Tanhshrink, nn.SiLU])
@pytest.mark.parametrize("widths", [[1, 6, 1], [3, 5, 4, 1], [2, 5, 3]])
@pytest.mark.parametrize("per_member", [False, True])
def test_written_out_mse_gradients_equal_autograds(activation, widths, per_member):
    """BatchedMLP.mse_backward (closed forms per activation, elementwise products for one output) against
    torch.autograd on the same members, in float64, with some members masked out by the weight."""
    n, points = 4, 9
    members = BatchedMLP.from_stream(widths, lambda w: activation(), n, seed=3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    shape = (n, points) if per_member else (points,)
    x = torch.randn(*shape, widths[0], generator=gen, dtype=torch.float64)
    y = torch.randn(*shape, widths[-1], generator=gen, dtype=torch.float64)
    weight = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    outputs, keep = members.mse_forward(x, per_member)
    written = members.mse_backward(outputs, keep, y, weight, per_member)
    params = list(members.parameters())
    losses = member_losses(members(x, per_member=per_member), y, "mse", per_member)
    expected = torch.autograd.grad((losses * weight).sum(), params)
    assert len(written) == len(expected)
    for got, want in zip(written, expected):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
