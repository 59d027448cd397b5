"""Stacked hourglass (Newell et al., ECCV 2016), the LSPD teacher, laid out as the common PyTorch ports.

Pre-activation bottleneck residuals everywhere; a 7×7/2 stem, residuals and a max-pool bring the image to
H/4; each stack is an hourglass of depth 4 followed by a residual, a 1×1 conv-BN-ReLU and a 1×1 heatmap
head; between stacks the features and the heatmaps are mapped back by 1×1 convs and added to the stack
input (intermediate supervision). With 16 joints, 8 stacks × 256 features has 25.59M parameters
(published ≈ 25.5M) and 4 stacks × 128 features, the FPD student, 3.29M (published ≈ 3.2M); the
stem widths follow the FPD reference code, which scales them with ``features`` (the original fixed-width
stem would give 3.33M).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from lspd_bench.errors import InputError
from lspd_bench.models.registry import register_model

_DEPTH = 4


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck: (BN-ReLU-conv) for 1×1 → 3×3 → 1×1, width out/2 inside, plus a skip.

    The skip is a 1×1 conv when the channel count changes, the identity otherwise.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, mid, 1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, 1),
        )
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The skip reads x before the body's in-place ReLU could touch it: BN makes a new tensor first.
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One hourglass of ``depth`` levels: skip branch at each level, max-pool down, nearest upsample up.

    Spatial size must be divisible by 2**depth.
    """

    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        self.up = PreActBottleneck(channels, channels)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.low1 = PreActBottleneck(channels, channels)
        self.low2 = Hourglass(depth - 1, channels) if depth > 1 else PreActBottleneck(channels, channels)
        self.low3 = PreActBottleneck(channels, channels)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.low2(self.low1(self.pool(x))))
        return self.up(x) + self.upsample(low)


class StackedHourglass(nn.Module):
    """``stacks`` hourglasses of width ``features`` on an H/4 stem; forward returns one heatmap per stack.

    Input B×3×H×W with H and W divisible by 64; each output is B×num_joints×H/4×W/4.
    """

    stride = 64  # px: input sizes must be multiples of this (the H/4 stem times 4 hourglass halvings)

    def __init__(self, stacks: int, features: int, num_joints: int) -> None:
        super().__init__()
        if stacks < 1 or features < 4 or features % 4 or num_joints < 1:
            raise InputError(
                "hourglass knobs: stacks and num_joints must be >= 1 and features a positive multiple of 4, "
                f"got stacks={stacks}, features={features}, num_joints={num_joints}"
            )
        # The stem widens features/4 → features/2 → features, as in the FPD and pytorch-pose ports
        # (64 → 128 → 256 at the usual width).
        quarter, half = features // 4, features // 2
        self.num_joints = num_joints
        self.stem = nn.Sequential(
            nn.Conv2d(3, quarter, 7, stride=2, padding=3),
            nn.BatchNorm2d(quarter),
            nn.ReLU(inplace=True),
            PreActBottleneck(quarter, half),
            nn.MaxPool2d(2, stride=2),
            PreActBottleneck(half, features),
            PreActBottleneck(features, features),
        )
        self.hourglasses = nn.ModuleList(Hourglass(_DEPTH, features) for _ in range(stacks))
        self.residuals = nn.ModuleList(PreActBottleneck(features, features) for _ in range(stacks))
        self.features = nn.ModuleList(
            nn.Sequential(nn.Conv2d(features, features, 1), nn.BatchNorm2d(features), nn.ReLU(inplace=True))
            for _ in range(stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(features, num_joints, 1) for _ in range(stacks))
        # Re-injection into the next stack's input; the last stack has nothing to feed.
        self.features_back = nn.ModuleList(nn.Conv2d(features, features, 1) for _ in range(stacks - 1))
        self.heatmaps_back = nn.ModuleList(nn.Conv2d(num_joints, features, 1) for _ in range(stacks - 1))
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        heatmaps = []
        for k, (hourglass, residual, features, head) in enumerate(
            zip(self.hourglasses, self.residuals, self.features, self.heads)
        ):
            y = features(residual(hourglass(x)))
            h = head(y)
            heatmaps.append(h)
            if k < len(self.features_back):
                x = x + self.features_back[k](y) + self.heatmaps_back[k](h)
        return heatmaps

    @property
    def deploy_stage(self) -> int:
        """The stage ``deploy()`` returns and a run scores: the last stack (1-based)."""
        return len(self.heads)

    def deploy(self) -> nn.Module:
        """The inference module: the same network, returning only the last stack's heatmaps."""
        return LastStack(self)


class LastStack(nn.Module):
    """Wraps a stacked hourglass (sharing its modules) so that forward returns the last stack's heatmaps."""

    def __init__(self, net: StackedHourglass) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[-1]


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@register_model(
    "hourglass",
    family="hourglass",
    default_input=(256, 256),
    description="Stacked hourglass (Newell et al. 2016), intermediate supervision; the LSPD teacher",
)
def hourglass(*, stacks: int = 8, features: int = 256, num_joints: int = 16) -> StackedHourglass:
    """Stacked hourglass with ``stacks`` stacks of width ``features``; 8×256 ≈ 25.5M params (16 joints)."""
    return StackedHourglass(stacks=stacks, features=features, num_joints=num_joints)
