"""Lite-HRNet (Yu et al., CVPR 2021), following the official implementation's layout.

A shuffle-style stem brings the image to H/4 with 32 channels; three stages of 2, 3 and 4 parallel branches
(widths 40, 80, 160, 320 at H/4 … H/32) are built from modules of two conditional channel weighting
blocks (cross-resolution weighting, then a depthwise 3×3 and a spatial weighting on half the channels,
then a channel shuffle) followed by fuse layers; an iterative head folds the branches back into the
H/4 branch and a 1×1 conv gives the heatmaps. Published sizes at 256×192, 17 joints: Lite-HRNet-18
1.1M, Lite-HRNet-30 1.8M (rounded; these layouts have 1.131M and 1.764M).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from lspd_bench.errors import InputError
from lspd_bench.models.registry import register_model

_WIDTHS = (40, 80, 160, 320)
_STEM_CHANNELS = 32
_REDUCE_RATIO = 8  # cross-resolution weighting squeeze ratio, every stage
_SPATIAL_RATIO = 4  # spatial weighting squeeze ratio
_BLOCKS_PER_MODULE = 2


def conv_bn(
    in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1, groups: int = 1, relu: bool = False
) -> nn.Sequential:
    """Conv (no bias, 'same' padding) → BN, optionally → ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def dw_pw(in_channels: int, out_channels: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """Depthwise 3×3 → BN → pointwise 1×1 → BN (→ ReLU): the separable conv used between branches."""
    return nn.Sequential(
        conv_bn(in_channels, in_channels, 3, stride, groups=in_channels),
        conv_bn(in_channels, out_channels, 1, relu=relu),
    )


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle: interleave ``groups`` equal channel groups."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class Stem(nn.Module):
    """conv3×3/2, then a shuffle block: halves through dw3×3/2 → 1×1 and 1×1 → dw3×3/2 → 1×1, concat, shuffle.

    B×3×H×W → B×channels×H/4×W/4.
    """

    def __init__(self, channels: int = _STEM_CHANNELS, expand_ratio: int = 1) -> None:
        super().__init__()
        half = channels // 2
        mid = channels * expand_ratio
        self.conv1 = conv_bn(3, channels, 3, stride=2, relu=True)
        self.branch1 = dw_pw(half, channels - half, stride=2)
        self.branch2 = nn.Sequential(
            conv_bn(half, mid, 1, relu=True),
            conv_bn(mid, mid, 3, stride=2, groups=mid),
            conv_bn(mid, half, 1, relu=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.conv1(x).chunk(2, dim=1)
        return channel_shuffle(torch.cat((self.branch1(x1), self.branch2(x2)), dim=1), 2)


class SpatialWeighting(nn.Module):
    """Squeeze-excitation on one branch: global pool → 1×1 (ReLU) → 1×1 (sigmoid) → scale the channels."""

    def __init__(self, channels: int, ratio: int = _SPATIAL_RATIO) -> None:
        super().__init__()
        squeezed = channels // ratio
        self.weights = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, squeezed, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(squeezed, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


class CrossResolutionWeighting(nn.Module):
    """Channel weights computed from all branches pooled to the smallest resolution, applied per branch."""

    def __init__(self, channels: tuple[int, ...], ratio: int = _REDUCE_RATIO) -> None:
        super().__init__()
        self.channels = list(channels)
        total = sum(channels)
        squeezed = int(total / ratio)
        self.squeeze = conv_bn(total, squeezed, 1, relu=True)
        self.excite = nn.Sequential(nn.Conv2d(squeezed, total, 1, bias=False), nn.BatchNorm2d(total), nn.Sigmoid())

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        smallest = xs[-1].shape[-2:]
        pooled = [F.adaptive_avg_pool2d(x, smallest) for x in xs[:-1]] + [xs[-1]]
        weights = torch.split(self.excite(self.squeeze(torch.cat(pooled, dim=1))), self.channels, dim=1)
        return [x * F.interpolate(w, size=x.shape[-2:], mode="nearest") for x, w in zip(xs, weights)]


class ConditionalChannelWeighting(nn.Module):
    """The Lite-HRNet block over all branches at once, keeping each branch's shape.

    On each branch half the channels pass through; the other half is reweighted across resolutions,
    filtered by a depthwise 3×3 and reweighted spatially; then the halves are concatenated and shuffled.
    """

    def __init__(self, channels: tuple[int, ...], reduce_ratio: int = _REDUCE_RATIO) -> None:
        super().__init__()
        halves = tuple(c // 2 for c in channels)
        self.cross_resolution = CrossResolutionWeighting(halves, reduce_ratio)
        self.depthwise = nn.ModuleList(conv_bn(c, c, 3, groups=c) for c in halves)
        self.spatial = nn.ModuleList(SpatialWeighting(c) for c in halves)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        halves = [x.chunk(2, dim=1) for x in xs]
        kept = [h[0] for h in halves]
        weighted = self.cross_resolution([h[1] for h in halves])
        weighted = [sw(dw(x)) for x, dw, sw in zip(weighted, self.depthwise, self.spatial)]
        return [channel_shuffle(torch.cat((k, w), dim=1), 2) for k, w in zip(kept, weighted)]


def _fuse_path(channels: tuple[int, ...], src: int, dst: int) -> nn.Module:
    """Map branch ``src`` into branch ``dst``: 1×1-BN + nearest upsample, or strided dw/pw convs going down."""
    if src > dst:
        return nn.Sequential(
            conv_bn(channels[src], channels[dst], 1),
            nn.Upsample(scale_factor=2 ** (src - dst), mode="nearest"),
        )
    steps = [dw_pw(channels[src], channels[src], stride=2) for _ in range(dst - src - 1)]
    steps.append(dw_pw(channels[src], channels[dst], stride=2, relu=False))
    return nn.Sequential(*steps)


class LiteHRModule(nn.Module):
    """``blocks`` conditional channel weighting blocks over all branches, then a fuse layer per branch."""

    def __init__(self, channels: tuple[int, ...], blocks: int = _BLOCKS_PER_MODULE) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ConditionalChannelWeighting(channels) for _ in range(blocks)))
        n = len(channels)
        # fuse[i][j] maps branch j into branch i; the diagonal is the identity.
        self.fuse = nn.ModuleList(
            nn.ModuleList(nn.Identity() if i == j else _fuse_path(channels, j, i) for j in range(n)) for i in range(n)
        )
        self.relu = nn.ReLU()

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = self.blocks(xs)
        # The official fuse seeds each sum with branch 0's term and then adds that term again, in place;
        # for i = 0 the in-place sum also overwrites out[0], so the lower-resolution outputs read the
        # already-fused (pre-ReLU) branch 0. Reproduced explicitly so that the network computes what the
        # published one computes; the repeated branch-0 path is evaluated once and doubled (same output,
        # and the published 0.205 GFLOPs for Lite-HRNet-18 is below the cost of evaluating it twice).
        fused0 = 2 * out[0]
        for j in range(1, len(out)):
            fused0 = fused0 + self.fuse[0][j](out[j])
        results = [self.relu(fused0)]
        for i in range(1, len(out)):
            y = 2 * self.fuse[i][0](fused0)
            for j in range(1, len(out)):
                y = y + (out[j] if i == j else self.fuse[i][j](out[j]))
            results.append(self.relu(y))
        return results


class Transition(nn.Module):
    """From a stage's branches to the next stage's: width changes by dw/pw, one new branch by a stride."""

    def __init__(self, before: tuple[int, ...], after: tuple[int, ...]) -> None:
        super().__init__()
        paths: list[nn.Module] = []
        for i, width in enumerate(after):
            if i < len(before):
                paths.append(nn.Identity() if width == before[i] else dw_pw(before[i], width))
            else:
                src = before[-1]
                steps = [dw_pw(src, src, stride=2) for _ in range(i - len(before))]
                steps.append(dw_pw(src, width, stride=2))
                paths.append(nn.Sequential(*steps))
        self.paths = nn.ModuleList(paths)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        # New branches grow from the lowest-resolution existing one.
        return [path(xs[min(i, len(xs) - 1)]) for i, path in enumerate(self.paths)]


class IterativeHead(nn.Module):
    """From the lowest resolution up: bilinear upsample, add to the next branch, separable conv to its width.

    Returns the highest-resolution result (B×channels[0]×H/4×W/4).
    """

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        rev = channels[::-1]
        outs = rev[1:] + rev[-1:]
        self.projects = nn.ModuleList(dw_pw(c_in, c_out) for c_in, c_out in zip(rev, outs))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        xs = xs[::-1]
        y = self.projects[0](xs[0])
        for x, project in zip(xs[1:], self.projects[1:]):
            y = project(x + F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=True))
        return y


class LiteHRNet(nn.Module):
    """Lite-HRNet with ``num_modules`` modules in its 2-, 3- and 4-branch stages and a 1×1 heatmap head.

    Input B×3×H×W with H and W divisible by 32; output heatmaps B×num_joints×H/4×W/4.
    """

    stride = 32  # px: input sizes must be multiples of this (the lowest branch is at H/32)

    def __init__(self, num_modules: tuple[int, int, int], num_joints: int) -> None:
        super().__init__()
        if num_joints < 1:
            raise InputError(f"litehrnet knob num_joints must be >= 1, got {num_joints}")
        self.num_joints = num_joints
        self.stem = Stem()
        stages: list[nn.Module] = []
        before: tuple[int, ...] = (_STEM_CHANNELS,)
        for k, modules in enumerate(num_modules):
            after = _WIDTHS[: k + 2]
            stages.append(Transition(before, after))
            stages.extend(LiteHRModule(after) for _ in range(modules))
            before = after
        self.stages = nn.Sequential(*stages)
        self.head = IterativeHead(before)
        self.final = nn.Conv2d(before[0], num_joints, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        # The official backbone and head both draw conv weights from N(0, 0.001).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.head(self.stages([self.stem(x)])))

    def deploy(self) -> nn.Module:
        """The inference module: a single-output model deploys as itself."""
        return self


@register_model(
    "litehrnet-18",
    family="litehrnet",
    default_input=(256, 192),
    description="Lite-HRNet-18 (Yu et al. 2021), modules (2, 4, 2), 1.1M params",
)
def litehrnet_18(*, num_joints: int = 17) -> LiteHRNet:
    """Lite-HRNet-18: stage modules (2, 4, 2); ≈1.1M params with 17 joints."""
    return LiteHRNet((2, 4, 2), num_joints)


@register_model(
    "litehrnet-30",
    family="litehrnet",
    default_input=(256, 192),
    description="Lite-HRNet-30 (Yu et al. 2021), modules (3, 8, 3), 1.8M params",
)
def litehrnet_30(*, num_joints: int = 17) -> LiteHRNet:
    """Lite-HRNet-30: stage modules (3, 8, 3); ≈1.8M params with 17 joints."""
    return LiteHRNet((3, 8, 3), num_joints)
