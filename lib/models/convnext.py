"""A small ConvNeXt-style image classifier (Liu et al. 2022) with any activation in its blocks (the
vision model of the chapter "Learnable orthogonal activations")."""
from __future__ import annotations

from torch import Tensor, nn

from lib.activations import ActivationFactory


class ChannelsLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """x + pw2(act(pw1(LN(dwconv(x))))): ConvNeXt's block (Liu et al. 2022) without layer scale or drop path."""

    def __init__(self, dim: int, make_activation: ActivationFactory, kernel_size: int = 5, expansion: int = 4):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, expansion * dim)
        self.act = make_activation(expansion * dim)          # applied on (N, H, W, C): channels last
        self.pw2 = nn.Linear(expansion * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class SmallConvNeXt(nn.Module):
    """Patchify stem (2x2, stride 2), stages of ConvNeXt blocks with 2x2 stride-2 downsampling between
    them, global average pooling, LayerNorm and a linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, make_activation: ActivationFactory,
                 widths: tuple[int, ...] | list[int] = (16, 32), depths: tuple[int, ...] | list[int] = (1, 1),
                 kernel_size: int = 5):
        super().__init__()
        if len(widths) != len(depths) or not widths or min(widths) < 1 or min(depths) < 1:
            raise ValueError(f"widths and depths must be equally long lists of positive ints, got {widths}, {depths}")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 2, stride=2), ChannelsLayerNorm(widths[0])]
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            if stage:
                layers += [ChannelsLayerNorm(widths[stage - 1]), nn.Conv2d(widths[stage - 1], width, 2, stride=2)]
            layers += [ConvNeXtBlock(width, make_activation, kernel_size) for _ in range(depth)]
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(widths[-1])
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.features(x).mean(dim=(2, 3))))
