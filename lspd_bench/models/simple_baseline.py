"""SimpleBaseline (Xiao et al., ECCV 2018): a classification backbone, three transposed convs, a 1×1 head.

Backbones written here without their classifier heads: ResNet-18/50 (torchvision layout, stride on the
3×3 conv of the bottleneck) and MobileNetV2 width 1.0 (up to its 1280-channel 1×1 conv). Each backbone
reduces the input by 32; three 4×4/2 transposed convs of 256 channels (no bias, BN, ReLU) bring it back
to H/4. Published sizes at 256×192, 17 joints: R50 34.0M, MobileNetV2 9.57M, matched here.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from lspd_bench.errors import InputError
from lspd_bench.models.registry import register_model

_STRIDE = 32


class BasicBlock(nn.Module):
    """ResNet basic block: conv3×3-BN-ReLU-conv3×3-BN plus a (projected) identity, then ReLU."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.skip = _projection(in_channels, out_channels, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.skip(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1×1 → 3×3 (carries the stride) → 1×1 ×4, BN after each, plus identity, ReLU."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, planes, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.skip = _projection(in_channels, out_channels, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.skip(x))


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
    )


class ResNet(nn.Module):
    """ResNet feature extractor (no pooling head, no fc): B×3×H×W → B×out_channels×H/32×W/32."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages = []
        in_channels = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            stage = [block(in_channels, planes, stride)]
            in_channels = planes * block.expansion
            stage += [block(in_channels, planes) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


def _conv_bn_relu6(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expand ×t (skipped when t = 1) → depthwise 3×3 → linear 1×1 project.

    The identity is added when the stride is 1 and the channel count is unchanged.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        layers = [] if expand_ratio == 1 else [_conv_bn_relu6(in_channels, hidden, 1)]
        layers += [
            _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.body = nn.Sequential(*layers)
        self.use_identity = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.use_identity else self.body(x)


# (expand ratio t, output channels c, repeats n, first stride s) from the MobileNetV2 paper, Table 2.
_MBV2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class MobileNetV2(nn.Module):
    """MobileNetV2 width 1.0 feature extractor up to the 1280-channel 1×1 conv: stride 32."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, 3, stride=2)]
        in_channels = 32
        for t, c, n, s in _MBV2_SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(in_channels, c, s if i == 0 else 1, t))
                in_channels = c
        self.out_channels = 1280
        layers.append(_conv_bn_relu6(in_channels, self.out_channels, 1))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class SimpleBaseline(nn.Module):
    """Backbone (stride 32) → 3 × [ConvTranspose 4×4/2, 256, no bias → BN → ReLU] → 1×1 conv to joints.

    Input B×3×H×W with H and W divisible by 32; output heatmaps B×num_joints×H/4×W/4.
    """

    stride = 32  # px: input sizes must be multiples of this (the backbone's output stride)

    def __init__(
        self,
        backbone: nn.Module,
        in_channels: int,
        num_joints: int,
        deconv_channels: int = 256,
        num_deconv: int = 3,
    ) -> None:
        super().__init__()
        if num_joints < 1:
            raise InputError(f"simplebaseline knob num_joints must be >= 1, got {num_joints}")
        self.num_joints = num_joints
        self.backbone = backbone
        layers: list[nn.Module] = []
        for _ in range(num_deconv):
            layers += [
                nn.ConvTranspose2d(in_channels, deconv_channels, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(deconv_channels),
                nn.ReLU(inplace=True),
            ]
            in_channels = deconv_channels
        self.deconv = nn.Sequential(*layers)
        self.head = nn.Conv2d(in_channels, num_joints, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.backbone.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Xiao et al. initialise the deconv head and the heatmap conv with N(0, 0.001).
        for m in [*self.deconv.modules(), self.head]:
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.deconv(self.backbone(x)))

    def deploy(self) -> nn.Module:
        """The inference module: a single-output model deploys as itself."""
        return self


@register_model(
    "simplebaseline-r18",
    family="simplebaseline",
    default_input=(256, 192),
    description="SimpleBaseline with a ResNet-18 backbone (Xiao et al. 2018)",
)
def simplebaseline_r18(*, num_joints: int = 17) -> SimpleBaseline:
    """SimpleBaseline-ResNet-18: 3 deconvs of 256 + 1×1 head; heatmaps at H/4."""
    backbone = ResNet(BasicBlock, (2, 2, 2, 2))
    return SimpleBaseline(backbone, backbone.out_channels, num_joints)


@register_model(
    "simplebaseline-r50",
    family="simplebaseline",
    default_input=(256, 192),
    description="SimpleBaseline with a ResNet-50 backbone (Xiao et al. 2018), 34.0M params",
)
def simplebaseline_r50(*, num_joints: int = 17) -> SimpleBaseline:
    """SimpleBaseline-ResNet-50: 3 deconvs of 256 + 1×1 head; 34.0M params with 17 joints."""
    backbone = ResNet(Bottleneck, (3, 4, 6, 3))
    return SimpleBaseline(backbone, backbone.out_channels, num_joints)


@register_model(
    "simplebaseline-mbv2",
    family="simplebaseline",
    default_input=(256, 192),
    description="SimpleBaseline with a MobileNetV2 (width 1.0) backbone, 9.57M params",
)
def simplebaseline_mbv2(*, num_joints: int = 17) -> SimpleBaseline:
    """SimpleBaseline-MobileNetV2 (width 1.0): 3 deconvs of 256 + 1×1 head; 9.57M params with 17 joints."""
    backbone = MobileNetV2()
    return SimpleBaseline(backbone, backbone.out_channels, num_joints)
