"""Helpers for activations with parameters: fixed or learnable, one scalar or one per feature."""
from __future__ import annotations

import torch
from torch import Tensor, nn


def add_parameter(module: nn.Module, name: str, value: float | Tensor, *,
                  shape: tuple[int, ...] = (), learnable: bool) -> None:
    """Attach `name` to `module`: an `nn.Parameter` if learnable, else a buffer (moves with .to())."""
    tensor = torch.as_tensor(value, dtype=torch.get_default_dtype())
    tensor = tensor.expand(shape).clone() if tensor.dim() == 0 else tensor.clone()
    if tuple(tensor.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(shape)}")
    if learnable:
        module.register_parameter(name, nn.Parameter(tensor))
    else:
        module.register_buffer(name, tensor)


def feature_shape(num_features: int | tuple[int, ...] | None) -> tuple[int, ...]:
    """() for one shared scalar, (n,) for one value per feature, or a whole per-element shape."""
    if num_features is None:
        return ()
    shape = (num_features,) if isinstance(num_features, int) else tuple(num_features)
    if not shape or any((not isinstance(n, int)) or n < 1 for n in shape):
        raise ValueError(f"num_features must be a positive int or a tuple of them, got {num_features!r}")
    return shape


def broadcast_to_input(p: Tensor, x: Tensor, feature_dim: int = 1) -> Tensor:
    """View parameter `p` so that it broadcasts against `x`.

    A scalar broadcasts as is. Otherwise p's dimensions are matched with x's
    starting at `feature_dim` (dim 1 is the feature axis of (N, F) and the
    channel axis of (N, C, H, W); use -1 for (B, T, C) sequences).
    """
    if p.dim() == 0:
        return p
    start = feature_dim % x.dim() if x.dim() else 0
    if tuple(x.shape[start:start + p.dim()]) != tuple(p.shape):
        raise ValueError(
            f"parameter of shape {tuple(p.shape)} does not fit input of shape {tuple(x.shape)} "
            f"at feature_dim={feature_dim}"
        )
    return p.reshape(p.shape + (1,) * (x.dim() - start - p.dim()))
