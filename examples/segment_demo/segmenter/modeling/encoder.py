"""Image and prompt encoders."""

import math

import torch
from torch import nn


class Block(nn.Module):
    """Pre-norm transformer block: attention then MLP, both residual."""

    def __init__(self, width: int, heads: int = 8):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ImageEncoder(nn.Module):
    """A plain ViT: 16x16 patches, a stack of blocks, a neck to the decoder's width."""

    def __init__(self, depth: int = 4, width: int = 256, patch: int = 16):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, width, kernel_size=patch, stride=patch)
        self.blocks = nn.ModuleList([Block(width) for _ in range(depth)])
        self.neck = nn.Conv2d(width, width, kernel_size=1)

    def forward(self, image):
        x = self.patch_embed(image)
        b, c, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = x.transpose(1, 2).reshape(b, c, h, w)
        return self.neck(x)


class PromptEncoder(nn.Module):
    """Random Fourier features of click coordinates."""

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("gaussian", torch.randn(2, width // 2))

    def forward(self, points):
        projected = 2 * math.pi * points @ self.gaussian
        return torch.cat([projected.sin(), projected.cos()], dim=-1)
