"""A new baseline network, registered with the decorator the built-in models use."""

from __future__ import annotations

import torch
import torch.nn as nn

from lspd_bench.models import register_model
from lspd_bench_example.blocks import DepthwiseResidual


class TinyPose(nn.Module):
    """Two stride-2 3×3 convolutions to H/4, ``depth`` depthwise-separable residual blocks, a 1×1 head.

    Input B×3×H×W with H and W multiples of 4; output one heatmap tensor B×num_joints×H/4×W/4.
    """

    stride = 4  # px: input sides must be multiples of this (the model contract's `stride`)

    def __init__(self, num_joints: int = 17, width: int = 32, depth: int = 4):
        super().__init__()
        self.num_joints = num_joints  # the contract's `num_joints`: the heatmap channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*(DepthwiseResidual(width) for _ in range(depth)))
        self.head = nn.Conv2d(width, num_joints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def deploy(self) -> nn.Module:
        """The inference model: a single-stage network deploys as itself."""
        return self


# The keyword arguments are the model's knobs. `width` and `depth` share their names with configuration
# keys, so a matrix can vary them (`lspd-bench ablate model=tinypose width=16,32`); `num_joints` is set
# by the suite from the dataset.
@register_model("tinypose", family="tinypose", default_input=(256, 192))
def tinypose(*, num_joints: int = 17, width: int = 32, depth: int = 4) -> TinyPose:
    """TinyPose: a stride-4 stem and depthwise-separable residual blocks (lspd-bench-example)."""
    return TinyPose(num_joints, width, depth)
