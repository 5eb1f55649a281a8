"""Helpers for activations with parameters: fixed or learnable, at one of three granularities.

Every activation with parameters takes the same four structural arguments:

- ``learnable``: train the parameters (else they are fixed buffers that move with ``.to()``);
- ``granularity``: ``"layer"`` (one value per parameter for the whole layer), ``"channel"`` (one per
  channel along ``feature_dim``) or ``"element"`` (one per unit of the per-example shape);
- ``num_features``: the channel count, or the per-example shape (e.g. ``(C, H, W)``);
- ``feature_dim``: the input dimension the channels run along (1 for (N, F) and (N, C, H, W); -1 for
  (B, T, C) sequences).

``granularity=None`` (the default) infers it from ``num_features``: none → layer, an int → channel,
a tuple → element.
"""
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


GRANULARITIES = ("layer", "channel", "element")


def parameter_shape(granularity: str | None, num_features: int | tuple[int, ...] | None,
                    feature_dim: int = 1) -> tuple[str, tuple[int, ...]]:
    """(granularity, the shape of one parameter) for an activation built with these arguments."""
    if granularity is None:
        granularity = "layer" if num_features is None else "channel" if isinstance(num_features, int) else "element"
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    if granularity == "layer":
        return granularity, ()
    if num_features is None:
        raise ValueError(f'granularity "{granularity}" needs num_features '
                         '(channels for "channel", the per-example shape for "element")')
    shape = feature_shape(num_features)
    if granularity == "channel" and len(shape) > 1:
        axis = feature_dim - 1 if feature_dim > 0 else feature_dim      # feature_dim counts the batch axis
        shape = (shape[axis],)
    return granularity, shape


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


def saved_storages(module: nn.Module, x: Tensor) -> dict[int, int]:
    """The distinct storages autograd keeps for backward in one forward pass of `module` on `x`:
    {data pointer: bytes}. How the tests and benchmarks check that an activation saves only its input."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return storages
