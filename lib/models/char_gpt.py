"""A small character-level GPT (pre-LayerNorm transformer, GPT-2 style) with any activation in its MLPs
(the language model of the chapter "Learnable orthogonal activations")."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lib.activations import ActivationFactory


class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} must be divisible by the number of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class GPTBlock(nn.Module):
    """Pre-LayerNorm transformer block (GPT-2): x + attn(LN x), then x + mlp(LN x), mlp = Linear-act-Linear."""

    def __init__(self, dim: int, heads: int, make_activation: ActivationFactory):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.fc = nn.Linear(dim, 4 * dim)
        self.act = make_activation(4 * dim)                  # on (B, T, 4C): features last
        self.proj = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.proj(self.act(self.fc(self.ln2(x))))


class CharGPT(nn.Module):
    """A small GPT over characters: token and position embeddings, `layers` blocks, tied output head."""

    def __init__(self, vocab_size: int, make_activation: ActivationFactory, *, block_size: int = 64,
                 layers: int = 4, width: int = 128, heads: int = 4):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("block_size", block_size), ("layers", layers),
                            ("width", width), ("heads", heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.block_size = block_size
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(block_size, width)
        self.blocks = nn.ModuleList(GPTBlock(width, heads, make_activation) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        self.head.weight = self.token.weight
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: Tensor) -> Tensor:
        t = ids.shape[1]
        if t > self.block_size:
            raise ValueError(f"sequence of {t} tokens is longer than block_size {self.block_size}")
        x = self.token(ids) + self.position(torch.arange(t, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))
