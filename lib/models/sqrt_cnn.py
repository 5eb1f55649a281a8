"""The small CNN of the SQRT-family report (Fontana 2021), with any registered activation.

Layout (the report's Table 1 is inconsistent; this is the book's reading, stated in the chapter
"Trainable SQRT-family activations")::

    input (c, S, S) -> conv1 (C, k x k, same padding) -> maxpool 2          -> (C, S/2, S/2)
      -> [BN] -> act1 -> conv2 (C, k x k, same padding) -> maxpool 2        -> (C, S/4, S/4)
      -> [BN] -> act2 -> flatten (C·S²/16) -> FC1 (H)
      -> [BN] -> act3 -> [Dropout(p)] -> FC2 (classes)

Activations sit before conv2, FC1 and FC2 and not after conv1, as in the report; BN runs
put BatchNorm right before each activation; some runs add Dropout(0.3) before the last
FC. The original has S = 16, c = 3 (CIFAR-10), C = 192, H = 1256.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from lib import activations


class SqrtCNN(nn.Module):
    """The report's CNN (see the module doc).

    Args:
        activation: a registry name, used at all three activation sites.
        learnable: train the activation's parameters (frozen buffers otherwise).
        granularity: ``"layer"``, ``"channel"`` or ``"element"`` (the original: one per unit).
        batch_norm: BatchNorm right before each activation.
        dropout: probability of the Dropout before the last FC (0: none; the report used 0.3).
        channels, hidden, kernel_size: C, H and k; in_channels, image_size, classes: the data.
    """

    def __init__(self, activation: str = "relu", *, learnable: bool = True, granularity: str = "element",
                 batch_norm: bool = False, dropout: float = 0.0, in_channels: int = 3, image_size: int = 16,
                 channels: int = 192, hidden: int = 1256, kernel_size: int = 3, classes: int = 10,
                 activation_params: dict[str, Any] | None = None):
        super().__init__()
        for label, value in (("in_channels", in_channels), ("channels", channels), ("hidden", hidden),
                             ("classes", classes)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive int, got {value!r}")
        if not isinstance(image_size, int) or image_size < 4 or image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two 2x2 poolings), got {image_size!r}")
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

        s2, s4 = image_size // 2, image_size // 4
        pad = kernel_size // 2
        self.activation_name = activation
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size, padding=pad)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=pad)
        self.fc1 = nn.Linear(channels * s4 * s4, hidden)
        self.fc2 = nn.Linear(hidden, classes)
        self.pool = nn.MaxPool2d(2)
        norm = batch_norm
        self.bn1 = nn.BatchNorm2d(channels) if norm else nn.Identity()
        self.bn2 = nn.BatchNorm2d(channels) if norm else nn.Identity()
        self.bn3 = nn.BatchNorm1d(hidden) if norm else nn.Identity()
        shapes = [(channels, s2, s2), (channels, s4, s4), (hidden,)]
        make = activations.factory(activation, granularity=granularity, learnable=learnable,
                                   **dict(activation_params or {}))
        self.act1, self.act2, self.act3 = (make(shape) for shape in shapes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    @property
    def activation_sites(self) -> dict[str, nn.Module]:
        """The three activations by where they sit."""
        return {"before conv2": self.act1, "before FC1": self.act2, "before FC2": self.act3}

    def features(self, x: Tensor) -> Tensor:
        x = self.pool(self.conv1(x))
        x = self.pool(self.conv2(self.act1(self.bn1(x))))
        x = self.act2(self.bn2(x)).flatten(1)
        return self.act3(self.bn3(self.fc1(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.dropout(self.features(x)))


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Trainable parameters: total, in the activations, in BatchNorm, and the rest (weights)."""
    act = sum(p.numel() for p in activations.activation_parameters(model))
    bn = sum(p.numel() for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             for p in m.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "activation": act, "batch_norm": bn, "weights": total - act - bn}
