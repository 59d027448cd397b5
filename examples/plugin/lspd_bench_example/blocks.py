"""A new LSPD block type: ``lspd-bench ablate block=lmrb,dwres`` compares it with LSPD's own."""

from __future__ import annotations

import torch
import torch.nn as nn

from lspd_bench.models import register_block


class DepthwiseResidual(nn.Module):
    """Depthwise-separable residual block: depthwise k×k → BN → ReLU → pointwise 1×1 → BN, + identity, ReLU.

    Like every LSPD block it keeps its input's shape (C channels in and out, same resolution), and LSPD
    builds it as ``DepthwiseResidual(channels)``.
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.pointwise = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.pointwise(self.depthwise(x)) + x)


register_block("dwres", DepthwiseResidual)
