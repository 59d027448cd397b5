"""The LSPD family: a single-branch backbone, a sequence of lightweight pose stages, deploy = backbone + stage.

Structure (docs/lspd.md, "The network"):

    image B×3×H×W
      └─ backbone: conv3×3/2 → conv3×3/2 → n_stem blocks                    x₁: B×C×H/4×W/4
    stage k = 1..K:
      body_k  = encoder–decoder of depth D over x_k, built from `block`     y_k: B×C×H/4×W/4
      head_k  = conv1×1(y_k)                                                h_k: B×J×H/4×W/4
      x_{k+1} = x_k + conv1×1(y_k) + conv1×1(h_k)
    outputs: [h₁, …, h_K];  deploy(): backbone + stages up to `deploy_stage`, returning h_{deploy_stage}

Everything the paper's abstract does not state (block internals, widths, depth) is a knob, so that the
ablations can test it.
"""

from __future__ import annotations

import copy
import functools
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from lspd_bench.errors import InputError
from lspd_bench.models.registry import NameTaken, register_model

# --------------------------------------------------------------------------------------------- blocks


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, dilation: int = 1, relu=True):
    """Conv (no bias, BN follows) + BN (+ ReLU); 'same' padding for odd kernels."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block: conv3×3-BN-ReLU-conv3×3-BN + identity, ReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv_bn(channels, channels, 3)
        self.conv2 = conv_bn(channels, channels, 3, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + x)


class Bottleneck(nn.Module):
    """Hourglass bottleneck: 1×1 (C→C/2) → 3×3 (C/2) → 1×1 (C/2→C), BN and ReLU, + identity."""

    def __init__(self, channels: int):
        super().__init__()
        mid = channels // 2
        self.body = nn.Sequential(
            conv_bn(channels, mid, 1), conv_bn(mid, mid, 3), conv_bn(mid, channels, 1, relu=False)
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + x)


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual: 1×1 expand ×t → depthwise 3×3 → 1×1 linear project, + identity."""

    def __init__(self, channels: int, expansion: int = 4):
        super().__init__()
        hidden = channels * expansion
        self.body = nn.Sequential(
            conv_bn(channels, hidden, 1),
            conv_bn(hidden, hidden, 3, groups=hidden),
            conv_bn(hidden, channels, 1, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class LMRB(nn.Module):
    """Lightweight multiscale residual block.

    1×1 reduce C→C/2; split into ``groups`` groups; group i is a depthwise k×k conv with dilation dᵢ whose
    input also receives group i−1's output (hierarchical, Res2Net-like), so the receptive field grows group
    by group at depthwise cost; concatenate; 1×1 expand C/2→C; BN; + identity; ReLU.
    """

    def __init__(
        self,
        channels: int,
        groups: int = 4,
        dilations: Sequence[int] = (1, 2, 3, 4),
        kernel_sizes: Sequence[int] = (3, 3, 3, 3),
    ):
        super().__init__()
        mid = channels // 2
        if mid % groups:
            raise InputError(f"lmrb: channels/2 = {mid} is not divisible by groups = {groups}")
        if len(dilations) != groups or len(kernel_sizes) != groups:
            raise InputError(f"lmrb: need {groups} dilations and kernel sizes, got {dilations}, {kernel_sizes}")
        self.groups = groups
        width = mid // groups
        self.reduce = conv_bn(channels, mid, 1)
        self.branches = nn.ModuleList(
            conv_bn(width, width, k, groups=width, dilation=d) for k, d in zip(kernel_sizes, dilations)
        )
        self.expand = conv_bn(mid, channels, 1, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.chunk(self.reduce(x), self.groups, dim=1)
        outs: list[torch.Tensor] = []
        for i, branch in enumerate(self.branches):
            outs.append(branch(parts[i] if i == 0 else parts[i] + outs[-1]))
        return self.relu(self.expand(torch.cat(outs, dim=1)) + x)


BLOCKS: dict[str, Callable[..., nn.Module]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "inverted": InvertedResidual,
    "lmrb": LMRB,
}
#: Block types a plugin added, and what each plugin is known by (it enters the identity of a run using it).
BLOCK_PLUGINS: dict[str, dict[str, str]] = {}


def register_block(name: str, block: Callable[..., nn.Module] | None = None):
    """Add an LSPD block type under ``name``, the value the ``block`` key then takes.

    ``block(channels)`` must return a module that keeps its input's shape (C channels in and out, same
    resolution); LSPD passes no other argument (``functools.partial`` makes variants). Call it as
    ``register_block("mine", MyBlock)`` or use ``@register_block("mine")`` on the class. A name already taken
    raises ``NameTaken`` naming both registrants.
    """

    def add(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        from lspd_bench import plugins

        module, origin = plugins.registering_module(cls), plugins.registering_origin(cls)
        if name in BLOCKS:
            first = BLOCKS[name]
            raise NameTaken(
                f"block {name!r} is registered twice: first by {plugins.defining_module(first)} "
                f"({plugins.describe(BLOCK_PLUGINS.get(name))}), again by {module} "
                f"({plugins.describe(origin)})"
            )
        BLOCKS[name] = cls
        if origin is not None:
            BLOCK_PLUGINS[name] = origin
        return cls

    return add if block is None else add(block)


def make_blocks(block: str, channels: int, n: int, **block_kw) -> nn.Sequential:
    """``n`` blocks of type ``block`` at ``channels`` channels."""
    return nn.Sequential(*(BLOCKS[block](channels, **block_kw) for _ in range(n)))


# ------------------------------------------------------------------------------------- stage and model


class EncoderDecoder(nn.Module):
    """Hourglass-style encoder–decoder of depth D over one input resolution.

    Per level l: a block on the skip connection; max-pool 2 → (1×1 widen to the next level's width) →
    block → (level l+1, or a block at the bottom) → (1×1 narrow back) → nearest upsample ×2, added to the
    skip. An output block follows the top level. ``widths[l]`` is the width at level l (len D+1); equal
    widths give a plain same-width hourglass.
    """

    def __init__(self, widths: Sequence[int], make: Callable[[int], nn.Module]):
        super().__init__()
        self.depth = len(widths) - 1
        self.skip = nn.ModuleList(make(widths[l]) for l in range(self.depth))
        self.widen = nn.ModuleList(_project(widths[l], widths[l + 1]) for l in range(self.depth))
        self.down = nn.ModuleList(make(widths[l + 1]) for l in range(self.depth))
        self.narrow = nn.ModuleList(_project(widths[l + 1], widths[l]) for l in range(self.depth))
        self.bottom = make(widths[-1])
        self.out = make(widths[0])

    def _level(self, x: torch.Tensor, level: int) -> torch.Tensor:
        skip = self.skip[level](x)
        low = self.down[level](self.widen[level](F.max_pool2d(x, 2)))
        low = self.bottom(low) if level == self.depth - 1 else self._level(low, level + 1)
        # Narrow before upsampling: the 1×1 conv then runs at the lower resolution.
        return skip + F.interpolate(self.narrow[level](low), scale_factor=2.0, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self._level(x, 0))


def _project(cin: int, cout: int) -> nn.Module:
    """1×1 conv + BN between levels of different widths; identity when the widths agree."""
    return nn.Identity() if cin == cout else conv_bn(cin, cout, 1, relu=False)


class Stage(nn.Module):
    """One pose stage: body_k, head_k, and the re-injection convs that build x_{k+1}."""

    def __init__(self, widths: Sequence[int], num_joints: int, make: Callable[[int], nn.Module], last: bool):
        super().__init__()
        channels = widths[0]
        self.body = EncoderDecoder(widths, make)
        self.head = nn.Conv2d(channels, num_joints, 1)
        self.last = last
        if not last:
            self.remap_features = nn.Conv2d(channels, channels, 1)
            self.remap_heatmaps = nn.Conv2d(num_joints, channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns (heatmaps h_k, next input x_{k+1} or None for the last stage)."""
        y = self.body(x)
        h = self.head(y)
        if self.last:
            return h, None
        return h, x + self.remap_features(y) + self.remap_heatmaps(h)


class Backbone(nn.Module):
    """conv3×3/2 → conv3×3/2 → ``n_stem`` blocks: B×3×H×W → B×C×H/4×W/4."""

    def __init__(self, channels: int, n_stem: int, make: Callable[[int], nn.Module]):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, channels // 2, 3, 2), conv_bn(channels // 2, channels, 3, 2))
        self.blocks = nn.Sequential(*(make(channels) for _ in range(n_stem)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class LSPDDeploy(nn.Module):
    """Backbone + stages 1..k of a trained LSPD, returning stage k's heatmaps (B×J×H/4×W/4) only.

    Stage k's re-injection convs feed a stage that is not shipped, so they are left out: the parameter
    count is that of what runs. Built from copies, so it stands alone (save it, quantise it, export it),
    and its output equals the full model's stage-k output bit for bit.
    """

    def __init__(self, backbone: Backbone, stages: Sequence[Stage]):
        super().__init__()
        *earlier, last = stages
        self.backbone = copy.deepcopy(backbone)
        self.stages = copy.deepcopy(nn.ModuleList(earlier))
        self.body = copy.deepcopy(last.body)
        self.head = copy.deepcopy(last.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone(x)
        for stage in self.stages:
            _, x = stage(x)
        return self.head(self.body(x))


class LSPD(nn.Module):
    """LSPD pose network: backbone + K lightweight stages; ``forward`` returns ``[h₁, …, h_K]``.

    Args:
        num_joints: J, heatmap channels.
        stages: K, the length of the pose-distillation sequence (1..8).
        block: ``basic``, ``bottleneck``, ``inverted`` or ``lmrb``.
        width: C, channels of the H/4 feature maps (x_k, y_k).
        depth: D, encoder–decoder levels per stage (input must be divisible by 4·2^D).
        width_growth: width factor per encoder level (1 = the same width everywhere;
            2 doubles it at every halving, which buys parameters where MACs are cheap).
        max_width: cap on any level's width.
        blocks_per_level: blocks at every encoder–decoder position.
        n_stem: blocks after the two stride-2 stem convs.
        deploy_stage: the stage ``deploy()`` keeps (1 = the first, as in the paper).
        groups, dilations, kernel_sizes: ``lmrb`` knobs; expansion: ``inverted`` knob.
    """

    def __init__(
        self,
        num_joints: int = 16,
        stages: int = 2,
        block: str = "lmrb",
        width: int = 64,
        depth: int = 3,
        width_growth: float = 1.0,
        max_width: int = 512,
        blocks_per_level: int = 1,
        n_stem: int = 2,
        deploy_stage: int = 1,
        groups: int = 4,
        dilations: Sequence[int] = (1, 2, 3, 4),
        kernel_sizes: Sequence[int] = (3, 3, 3, 3),
        expansion: int = 4,
    ):
        super().__init__()
        if not 1 <= stages <= 8:
            raise InputError(f"stages must be in 1..8, got {stages}")
        if block not in BLOCKS:  # perhaps a plugin's, not loaded yet (the registry loads them on first use)
            from lspd_bench import plugins

            plugins.ensure_loaded()
        if block not in BLOCKS:
            raise InputError(f"unknown block {block!r}; choose from: {', '.join(BLOCKS)}")
        if not 1 <= deploy_stage <= stages:
            raise InputError(f"deploy_stage must be in 1..{stages} (the number of stages), got {deploy_stage}")
        if depth < 1:
            raise InputError(f"depth must be at least 1, got {depth}")
        if width % 2:
            raise InputError(f"width must be even, got {width}")
        block_kw: dict = {}
        if block == "lmrb":
            block_kw = dict(groups=groups, dilations=tuple(dilations), kernel_sizes=tuple(kernel_sizes))
        elif block == "inverted":
            block_kw = dict(expansion=expansion)

        if width_growth < 1:
            raise InputError(f"width_growth must be at least 1, got {width_growth}")
        # Level widths rounded to a multiple of 8 so that every lmrb split stays integral.
        widths = [min(max_width, 8 * round(width * width_growth**level / 8)) for level in range(depth + 1)]

        def make(channels: int) -> nn.Module:
            return make_blocks(block, channels, blocks_per_level, **block_kw)

        self.num_joints = num_joints
        self.depth = depth
        self.widths = tuple(widths)
        self.deploy_stage = deploy_stage
        self.backbone = Backbone(width, n_stem, make)
        self.stages = nn.ModuleList(Stage(widths, num_joints, make, last=(k == stages - 1)) for k in range(stages))

    @property
    def stride(self) -> int:
        """Input sizes must be multiples of this (px): 4 for the stem times 2 per encoder level."""
        return 4 * 2**self.depth

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.backbone(x)
        heatmaps = []
        for stage in self.stages:
            h, x = stage(x)
            heatmaps.append(h)
        return heatmaps

    def deploy(self, stage: int | None = None) -> LSPDDeploy:
        """The inference model: backbone + stages up to ``stage`` (default ``deploy_stage``)."""
        k = self.deploy_stage if stage is None else stage
        if not 1 <= k <= len(self.stages):
            raise InputError(f"deploy stage must be in 1..{len(self.stages)}, got {k}")
        return LSPDDeploy(self.backbone, list(self.stages[:k]))


#: Named width presets. Deploy models at 256×256 land among the lightweight baselines (``lspd-s`` and
#: ``lspd-m``: about 1–2 M parameters, well under 1 GMAC; ``lspd-xs`` is a CPU-sized member); the measured
#: figures are in docs/lspd.md, "The zoo, measured" (`lspd-bench zoo`).
PRESETS: dict[str, dict] = {
    "lspd-xs": dict(width=32, width_growth=2.0),
    "lspd-s": dict(width=64, width_growth=2.0),
    "lspd-m": dict(width=64, width_growth=2.0, blocks_per_level=2),
}

for _name, _preset in PRESETS.items():
    register_model(
        _name,
        family="lspd",
        default_input=(256, 256),
        description="LSPD "
        + ", ".join(f"{k}={v}" for k, v in _preset.items())
        + ": backbone + K stages of `block`; deploy = backbone + stage `deploy_stage`",
    )(functools.partial(LSPD, **_preset))
